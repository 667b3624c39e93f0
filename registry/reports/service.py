"""Build the yearly report and the monthly ledger; sign what is produced; check a signed file."""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import re
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from flask import Flask

from registry.audit.checkpoints import app_keys
from registry.audit.keys import public_key_from_text, verify_signature
from registry.audit.models import AuditEntry, AuditHead
from registry.audit.service import GENESIS
from registry.audit.verify import verify_chain
from registry.domain_errors import InvalidField
from registry.extensions import db
from registry.reports import models as counts
from registry.reports.figures import Period, compute, months
from registry.settings import app_settings

log = logging.getLogger(__name__)

FORMAT = "registry-report/1"
MARKER = "registry-report-signature"
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")


def parse_year(raw: Any) -> int:
    """Return a report year; raise InvalidField naming ``year``."""
    try:
        year = int(str(raw))
    except (TypeError, ValueError):
        raise InvalidField("year", "Must be a year such as 2026.", location="query") from None
    if not 1970 <= year <= 9998:
        raise InvalidField("year", "Must be between 1970 and 9998.", location="query")
    return year


def parse_month(raw: Any) -> tuple[int, int]:
    """Return (year, month) of ``YYYY-MM``; raise InvalidField naming ``month``."""
    match = _MONTH.match(str(raw or ""))
    if not match or not 1 <= int(match.group(2)) <= 12 or not 1970 <= int(match.group(1)) <= 9998:
        raise InvalidField("month", "Must be a month written YYYY-MM, such as 2026-11.", location="query")
    return int(match.group(1)), int(match.group(2))


def _head() -> tuple[int, str]:
    row = db.session.execute(sa.select(AuditHead.seq, AuditHead.hash).where(AuditHead.id == 1)).first()
    return (int(row.seq), str(row.hash)) if row is not None else (0, GENESIS)


def build(period: Period, kind: str, *, verify: bool = True) -> dict[str, Any]:
    """Return the report document of ``period`` (JSON-ready)."""
    settings = app_settings()
    # What the audit trail held when the figures were read: the head first, then the figures.
    head_seq, head_hash = _head()
    audit: dict[str, Any] = {"head_seq": head_seq, "head_hash": head_hash}
    if verify:
        result = verify_chain(app_keys(), settings.audit_checkpoints)
        audit.update(
            chain_verified=result.ok,
            chain_entries=result.count,
            chain_problem=None if result.problem is None else str(result.problem),
        )
    sections = compute(period)
    return {
        "format": FORMAT,
        "kind": kind,
        "platform": settings.platform_name,
        "period": {
            "label": period.labels[0] if kind == "monthly" else period.labels[0][:4],
            "months": list(period.labels),
            "zone": period.zone,
            "start": period.start.replace(tzinfo=UTC).isoformat(),
            "end": period.end.replace(tzinfo=UTC).isoformat(),
        },
        "produced_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "audit": audit,
        "sections": sections,
    }


def annual(year: int, *, verify: bool = True) -> dict[str, Any]:
    """Return the yearly report of ``year`` in the configured zone."""
    return build(months(year, 1, 12, app_settings().report_timezone), "annual", verify=verify)


def monthly(year: int, month: int, *, verify: bool = True) -> dict[str, Any]:
    """Return the ledger of one month in the configured zone."""
    return build(months(year, month, 1, app_settings().report_timezone), "monthly", verify=verify)


# -- signing ----------------------------------------------------------------------------------------


def _canonical(doc: Any) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _signature(body_digest: str, report: dict[str, Any]) -> dict[str, Any]:
    keys = app_keys()
    doc: dict[str, Any] = {
        "format": FORMAT,
        "alg": "Ed25519",
        "public_key": keys.public_key_text,
        "sha256": body_digest,
        "head_seq": report["audit"]["head_seq"],
        "head_hash": report["audit"]["head_hash"],
        "period": report["period"]["label"],
        "produced_at": report["produced_at"],
    }
    doc["sig"] = keys.sign(_canonical(doc))
    return doc


def signed_json(report: dict[str, Any]) -> bytes:
    """Return the report as JSON with its signature (over the canonical form of ``report``)."""
    digest = hashlib.sha256(_canonical(report)).hexdigest()
    doc = {"report": report, "signature": _signature(digest, report)}
    return json.dumps(doc, ensure_ascii=False, indent=1).encode("utf-8") + b"\n"


