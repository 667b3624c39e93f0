"""The console end to end in a real headless Chromium: the app served on a real port, staff of each role.

The app really commits (the browser talks to it from another thread, through HTTP); every table is
emptied when the module's tests are done. One browser serves the whole session.
"""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyotp
import pytest
import sqlalchemy as sa
from conftest import TEST_AUDIT_KEY, TEST_PII_KEY
from werkzeug.serving import make_server

from registry import create_app
from registry.extensions import db

CHROMIUM = os.environ.get("REGISTRY_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("REGISTRY_CHROMEDRIVER", "/usr/bin/chromedriver")
PASSWORD = "correct horse battery"
SUPERVISOR_SECRET = pyotp.random_base32()
# Where the screenshots of every screen go (gitignored); docs/console/ holds copies for the README.
SHOTS = Path(os.environ.get("REGISTRY_CONSOLE_SCREENSHOTS", "test-output/console"))


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """A headless Chromium through chromium-driver (skipped only when missing and not required)."""
    if not (Path(CHROMIUM).exists() and Path(CHROMEDRIVER).exists()):
        if os.environ.get("REGISTRY_REQUIRE_BROWSER"):
            pytest.fail(f"REGISTRY_REQUIRE_BROWSER is set but {CHROMIUM} or {CHROMEDRIVER} is missing")
        pytest.skip(
            "chromium and chromium-driver are not installed (apt-get install chromium chromium-driver)"
        )
    from selenium import webdriver
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    profile = tempfile.mkdtemp(prefix="registry-chromium-")
    options = Options()
    options.binary_location = CHROMIUM
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--disable-dev-shm-usage",
        "--window-size=1280,800",
        "--lang=zh-CN",
        f"--user-data-dir={profile}",
    ):
        options.add_argument(flag)
    driver = webdriver.Chrome(options=options, service=Service(CHROMEDRIVER))
    driver.set_page_load_timeout(120)
    driver.implicitly_wait(0)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture(scope="module")
