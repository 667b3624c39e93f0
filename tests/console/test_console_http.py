"""The console's staff, sessions and guards over HTTP and the CLI (the browser tests cover the screens)."""

from __future__ import annotations

import re
from datetime import timedelta

import pyotp
import sqlalchemy as sa

from registry.console.models import StaffSession, StaffUser
from registry.extensions import db
from registry.timeutil import utcnow

PASSWORD = "a long enough password"


def create(runner, name, role, password=PASSWORD):
    return runner.invoke(
        args=["staff", "create", "--name", name, "--role", role, "--password-stdin"], input=password + "\n"
    )


def token(client, path="/console/login"):
    html = client.get(path).get_data(as_text=True)
    return re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)


def sign_in(client, name, password=PASSWORD, code=None):
    data = {"username": name, "password": password, "csrf_token": token(client)}
    if code:
        data["totp"] = code
    return client.post("/console/login", data=data)


def test_staff_commands_create_list_disable_and_reset(app, runner, client):
    assert create(runner, "mia", "moderator").exit_code == 0
    short = create(runner, "max", "reviewer", password="short")
    assert short.exit_code == 1 and "password" in short.output
    assert create(runner, "mia", "auditor").exit_code == 1
    assert create(runner, "zed", "janitor").exit_code == 2
    listed = runner.invoke(args=["staff", "list"])
    assert "mia\tmoderator\tno-totp\tactive" in listed.output
    assert sign_in(client, "mia").status_code == 302
    assert client.get("/console/bans").status_code == 200
    assert runner.invoke(args=["staff", "disable", "--name", "mia"]).exit_code == 0
    # Disabling ends the session at once.
    assert client.get("/console/bans").status_code == 302
    assert sign_in(client, "mia").status_code == 401
    assert "disabled" in runner.invoke(args=["staff", "list"]).output
    with app.app_context():
        user = db.session.scalar(sa.select(StaffUser).where(StaffUser.name == "mia"))
        assert user.password_hash.startswith("$argon2id$")
    assert runner.invoke(args=["staff", "reset-totp", "--name", "nobody"]).exit_code == 1


def test_reset_totp_makes_a_supervisor_enrol_again(app, runner, client):
    assert create(runner, "sol", "supervisor").exit_code == 0
    secret = pyotp.random_base32()
    with app.app_context():
        user = db.session.scalar(sa.select(StaffUser).where(StaffUser.name == "sol"))
        user.totp_secret, user.totp_enabled = secret, True
        db.session.commit()
    assert sign_in(client, "sol").status_code == 401  # no code
    assert sign_in(client, "sol", code=pyotp.TOTP(secret).now()).status_code == 302
    assert runner.invoke(args=["staff", "reset-totp", "--name", "sol"]).exit_code == 0
    assert sign_in(client, "sol").status_code == 302
    # A supervisor without a second factor reaches nothing but the enrolment page.
    response = client.get("/console/sweeps")
    assert response.status_code == 302 and response.headers["Location"].endswith("/console/totp")


def test_headers_cookie_and_rotation(app, runner):
    assert create(runner, "ada", "auditor").exit_code == 0
    client = app.test_client()
    page = client.get("/console/login")
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp and "script-src 'self'" in csp and "unsafe-inline" not in csp
    assert page.headers["X-Frame-Options"] == "DENY"
    before = client.get_cookie("registry_console", path="/console").value
    assert sign_in(client, "ada").status_code == 302
    after = client.get_cookie("registry_console", path="/console")
    assert after.value != before and after.http_only and after.same_site == "Lax" and not after.secure
    # The pre-sign-in session is gone: its token opens nothing.
    stale = app.test_client()
    stale.set_cookie("registry_console", before, path="/console")
    assert stale.get("/console/audit").status_code == 302
    # Behind TLS the cookie is Secure.
    tls = app.test_client()
    html = tls.get("/console/login", base_url="https://console.example").get_data(as_text=True)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', html).group(1)
    tls.post(
        "/console/login",
        data={"username": "ada", "password": PASSWORD, "csrf_token": csrf},
        base_url="https://console.example",
    )
    assert tls.get_cookie("registry_console", domain="console.example", path="/console").secure


def test_idle_sessions_end(app, runner, client):
    assert create(runner, "ivy", "reviewer").exit_code == 0
    sign_in(client, "ivy")
    assert client.get("/console/reviews").status_code == 200
    with app.app_context():
        db.session.execute(sa.update(StaffSession).values(seen_at=utcnow() - timedelta(minutes=31)))
        db.session.commit()
    assert client.get("/console/reviews").status_code == 302


