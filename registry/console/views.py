"""The console's screens (/console/...): each reads through, and acts through, the API's own services.

An action loads its form through the API's schema for the same request and calls the same service, so
it is refused exactly as the API refuses it; the refusal (a ``DomainError`` or the schema's
``ValidationError``) becomes a message on the page instead of a JSON body.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from flask import Flask, Response, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext
from marshmallow import Schema, ValidationError

from registry.accounts.models import Account
from registry.accounts.service import get_account, name_key
from registry.actor import current_actor
from registry.audit.models import AuditEntry
from registry.audit.service import list_entries, readable, record
from registry.bans import service as bans
from registry.bans.importer import import_bans
from registry.bans.models import Ban, BanName, ban_is_live
from registry.bans.schemas import BanIn, BanOut, LiftIn
from registry.check.models import CheckRecord
from registry.console import charts, staff
from registry.console.web import (
    LANG_COOKIE,
    LANGUAGES,
    blp,
    clear_session_cookie,
    current_staff,
    label,
    needs,
    problem,
    set_session_cookie,
)
from registry.console.web import init_app as init_web
from registry.credit import service as credit
from registry.credit.schemas import ViolationIn
from registry.domain_errors import DomainError, NotFound
from registry.extensions import db
from registry.links.service import linked_accounts
from registry.matching.keys import ENCODING_VERSION, SEP
from registry.reviews import service as reviews
from registry.reviews.models import Review
from registry.reviews.schemas import ResolveIn
from registry.settings import app_settings
from registry.sweep import service as sweeps
from registry.sweep.models import SweepRun
from registry.tiers import service as tiers
from registry.tiers.schemas import TierIn
from registry.timeutil import utcnow
from registry.verification import service as verification
from registry.verification.schemas import VerificationIn

PAGE = 50
LINKS_SHOWN = 50  # the linked-accounts panel's limit (the service says when it cut the list)
WATCH_TIERS = ("watch", "restricted")


def _form(*names: str) -> dict[str, Any]:
    """Return the named form fields that were filled in (blank ones are left out, as a JSON body would)."""
    out: dict[str, Any] = {}
    for name in names:
        value = request.form.get(name, "").strip()
        if value:
            out[name] = value
    return out


def _act(schema: Schema, body: Mapping[str, Any], call: Callable[[dict[str, Any]], Any], done: str) -> bool:
    """Load ``body`` through the API's schema and call the service; flash the outcome, True if done."""
    try:
        data = schema.load(body)
        call(data)
    except (DomainError, ValidationError) as exc:
        db.session.rollback()
        flash(problem(exc), "error")
        return False
    flash(done, "ok")
    return True


# --- sign-in, sign-out, second factor, language ----------------------------------------------------


@blp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    if request.method == "GET":
        return render_template("console/login.html", next=request.args.get("next", ""))
    outcome = staff.sign_in(
        request.form.get("username", "").strip(), request.form.get("password", ""), request.form.get("totp")
    )
    if outcome.user is None:
        db.session.commit()  # the failure count and its audit entry stay
        message = (
            gettext("Too many failed sign-ins: this account is locked for a while. Try again later.")
            if outcome.problem == "locked"
            else gettext("Wrong name, password or code.")
        )
        return render_template("console/login.html", error=message, next=request.form.get("next", "")), 401
    old = g.get("console_session")
    if old is not None:
        staff.end_session(old)
    token, row = staff.new_session(outcome.user.id)
    db.session.commit()
    g.console_session = row
    target = request.form.get("next", "")
    if not target.startswith("/console") or target.startswith("//"):
        target = url_for("console.dashboard")
    response = redirect(target)
    set_session_cookie(response, token)
    return response


@blp.post("/logout")
def logout() -> Any:
    row = g.get("console_session")
    user = current_staff()
    if row is not None:
        staff.end_session(row)
    if user is not None:
        record("staff.logout", f"staff:{user.name}", {}, actor=user.name)
    db.session.commit()
    response = redirect(url_for("console.login"))
    clear_session_cookie(response)
    return response


