"""The yearly report and the monthly ledger: figures against independently counted fixtures, on the real
database (local months of Asia/Shanghai, their edges and the year's), the PDF's text, the signature."""

from __future__ import annotations

import io
import json
import os
import shutil
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import sqlalchemy as sa

from registry.accounts.models import Account
from registry.audit.models import AuditEntry
from registry.bans.models import Ban
from registry.check.models import CheckRecord
from registry.credit.models import Violation
from registry.extensions import db
from registry.reviews.models import Review
from registry.tiers.models import TierChange

ZONE = ZoneInfo("Asia/Shanghai")
PHONE = "13800138000"


def local(*parts: int) -> datetime:
    """A Shanghai wall-clock time as the naive UTC the tables store."""
    return datetime(*parts, tzinfo=ZONE).astimezone(UTC).replace(tzinfo=None)


def month_of(at: datetime) -> str | None:
    """The local month (YYYY-MM) of a stored time, counted here without the service's code."""
    return at.replace(tzinfo=UTC).astimezone(ZONE).strftime("%Y-%m")


def per_month(times, year: int = 2026) -> list[int]:
    out = [0] * 12
    for t in times:
        m = month_of(t)
        if m.startswith(f"{year}-"):
            out[int(m[5:]) - 1] += 1
    return out


# Edges: the last second of 2025 and the first of 2026 in Shanghai, a month's edge, the year's end.
EDGES = [
    local(2025, 12, 31, 23, 59, 59),
    local(2026, 1, 1, 0, 0, 0),
    local(2026, 1, 31, 23, 59, 59),
    local(2026, 2, 1, 0, 0, 0),
    local(2026, 6, 15, 12, 0, 0),
    local(2026, 12, 31, 23, 59, 59),
    local(2027, 1, 1, 0, 0, 0),
]


@pytest.fixture
def app(app_factory):
    from registry.reports.models import take

    made = app_factory(report_flush_seconds=0, ban_sync_seconds=0)
    take()  # counts other tests' apps left pending in this process belong to their databases
    return made


@pytest.fixture
def headers(auth):
    return auth("check", "bans:write", "accounts:write", "reports:read")


def figure(report, fid):
    for section in report["sections"]:
        for fig in section["figures"]:
            if fig["id"] == fid:
                return fig
    raise KeyError(fid)


def breakdown(report, fid):
    return {row["key"]: row["months"] for row in figure(report, fid)["rows"]}


@pytest.fixture
def records(app):
    """Rows at known times, as the services would have left them (the API stamps only the present)."""
    with app.app_context():
        for i, at in enumerate(EDGES):
            db.session.add(Account(id=f"edge{i}", username=f"edge_{i}", tier="standard", registered_at=at))
            rule = "R1" if i % 2 else "R2"
            expires = at + timedelta(days=1) if i == 4 else None
            db.session.add(
                Ban(
                    id=f"ban_edge{i}",
                    reason="r",
                    rule=rule,
                    created_at=at,
                    created_by="t",
                    expires_at=expires,
                )
            )
            db.session.add(
                Violation(
                    id=f"vio{i}",
                    account_id=f"edge{i}",
                    rule=rule,
                    severity="minor" if i % 2 else "severe",
                    deduction=5,
                    actor="t",
                    at=at,
                )
            )
        db.session.add(
            Ban(
                id="ban_lifted",
                reason="r",
                rule="R1",
                created_by="t",
                created_at=EDGES[1],
                status="lifted",
                lifted_at=EDGES[3],
                lifted_by="t",
            )
        )
        # Tier history: a moves standard -> watch in March; b is registered into watch in May; c leaves
        # watch at the first second of August (local).
        db.session.add(Account(id="ta", username="ta", tier="watch", registered_at=local(2025, 6, 1)))
        db.session.add(
            TierChange(
                account_id="ta",
                from_tier="standard",
                to_tier="watch",
                reason="x",
                actor="t",
                automatic=True,
                at=local(2026, 3, 10, 9),
            )
        )
        db.session.add(Account(id="tb", username="tb", tier="watch", registered_at=local(2026, 5, 1)))
        db.session.add(Account(id="tc", username="tc", tier="standard", registered_at=local(2025, 6, 1)))
        db.session.add(
            TierChange(
                account_id="tc",
                from_tier="watch",
                to_tier="standard",
                reason="x",
                actor="t",
                rule="R9",
                automatic=False,
                at=local(2026, 8, 1, 0, 0, 0),
            )
        )
        for i, (opened, hours) in enumerate([(EDGES[1], 2), (EDGES[4], 10), (EDGES[4], 4)]):
            db.session.add(CheckRecord(id=f"chk_t{i}", actor="t", decision="review"))
            db.session.add(
                Review(
                    id=f"rev_t{i}",
                    check_id=f"chk_t{i}",
                    status="resolved",
                    created_at=opened,
                    resolved_at=opened + timedelta(hours=hours),
                    outcome="confirmed" if i else "false_positive",
                )
            )
        db.session.commit()