def test_posts_without_the_token_are_refused_and_actions_carry_the_staff_name(app, runner, client, auth):
    assert create(runner, "moe", "moderator").exit_code == 0
    login = client.post("/console/login", data={"username": "moe", "password": PASSWORD})
    assert login.status_code == 400
    sign_in(client, "moe")
    refused = client.post("/console/bans", data={"rule": "R1", "reason": "x", "names": "no_token_name"})
    assert refused.status_code == 400
    made = client.post(
        "/console/bans",
        data={
            "rule": "R1",
            "reason": "x",
            "names": "with_token_name",
            "csrf_token": token(client, "/console/bans"),
        },
    )
    assert made.status_code == 302
    ban_id = made.headers["Location"].rsplit("/", 1)[1]
    headers = auth()
    ban = client.get(f"/v1/bans/{ban_id}", headers=headers).json
    assert ban["created_by"] == "moe"
    # A moderator may ban but not lift.
    lift = client.post(
        f"/console/bans/{ban_id}/lift", data={"reason": "x", "csrf_token": token(client, "/console/bans")}
    )
    assert lift.status_code == 403
    # Refused as the API refuses: a ban covering nothing names account_id, on the page.
    client.post(
        "/console/bans", data={"rule": "R1", "reason": "x", "csrf_token": token(client, "/console/bans")}
    )
    assert "account_id" in client.get("/console/bans").get_data(as_text=True)
    csv = client.get("/console/watch.csv")
    assert csv.status_code == 200 and csv.mimetype == "text/csv"


def test_every_console_string_has_its_chinese_translation_compiled():
    from pathlib import Path

    from babel.messages.extract import DEFAULT_KEYWORDS, extract_from_dir
    from babel.messages.mofile import read_mo

    import registry.console

    here = Path(registry.console.__file__).parent
    method_map = [("**.py", "python"), ("**/templates/**.html", "jinja2.ext:babel_extract")]
    keywords = {**DEFAULT_KEYWORDS, "lazy_gettext": None}
    wanted = {m[2] for m in extract_from_dir(str(here), method_map=method_map, keywords=keywords)}
    with (here / "translations" / "zh_Hans_CN" / "LC_MESSAGES" / "messages.mo").open("rb") as fh:
        compiled = {m.id: m.string for m in read_mo(fh) if m.id}
    missing = sorted(w for w in wanted if not compiled.get(w))
    assert not missing, f"run scripts/console_catalogue.py; untranslated: {missing}"


def test_a_supervisor_manages_staff_of_lower_roles_only(app, runner, client):
    assert create(runner, "sara", "supervisor").exit_code == 0
    secret = pyotp.random_base32()
    with app.app_context():
        user = db.session.scalar(sa.select(StaffUser).where(StaffUser.name == "sara"))
        user.totp_secret, user.totp_enabled = secret, True
        db.session.commit()
    sign_in(client, "sara", code=pyotp.TOTP(secret).now())
    csrf = token(client, "/console/staff")
    made = client.post(
        "/console/staff", data={"name": "rex", "role": "reviewer", "password": PASSWORD, "csrf_token": csrf}
    )
    assert made.status_code == 302
    client.post(
        "/console/staff", data={"name": "sid", "role": "supervisor", "password": PASSWORD, "csrf_token": csrf}
    )
    page = client.get("/console/staff").get_data(as_text=True)
    assert "rex" in page and "sid" not in page
    assert client.post("/console/staff/rex/disable", data={"csrf_token": csrf}).status_code == 302
    assert "rex\treviewer\tno-totp\tdisabled" in runner.invoke(args=["staff", "list"]).output
    client.post("/console/staff/sara/reset-totp", data={"csrf_token": csrf})
    with app.app_context():
        assert db.session.scalar(sa.select(StaffUser.totp_enabled).where(StaffUser.name == "sara"))
    assert create(runner, "rita", "reviewer").exit_code == 0
    reviewer = app.test_client()
    sign_in(reviewer, "rita")
    assert reviewer.get("/console/staff").status_code == 403


def test_report_files_their_policy_and_who_may_read_them(app, runner):
    assert create(runner, "ava", "auditor").exit_code == 0
    assert create(runner, "rex", "reviewer").exit_code == 0
    client = app.test_client()
    assert sign_in(client, "rex").status_code == 302
    assert client.get("/console/reports").status_code == 403
    assert client.get("/console/reports/annual.json?year=2026").status_code == 403
    client = app.test_client()
    assert sign_in(client, "ava").status_code == 302
    page = client.get("/console/reports/annual.html?year=2026")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert page.headers["Content-Disposition"] == "inline; filename=registry-annual-2026.html"
    # The report's page keeps its inline stylesheet but may run no script at all.
    csp = page.headers["Content-Security-Policy"]
    assert "default-src 'none'" in csp and "script" not in csp and "frame-ancestors 'none'" in csp
    assert b"<script" not in page.data
    saved = client.get("/console/reports/monthly.html?month=2026-11&download=1")
    assert saved.headers["Content-Disposition"] == "attachment; filename=registry-monthly-2026-11.html"
    # Other console pages keep the console's policy.
    assert "script-src 'self'" in client.get("/console/reports").headers["Content-Security-Policy"]
    bad = client.get("/console/reports/monthly.pdf?month=2026-13")
    assert bad.status_code == 422 and "month" in bad.get_data(as_text=True)
    assert client.get("/console/reports/weekly.pdf?year=2026").status_code == 404
    shown = client.get("/console/reports?kind=annual&year=1900")
    assert shown.status_code == 200 and "year" in shown.get_data(as_text=True)