def signed_file(body: bytes, report: dict[str, Any], fmt: str) -> bytes:
    """Append a signature line over ``body`` (an HTML comment, or a PDF comment after %%EOF)."""
    if not body.endswith(b"\n"):
        body += b"\n"
    sig = json.dumps(_signature(hashlib.sha256(body).hexdigest(), report), sort_keys=True)
    line = f"<!-- {MARKER} {sig} -->" if fmt == "html" else f"%{MARKER} {sig}"
    return body + line.encode("utf-8") + b"\n"


def _split(data: bytes) -> tuple[bytes, dict[str, Any]]:
    """Return (the bytes the signature's digest covers, the signature doc); raise ValueError."""
    if data.lstrip().startswith(b"{"):
        doc = json.loads(data.decode("utf-8"))
        if not isinstance(doc, dict) or "report" not in doc or not isinstance(doc.get("signature"), dict):
            raise ValueError("a JSON report holds 'report' and 'signature'")
        return _canonical(doc["report"]), doc["signature"]
    where = data.rfind(MARKER.encode())
    if where < 0:
        raise ValueError("no report signature in the file")
    start = data.rfind(b"\n", 0, where) + 1
    text = data[start:].decode("utf-8").strip()
    text = text.removeprefix("<!--").removesuffix("-->").strip().lstrip("%").strip()
    sig = json.loads(text.removeprefix(MARKER))
    if not isinstance(sig, dict):
        raise ValueError("the signature line holds no signature")
    return data[:start], sig


def verify_file(data: bytes, public_key: str | None = None) -> list[str]:
    """Return the problems of a signed report file (empty: signature good and head in the trail)."""
    try:
        covered, sig = _split(data)
    except (ValueError, UnicodeDecodeError) as exc:
        return [f"not a signed report: {exc}"]
    problems: list[str] = []
    try:
        key = public_key_from_text(public_key) if public_key else app_keys().public_key
    except ValueError as exc:
        return [f"bad public key: {exc}"]
    body = {k: v for k, v in sig.items() if k != "sig"}
    if not isinstance(sig.get("sig"), str) or not verify_signature(key, _canonical(body), sig["sig"]):
        problems.append("the signature does not verify under the audit checkpoint key")
    if hashlib.sha256(covered).hexdigest() != sig.get("sha256"):
        problems.append("the file was altered after it was signed (its digest differs)")
    seq, digest = sig.get("head_seq"), sig.get("head_hash")
    if seq == 0 and digest == GENESIS:
        return problems
    stored = (
        db.session.scalar(sa.select(AuditEntry.hash).where(AuditEntry.seq == seq))
        if isinstance(seq, int)
        else None
    )
    if stored is None:
        problems.append(f"the audit head it was computed at (seq {seq}) is not in the trail")
    elif stored != digest:
        problems.append(f"the audit entry at seq {seq} has another hash than the report's head")
    return problems


def flush_counts(force: bool = False) -> None:
    """Write out this process's pending counters when due (after a request), in a short transaction."""
    every = app_settings().report_flush_seconds
    if not (force or counts.due(every)):
        return
    rows = counts.take()
    if not rows:
        return
    from registry.db import writing

    try:
        db.session.rollback()
        with writing():
            counts.upsert(rows, db.session)
            db.session.commit()
    except Exception:
        db.session.rollback()
        counts.restore(rows)
        raise


def _flush_at_exit(app: Flask) -> None:
    if not counts.due(0):
        return
    try:
        with app.app_context():
            flush_counts(force=True)
    except Exception:  # exiting anyway: say what was lost
        log.exception("could not write the report counters at exit")


def init_app(app: Flask) -> None:
    """Flush the counters after each request (when due), and at a served process's exit."""
    if app_settings(app).env != "testing":
        atexit.register(_flush_at_exit, app)

    @app.teardown_request
    def _flush(_exc: BaseException | None) -> None:
        try:
            flush_counts()
        except Exception:  # the counts stay pending; the request's answer is already made
            log.exception("could not write the report counters; they stay pending")