def test_figures_equal_counts_made_here_at_month_and_year_edges(app, client, headers, records):
    response = client.get("/v1/reports/annual?year=2026", headers=headers)
    assert response.status_code == 200, response.json
    report = response.json
    assert report["period"]["zone"] == "Asia/Shanghai"
    assert report["period"]["start"] == "2025-12-31T16:00:00+00:00"

    expected = per_month(EDGES)
    assert expected == [2, 1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1]
    registered = figure(report, "accounts_registered")
    assert registered["months"] == [
        a + b for a, b in zip(expected, per_month([local(2026, 5, 1)]), strict=True)
    ]
    assert registered["total"] == 6
    assert figure(report, "bans_created")["months"][:2] == [expected[0] + 1, expected[1]]
    assert breakdown(report, "bans_by_rule")["R1"] == [
        a + b for a, b in zip(per_month(EDGES[1::2]), per_month([EDGES[1]]), strict=True)
    ]
    assert figure(report, "bans_lifted")["months"] == per_month([EDGES[3]])
    assert figure(report, "bans_expired")["months"] == per_month([EDGES[4] + timedelta(days=1)])
    assert breakdown(report, "violations_by_severity")["severe"] == per_month(EDGES[0::2])
    assert breakdown(report, "violations_by_rule")["R2"] == per_month(EDGES[0::2])

    # The watch directory at each local month's end, replayed here by hand.
    assert figure(report, "watch_directory")["months"] == [1, 1, 2, 2, 3, 3, 3, 2, 2, 2, 2, 2]
    tiers = {row["key"]: row["total"] for row in figure(report, "tiers_at_end")["rows"]}
    assert tiers["watch"] == 2 and tiers["standard"] == 7  # edge0..edge5 and tc, not edge6 (2027)
    assert figure(report, "tier_moves_automatic")["months"] == per_month([local(2026, 3, 10, 9)])
    assert figure(report, "tier_moves_manual")["months"] == per_month([local(2026, 8, 1)])
    assert breakdown(report, "actions_tiers") == {
        "R9": per_month([local(2026, 8, 1)]),
        "未注明": per_month([local(2026, 3, 10, 9)]),  # the credit move names no rule
    }
    assert figure(report, "credit_moved_tier")["value"] == 1

    assert figure(report, "reviews_opened")["total"] == 3
    assert breakdown(report, "reviews_resolved") == {
        "confirmed": per_month([EDGES[4], EDGES[4]]),
        "false_positive": per_month([EDGES[1]]),
    }
    median = figure(report, "review_median_hours")
    assert median["value"] == 4 and median["months"][0] == 2 and median["months"][5] == 7

    with app.app_context():
        times = [at for (at,) in db.session.execute(sa.select(AuditEntry.at))]
        head = db.session.execute(sa.text("SELECT seq, hash FROM audit_head")).one()
    assert figure(report, "audit_entries")["months"] == per_month(times)
    assert report["audit"]["head_seq"] == head.seq and report["audit"]["head_hash"] == head.hash
    assert report["audit"]["chain_verified"] is True

    # The ledger of one month holds the same numbers as that month of the year.
    month = client.get("/v1/reports/monthly?month=2026-01", headers=headers).json
    assert figure(month, "accounts_registered")["months"] == [expected[0]]
    assert figure(month, "watch_directory")["months"] == [1]
    year_2025 = client.get("/v1/reports/annual?year=2025", headers=headers).json
    assert figure(year_2025, "accounts_registered")["months"][11] == 1