@blp.route("/totp", methods=["GET", "POST"])
def totp() -> Any:
    user = current_staff()
    assert user is not None
    if request.method == "POST":
        if request.form.get("action") == "start":
            staff.start_totp(user)
            db.session.commit()
        else:
            try:
                staff.confirm_totp(user, request.form.get("totp", ""))
            except DomainError as exc:
                db.session.rollback()
                flash(problem(exc), "error")
            else:
                db.session.commit()
                flash(gettext("Second factor enrolled."), "ok")
                return redirect(url_for("console.dashboard"))
        return redirect(url_for("console.totp"))
    uri = staff.provisioning_uri(user) if user.totp_secret and not user.totp_enabled else None
    return render_template("console/totp.html", user=user, uri=uri)


@blp.get("/language/<code>")
def language(code: str) -> Any:
    target = request.args.get("next", "")
    if not target.startswith("/console") or target.startswith("//"):
        target = url_for("console.dashboard")
    response = redirect(target)
    if code in LANGUAGES:
        response.set_cookie(LANG_COOKIE, code, samesite="Lax", path="/console", max_age=365 * 86400)
    return response


# --- dashboard ------------------------------------------------------------------------------------


@blp.get("")
def dashboard() -> Any:
    now = utcnow()
    days = [(now - timedelta(days=13 - i)).date() for i in range(14)]
    since = datetime.combine(days[0], datetime.min.time())
    per_day: dict[tuple[str, str], int] = {}
    day = sa.func.date(CheckRecord.at)
    rows = db.session.execute(
        sa.select(day, CheckRecord.decision, sa.func.count())
        .where(CheckRecord.at >= since)
        .group_by(day, CheckRecord.decision)
    )
    for d, decision, n in rows:
        per_day[(str(d)[:10], decision)] = int(n)
    labels = [d.strftime("%m-%d") for d in days]
    checks = charts.bars(
        labels,
        [(label(dec), [per_day.get((d.isoformat(), dec), 0) for d in days]) for dec in ("review", "deny")],
        title=gettext("Checks per day by decision (allow is not stored)"),
    )
    open_reviews = list(
        db.session.execute(
            sa.select(Review.created_at)
            .where(Review.status != "resolved")
            .order_by(Review.created_at)
            .limit(10_000)
        ).scalars()
    )
    buckets = [
        (gettext("< 1 h"), 1),
        (gettext("< 1 day"), 24),
        (gettext("< 1 week"), 168),
        (gettext("older"), None),
    ]
    counts = [0] * len(buckets)
    for at in open_reviews:
        hours = (now - at).total_seconds() / 3600
        for i, (_label, limit) in enumerate(buckets):
            if limit is None or hours < limit:
                counts[i] += 1
                break
    backlog = charts.bars(
        [b[0] for b in buckets], [(gettext("open reviews"), counts)], title=gettext("Review backlog by age")
    )
    stmt = (
        sa.select(Ban.rule, sa.func.count())
        .where(ban_is_live(now))
        .group_by(Ban.rule)
        .order_by(sa.func.count().desc())
        .limit(12)
    )
    by_rule = list(db.session.execute(stmt))
    rules_chart = charts.bars(
        [str(r) for r, _n in by_rule],
        [(gettext("active bans"), [int(n) for _r, n in by_rule])],
        title=gettext("Active bans by rule"),
    )
    runs = list(
        db.session.scalars(
            sa.select(SweepRun)
            .where(SweepRun.dry_run.is_(False))
            .order_by(SweepRun.started_at.desc())
            .limit(10)
        )
    )[::-1]
    sweep_chart = charts.bars(
        [r.started_at.strftime("%m-%d %H:%M") for r in runs],
        [
            (label(k), [int((r.counts or {}).get(k, 0)) for r in runs])
            for k in ("dormant", "suspended", "purged")
        ],
        title=gettext("Recent sweeps"),
    )
    oldest = open_reviews[0] if open_reviews else None
    return render_template(
        "console/dashboard.html",
        charts=[checks, backlog, rules_chart, sweep_chart],
        backlog=len(open_reviews),
        oldest=oldest,
    )


# --- reviews --------------------------------------------------------------------------------------


@blp.get("/reviews")
@needs("reviews:read")
def review_queue() -> Any:
    status = request.args.get("status", "")
    stmt = sa.select(Review)
    if status in ("open", "claimed", "resolved"):
        stmt = stmt.where(Review.status == status)
    else:
        stmt = stmt.where(Review.status != "resolved")
    kind = request.args.get("kind", "")
    if kind in ("signup", "backcheck"):
        stmt = stmt.where(Review.kind == kind)
    items = list(db.session.scalars(stmt.order_by(Review.created_at, Review.id).limit(PAGE)))
    return render_template(
        "console/reviews.html", items=items, status=status, kind=kind, matched=_matched_bans(items)
    )


