"""The sweep over HTTP: rules, ladder, dry run, idempotence, exemptions, purge, cap, audit, outbox."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.bans.models import Ban, BanIdentifier, BanName
from registry.extensions import db
from registry.sweep.models import DormancyNotice, SweepRun
from registry.timeutil import to_aware, utcnow

# Everything happens well in the past, so every as_of below is a legal (not future) time.
BASE = (utcnow() - timedelta(days=1000)).replace(microsecond=0)


def iso(value):
    return to_aware(value).isoformat()


def day(n):
    return BASE + timedelta(days=n)


@pytest.fixture
def headers(auth):
    return auth("accounts:read", "accounts:write", "sweeps:run", name="nightly")


def make(client, headers, account_id, registered=0, **extra):
    body = {
        "id": account_id,
        "username": f"user_{account_id}",
        "registered_at": iso(day(registered)),
        **extra,
    }
    response = client.post("/v1/accounts", json=body, headers=headers)
    assert response.status_code == 201, response.json


def active(client, headers, account_id, at):
    response = client.post(
        "/v1/activity",
        json={"events": [{"account_id": account_id, "kind": "login", "at": iso(day(at))}]},
        headers=headers,
    )
    assert response.status_code == 202, response.json


def sweep(client, headers, at, **body):
    return client.post("/v1/sweeps", json={"as_of": iso(day(at)), **body}, headers=headers)


def status(client, headers, account_id):
    return client.get(f"/v1/accounts/{account_id}", headers=headers).json["status"]


def statuses(client, headers, *ids):
    return {i: status(client, headers, i) for i in ids}


def set_account(app, account_id, **values):
    with app.app_context():
        db.session.execute(sa.update(Account).where(Account.id == account_id).values(**values))
        db.session.commit()


def audit(app, action=None):
    with app.app_context():
        stmt = sa.select(AuditEntry).order_by(AuditEntry.seq)
        if action:
            stmt = stmt.where(AuditEntry.action == action)
        return [(e.action, e.subject, e.actor, e.data) for e in db.session.scalars(stmt)]


def add_ban(app, account_id=None, *, status="active", expires_at=None, names=(), identifiers=()):
    with app.app_context():
        ban = Ban(
            id=f"ban_{account_id or len(names)}_{status}",
            account_id=account_id,
            reason="spam",
            rule="R1",
            status=status,
            expires_at=expires_at,
            created_by="test",
        )
        ban.names = [BanName(name=n, encoded="{}") for n in names]
        ban.identifiers = [BanIdentifier(kind=k, value_hash=h, mask="***") for k, h in identifiers]
        db.session.add(ban)
        db.session.commit()
        return ban.id


def test_shell_and_zombie_accounts_become_dormant(app, client, headers):
    make(client, headers, "shell")  # registered day 0, never active
    make(client, headers, "young_shell", registered=20)
    make(client, headers, "zombie")
    active(client, headers, "zombie", 5)
    make(client, headers, "alive")
    active(client, headers, "alive", 150)
    make(client, headers, "verified_shell")
    set_account(app, "verified_shell", verification_status="verified")
    make(client, headers, "verified_zombie")
    set_account(app, "verified_zombie", verification_status="verified")
    active(client, headers, "verified_zombie", 1)

    # Day 40: shells 30+ days old are caught; nothing is a zombie yet.
    response = sweep(client, headers, 40)
    assert response.status_code == 201, response.json
    run = response.json
    assert run["counts"] == {"dormant": 1, "suspended": 0, "purged": 0, "shell": 1, "zombie": 0}
    assert run["status"] == "completed" and run["dry_run"] is False
    assert run["started_by"] == "nightly"
    assert run["as_of"] == iso(day(40))
    assert run["finished_at"] and run["timings"]["batches"] >= 1
    assert status(client, headers, "shell") == "dormant"
    assert client.get("/v1/accounts/shell", headers=headers).json["status_changed_at"] == iso(day(40))

    # Day 100: verified accounts are never shells.
    assert sweep(client, headers, 100).json["counts"]["shell"] == 1  # young_shell only
    assert status(client, headers, "verified_shell") == "active"
    # Day 190: zombies, whose last activity (or registration, if none) is 180+ days back.
    run = sweep(client, headers, 190).json
    assert (run["counts"]["dormant"], run["counts"]["shell"], run["counts"]["zombie"]) == (3, 0, 3)
    # Meanwhile the first shell climbed the ladder: suspended at day 100, purged at day 190.
    assert status(client, headers, "shell") == "purged"
    assert statuses(
        client, headers, "young_shell", "zombie", "alive", "verified_shell", "verified_zombie"
    ) == {
        "young_shell": "suspended",  # dormant at day 100, 30+ days on
        "zombie": "dormant",
        "alive": "active",
        "verified_shell": "dormant",
        "verified_zombie": "dormant",
    }


def test_verified_accounts_are_not_shells_but_can_be_zombies(app, client, headers):
    make(client, headers, "v")
    set_account(app, "v", verification_status="verified")
    assert sweep(client, headers, 100).json["counts"]["dormant"] == 0
    assert status(client, headers, "v") == "active"
    # No activity ever: registration counts as the last sign of life, 180 days on.
    run = sweep(client, headers, 180).json
    assert run["counts"] == {"dormant": 1, "suspended": 0, "purged": 0, "shell": 0, "zombie": 1}


def test_the_ladder_dormant_suspended_purged(app, client, headers):
    make(client, headers, "u1", email="u1@example.com", phone="+86 138 0013 8000", display_name="张三")
    assert sweep(client, headers, 30).json["counts"]["dormant"] == 1
    assert sweep(client, headers, 59).json["counts"] == {
        "dormant": 0,
        "suspended": 0,
        "purged": 0,
        "shell": 0,
        "zombie": 0,
    }
    assert sweep(client, headers, 60).json["counts"]["suspended"] == 1
    assert status(client, headers, "u1") == "suspended"
    assert sweep(client, headers, 149).json["counts"]["purged"] == 0
    assert sweep(client, headers, 150).json["counts"]["purged"] == 1
    tomb = client.get("/v1/accounts/u1", headers=headers).json
    assert tomb["status"] == "purged"
    assert tomb["purged_at"] == iso(day(150))
    assert tomb["registered_at"] == iso(day(0))
    assert tomb["display_name"] is None and tomb["username"] is None and tomb["identifiers"] == {}
    # Nothing further happens to a tombstone.
    assert sweep(client, headers, 900).json["counts"] == {
        "dormant": 0,
        "suspended": 0,
        "purged": 0,
        "shell": 0,
        "zombie": 0,
    }
    actions = [(a, s) for a, s, _, _ in audit(app) if s == "account:u1" and a.startswith("account.")]
    assert actions == [
        ("account.create", "account:u1"),
        ("account.dormant", "account:u1"),
        ("account.suspend", "account:u1"),
        ("account.purge", "account:u1"),
    ]


def test_one_rung_per_run_even_when_long_overdue(client, headers):
    make(client, headers, "u1")
    assert sweep(client, headers, 500).json["counts"]["dormant"] == 1
    # Far in the future of that dormancy: still only one step each run.
    assert sweep(client, headers, 900).json["counts"]["suspended"] == 1
    assert status(client, headers, "u1") == "suspended"


def test_activity_resets_the_ladder(client, headers):
    make(client, headers, "u1")
    sweep(client, headers, 40)
    assert status(client, headers, "u1") == "dormant"
    active(client, headers, "u1", 50)
    assert status(client, headers, "u1") == "active"
    # Not a shell any more (has activity) and not yet a zombie at day 100.
    assert sweep(client, headers, 100).json["counts"]["dormant"] == 0
    assert sweep(client, headers, 230).json["counts"]["zombie"] == 1
    sweep(client, headers, 260)
    assert status(client, headers, "u1") == "suspended"
    active(client, headers, "u1", 265)
    assert status(client, headers, "u1") == "active"


def test_dry_run_changes_nothing_and_reports_what_a_real_run_does(app, client, headers):
    for i in range(4):
        make(client, headers, f"s{i}")
    make(client, headers, "d")
    make(client, headers, "ok")
    active(client, headers, "ok", 100)
    sweep(client, headers, 40, force=True)
    active(client, headers, "s3", 50)  # back to active; "d" stays dormant
    make(client, headers, "late", registered=60)
    before_accounts = statuses(client, headers, "s0", "s1", "s2", "s3", "d", "ok", "late")
    with app.app_context():
        before_audit = db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry))
        before_outbox = db.session.scalar(sa.select(sa.func.count()).select_from(DormancyNotice))
    dry = sweep(client, headers, 95, dry_run=True)
    assert dry.status_code == 201
    assert dry.json["dry_run"] is True and dry.json["status"] == "completed"
    assert statuses(client, headers, "s0", "s1", "s2", "s3", "d", "ok", "late") == before_accounts
    with app.app_context():
        # Only the run's own entry is added.
        assert db.session.scalar(sa.select(sa.func.count()).select_from(AuditEntry)) == before_audit + 1
        assert db.session.scalar(sa.select(sa.func.count()).select_from(DormancyNotice)) == before_outbox
    real = sweep(client, headers, 95)
    assert real.json["counts"] == dry.json["counts"]
    assert real.json["counts"]["suspended"] == 4 and real.json["counts"]["dormant"] == 1


def test_rerunning_the_same_sweep_does_nothing(app, client, headers):
    for i in range(3):
        make(client, headers, f"u{i}")
    first = sweep(client, headers, 40).json
    assert first["counts"]["dormant"] == 3
    second = sweep(client, headers, 40).json
    assert second["counts"] == {"dormant": 0, "suspended": 0, "purged": 0, "shell": 0, "zombie": 0}
    assert len(audit(app, "account.dormant")) == 3


def test_exemptions(app, client, headers):
    for i in ("banned", "ban_row", "expired_ban", "lifted_ban", "org", "public", "org_unverified", "plain"):
        make(
            client,
            headers,
            i,
            account_type="organization" if i.startswith("org") else "public" if i == "public" else "personal",
        )
    set_account(app, "banned", status="banned")
    add_ban(app, "banned")
    add_ban(app, "ban_row")  # an active ban names it even though its status was not updated
    add_ban(app, "expired_ban", expires_at=day(10))
    add_ban(app, "lifted_ban", status="lifted")
    set_account(app, "org", verification_status="verified")
    set_account(app, "public", verification_status="verified")
    run = sweep(client, headers, 400, force=True).json
    assert run["counts"]["dormant"] == 4
    assert statuses(
        client,
        headers,
        "banned",
        "ban_row",
        "expired_ban",
        "lifted_ban",
        "org",
        "public",
        "org_unverified",
        "plain",
    ) == {
        "banned": "banned",
        "ban_row": "active",
        "expired_ban": "dormant",
        "lifted_ban": "dormant",
        "org": "active",
        "public": "active",
        "org_unverified": "dormant",
        "plain": "dormant",
    }
    # A dormant account that gets an active ban is not pushed further down the ladder.
    add_ban(app, "plain", names=["x"])
    sweep(client, headers, 500, force=True)
    assert status(client, headers, "plain") == "dormant"
    assert status(client, headers, "lifted_ban") == "suspended"


def test_purge_erases_personal_data_but_keeps_what_bans_need(app, client, headers):
    phone, email = "+86 138 0013 8000", "kept@example.com"
    make(
        client,
        headers,
        "p1",
        username="shared_name",
        display_name="张三",
        phone=phone,
        email=email,
        id_number="11010519491231002X",
        device_id="D5A93145",
        ip="203.0.113.7",
    )
    make(client, headers, "p2", username="free_name", phone="+86 139 0013 9000", email="gone@example.com")
    with app.app_context():
        p1 = db.session.get(Account, "p1")
        phone_hash, email_hash = p1.phone_hash, p1.email_hash
    ban_id = add_ban(app, names=["shared_name"], identifiers=[("phone", phone_hash)])
    with app.app_context():
        before = sorted((i.kind, i.value_hash, i.mask) for i in db.session.get(Ban, ban_id).identifiers)
    for at in (40, 70, 160):
        sweep(client, headers, at)
    with app.app_context():
        p1, p2 = db.session.get(Account, "p1"), db.session.get(Account, "p2")
        assert p1.status == p2.status == "purged"
        assert p1.phone_hash == phone_hash  # an active ban relies on it
        assert p1.username == "shared_name"  # a ban names it: never freed
        assert p1.email_hash is None and p1.email_hash != email_hash
        for account in (p1, p2):
            assert account.display_name is None and account.display_key is None
            assert all(
                getattr(account, f"{f}_mask") is None
                for f in ("email", "phone", "id_number", "device_id", "ip")
            )
            assert (
                account.id_number_hash is None and account.device_id_hash is None and account.ip_hash is None
            )
            assert account.registered_at == day(0) and account.purged_at == day(160)
        assert p2.username is None and p2.username_key is None and p2.phone_hash is None
        ban = db.session.get(Ban, ban_id)
        assert sorted((i.kind, i.value_hash, i.mask) for i in ban.identifiers) == before
        assert [n.name for n in ban.names] == ["shared_name"]
    purge = {s: d for a, s, _, d in audit(app, "account.purge")}
    assert purge["account:p1"]["kept_for_bans"] == ["username", "phone"]
    assert purge["account:p2"]["kept_for_bans"] == []


def test_purge_keeps_nothing_for_an_expired_ban(app, client, headers):
    # A ban past its expiry no longer holds: the purge must not keep the names and identifiers it cites.
    phone = "+86 138 0013 8001"
    make(client, headers, "x1", username="expired_name", phone=phone)
    with app.app_context():
        phone_hash = db.session.get(Account, "x1").phone_hash
    add_ban(app, names=["expired_name"], identifiers=[("phone", phone_hash)], expires_at=day(100))
    for at in (40, 70, 160):
        sweep(client, headers, at)
    with app.app_context():
        x1 = db.session.get(Account, "x1")
        assert x1.status == "purged"
        assert x1.phone_hash is None and x1.username is None
    purge = {s: d for a, s, _, d in audit(app, "account.purge")}
    assert purge["account:x1"]["kept_for_bans"] == []


def test_safety_cap_refuses_unless_forced(app_factory, auth):
    app = app_factory(sweep_cap_accounts=2, sweep_cap_share=0.5)
    client = app.test_client()
    headers = auth("accounts:read", "accounts:write", "sweeps:run", app=app)
    for i in range(4):
        make(client, headers, f"s{i}")
    make(client, headers, "ok")
    active(client, headers, "ok", 39)
    refused = sweep(client, headers, 40)
    assert refused.status_code == 409
    assert "4 of 5 accounts" in refused.json["message"]
    run_id = refused.json["errors"]["run"]["id"]
    stored = client.get(f"/v1/sweeps/{run_id}", headers=headers).json
    assert stored["status"] == "refused" and stored["counts"]["dormant"] == 4
    assert all(status(client, headers, f"s{i}") == "active" for i in range(4))
    assert audit(app, "account.dormant") == []
    # A dry run tells that a real run would be refused, with the same counts.
    dry = sweep(client, headers, 40, dry_run=True).json
    assert dry["counts"]["dormant"] == 4 and "would be refused" in dry["message"]
    forced = sweep(client, headers, 40, force=True)
    assert forced.status_code == 201 and forced.json["forced"] is True
    assert forced.json["counts"]["dormant"] == 4


def test_cap_needs_both_the_count_and_the_share(app_factory, auth):
    # 3 of 4 accounts is above the share but not above the count: allowed.
    app = app_factory(sweep_cap_accounts=3, sweep_cap_share=0.1)
    client = app.test_client()
    headers = auth("accounts:read", "accounts:write", "sweeps:run", app=app)
    for i in range(4):
        make(client, headers, f"s{i}")
    active(client, headers, "s0", 39)
    assert sweep(client, headers, 40).status_code == 201


def test_every_action_is_audited_with_the_key_name(app, client, headers):
    for i in range(3):
        make(client, headers, f"u{i}")
    run = sweep(client, headers, 40).json
    dormant = audit(app, "account.dormant")
    assert sorted(s for _, s, _, _ in dormant) == ["account:u0", "account:u1", "account:u2"]
    assert {actor for _, _, actor, _ in dormant} == {"nightly"}
    assert all(d["run"] == run["id"] and d["rule"] == "shell" for _, _, _, d in dormant)
    runs = audit(app, "sweep.run")
    assert runs[-1][1] == f"sweep:{run['id']}" and runs[-1][3]["counts"]["dormant"] == 3
    assert audit(app, "sweep.start")[-1][1] == f"sweep:{run['id']}"


def test_outbox_lists_the_accounts_made_dormant(client, headers):
    for i in range(5):
        make(client, headers, f"u{i}")
    run = sweep(client, headers, 40).json
    seen, cursor = [], None
    while True:
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = client.get(f"/v1/sweeps/{run['id']}/dormant", query_string=params, headers=headers)
        assert page.status_code == 200
        seen += page.json["items"]
        cursor = page.json["next"]
        if cursor is None:
            break
    assert sorted(i["account_id"] for i in seen) == [f"u{i}" for i in range(5)]
    assert {i["suspend_after"] for i in seen} == {iso(day(70))}
    assert all(i["delivered_at"] is None for i in seen)
    # Another run's outbox is its own.
    other = sweep(client, headers, 40).json
    assert client.get(f"/v1/sweeps/{other['id']}/dormant", headers=headers).json == {
        "items": [],
        "next": None,
    }
    bad = client.get(f"/v1/sweeps/{run['id']}/dormant", query_string={"cursor": "zzz"}, headers=headers)
    assert bad.status_code == 422


def test_outbox_notices_are_marked_delivered_once_and_audited(app, client, headers):
    for i in range(3):
        make(client, headers, f"u{i}")
    run = sweep(client, headers, 40).json
    url = f"/v1/sweeps/{run['id']}/dormant"
    marked = client.post(f"{url}/delivered", json={"account_ids": ["u0", "u1", "ghost"]}, headers=headers)
    assert marked.status_code == 200, marked.json
    assert marked.json == {"marked": 2, "unknown_accounts": ["ghost"]}
    again = client.post(f"{url}/delivered", json={"account_ids": ["u0"]}, headers=headers)
    assert again.json == {"marked": 0, "unknown_accounts": []}
    pending = client.get(url, query_string={"undelivered": "true"}, headers=headers).json["items"]
    assert [i["account_id"] for i in pending] == ["u2"]
    assert [data["accounts"] for *_, data in audit(app, "sweep.notices_delivered")] == [["u0", "u1"]]
    empty = client.post(f"{url}/delivered", json={"account_ids": []}, headers=headers)
    assert empty.status_code == 422 and "account_ids" in empty.json["errors"]["json"]
    assert (
        client.post(
            "/v1/sweeps/nope/dormant/delivered", json={"account_ids": ["u0"]}, headers=headers
        ).status_code
        == 404
    )


def test_unknown_run_is_404(client, headers):
    assert client.get("/v1/sweeps/nope", headers=headers).status_code == 404
    assert client.get("/v1/sweeps/nope/dormant", headers=headers).status_code == 404


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"as_of": "2020-01-01T00:00:00"}, "as_of"),
        ({"as_of": "tomorrow"}, "as_of"),
        ({"dry_run": "perhaps"}, "dry_run"),
        ({"force": [1]}, "force"),
    ],
)
def test_bad_sweep_requests_name_the_field(client, headers, body, field):
    response = client.post("/v1/sweeps", json=body, headers=headers)
    assert response.status_code == 422
    assert field in response.json["errors"]["json"]


def test_a_future_as_of_is_refused(client, headers):
    response = client.post("/v1/sweeps", json={"as_of": iso(utcnow() + timedelta(days=2))}, headers=headers)
    assert response.status_code == 422
    assert "as_of" in response.json["errors"]["json"]


def test_default_as_of_is_now(client, headers):
    before = utcnow()
    run = client.post("/v1/sweeps", json={}, headers=headers).json
    assert iso(before) <= run["as_of"] <= iso(utcnow())


def test_needs_sweeps_run(client, auth):
    response = client.post("/v1/sweeps", json={}, headers=auth("accounts:write"))
    assert response.status_code == 403
    assert client.post("/v1/sweeps", json={}).status_code == 401


def test_an_interrupted_run_is_closed_and_resumed_with_its_as_of(app, client, headers):
    for i in range(3):
        make(client, headers, f"u{i}")
    with app.app_context():
        # What a sweep killed after its first batch leaves behind.
        db.session.add(
            SweepRun(
                id="sw_dead",
                dry_run=False,
                forced=False,
                as_of=day(40),
                status="running",
                started_by="cron",
                started_at=utcnow() - timedelta(hours=1),
                counts={"dormant": 1},
                timings={},
            )
        )
        db.session.commit()
    set_account(app, "u0", status="dormant", status_changed_at=day(40))
    run = client.post("/v1/sweeps", json={}, headers=headers).json
    assert run["as_of"] == iso(day(40))
    assert "sw_dead" in run["message"]
    assert run["counts"]["dormant"] == 2
    assert client.get("/v1/sweeps/sw_dead", headers=headers).json["status"] == "interrupted"
    # Once finished, the next run is as of now again.
    assert client.post("/v1/sweeps", json={}, headers=headers).json["as_of"] > iso(day(900))
