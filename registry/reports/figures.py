"""The report's figures: set-based SQL over the records, bucketed by local month of a configured zone.

Each local month's bounds are computed here in Python (zoneinfo) as naive UTC, the form the tables
store, and rows are grouped by a CASE over those bounds: no database time-zone function, so SQLite and
PostgreSQL give the same numbers. A figure is one of three shapes (the renderers know each):

- ``series``: ``total`` over the period and ``months`` (one number a month);
- ``breakdown``: ``rows`` of ``{"key", "total", "months"}``;
- ``value``: one ``value`` (with ``months`` when it has a monthly form: a level at each month's end).
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from registry import rules
from registry.accounts.models import ENTITY_ACCOUNT_TYPES, Account
from registry.audit.models import AuditEntry
from registry.bans.models import Ban
from registry.check.models import CheckRecord
from registry.credit.models import Violation
from registry.extensions import db
from registry.reports.models import ReportCount
from registry.reviews.models import Review
from registry.tiers.models import TierChange

WATCH_TIER = "watch"
UNSPECIFIED = "未注明"


@dataclass(frozen=True)
class Period:
    """Consecutive local months: ``labels`` (YYYY-MM) and their ``bounds`` (n + 1 naive UTC times)."""

    labels: tuple[str, ...]
    bounds: tuple[datetime, ...]
    zone: str

    @property
    def start(self) -> datetime:
        return self.bounds[0]

    @property
    def end(self) -> datetime:
        return self.bounds[-1]

    @property
    def n(self) -> int:
        return len(self.labels)


def months(year: int, month: int, count: int, zone: str) -> Period:
    """Return ``count`` local months from year-month in ``zone``."""
    tz = ZoneInfo(zone)
    labels, bounds = [], []
    for i in range(count + 1):
        y, m = divmod(month - 1 + i, 12)
        local = datetime(year + y, m + 1, 1, tzinfo=tz)
        bounds.append(local.astimezone(ZoneInfo("UTC")).replace(tzinfo=None))
        if i < count:
            labels.append(f"{year + y:04d}-{m + 1:02d}")
    return Period(tuple(labels), tuple(bounds), zone)


def _bucket(col: Any, bounds: Sequence[datetime]) -> Any:
    """Return CASE giving 1..n for the month ``col`` falls in (the caller bounds it to the period)."""
    return sa.case(*[(col < b, i) for i, b in enumerate(bounds[1:], 1)], else_=len(bounds))


def _run(stmt: Any) -> list[Any]:
    return list(db.session.execute(stmt).all())


class Figures:
    """Computes every figure of one period."""

    def __init__(self, period: Period) -> None:
        self.p = period

    # -- shapes ---------------------------------------------------------------------------------------

    def _months_of(self, pairs: Iterable[tuple[Any, Any]]) -> list[int]:
        out = [0] * self.p.n
        for b, n in pairs:
            if b is not None and 1 <= int(b) <= self.p.n:
                out[int(b) - 1] += int(n or 0)
        return out

    def series(
        self, fid: str, label: str, col: Any, *where: Any, chart: str | None = None, count: Any = None
    ) -> dict[str, Any]:
        b = _bucket(col, self.p.bounds).label("b")
        stmt = (
            sa.select(b, count if count is not None else sa.func.count())
            .where(col >= self.p.start, col < self.p.end, *where)
            .group_by(b)
        )
        m = self._months_of(_run(stmt))
        fig: dict[str, Any] = {"id": fid, "kind": "series", "label": label, "total": sum(m), "months": m}
        if chart:
            fig["chart"] = chart
        return fig

    def breakdown(
        self, fid: str, label: str, col: Any, key: Any, *where: Any, count: Any = None, strip: str = ""
    ) -> dict[str, Any]:
        b = _bucket(col, self.p.bounds).label("b")
        k = key.label("k")
        stmt = (
            sa.select(k, b, count if count is not None else sa.func.count())
            .where(col >= self.p.start, col < self.p.end, *where)
            .group_by(k, b)
        )
        by: dict[str, list[tuple[Any, Any]]] = defaultdict(list)
        for kv, bv, n in _run(stmt):
            name = UNSPECIFIED if kv is None or kv == "" else str(kv)
            if strip and name.startswith(strip):
                name = name[len(strip) :]
            by[name].append((bv, n))
        rows: list[dict[str, Any]] = []
        for name in sorted(by):
            m = self._months_of(by[name])
            rows.append({"key": name, "total": sum(m), "months": m})
        rows.sort(key=lambda r: (-r["total"], r["key"]))
        return {"id": fid, "kind": "breakdown", "label": label, "rows": rows}

    def counted(
        self,
        fid: str,
        label: str,
        metric: str,
        *,
        key: str | None = None,
        prefix: str = "",
        chart: str | None = None,
    ) -> dict[str, Any]:
        """From the hourly counters: a series of one ``key``, or a breakdown of the keys under ``prefix``."""
        c = ReportCount
        total = sa.func.sum(c.n)
        if key is not None:
            return self.series(fid, label, c.hour, c.metric == metric, c.key == key, count=total, chart=chart)
        where = [c.metric == metric] + ([c.key.like(f"{prefix}%")] if prefix else [])
        return self.breakdown(fid, label, c.hour, c.key, *where, count=total, strip=prefix)

    # -- sections -------------------------------------------------------------------------------------

    def audit_series(
        self, fid: str, label: str, action: str, *where: Any, chart: str | None = None
    ) -> dict[str, Any]:
        return self.series(fid, label, AuditEntry.at, AuditEntry.action == action, *where, chart=chart)

    def registration(self) -> list[dict[str, Any]]:
        to = AuditEntry.data["to"].as_string()
        method = AuditEntry.data["method"].as_string()
        verification = AuditEntry.action == "verification.change"
        return [
            self.series("accounts_registered", "注册账号数", Account.registered_at, chart="bar"),
            self.breakdown(
                "verified_by_method",
                "完成真实身份认证（按认证方式）",
                AuditEntry.at,
                method,
                verification,
                to == "verified",
            ),
            self.audit_series("verification_rejected", "认证未通过", "verification.change", to == "rejected"),
            self.audit_series("verification_revoked", "认证被撤销", "verification.change", to == "revoked"),
            self.audit_series("verification_expired", "认证过期", "verification.change", to == "expired"),
        ]

    def names(self) -> list[dict[str, Any]]:
        return [
            self.counted("names_refused_by_rule", "名称被拒绝（按规则）", "name_rule", prefix="deny:"),
            self.counted("names_reviewed_by_rule", "名称转人工审核（按规则）", "name_rule", prefix="review:"),
        ]

    def entities(self) -> list[dict[str, Any]]:
        to = AuditEntry.data["to"].as_string()
        entity = Account.account_type.in_(sorted(ENTITY_ACCOUNT_TYPES))
        entity_subjects = sa.select(sa.literal("account:") + Account.id).where(entity)
        in_entity = AuditEntry.subject.in_(entity_subjects)
        verification = AuditEntry.action == "verification.change"
        return [
            self.breakdown(
                "entity_registered",
                "公众账号与机构账号注册（按类型）",
                Account.registered_at,
                Account.account_type,
                entity,
            ),
            self.series(
                "entity_verified",
                "经主体（统一社会信用代码）核验通过",
                AuditEntry.at,
                verification,
                to == "verified",
                in_entity,
                chart="bar",
            ),
            self.series(
                "entity_refused", "主体核验未通过", AuditEntry.at, verification, to == "rejected", in_entity
            ),
        ]

    def _tier_levels(self) -> dict[str, list[int]]:
        """Accounts per tier at each month's end: today's tiers, less the moves made since."""
        ends = self.p.bounds[1:]
        n = self.p.n

        def after(col: Any) -> Any:
            # How many month ends are at or before ``col``: 0..n.
            return sa.case(*[(col < e, i) for i, e in enumerate(ends)], else_=n)

        rb = sa.case(*[(Account.registered_at < e, i) for i, e in enumerate(ends, 1)], else_=n + 1).label(
            "rb"
        )
        levels: dict[str, list[int]] = defaultdict(lambda: [0] * n)
        for tier, r, cnt in _run(sa.select(Account.tier, rb, sa.func.count()).group_by(Account.tier, rb)):
            for m in range(int(r), n + 1):
                levels[tier][m - 1] += int(cnt)
        cb = after(TierChange.at).label("cb")
        rb2 = sa.case(*[(Account.registered_at < e, i) for i, e in enumerate(ends, 1)], else_=n + 1).label(
            "rb"
        )
        stmt = (
            sa.select(TierChange.from_tier, TierChange.to_tier, cb, rb2, sa.func.count())
            .join(Account, Account.id == TierChange.account_id)
            .where(TierChange.at >= ends[0])
            .group_by(TierChange.from_tier, TierChange.to_tier, cb, rb2)
        )
        for frm, to, c, r, cnt in _run(stmt):
            # A move after month end m (m <= c) by an account registered by then (r <= m) is undone.
            for m in range(int(r), int(c) + 1):
                if 1 <= m <= n:
                    levels[to][m - 1] -= int(cnt)
                    if frm is not None:
                        levels[frm][m - 1] += int(cnt)
        return dict(levels)

    def grading(self) -> list[dict[str, Any]]:
        levels = self._tier_levels()
        tiers = [{"key": t, "total": v[-1], "months": v} for t, v in sorted(levels.items())]
        watch = levels.get(WATCH_TIER, [0] * self.p.n)
        return [
            {
                "id": "tiers_at_end",
                "kind": "breakdown",
                "label": "期末各级账号数（分类分级）",
                "rows": tiers,
                "level": True,
            },
            self.series(
                "tier_moves_automatic",
                "自动调级（信用触发）",
                TierChange.at,
                TierChange.automatic.is_(True),
                chart="bar",
            ),
            self.series("tier_moves_manual", "人工调级", TierChange.at, TierChange.automatic.is_(False)),
            {
                "id": "watch_directory",
                "kind": "value",
                "label": "重点关注名录账号数（月末）",
                "value": watch[-1],
                "months": watch,
                "chart": "line",
            },
        ]

    def _median_hours(self) -> tuple[float | None, list[float | None]]:
        b = _bucket(Review.resolved_at, self.p.bounds).label("b")
        stmt = sa.select(b, Review.created_at, Review.resolved_at).where(
            Review.resolved_at >= self.p.start, Review.resolved_at < self.p.end, Review.status == "resolved"
        )
        every: list[float] = []
        per: list[list[float]] = [[] for _ in range(self.p.n)]
        for bv, created, resolved in db.session.execute(stmt):
            hours = (resolved - created).total_seconds() / 3600
            every.append(hours)
            per[int(bv) - 1].append(hours)

        def med(xs: list[float]) -> float | None:
            return round(statistics.median(xs), 2) if xs else None

        return med(every), [med(xs) for xs in per]

    def blacklist(self) -> list[dict[str, Any]]:
        expired = sa.and_(
            Ban.expires_at.is_not(None), sa.or_(Ban.lifted_at.is_(None), Ban.lifted_at > Ban.expires_at)
        )
        median, median_months = self._median_hours()
        return [
            self.series("bans_created", "新增封禁（黑名单）", Ban.created_at, chart="bar"),
            self.breakdown("bans_by_rule", "封禁（按规则）", Ban.created_at, Ban.rule),
            self.series("bans_lifted", "解除封禁", Ban.lifted_at),
            self.series("bans_expired", "封禁到期", Ban.expires_at, expired),
            self.counted("checks_denied", "注册检查拒绝（deny）", "check", key="deny", chart="line"),
            self.counted("checks_reviewed", "注册检查转审核（review）", "check", key="review"),
            self.counted("checks_allowed", "注册检查通过（allow）", "check", key="allow"),
            self.counted("caught_by_field", "拦截的重新注册（按字段）", "check_field"),
            self.counted("caught_by_trick", "拦截的重新注册（按手法）", "check_trick"),
            self.series("reviews_opened", "新开审核", Review.created_at),
            self.breakdown(
                "reviews_resolved",
                "审核办结（按结论）",
                Review.resolved_at,
                Review.outcome,
                Review.status == "resolved",
            ),
            {
                "id": "review_median_hours",
                "kind": "value",
                "label": "审核办结用时中位数（小时）",
                "value": median,
                "months": median_months,
            },
        ]

    def sweep(self) -> list[dict[str, Any]]:
        return [
            self.audit_series("sweep_dormant", "转为休眠", "account.dormant", chart="bar"),
            self.audit_series("sweep_suspended", "暂停使用", "account.suspend"),
            self.audit_series("sweep_purged", "注销清理", "account.purge"),
            self.audit_series("sweep_reactivated", "恢复活跃", "account.reactivate"),
        ]

    def credit(self) -> list[dict[str, Any]]:
        moved = sa.select(sa.func.count(sa.distinct(TierChange.account_id))).where(
            TierChange.at >= self.p.start, TierChange.at < self.p.end, TierChange.automatic.is_(True)
        )
        return [
            self.series("violations", "违规记录", Violation.at, chart="bar"),
            self.breakdown("violations_by_rule", "违规（按规则）", Violation.at, Violation.rule),
            self.breakdown("violations_by_severity", "违规（按严重程度）", Violation.at, Violation.severity),
            {
                "id": "credit_moved_tier",
                "kind": "value",
                "label": "信用变化触发调级的账号数",
                "value": int(db.session.scalar(moved) or 0),
            },
        ]

    def rules_alike(self) -> list[dict[str, Any]]:
        rule = AuditEntry.data["rule"].as_string()
        return [
            {
                "id": "catalogue",
                "kind": "catalogue",
                "label": "在用规则目录",
                "configured": rules.describe()["configured"],
                "rows": [
                    {"code": r.code, "title": r.title, "actions": list(r.actions)}
                    for r in rules.describe()["items"]
                ],
            },
            self.breakdown("actions_bans", "封禁（按规则）", Ban.created_at, Ban.rule),
            self.breakdown("actions_violations", "违规处理（按规则）", Violation.at, Violation.rule),
            self.breakdown("actions_tiers", "调级（按规则）", TierChange.at, TierChange.rule),
            self.breakdown(
                "actions_verification",
                "认证处理（按规则）",
                AuditEntry.at,
                rule,
                AuditEntry.action == "verification.change",
                rule.is_not(None),
            ),
        ]

    def records(self) -> list[dict[str, Any]]:
        return [self.series("audit_entries", "审计日志条目", AuditEntry.at, chart="bar")]


SECTIONS = (
    ("registration", "一、账号注册与真实身份信息认证", "registration"),
    ("names", "二、账号信息合规（名称规则）", "names"),
    ("entities", "三、公众账号与机构账号主体核验", "entities"),
    ("grading", "四、账号分类分级", "grading"),
    ("blacklist", "五、黑名单管理与防范“转世”", "blacklist"),
    ("sweep", "六、僵尸号、空壳号清理", "sweep"),
    ("credit", "七、违规处置与用户信用记录", "credit"),
    ("rules", "八、规则一致适用（不得选择性操作）", "rules_alike"),
    ("records", "九、全过程留痕备查", "records"),
)


def compute(period: Period) -> list[dict[str, Any]]:
    """Return every section with its figures."""
    f = Figures(period)
    return [{"id": sid, "title": title, "figures": getattr(f, meth)()} for sid, title, meth in SECTIONS]


def stored_checks(period: Period) -> int:
    """Return the stored (non-allow) checks of the period, for cross-checking the counters."""
    return int(
        db.session.scalar(
            sa.select(sa.func.count()).where(CheckRecord.at >= period.start, CheckRecord.at < period.end)
        )
        or 0
    )