def _matched_bans(items: list[Review]) -> dict[str, Ban]:
    """The bans that back-check reviews were opened against, by id (one query for the page)."""
    ids = sorted({r.matched_ban_id for r in items if r.matched_ban_id})
    if not ids:
        return {}
    return {b.id: b for b in db.session.scalars(sa.select(Ban).where(Ban.id.in_(ids)))}


def _linked(account_id: str | None) -> Any:
    """The linked-accounts panel's content: the links service's answer (None without an account)."""
    if not account_id or db.session.get(Account, account_id) is None:
        return None
    return linked_accounts(account_id, limit=LINKS_SHOWN)


@blp.get("/reviews/<review_id>")
@needs("reviews:read")
def review(review_id: str) -> Any:
    try:
        item = reviews.get_review(review_id)
    except NotFound as exc:
        return render_template("console/refused.html", message=problem(exc)), 404
    ban_ids = sorted({r["ban_id"] for r in item.reasons if isinstance(r, dict) and r.get("ban_id")})
    if item.matched_ban_id and item.matched_ban_id not in ban_ids:
        ban_ids.append(item.matched_ban_id)
    matched = (
        {b.id: b for b in db.session.scalars(sa.select(Ban).where(Ban.id.in_(ban_ids)))} if ban_ids else {}
    )
    account = db.session.get(Account, item.account_id) if item.account_id else None
    return render_template(
        "console/review.html",
        item=item,
        matched=matched,
        account=account,
        links=_linked(item.account_id),
        links_limit=LINKS_SHOWN,
    )


@blp.post("/reviews/<review_id>/claim")
@needs("reviews")
def claim(review_id: str) -> Any:
    try:
        reviews.claim_review(review_id, force=request.form.get("force") == "1", actor=current_actor())
        flash(gettext("Claimed."), "ok")
    except DomainError as exc:
        db.session.rollback()
        flash(problem(exc), "error")
    return redirect(url_for("console.review", review_id=review_id))


@blp.post("/reviews/<review_id>/resolve")
@needs("reviews")
def resolve(review_id: str) -> Any:
    body = _form("outcome", "note", "rule")

    def call(data: dict[str, Any]) -> None:
        reviews.resolve_review(review_id, data, actor=current_actor())

    if _act(ResolveIn(), body, call, gettext("Resolved as %(outcome)s.", outcome=body.get("outcome", ""))):
        return redirect(url_for("console.review_queue"))
    return redirect(url_for("console.review", review_id=review_id))


# --- accounts -------------------------------------------------------------------------------------


@blp.get("/accounts")
@needs("accounts:read")
def account_lookup() -> Any:
    wanted = request.args.get("id", "").strip()
    if wanted:
        return redirect(url_for("console.account", account_id=wanted))
    return render_template("console/account_lookup.html")


@blp.get("/accounts/<account_id>")
@needs("accounts:read")
def account(account_id: str) -> Any:
    try:
        acct = get_account(account_id)
    except NotFound as exc:
        return render_template("console/refused.html", message=problem(exc)), 404
    account_bans = list(
        db.session.scalars(sa.select(Ban).where(Ban.account_id == account_id).order_by(Ban.created_at))
    )
    account_reviews = list(
        db.session.scalars(
            sa.select(Review).where(Review.account_id == account_id).order_by(Review.created_at)
        )
    )
    entries, _next = list_entries({"subject": f"account:{account_id}", "limit": PAGE})
    return render_template(
        "console/account.html",
        acct=acct,
        credit=credit.effective_credit(acct),
        history=tiers.tier_history(account_id),
        violations=credit.list_violations(account_id),
        bans=account_bans,
        reviews=account_reviews,
        entries=entries,
        ladder=tiers.ladder(),
        view_status=bans.view_status,
        links=linked_accounts(account_id, limit=LINKS_SHOWN),
        links_limit=LINKS_SHOWN,
    )


@blp.post("/accounts/<account_id>/tier")
@needs("tiers:write")
def account_tier(account_id: str) -> Any:
    _act(
        TierIn(),
        _form("tier", "reason", "rule"),
        lambda data: tiers.set_tier(account_id, data, actor=current_actor()),
        gettext("Tier changed."),
    )
    return redirect(url_for("console.account", account_id=account_id))