def test_checks_and_refused_names_are_counted_by_decision_field_and_trick(app, client, headers):
    body = {"identifiers": {"phone": [PHONE]}, "names": ["returning_troll"], "reason": "r", "rule": "R1"}
    assert client.post("/v1/bans", json=body, headers=headers).status_code == 201
    decisions = []
    for payload in (
        {"username": "maple_owl"},
        {"username": "quiet_heron", "phone": "+86 138-0013-8000"},
        {"username": "returning_troll"},
        {"username": "maple_two"},
    ):
        response = client.post("/v1/check", json=payload, headers=headers)
        assert response.status_code == 200
        decisions.append(response.json["decision"])
    refused = client.post(
        "/v1/accounts", json={"id": "n1", "username": "n1", "display_name": "人民日报"}, headers=headers
    )
    assert refused.status_code == 422

    report = client.get("/v1/reports/annual?year=2026", headers=headers).json
    now = month_of(datetime.now(UTC).replace(tzinfo=None))
    index = int(now[5:]) - 1 if now.startswith("2026-") else None
    for decision, fid in (
        ("allow", "checks_allowed"),
        ("deny", "checks_denied"),
        ("review", "checks_reviewed"),
    ):
        assert figure(report, fid)["total"] == (decisions.count(decision) if index is not None else 0)
    if index is None:
        return
    by_field = breakdown(report, "caught_by_field")
    assert by_field["deny:phone"][index] == 1
    tricks = breakdown(report, "caught_by_trick")
    assert sum(m[index] for k, m in tricks.items()) >= decisions.count("deny")
    assert sum(m[index] for m in breakdown(report, "names_refused_by_rule").values()) == 1


def test_batch_checks_are_counted_as_single_checks(app, client, headers):
    body = {"identifiers": {"phone": [PHONE]}, "names": ["batch_troll"], "reason": "r", "rule": "R1"}
    assert client.post("/v1/bans", json=body, headers=headers).status_code == 201
    checks = [{"username": "maple_owl"}, {"username": "quiet_heron", "phone": "+86 138-0013-8000"}]
    denied_before = _denied_metric(client)
    response = client.post("/v1/check/batch", json={"checks": checks}, headers=headers)
    assert response.status_code == 200, response.json
    decisions = [r["decision"] for r in response.json["results"]]
    assert decisions == ["allow", "deny"]
    assert _denied_metric(client) == denied_before + 1
    if not month_of(datetime.now(UTC).replace(tzinfo=None)).startswith("2026-"):
        return
    report = client.get("/v1/reports/annual?year=2026", headers=headers).json
    assert figure(report, "checks_allowed")["total"] == 1
    assert figure(report, "checks_denied")["total"] == 1


def _denied_metric(client) -> float:
    text = client.get("/metrics").get_data(as_text=True)
    for line in text.splitlines():
        if line.startswith('registry_check_decisions_total{decision="deny"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.parametrize(
    ("url", "field"),
    [
        ("/v1/reports/annual?year=twenty", "year"),
        ("/v1/reports/annual?year=99999", "year"),
        ("/v1/reports/annual", "year"),
        ("/v1/reports/monthly?month=2026-13", "month"),
        ("/v1/reports/monthly?month=2026-1", "month"),
        ("/v1/reports/monthly", "month"),
    ],
)
def test_bad_periods_are_422_naming_the_field(client, headers, url, field):
    response = client.get(url, headers=headers)
    assert response.status_code == 422
    assert field in response.json["errors"]["query"]


def test_reports_need_the_reports_scope(client, auth):
    assert client.get("/v1/reports/annual?year=2026", headers=auth("check")).status_code == 403


def _produce(runner, tmp_path, fmt):
    out = tmp_path / f"report.{fmt}"
    result = runner.invoke(args=["report", "annual", "--year", "2026", "--format", fmt, "--output", str(out)])
    assert result.exit_code == 0, result.output
    return out