def served(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The app on 127.0.0.1:<free port> in a thread, with staff of every role made by the CLI."""
    app = create_app(
        {
            "database_url": database_url,
            "env": "testing",
            "pii_key": TEST_PII_KEY,
            "audit_key": TEST_AUDIT_KEY,
            "audit_checkpoints": str(tmp_path_factory.mktemp("console-audit") / "checkpoints.jsonl"),
            "audit_checkpoint_seconds": 0,
            "console_lockout_after": 3,
            "console_lockout_seconds": 60,
        }
    )
    app.config["TESTING"] = True
    runner = app.test_cli_runner()
    names = {}
    for role in ("reviewer", "moderator", "supervisor", "auditor"):
        name = f"{role}-{secrets.token_hex(2)}"
        result = runner.invoke(
            args=["staff", "create", "--name", name, "--role", role, "--password-stdin"],
            input=PASSWORD + "\n",
        )
        assert result.exit_code == 0, result.output
        names[role] = name
    with app.app_context():
        from registry.console.models import StaffUser

        user = db.session.query(StaffUser).filter_by(name=names["supervisor"]).one()
        user.totp_secret = SUPERVISOR_SECRET
        user.totp_enabled = True
        db.session.commit()
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    SHOTS.mkdir(parents=True, exist_ok=True)
    try:
        yield {
            "app": app,
            "base": f"http://127.0.0.1:{server.server_port}",
            "staff": names,
            "totp": SUPERVISOR_SECRET,
            "runner": runner,
        }
    finally:
        server.shutdown()
        thread.join(5)
        with app.app_context():
            db.session.remove()
            with db.engine.begin() as conn:
                for table in reversed(db.metadata.sorted_tables):
                    conn.execute(table.delete())
            db.engine.dispose()


# --- helpers --------------------------------------------------------------------------------------


def by(css: str) -> tuple[str, str]:
    from selenium.webdriver.common.by import By

    return (By.CSS_SELECTOR, css)


def shot(browser: Any, name: str) -> None:
    """Save a screenshot of the current screen."""
    browser.save_screenshot(str(SHOTS / f"{name}.png"))


def submit(browser: Any, css: str) -> None:
    """Click a button and wait for the page it leads to."""
    from selenium.common.exceptions import WebDriverException
    from selenium.webdriver.support.ui import WebDriverWait

    old = browser.find_element(*by("html"))
    try:
        browser.find_element(*by(css)).click()
    except WebDriverException as exc:
        # chromedriver sometimes inspects the clicked node after the navigation it caused has
        # replaced the document ("Node ... does not belong to the document"): the click happened.
        if "does not belong to the document" not in str(exc):
            raise
    WebDriverWait(browser, 60).until(lambda _d: _gone(old))


def _gone(element: Any) -> bool:
    """Tell whether the page holding ``element`` has been replaced."""
    from selenium.common.exceptions import StaleElementReferenceException, WebDriverException

    try:
        element.is_enabled()
    except StaleElementReferenceException:
        return True
    except WebDriverException as exc:
        return "does not belong to the document" in str(exc)
    return False


def fill(browser: Any, css: str, text: str) -> None:
    field = browser.find_element(*by(css))
    field.clear()
    field.send_keys(text)


def text(browser: Any, css: str) -> str:
    return str(browser.find_element(*by(css)).text)


def sign_in(
    browser: Any, served: dict[str, Any], role: str, *, password: str = PASSWORD, code: str | None = None
) -> None:
    """Sign in afresh as the staff member of ``role`` (the supervisor with their current TOTP code)."""
    base = served["base"]
    browser.get(base + "/console/login")
    browser.delete_all_cookies()
    browser.get(base + "/console/login")
    fill(browser, "input[name=username]", served["staff"][role])
    fill(browser, "input[name=password]", password)
    if code is None and role == "supervisor":
        code = pyotp.TOTP(served["totp"]).now()
    if code:
        fill(browser, "input[name=totp]", code)
    submit(browser, "#sign-in")


def api(served: dict[str, Any]) -> tuple[Any, dict[str, str]]:
    """A test client of the served app with an admin key, to set the scene through the JSON API."""
    from registry.auth.service import create_key

    app = served["app"]
    if "key" not in served:
        with app.app_context():
            _key, secret = create_key(f"scene-{secrets.token_hex(3)}", ["admin"], "test")
            db.session.commit()
        served["key"] = {"Authorization": f"Bearer {secret}"}
    return app.test_client(), served["key"]


def open_review(
    served: dict[str, Any], banned: str, lookalike: str, account_id: str, ip: str | None = None
) -> tuple[str, str]:
    """Ban a name (and an IP), check a look-alike (a review), register the account from that check."""
    client, headers = api(served)
    body: dict[str, Any] = {"names": [banned], "reason": "spam ring", "rule": "R3.2"}
    if ip:
        body["identifiers"] = {"ip": [ip]}
    made = client.post("/v1/bans", json=body, headers=headers)
    assert made.status_code == 201, made.json
    checked = client.post(
        "/v1/check", json={"username": lookalike, **({"ip": ip} if ip else {})}, headers=headers
    )
    assert checked.json["decision"] == "review", checked.json
    created = client.post(
        "/v1/accounts",
        json={"id": account_id, "username": lookalike, "check_id": checked.json["check_id"]},
        headers=headers,
    )
    assert created.status_code == 201, created.json
    items = client.get("/v1/reviews?status=open", headers=headers).json["items"]
    (review,) = [r for r in items if r["check_id"] == checked.json["check_id"]]
    return review["id"], made.json["id"]


def audit_actors(served: dict[str, Any], subject: str) -> list[tuple[str, str]]:
    client, headers = api(served)
    items = client.get("/v1/audit", query_string={"subject": subject}, headers=headers).json["items"]
    return [(e["actor"], e["action"]) for e in items]


# --- the tests ------------------------------------------------------------------------------------


def test_sign_in_shows_the_dashboard_in_chinese_and_switches_to_english(browser, served):
    browser.get(served["base"] + "/console")
    assert "/console/login" in browser.current_url
    shot(browser, "login")
    sign_in(browser, served, "moderator")
    assert browser.current_url.rstrip("/").endswith("/console")
    assert browser.find_element(*by("html")).get_attribute("lang") == "zh-CN"
    assert "仪表盘" in browser.page_source
    assert len(browser.find_elements(*by("svg.chart"))) == 4
    shot(browser, "dashboard")
    browser.find_element(*by("a.lang")).click()
    assert browser.find_element(*by("html")).get_attribute("lang") == "en"
    assert "Dashboard" in browser.page_source
    browser.find_element(*by("a.lang")).click()
    assert browser.find_element(*by("html")).get_attribute("lang") == "zh-CN"
    # The session cookie is HttpOnly and SameSite=Lax (Secure only over TLS).
    (cookie,) = [c for c in browser.get_cookies() if c["name"] == "registry_console"]
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    submit(browser, "#logout")
    assert "/console/login" in browser.current_url
    browser.get(served["base"] + "/console/bans")
    assert "/console/login" in browser.current_url


def test_a_wrong_password_is_refused_and_repeated_failures_lock_the_account(browser, served):
    try:
        _lock_out(browser, served)
    finally:
        with served["app"].app_context():
            from registry.console.models import StaffUser

            user = db.session.query(StaffUser).filter_by(name=served["staff"]["auditor"]).one()
            user.locked_until = None
            user.failed_logins = 0
            db.session.commit()


def _lock_out(browser: Any, served: dict[str, Any]) -> None:
    sign_in(browser, served, "auditor", password="wrong password")
    assert browser.find_elements(*by("#login-error"))
    shot(browser, "login-failed")
    for _ in range(2):
        sign_in(browser, served, "auditor", password="still wrong")
    # Locked now: even the right password is refused, with the lock-out message.
    sign_in(browser, served, "auditor")
    assert "/console/login" in browser.current_url
    assert "锁定" in text(browser, "#login-error")
    shot(browser, "login-locked")
    actions = [a for _actor, a in audit_actors(served, f"staff:{served['staff']['auditor']}")]
    assert actions.count("staff.login_failed") == 4


def test_a_supervisor_needs_the_second_factor(browser, served):
    sign_in(browser, served, "supervisor", code="000000")
    assert browser.find_elements(*by("#login-error"))
    sign_in(browser, served, "supervisor")
    assert browser.current_url.rstrip("/").endswith("/console")


def test_a_new_supervisor_enrols_a_second_factor_before_anything_else(browser, served):
    name = f"sue-{secrets.token_hex(2)}"
    result = served["runner"].invoke(
        args=["staff", "create", "--name", name, "--role", "supervisor", "--password-stdin"],
        input=PASSWORD + "\n",
    )
    assert result.exit_code == 0, result.output
    served["staff"]["new-supervisor"] = name
    sign_in(browser, served, "new-supervisor", code="")
    browser.get(served["base"] + "/console/sweeps")
    assert "/console/totp" in browser.current_url
    submit(browser, "#totp-start")
    secret = text(browser, "#totp-secret")
    shot(browser, "totp-enrolment")
    fill(browser, "input[name=totp]", pyotp.TOTP(secret).now())
    submit(browser, "form button[type=submit]:not(#logout)")
    assert browser.current_url.rstrip("/").endswith("/console")
    sign_in(browser, served, "new-supervisor", code=pyotp.TOTP(secret).now())
    browser.get(served["base"] + "/console/sweeps")
    assert "/console/sweeps" in browser.current_url


def test_resolving_reviews_both_ways(browser, served):
    confirmed, ban_id = open_review(served, "zhangsan_88", "zhangsam_88", "u-review-1")
    sign_in(browser, served, "reviewer")
    browser.get(served["base"] + "/console/reviews")
    assert confirmed in browser.page_source
    shot(browser, "reviews")
    browser.get(served["base"] + f"/console/reviews/{confirmed}")
    evidence = text(browser, "#evidence")
    assert "similar_to_banned_name" in evidence and "R3.2" in evidence and "spam ring" in evidence
    submit(browser, "#claim")
    assert served["staff"]["reviewer"] in browser.page_source
    shot(browser, "review")
    fill(browser, "#note", "same ring, same device")
    # The keyboard shortcut y presses "confirm" (served JS, no inline script).
    from selenium.webdriver.common.keys import Keys  # noqa: F401 - imported for send_keys' constants

    old = browser.find_element(*by("html"))
    browser.find_element(*by("h1")).click()
    browser.find_element(*by("body")).send_keys("y")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(lambda _d: _gone(old))
    assert "/console/reviews" in browser.current_url
    client, headers = api(served)
    done = client.get(f"/v1/reviews/{confirmed}", headers=headers).json
    assert done["status"] == "resolved" and done["outcome"] == "confirmed"
    assert done["resolved_by"] == served["staff"]["reviewer"] and done["note"] == "same ring, same device"
    assert client.get("/v1/accounts/u-review-1", headers=headers).json["status"] == "banned"

    dismissed, _ = open_review(served, "lisi_2049", "someone_else_2049", "u-review-2", ip="203.0.113.77")
    browser.get(served["base"] + f"/console/reviews/{dismissed}")
    submit(browser, "#false-positive")
    done = client.get(f"/v1/reviews/{dismissed}", headers=headers).json
    assert done["outcome"] == "false_positive" and done["resolved_by"] == served["staff"]["reviewer"]
    assert (served["staff"]["reviewer"], "review.resolve") in audit_actors(served, f"review:{dismissed}")


def test_ban_and_lift(browser, served):
    sign_in(browser, served, "supervisor")
    browser.get(served["base"] + "/console/bans")
    fill(browser, "#ban-create input[name=rule]", "R1.1")
    fill(browser, "#ban-create input[name=reason]", "impersonation ring")
    fill(browser, "#ban-create textarea[name=names]", "王大锤")
    submit(browser, "#ban-submit")
    ban_id = text(browser, "#ban-id")
    assert text(browser, "#ban-status") == "生效中"
    # The name search folds as the check folds: the Traditional spelling finds it.
    browser.get(served["base"] + "/console/bans?name=王大錘")
    assert ban_id in text(browser, "#ban-list")
    shot(browser, "bans")
    browser.get(served["base"] + f"/console/bans/{ban_id}")
    fill(browser, "#lift-reason", "appeal upheld")
    shot(browser, "ban")
    submit(browser, "#lift")
    assert text(browser, "#ban-status") == "已解除"
    # Lifting again is refused as the API refuses it (409: not active), shown as a message.
    actors = audit_actors(served, f"ban:{ban_id}")
    assert (served["staff"]["supervisor"], "ban.create") in actors
    assert (served["staff"]["supervisor"], "ban.lift") in actors


def test_a_jsonl_upload_reports_each_bad_line(browser, served, tmp_path):
    path = tmp_path / "bans.jsonl"
    path.write_text(
        '{"names": ["刘能_77"], "reason": "spam", "rule": "R2"}\n'
        "not json\n"
        '{"names": ["赵四_77"], "reason": "spam"}\n',
        encoding="utf-8",
    )
    sign_in(browser, served, "moderator")
    browser.get(served["base"] + "/console/bans")
    browser.find_element(*by("#ban-upload input[type=file]")).send_keys(str(path.resolve()))
    browser.find_element(*by("#ban-upload button")).click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(lambda d: d.find_elements(*by("#upload-summary")))
    rows = text(browser, "#upload-errors")
    assert "2" in rows and "3" in rows and "rule" in rows
    shot(browser, "ban-upload")


def test_dry_run_then_real_sweep(browser, served):
    client, headers = api(served)
    old = "2020-01-01T00:00:00Z"
    for n in range(3):
        made = client.post(
            "/v1/accounts",
            json={"id": f"zombie-{n}", "username": f"zombie_{n}", "registered_at": old},
            headers=headers,
        )
        assert made.status_code == 201, made.json
    sign_in(browser, served, "supervisor")
    browser.get(served["base"] + "/console/sweeps")
    submit(browser, "#dry-run")
    assert int(browser.find_element(*by('td.count[data-step="dormant"]')).text) >= 3
    assert "zombie-0" in browser.page_source
    assert "1000" in text(browser, "#cap")
    shot(browser, "sweep-dry-run")
    assert client.get("/v1/accounts/zombie-0", headers=headers).json["status"] == "active"
    browser.find_element(*by("#sweep-confirm")).click()
    submit(browser, "#sweep-run")
    assert client.get("/v1/accounts/zombie-0", headers=headers).json["status"] == "dormant"
    kinds = [e.text for e in browser.find_elements(*by("#runs td.kind"))]
    assert "试运行" in kinds and "正式运行" in kinds
    shot(browser, "sweeps")


def test_audit_filters_and_verify(browser, served):
    sign_in(browser, served, "auditor")
    browser.get(served["base"] + f"/console/audit?actor={served['staff']['supervisor']}")
    actors = {e.text for e in browser.find_elements(*by("table.entries td.actor"))}
    assert actors == {served["staff"]["supervisor"]}
    shot(browser, "audit")
    browser.find_element(*by("table.entries td a")).click()
    assert "Hash" in browser.page_source or "哈希" in browser.page_source
    shot(browser, "audit-entry")
    browser.get(served["base"] + "/console/audit")
    submit(browser, "#verify")
    result = browser.find_element(*by("#verify-result"))
    assert "ok" in result.get_attribute("class").split()
    shot(browser, "audit-verify")


def test_account_screen_and_watch_directory(browser, served):
    client, headers = api(served)
    made = client.post("/v1/accounts", json={"id": "u-watch-1", "username": "kanshou"}, headers=headers)
    assert made.status_code == 201, made.json
    sign_in(browser, served, "moderator")
    browser.get(served["base"] + "/console/accounts/u-watch-1")
    # Refused as the API refuses it: no rule, so a 422 naming the field becomes a message.
    fill(browser, "form[action$='/tier'] input[name=reason]", "repeated spam")
    submit(browser, "form[action$='/tier'] button")
    assert "rule" in text(browser, ".flash.error")
    browser.find_element(*by("form[action$='/tier'] select option[value=watch]")).click()
    fill(browser, "form[action$='/tier'] input[name=rule]", "R4")
    fill(browser, "form[action$='/tier'] input[name=reason]", "repeated spam")
    submit(browser, "form[action$='/tier'] button")
    assert text(browser, "#account-tier").startswith("watch")
    shot(browser, "account")
    browser.get(served["base"] + "/console/watch")
    assert "u-watch-1" in text(browser, "#watch-list")
    shot(browser, "watch")
    csv_text = client.get("/v1/accounts/u-watch-1", headers=headers)  # the API agrees
    assert csv_text.json["tier"] == "watch"
    assert (served["staff"]["moderator"], "tier.set") in audit_actors(served, "account:u-watch-1") or any(
        actor == served["staff"]["moderator"] for actor, _a in audit_actors(served, "account:u-watch-1")
    )


def test_a_form_posted_without_its_csrf_token_is_refused(browser, served):
    sign_in(browser, served, "moderator")
    browser.get(served["base"] + "/console/bans")
    browser.execute_script("document.querySelector('#ban-create input[name=csrf_token]').remove()")
    fill(browser, "#ban-create input[name=rule]", "R9")
    fill(browser, "#ban-create input[name=reason]", "no token")
    fill(browser, "#ban-create textarea[name=names]", "csrf_probe_name")
    submit(browser, "#ban-submit")
    assert browser.find_elements(*by("#refused"))
    shot(browser, "csrf-refused")
    client, headers = api(served)
    assert not [b for b in client.get("/v1/bans?rule=R9", headers=headers).json["items"]]


def test_a_reviewer_is_refused_a_supervisor_action(browser, served):
    client, headers = api(served)
    made = client.post(
        "/v1/bans", json={"names": ["refusal_probe"], "reason": "x", "rule": "R5"}, headers=headers
    )
    ban_id = made.json["id"]
    sign_in(browser, served, "reviewer")
    browser.get(served["base"] + "/console/sweeps")
    assert browser.find_elements(*by("#refused"))
    shot(browser, "refused")
    browser.get(served["base"] + f"/console/bans/{ban_id}")
    assert not browser.find_elements(*by("#lift"))
    # Even a hand-made form with a valid token is refused: lifting needs a supervisor.
    browser.execute_script(
        """
        const token = document.querySelector('input[name=csrf_token]').value;
        const form = document.createElement('form');
        form.method = 'post'; form.action = arguments[0];
        for (const [k, v] of [['csrf_token', token], ['reason', 'I am only a reviewer']]) {
          const input = document.createElement('input');
          input.name = k; input.value = v; form.appendChild(input);
        }
        document.body.appendChild(form); form.id = 'forged';
        """,
        f"/console/bans/{ban_id}/lift",
    )
    old = browser.find_element(*by("html"))
    browser.execute_script("document.getElementById('forged').submit()")
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 60).until(lambda _d: _gone(old))
    assert browser.find_elements(*by("#refused"))
    assert client.get(f"/v1/bans/{ban_id}", headers=headers).json["status"] == "active"


def fetch_as_browser(browser: Any, served: dict[str, Any], path: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``path`` with the browser's session cookie (a download the headless browser would save)."""
    import urllib.error
    import urllib.request

    cookies = "; ".join(f"{c['name']}={c['value']}" for c in browser.get_cookies())
    req = urllib.request.Request(served["base"] + path, headers={"Cookie": cookies})
    try:
        with urllib.request.urlopen(req, timeout=120) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_linked_accounts_and_a_back_check_review(browser, served, monkeypatch):
    from registry.console import views

    client, headers = api(served)
    for body in (
        {"id": "u-ring-1", "username": "Qx_Zephyrine_88", "phone": "+86 138 0013 8765", "ip": "198.51.100.9"},
        {"id": "u-ring-2", "username": "ring_two_88", "phone": "+8613800138765", "device_id": "DEV-RING"},
        {"id": "u-ring-3", "username": "ring_three_88", "phone": "+86 13800138765"},
        {"id": "u-ring-4", "username": "ring_four_88", "ip": "198.51.100.9"},
    ):
        made = client.post("/v1/accounts", json=body, headers=headers)
        assert made.status_code == 201, made.json
    sign_in(browser, served, "reviewer")
    browser.get(served["base"] + "/console/accounts/u-ring-1")
    assert text(browser, "#ring-size") == "3"
    strong = text(browser, "#linked-strong")
    assert "u-ring-2" in strong and "u-ring-3" in strong and "手机号" in strong and "u-ring-4" not in strong
    weak = text(browser, "#linked-weak")
    assert "u-ring-4" in weak and "IP" in weak and "u-ring-2" not in weak
    assert not browser.find_elements(*by("#links-truncated"))
    browser.execute_script("document.getElementById('linked').scrollIntoView()")
    shot(browser, "account-linked")
    # A list cut by the service's limit says so.
    monkeypatch.setattr(views, "LINKS_SHOWN", 1)
    browser.get(served["base"] + "/console/accounts/u-ring-1")
    assert browser.find_elements(*by("#links-truncated"))
    monkeypatch.undo()

    # A new ban on a rare name the existing account holds: a back-check review, not a ban.
    made = client.post(
        "/v1/bans",
        json={"names": ["qx_zephyrine_88"], "reason": "reincarnated ring", "rule": "R7.1"},
        headers=headers,
    )
    assert made.status_code == 201, made.json
    ban_id = made.json["id"]
    items = client.get("/v1/reviews", query_string={"kind": "backcheck"}, headers=headers).json["items"]
    (review,) = [r for r in items if r["matched_ban_id"] == ban_id]
    assert review["account_id"] == "u-ring-1"
    browser.get(served["base"] + "/console/reviews")
    row = browser.find_element(*by(f"tr[data-review='{review['id']}'] td.kind"))
    assert "回溯核查" in row.text and ban_id in row.text and "R7.1" in row.text
    browser.get(served["base"] + "/console/reviews?kind=backcheck")
    assert browser.find_elements(*by(f"tr[data-review='{review['id']}']"))
    assert all("回溯核查" in e.text for e in browser.find_elements(*by("td.kind")))
    shot(browser, "reviews-backcheck")
    browser.get(served["base"] + f"/console/reviews/{review['id']}")
    assert text(browser, "#review-kind") == "回溯核查"
    matched = text(browser, "#backcheck-ban")
    assert ban_id in matched and "R7.1" in matched and "reincarnated ring" in matched
    # The review screen's panel: the accounts linked to the reviewed one.
    assert "u-ring-2" in text(browser, "#linked-strong") and "u-ring-4" in text(browser, "#linked-weak")
    shot(browser, "review-backcheck")
    submit(browser, "#false-positive")
    done = client.get(f"/v1/reviews/{review['id']}", headers=headers).json
    assert done["outcome"] == "false_positive" and done["resolved_by"] == served["staff"]["reviewer"]


def test_reports_screen_shows_the_figures_opens_the_html_and_downloads_signed_files(browser, served):
    from registry.reports import service as report_service

    client, headers = api(served)
    made = client.post("/v1/accounts", json={"id": "u-report-1", "username": "baogao_88"}, headers=headers)
    assert made.status_code == 201, made.json
    month = client.get("/v1/reports/monthly", query_string={"month": "2026-01"}, headers=headers)
    assert month.status_code == 200, month.json
    sign_in(browser, served, "moderator")
    browser.get(served["base"] + "/console/reports")
    assert browser.find_elements(*by("#refused"))  # a moderator has no reports:read
    sign_in(browser, served, "auditor")
    browser.get(served["base"] + "/console/reports")
    year = browser.find_element(*by("#report-year input[name=year]")).get_attribute("value")
    submit(browser, "#show-year")
    expected = client.get("/v1/reports/annual", query_string={"year": year}, headers=headers).json
    (registered,) = [
        f for s in expected["sections"] for f in s["figures"] if f["id"] == "accounts_registered"
    ]
    assert year in text(browser, "#report-title")
    shown = browser.find_element(*by("#report-figures table[data-figure=accounts_registered] td.total"))
    assert int(shown.text) == registered["total"] > 0
    assert text(browser, "#report-cover").count("完整") == 1  # the chain walk's result on the cover
    shot(browser, "reports")

    # The HTML report opens in the browser, its own stylesheet applied, its charts drawn.
    submit(browser, "#report-html")
    assert year in text(browser, "h1#title")
    assert browser.find_elements(*by("table[data-figure=accounts_registered]"))
    assert len(browser.find_elements(*by("svg.chart"))) >= 2
    assert browser.execute_script("return getComputedStyle(document.body).marginTop") == "32px"
    shot(browser, "report-html")
    browser.back()

    # The files are the signed files the CLI writes: each verifies.
    links = {
        name: browser.find_element(*by(f"#report-{name}")).get_attribute("href")
        for name in ("pdf", "json", "html-download")
    }
    for name, href in links.items():
        status, got, data = fetch_as_browser(browser, served, href.removeprefix(served["base"]))
        assert status == 200, data[:200]
        assert got["Content-Disposition"].startswith("attachment; filename=registry-annual-")
        if name == "pdf":
            assert data.startswith(b"%PDF")
        with served["app"].app_context():
            assert report_service.verify_file(data) == [], name

    # The monthly ledger, and a month refused as the API refuses it (naming the field).
    fill(browser, "#report-month input[name=month]", "2026-13")
    submit(browser, "#show-month")
    assert "month" in text(browser, ".flash.error")
    fill(browser, "#report-month input[name=month]", "2026-01")
    submit(browser, "#show-month")
    assert "2026-01" in text(browser, "#report-title")
    (jan,) = [f for s in month.json["sections"] for f in s["figures"] if f["id"] == "accounts_registered"]
    shown = browser.find_element(*by("#report-figures table[data-figure=accounts_registered] td.total"))
    assert int(shown.text) == jan["total"]
    # A supervisor reads reports too.
    sign_in(browser, served, "supervisor")
    browser.get(served["base"] + "/console/reports")
    assert not browser.find_elements(*by("#refused"))


def console_ban(browser: Any, served: dict[str, Any], account_id: str, rule: str, reason: str) -> str:
    """Ban an account from its console screen (the signed-in staff member decides); return the ban id."""
    from registry.bans.models import Ban

    browser.get(served["base"] + f"/console/accounts/{account_id}")
    fill(browser, "form[action$='/ban'] input[name=rule]", rule)
    fill(browser, "form[action$='/ban'] input[name=reason]", reason)
    submit(browser, "form[action$='/ban'] button")
    with served["app"].app_context():
        (ban_id,) = db.session.scalars(sa.select(Ban.id).where(Ban.account_id == account_id)).all()
    return str(ban_id)


def appeal_ids(browser: Any, status: str) -> list[str]:
    return [
        e.get_attribute("data-appeal")
        for e in browser.find_elements(*by(f"#appeals-{status} tr[data-appeal]"))
    ]


def test_appeals_listed_oldest_first_and_decided_by_someone_else(browser, served):
    from registry.appeals.models import Appeal

    client, headers = api(served)
    for n in (1, 2, 3):
        made = client.post(
            "/v1/accounts", json={"id": f"u-appeal-{n}", "username": f"shensu_{n}"}, headers=headers
        )
        assert made.status_code == 201, made.json
    moderator = served["staff"]["moderator"]
    sign_in(browser, served, "moderator")
    bans_made = {n: console_ban(browser, served, f"u-appeal-{n}", "R8", "fraud ring") for n in (1, 2, 3)}
    appeals = {}
    for n in (2, 1, 3):  # filed in this order: 2 is the oldest
        filed = client.post(
            "/v1/appeals",
            json={"account_id": f"u-appeal-{n}", "ban_id": bans_made[n], "statement": f"not me ({n})"},
            headers=headers,
        )
        assert filed.status_code == 201, filed.json
        assert filed.json["decision_by"] == moderator
        appeals[n] = filed.json["id"]
    with served["app"].app_context():  # appeal 3 has waited past its due time
        row = db.session.get(Appeal, appeals[3])
        row.opened_at = row.opened_at - timedelta(days=40)
        db.session.commit()
    browser.get(served["base"] + "/console/appeals")
    assert [
        e.get_attribute("data-appeal") for e in browser.find_elements(*by("#appeals-open tr[data-appeal]"))
    ][-2:] == [appeals[2], appeals[1]]
    assert appeal_ids(browser, "overdue") == [appeals[3]]
    shot(browser, "appeals")

    # The moderator made the bans: deciding their appeals is refused as the API refuses it.
    browser.get(served["base"] + f"/console/appeals/{appeals[1]}")
    assert browser.find_elements(*by("#own-decision"))
    fill(browser, "#appeal-note", "I was right")
    submit(browser, "#deny")
    assert "cannot decide" in text(browser, ".flash.error")
    shot(browser, "appeal-refused")
    assert client.get(f"/v1/appeals/{appeals[1]}", headers=headers).json["status"] == "open"

    # A reviewer reads appeals but may not decide them.
    sign_in(browser, served, "reviewer")
    browser.get(served["base"] + f"/console/appeals/{appeals[1]}")
    assert "not me (1)" in text(browser, "#appeal-statement")
    assert not browser.find_elements(*by("#decide-form"))

    # Another member of staff decides: granted lifts the ban, denied keeps it.
    sign_in(browser, served, "supervisor")
    browser.get(served["base"] + f"/console/appeals/{appeals[1]}")
    assert not browser.find_elements(*by("#own-decision"))
    fill(browser, "#appeal-note", "ID documents match another person")
    shot(browser, "appeal")
    submit(browser, "#grant")
    assert "/console/appeals" in browser.current_url
    done = client.get(f"/v1/appeals/{appeals[1]}", headers=headers).json
    assert done["outcome"] == "granted" and done["decided_by"] == served["staff"]["supervisor"]
    assert client.get(f"/v1/bans/{bans_made[1]}", headers=headers).json["status"] == "lifted"
    browser.get(served["base"] + f"/console/appeals/{appeals[3]}")
    submit(browser, "#deny")
    assert client.get(f"/v1/appeals/{appeals[3]}", headers=headers).json["outcome"] == "denied"
    assert client.get(f"/v1/bans/{bans_made[3]}", headers=headers).json["status"] == "active"
    decided = text(browser, "#appeals-decided")
    assert appeals[1] in browser.page_source and "支持" in decided and "驳回" in decided
    assert appeal_ids(browser, "overdue") == []
    assert {appeals[1], appeals[3]} <= set(appeal_ids(browser, "decided"))
    shot(browser, "appeals-decided")
    actors = audit_actors(served, f"appeal:{appeals[1]}")
    assert (served["staff"]["supervisor"], "appeal.decide") in actors


def test_the_dashboard_charts_what_happened(browser, served):
    # Last in the module: the checks, reviews, bans and sweeps of the tests above are on the charts.
    sign_in(browser, served, "supervisor")
    bars = browser.find_elements(*by("svg.chart rect[height]"))
    assert len([b for b in bars if float(b.get_attribute("height") or 0) > 0]) >= 4
    shot(browser, "dashboard")
    browser.get(served["base"] + "/console/staff")
    assert served["staff"]["reviewer"] in text(browser, "#staff-list")
    shot(browser, "staff")