@blp.post("/accounts/<account_id>/violation")
@needs("accounts:write")
def account_violation(account_id: str) -> Any:
    _act(
        ViolationIn(),
        _form("rule", "severity", "note"),
        lambda data: credit.add_violation(account_id, data, actor=current_actor()),
        gettext("Violation recorded."),
    )
    return redirect(url_for("console.account", account_id=account_id))


@blp.post("/accounts/<account_id>/verification")
@needs("verification:write")
def account_verification(account_id: str) -> Any:
    _act(
        VerificationIn(),
        _form("status", "method", "reason", "rule"),
        lambda data: verification.set_verification(account_id, data, actor=current_actor()),
        gettext("Verification recorded."),
    )
    return redirect(url_for("console.account", account_id=account_id))


@blp.post("/accounts/<account_id>/ban")
@needs("bans:write")
def account_ban(account_id: str) -> Any:
    body = {"account_id": account_id, **_form("reason", "rule")}
    _act(BanIn(), body, bans.create_ban, gettext("Account banned."))
    return redirect(url_for("console.account", account_id=account_id))


# --- bans -----------------------------------------------------------------------------------------


@blp.route("/bans", methods=["GET"])
@needs("bans:read")
def ban_list() -> Any:
    q = {k: request.args.get(k, "").strip() for k in ("id", "rule", "status", "name")}
    stmt = sa.select(Ban)
    now = utcnow()
    if q["id"]:
        stmt = stmt.where(Ban.id == q["id"])
    if q["rule"]:
        stmt = stmt.where(Ban.rule == q["rule"])
    if q["status"] == "active":
        stmt = stmt.where(ban_is_live(now))
    elif q["status"] == "lifted":
        stmt = stmt.where(Ban.status == "lifted")
    elif q["status"] == "expired":
        stmt = stmt.where(Ban.status == "active", Ban.expires_at.is_not(None), Ban.expires_at <= now)
    if q["name"]:
        # Folded as the check folds: 張三 finds a ban on 张三, ＡＢＣ one on abc.
        # The stored match keys begin with the canonical folded name.
        key = name_key(q["name"]) or ""
        prefix = f"{ENCODING_VERSION}{SEP}{key}{SEP}"
        stmt = stmt.where(
            Ban.id.in_(sa.select(BanName.ban_id).where(BanName.encoded.startswith(prefix, autoescape=True)))
        )
    items = list(db.session.scalars(stmt.order_by(Ban.created_at.desc(), Ban.id).limit(PAGE)))
    return render_template(
        "console/bans.html", items=items, q=q, view_status=bans.view_status, dump=BanOut().dump
    )


@blp.post("/bans")
@needs("bans:write")
def ban_create() -> Any:
    body: dict[str, Any] = _form("reason", "rule", "account_id", "expires_at")
    names = [n.strip() for n in request.form.get("names", "").splitlines() if n.strip()]
    if names:
        body["names"] = names
    idents: dict[str, list[str]] = {}
    for field in ("email", "phone", "id_number", "device_id", "ip"):
        values = [v.strip() for v in request.form.get(field, "").splitlines() if v.strip()]
        if values:
            idents[field] = values
    if idents:
        body["identifiers"] = idents
    made: list[Any] = []
    _act(BanIn(), body, lambda data: made.append(bans.create_ban(data)), gettext("Ban created."))
    if made:
        return redirect(url_for("console.ban", ban_id=made[0].id))
    return redirect(url_for("console.ban_list"))


@blp.get("/bans/<ban_id>")
@needs("bans:read")
def ban(ban_id: str) -> Any:
    try:
        item = bans.get_ban(ban_id)
    except NotFound as exc:
        return render_template("console/refused.html", message=problem(exc)), 404
    return render_template("console/ban.html", item=item, shown=BanOut().dump(item))


@blp.post("/bans/<ban_id>/lift")
@needs("bans:lift")
def ban_lift(ban_id: str) -> Any:
    _act(
        LiftIn(), _form("reason"), lambda data: bans.lift_ban(ban_id, data["reason"]), gettext("Ban lifted.")
    )
    return redirect(url_for("console.ban", ban_id=ban_id))