def test_the_pdf_carries_the_figures_in_chinese_and_verifies(app, client, headers, records, tmp_path):
    from pypdf import PdfReader

    # One audited change, so the head the report names is a real entry of the trail.
    assert (
        client.post("/v1/accounts", json={"id": "p1", "username": "p1"}, headers=headers).status_code == 201
    )
    runner = app.test_cli_runner()
    out = _produce(runner, tmp_path, "pdf")
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(out.read_bytes())).pages)
    assert "年度账号管理主体责任履行情况报告" in text
    assert "报告期间：2026-01 至 2026-12（Asia/Shanghai）" in text
    assert "重点关注名录账号数（月末）" in text and "黑名单" in text
    with app.app_context():
        head = db.session.execute(sa.text("SELECT hash FROM audit_head")).scalar()
    assert head in text.replace("\n", "")
    # The registered accounts' line: the figure's label, its total, then January, February...
    compact = " ".join(text.split())
    assert "注册账号数 7 2 1 0 0 1 1 0" in compact

    verified = runner.invoke(args=["report", "verify", str(out)])
    assert verified.exit_code == 0, verified.output
    data = out.read_bytes()
    tampered = tmp_path / "tampered.pdf"
    at = data.index(b"/Producer")
    tampered.write_bytes(data[:at] + b"/Producex" + data[at + 9 :])
    failed = runner.invoke(args=["report", "verify", str(tampered)])
    assert failed.exit_code == 1 and "altered" in failed.output


def test_json_and_html_reports_verify_and_fail_when_changed(app, client, headers, records, tmp_path):
    assert (
        client.post("/v1/accounts", json={"id": "p1", "username": "p1"}, headers=headers).status_code == 201
    )
    runner = app.test_cli_runner()
    for fmt in ("json", "html"):
        out = _produce(runner, tmp_path, fmt)
        assert runner.invoke(args=["report", "verify", str(out)]).exit_code == 0
        if fmt == "json":
            doc = json.loads(out.read_text())
            figure(doc["report"], "accounts_registered")["total"] = 4
            out.write_text(json.dumps(doc))
        else:
            out.write_bytes(
                out.read_bytes().replace(b'<td class="total">7</td>', b'<td class="total">4</td>', 1)
            )
        result = runner.invoke(args=["report", "verify", str(out)])
        assert result.exit_code == 1 and "altered" in result.output, (fmt, result.output)
    # A report whose head is not in this trail (another database, or the trail cut back) fails too.
    out = _produce(runner, tmp_path, "json")
    assert json.loads(out.read_text())["signature"]["head_seq"] > 0
    with app.app_context():
        db.session.execute(sa.text("DELETE FROM audit_log WHERE seq = (SELECT MAX(seq) FROM audit_log)"))
        db.session.commit()
    result = runner.invoke(args=["report", "verify", str(out)])
    assert result.exit_code == 1 and "not in the trail" in result.output


def _browser():
    binary = shutil.which("chromium")
    driver = shutil.which("chromedriver")
    if not (binary and driver):
        if os.environ.get("REGISTRY_REQUIRE_BROWSER"):
            pytest.fail("REGISTRY_REQUIRE_BROWSER is set but chromium/chromedriver are not installed")
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in (
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-background-networking",
        "--no-first-run",
    ):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


def test_the_html_report_opens_in_the_browser(app, records, tmp_path):
    from selenium.webdriver.common.by import By

    out = _produce(app.test_cli_runner(), tmp_path, "html")
    browser = _browser()
    try:
        browser.get(Path(out).resolve().as_uri())
        assert "年度账号管理主体责任履行情况报告" in browser.find_element(By.ID, "title").text
        row = browser.find_element(By.CSS_SELECTOR, 'table[data-figure="accounts_registered"] td.total')
        assert row.text == "6"
        charts = browser.find_elements(By.CSS_SELECTOR, "svg.chart")
        assert {c.get_attribute("class") for c in charts} == {"chart bar", "chart line"}
        assert charts[0].size["width"] > 100
    finally:
        browser.quit()


def test_the_monthly_ledger_from_the_command_line(app, records, tmp_path):
    runner = app.test_cli_runner()
    out = tmp_path / "ledger.json"
    args = ["report", "monthly", "--month", "2026-02", "--format", "json", "--output", str(out)]
    args.append("--skip-chain-walk")
    result = runner.invoke(args=args)
    assert result.exit_code == 0, result.output
    doc = json.loads(out.read_text())
    assert doc["report"]["period"]["months"] == ["2026-02"]
    assert "chain_verified" not in doc["report"]["audit"]
    assert figure(doc["report"], "accounts_registered")["months"] == [1]
    assert runner.invoke(args=["report", "verify", str(out)]).exit_code == 0
    bad = runner.invoke(args=["report", "annual", "--year", "nineteen", "--format", "json"])
    # The test runner sees the refusal itself; `registry` prints its message and exits 1.
    assert bad.exit_code == 1 and getattr(bad.exception, "field", None) == "year"