@blp.post("/bans/upload")
@needs("bans:write")
def ban_upload() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        flash(gettext("Choose a JSON Lines file."), "error")
        return redirect(url_for("console.ban_list"))
    raw = upload.read()
    lines = [
        line.decode("utf-8", "surrogateescape") for line in raw.removeprefix(b"\xef\xbb\xbf").splitlines(True)
    ]
    report = import_bans(lines, actor=current_actor())
    return render_template("console/ban_upload.html", report=report, filename=upload.filename)


# --- watch directory ------------------------------------------------------------------------------


def _watch_rows() -> tuple[list[Account], dict[str, str]]:
    f = {k: request.args.get(k, "").strip() for k in ("tier", "status", "verification")}
    stmt = sa.select(Account).where(
        Account.tier.in_(WATCH_TIERS if f["tier"] not in WATCH_TIERS else [f["tier"]])
    )
    if f["status"]:
        stmt = stmt.where(Account.status == f["status"])
    if f["verification"]:
        stmt = stmt.where(Account.verification_status == f["verification"])
    return list(db.session.scalars(stmt.order_by(Account.tier, Account.id).limit(5000))), f


@blp.get("/watch")
@needs("accounts:read")
def watch() -> Any:
    rows, f = _watch_rows()
    return render_template("console/watch.html", rows=rows[:200], total=len(rows), f=f)


@blp.get("/watch.csv")
@needs("accounts:read")
def watch_csv() -> Any:
    rows, _f = _watch_rows()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(
        ["account_id", "username", "display_name", "tier", "pinned", "status", "credit", "verification"]
    )
    for a in rows:
        writer.writerow(
            [
                a.id,
                a.username or "",
                a.display_name or "",
                a.tier,
                a.tier_pinned,
                a.status,
                credit.effective_credit(a),
                a.verification_status,
            ]
        )
    return Response(
        "\ufeff" + out.getvalue(),
        mimetype="text/csv",
        headers={"Content-Disposition": "attachment; filename=watch-directory.csv"},
    )


# --- sweeps ---------------------------------------------------------------------------------------


def _sample(rules: Any, limit: int = 5) -> dict[str, list[str]]:
    accounts = Account.__table__
    out = {}
    for step, cond in (
        ("dormant", rules.to_dormant()),
        ("suspended", rules.to_suspended()),
        ("purged", rules.to_purged()),
    ):
        out[step] = list(
            db.session.scalars(sa.select(accounts.c.id).where(cond).order_by(accounts.c.id).limit(limit))
        )
    return out


@blp.get("/sweeps")
@needs("sweeps:read")
def sweep_list() -> Any:
    runs = list(db.session.scalars(sa.select(SweepRun).order_by(SweepRun.started_at.desc()).limit(PAGE)))
    return render_template("console/sweeps.html", runs=runs, settings=app_settings())


@blp.post("/sweeps/dry-run")
@needs("sweeps:run")
def sweep_dry_run() -> Any:
    try:
        run = sweeps.start_from_request({"dry_run": True}, current_actor())
    except DomainError as exc:
        db.session.rollback()
        flash(problem(exc), "error")
        return redirect(url_for("console.sweep_list"))
    settings = app_settings()
    rules = sweeps.SweepPolicy.at(run.as_of, settings)
    counts = dict(run.counts or {})
    plan = sweeps.plan(rules)
    return render_template(
        "console/sweep_confirm.html",
        run=run,
        counts=counts,
        sample=_sample(rules),
        acting=sweeps.acting(plan),
        over=sweeps.over_cap(plan, settings),
        total=plan["accounts"],
        settings=settings,
    )


@blp.post("/sweeps/run")
@needs("sweeps:run")
def sweep_run() -> Any:
    if request.form.get("confirm") != "yes":
        flash(gettext("Tick the confirmation to run the sweep."), "error")
        return redirect(url_for("console.sweep_list"))
    try:
        run = sweeps.start_from_request(
            {"dry_run": False, "force": request.form.get("force") == "yes"}, current_actor()
        )
    except DomainError as exc:
        db.session.rollback()
        flash(problem(exc), "error")
        return redirect(url_for("console.sweep_list"))
    flash(gettext("Sweep %(id)s finished: %(counts)s", id=run.id, counts=_counts_text(run.counts)), "ok")
    return redirect(url_for("console.sweep_list"))


def _counts_text(counts: Mapping[str, Any] | None) -> str:
    return ", ".join(
        f"{label(k)} {v}" for k, v in (counts or {}).items() if k in ("dormant", "suspended", "purged")
    )


# --- audit ----------------------------------------------------------------------------------------


@blp.get("/audit")
@needs("audit:read")
def audit() -> Any:
    f = {k: request.args.get(k, "").strip() for k in ("actor", "action", "subject", "since", "until")}
    args: dict[str, Any] = {k: f[k] for k in ("actor", "action", "subject") if f[k]}
    args["limit"] = PAGE
    for k in ("since", "until"):
        if f[k]:
            try:
                args[k] = datetime.fromisoformat(f[k])
            except ValueError:
                flash(
                    gettext("Invalid time for %(field)s: use 2026-12-01 or 2026-12-01T08:00.", field=k),
                    "error",
                )
    entries, _next = list_entries(args)
    return render_template("console/audit.html", entries=entries, f=f)


# max: a seq past a 64-bit integer is a 404, not an overflow in the driver (SQLite raised it: a 500).
@blp.get("/audit/<int(max=9223372036854775807):seq>")
@needs("audit:read")
def audit_entry(seq: int) -> Any:
    row = db.session.get(AuditEntry, seq)
    if row is None:
        return render_template(
            "console/refused.html", message=gettext("No audit entry %(seq)s.", seq=seq)
        ), 404
    (entry,) = readable([row])
    return render_template("console/audit_entry.html", entry=entry)


@blp.post("/audit/verify")
@needs("audit:read")
def audit_verify() -> Any:
    from registry.audit.checkpoints import app_keys
    from registry.audit.verify import verify_chain

    result = verify_chain(app_keys(), app_settings().audit_checkpoints)
    record(
        "audit.verify",
        "audit",
        {"entries": result.count, "intact": not result.problems},
        actor=current_actor(),
    )
    db.session.commit()
    return render_template("console/audit_verify.html", result=result)


# --- reports (the yearly report and the monthly ledger) --------------------------------------------

REPORT_FORMATS = {"pdf": "application/pdf", "html": "text/html; charset=utf-8", "json": "application/json"}
# The report's own HTML page carries its stylesheet inline; it is served with this policy (still no
# script at all, nothing from elsewhere, no framing) instead of the console's.
REPORT_CSP = (
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'none'; "
    "base-uri 'none'; form-action 'none'"
)


def _report_of(kind: str, args: Mapping[str, str]) -> tuple[dict[str, Any], str]:
    """Build the report the query names (raise InvalidField naming ``year`` or ``month``)."""
    from registry.reports import service as report_service

    if kind == "annual":
        year = report_service.parse_year(args.get("year", ""))
        return report_service.annual(year), str(year)
    year, month = report_service.parse_month(args.get("month", ""))
    return report_service.monthly(year, month), f"{year:04d}-{month:02d}"


@blp.get("/reports")
@needs("reports:read")
def reports() -> Any:
    from registry.reports import render

    kind = "monthly" if request.args.get("kind") == "monthly" else "annual"
    now = utcnow()
    wanted = {"year": request.args.get("year", "").strip(), "month": request.args.get("month", "").strip()}
    report = period = None
    if wanted["year" if kind == "annual" else "month"]:
        try:
            report, period = _report_of(kind, wanted)
        except DomainError as exc:
            db.session.rollback()
            flash(problem(exc), "error")
    return render_template(
        "console/reports.html",
        kind=kind,
        wanted=wanted,
        default_year=str(now.year),
        default_month=f"{now.year:04d}-{now.month:02d}",
        report=report,
        period=period,
        query={"year": period} if kind == "annual" else {"month": period},
        cover=render.cover_lines(report) if report else [],
        title=render.title(report) if report else "",
        rows_of=render.rows_of,
    )


@blp.get("/reports/<kind>.<fmt>")
@needs("reports:read")
def report_file(kind: str, fmt: str) -> Any:
    """The signed report as a file: PDF, HTML (opens in the browser; ``download=1`` saves it) or JSON."""
    from registry.reports import render
    from registry.reports import service as report_service

    if kind not in ("annual", "monthly") or fmt not in REPORT_FORMATS:
        return render_template("console/refused.html", message=gettext("No such report.")), 404
    try:
        report, period = _report_of(kind, request.args)
    except DomainError as exc:
        db.session.rollback()
        return render_template("console/refused.html", message=problem(exc)), 422
    if fmt == "json":
        data = report_service.signed_json(report)
    else:
        body = render.to_pdf(report) if fmt == "pdf" else render.to_html(report)
        data = report_service.signed_file(body, report, fmt)
    name = f"registry-{kind}-{period}.{fmt}"
    inline = fmt == "html" and request.args.get("download") != "1"
    disposition = f"inline; filename={name}" if inline else f"attachment; filename={name}"
    response = Response(data, mimetype=REPORT_FORMATS[fmt].split(";")[0])
    if fmt == "html":
        response.headers["Content-Type"] = REPORT_FORMATS["html"]
        g.console_csp = REPORT_CSP
    response.headers["Content-Disposition"] = disposition
    return response


# --- staff (supervisors manage lower roles) -------------------------------------------------------


@blp.get("/staff")
@needs("staff")
def staff_list() -> Any:
    return render_template("console/staff.html", users=staff.list_staff(), roles=staff.RANK)


@blp.post("/staff")
@needs("staff")
def staff_create() -> Any:
    me = current_staff()
    assert me is not None
    try:
        staff.create_staff(
            request.form.get("name", ""),
            request.form.get("role", ""),
            request.form.get("password", ""),
            actor=me.name,
            actor_role=me.role,
        )
    except DomainError as exc:
        db.session.rollback()
        flash(problem(exc), "error")
    else:
        db.session.commit()
        flash(gettext("Staff user created."), "ok")
    return redirect(url_for("console.staff_list"))


@blp.post("/staff/<name>/<action>")
@needs("staff")
def staff_change(name: str, action: str) -> Any:
    me = current_staff()
    assert me is not None
    target = staff.find(name)
    if (
        target is None
        or staff.RANK[target.role] >= staff.RANK[me.role]
        or action not in ("disable", "reset-totp")
    ):
        flash(gettext("You may only manage staff of lower roles."), "error")
        return redirect(url_for("console.staff_list"))
    if action == "disable":
        staff.disable_staff(name, actor=me.name)
    else:
        staff.reset_totp(name, actor=me.name)
    db.session.commit()
    flash(gettext("Done."), "ok")
    return redirect(url_for("console.staff_list"))


# --- appeals (申诉) ---------------------------------------------------------------------------------

APPEAL_LISTS = ("overdue", "open", "decided")


@blp.get("/appeals")
@needs("bans:read")
def appeal_list() -> Any:
    from registry.appeals import service as appeals

    lists = {status: appeals.list_appeals({"status": status, "limit": PAGE})[0] for status in APPEAL_LISTS}
    now = utcnow()
    return render_template(
        "console/appeals.html",
        lists=lists,
        doc=lambda a: appeals.appeal_doc(a, now),
    )


@blp.get("/appeals/<appeal_id>")
@needs("bans:read")
def appeal(appeal_id: str) -> Any:
    from registry.appeals import service as appeals

    try:
        item = appeals.appeal_doc(appeals.get_appeal(appeal_id))
    except NotFound as exc:
        return render_template("console/refused.html", message=problem(exc)), 404
    ban_row = db.session.get(Ban, item["ban_id"]) if item["ban_id"] else None
    me = current_staff()
    return render_template(
        "console/appeal.html",
        item=item,
        ban=ban_row,
        view_status=bans.view_status,
        own_decision=me is not None and item["decision_by"] == me.name,
    )


@blp.post("/appeals/<appeal_id>/decide")
@needs("bans:write")
def appeal_decide(appeal_id: str) -> Any:
    from registry.appeals import service as appeals
    from registry.appeals.schemas import DecideIn

    me = current_staff()
    assert me is not None
    # Staff carry their role's scopes, never ``admin``: the API's refusal of the decision's own maker
    # applies with no way to force it from the console.
    scopes = staff.scopes_of(me.role)
    body = _form("outcome", "note")

    def call(data: dict[str, Any]) -> None:
        appeals.decide_appeal(appeal_id, data, actor=current_actor(), scopes=scopes)

    outcome = label(body.get("outcome", ""))
    if _act(DecideIn(), body, call, gettext("Appeal decided: %(outcome)s.", outcome=outcome)):
        return redirect(url_for("console.appeal_list"))
    return redirect(url_for("console.appeal", appeal_id=appeal_id))


def init_app(app: Flask) -> None:
    """Register the console's blueprint and its plumbing."""
    init_web(app)
