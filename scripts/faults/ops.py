"""Operational faults: slow clients, bad bytes, request ids, huge 422s, --as-of, /metrics, /docs, phones."""

from __future__ import annotations

import json
import re
import socket
import subprocess
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

Result = tuple[str, bool, str]


def _http(
    base: str,
    method: str,
    path: str,
    key: str | None = None,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(base + path, data=data, method=method, headers=headers or {})
    if key:
        request.add_header("Authorization", f"Bearer {key}")
    if data is not None:
        request.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def _raw(base: str, request: bytes) -> tuple[int, bytes]:
    """Send bytes exactly as given (urllib would percent-encode them); return (status, body)."""
    where = urlsplit(base)
    with socket.create_connection((where.hostname, where.port), timeout=10) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    head, _, body = b"".join(chunks).partition(b"\r\n\r\n")
    return int(head.split(b" ", 2)[1]), body


def _cli(ctx: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ctx["registry"], *args],
        env=ctx["env"],
        capture_output=True,
        text=True,
        cwd=ctx["workdir"],
        timeout=600,
    )


def slow_clients(base: str, ctx: dict[str, Any]) -> list[Result]:
    """50 connections each holding half a request, then /healthz and a check must still answer fast."""
    where = urlsplit(base)
    held = []
    try:
        for i in range(50):
            sock = socket.create_connection((where.hostname, where.port), timeout=5)
            if i % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")  # headers never finished
            else:
                sock.sendall(
                    b"POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                    b'Content-Length: 200\r\n\r\n{"username": '  # body never finished
                )
            held.append(sock)
        time.sleep(0.5)
        started = time.perf_counter()
        status_h, _, _ = _http(base, "GET", "/healthz")
        healthz = time.perf_counter() - started
        started = time.perf_counter()
        status_c, _, _ = _http(base, "POST", "/v1/check", ctx["api_key"], {"username": "slow_client_probe"})
        check = time.perf_counter() - started
    finally:
        for sock in held:
            sock.close()
    ok = status_h == 200 and status_c == 200 and healthz < 1 and check < 1
    return [
        (
            "50 half-sent requests: /healthz and a check still answer",
            ok,
            f"/healthz {status_h} in {healthz * 1000:.0f} ms, check {status_c} in {check * 1000:.0f} ms",
        )
    ]


def bad_bytes(base: str, ctx: dict[str, Any]) -> list[Result]:
    """Raw bytes that are not UTF-8 in a query string are a 400, with or without a key."""
    key = ctx["api_key"].encode()
    out = []
    for label, query, auth in (
        ("?x=<0xFF> with a key", b"x=\xff", True),
        ("?x=<0xFF>&y=%00 without a key", b"x=\xff&y=%00", False),
        ("?tier=%FF with a key", b"tier=%FF", True),
    ):
        head = b"GET /v1/accounts?" + query + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
        if auth:
            head += b"Authorization: Bearer " + key + b"\r\n"
        status, body = _raw(base, head + b"\r\n")
        out.append((f"query {label}: 400", status == 400, f"{status} {body[:80]!r}"))
    return out


def request_ids(base: str, ctx: dict[str, Any]) -> list[Result]:
    """X-Request-Id is echoed only when it is a short plain token."""
    out = []
    for sent, echoed in (("abc-123.X_y", True), ("<script>alert(1)</script>", False), ("a" * 65, False)):
        _, headers, _ = _http(base, "GET", "/healthz", headers={"X-Request-Id": sent})
        got = headers.get("X-Request-Id", "")
        ok = (
            (got == sent)
            if echoed
            else (got != sent and re.fullmatch(r"[A-Za-z0-9._-]{1,64}", got) is not None)
        )
        out.append((f"X-Request-Id {sent[:20]!r}: {'echoed' if echoed else 'replaced'}", ok, got[:40]))
    return out


def huge_422(base: str, ctx: dict[str, Any]) -> list[Result]:
    """A body with 50,000 unknown fields answers a small 422."""
    body = {f"f{i}": 0 for i in range(50_000)}  # about 600 KB: under the body limit
    status, _, raw = _http(base, "POST", "/v1/accounts", ctx["api_key"], body)
    doc = json.loads(raw)
    fields = len(doc.get("errors", {}).get("json", {}))
    ok = status == 422 and len(raw) < 10_000 and fields <= 20 and "more" in doc.get("message", "")
    return [
        (
            "422 with 50,000 unknown fields is capped",
            ok,
            f"{status}, {len(raw)} bytes, {fields} fields listed",
        )
    ]


def as_of(base: str, ctx: dict[str, Any]) -> list[Result]:
    """Every --as-of refuses the future and impossible times with a usage error; POST /v1/sweeps too."""
    ahead = (datetime.now(UTC) + timedelta(days=3)).strftime("%Y-%m-%dT%H:%M:%SZ")
    out = []
    for command in (["bans", "expire"], ["credit", "recover"], ["verification", "expire"], ["sweep"]):
        for when in (ahead, "9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+08:00"):
            done = _cli(ctx, *command, "--as-of", when)
            ok = done.returncode == 2 and "--as-of" in done.stderr and "Traceback" not in done.stderr
            last = (done.stderr.strip().splitlines() or [""])[-1]
            out.append(
                (
                    f"{' '.join(command)} --as-of {when}: usage error",
                    ok,
                    f"exit {done.returncode}: {last[:70]}",
                )
            )
    dry = _cli(ctx, "bans", "expire", "--dry-run", "--as-of", ahead)
    out.append(("bans expire --dry-run may look ahead", dry.returncode == 0, dry.stdout.strip()[:70]))
    for when in ("9999-12-31T00:00:00Z", "0001-01-01T00:00:00Z"):
        status, _, raw = _http(base, "POST", "/v1/sweeps", ctx["api_key"], {"as_of": when, "dry_run": True})
        named = "as_of" in json.loads(raw).get("errors", {}).get("json", {})
        out.append((f"POST /v1/sweeps as_of {when}: 422 naming as_of", status == 422 and named, f"{status}"))
    return out


def bad_import_bytes(base: str, ctx: dict[str, Any]) -> list[Result]:
    """One line that is not UTF-8 in 6,000 costs that line only."""
    path = Path(ctx["workdir"]) / "accounts-bad-byte.jsonl"
    with open(path, "wb") as fh:
        for i in range(1, 6001):
            line = json.dumps({"id": f"fault_imp_{i}", "username": f"fault_user_{i}"}).encode()
            if i == 4501:
                line = line.replace(b"fault_user", b"fault_\xffuser")
            fh.write(line + b"\n")
    done = _cli(ctx, "accounts", "import", str(path))
    ok = "5999 created" in done.stdout and "line 4501:" in done.stderr and "Traceback" not in done.stderr
    return [("accounts import: bad byte at line 4,501 of 6,000", ok, done.stdout.strip()[-80:])]


def _unassigned_cn_mobile() -> str | None:
    import phonenumbers

    for prefix in range(130, 200):
        for block in range(0, 100):
            candidate = f"{prefix}{block:02d}000000"
            if not phonenumbers.is_valid_number(phonenumbers.parse(candidate, "CN")):
                return candidate
    return None


def possible_phones(base: str, ctx: dict[str, Any]) -> list[Result]:
    """A ban whose CN mobile libphonenumber does not know as assigned is kept, and checks find it."""
    phone = _unassigned_cn_mobile()
    if phone is None:
        return [
            (
                "possible-but-unassigned phone kept",
                True,
                "libphonenumber knows every CN prefix: nothing to test",
            )
        ]
    key = ctx["api_key"]
    status, _, raw = _http(
        base,
        "POST",
        "/v1/bans",
        key,
        {
            "identifiers": {"phone": [phone]},
            "names": ["fault possible phone"],
            "reason": "fault",
            "rule": "R1",
        },
    )
    time.sleep(1.5)  # every worker picks the ban up within REGISTRY_BAN_SYNC_SECONDS
    spaced = f"+86 {phone[:3]} {phone[3:7]} {phone[7:]}"
    c_status, _, c_raw = _http(base, "POST", "/v1/check", key, {"username": "someone_new", "phone": spaced})
    decision = json.loads(c_raw).get("decision") if c_status == 200 else None
    impossible, _, _ = _http(
        base,
        "POST",
        "/v1/bans",
        key,
        {"identifiers": {"phone": ["+86 1380013800"]}, "reason": "f", "rule": "R1"},
    )
    return [
        ("ban with a possible, unassigned CN mobile is kept", status == 201, f"{status} {raw[:60]!r}"),
        ("a check with that number (spaced) is not allowed", decision in ("deny", "review"), f"{decision}"),
        ("an impossible number is still refused", impossible == 422, f"{impossible}"),
    ]


def metrics(base: str, ctx: dict[str, Any]) -> list[Result]:
    """/metrics under `registry serve` counts requests across every worker."""

    def healthz_count() -> float:
        _, _, raw = _http(base, "GET", "/metrics")
        total = 0.0
        for line in raw.decode().splitlines():
            if line.startswith("registry_http_requests_total{") and 'endpoint="/healthz"' in line:
                total += float(line.rsplit(" ", 1)[1])
        return total

    before = healthz_count()
    for _ in range(40):  # a new connection each: both workers answer some
        _http(base, "GET", "/healthz", headers={"Connection": "close"})
    after = healthz_count()
    return [
        ("/metrics counts requests from every worker", after - before >= 40, f"+{after - before:.0f} of 40")
    ]


def docs(base: str, ctx: dict[str, Any]) -> list[Result]:
    """/docs loads nothing from outside the service."""
    status, _, raw = _http(base, "GET", "/docs")
    page = raw.decode()
    refs = re.findall(r'(?:src|href)="([^"]+)"', page)
    external = [r for r in refs if "://" in r or r.startswith("//")]
    served = [_http(base, "GET", r)[0] for r in refs if r.startswith("/")]
    ok = status == 200 and refs and not external and all(s == 200 for s in served)
    return [
        ("/docs assets are served by the service", bool(ok), f"{len(refs)} assets, external: {external[:2]}")
    ]


def audit_zones(base: str, ctx: dict[str, Any]) -> list[Result]:
    """Times in audit data carry their zone."""
    key = ctx["api_key"]
    _http(
        base,
        "POST",
        "/v1/accounts",
        key,
        {"id": "fault_zone", "username": "fault_zone", "registered_at": "2024-05-01T11:00:00+08:00"},
    )
    _, _, raw = _http(base, "GET", "/v1/audit?subject=account:fault_zone", key)
    items = json.loads(raw).get("items", [])
    created = [e for e in items if e.get("action") == "account.create"]
    value = created[0]["data"].get("registered_at", "") if created else ""
    ok = value.endswith("+00:00") or value.endswith("Z")
    return [("account.create registered_at has its zone", ok, repr(value))]


CHECKS = (
    slow_clients,
    bad_bytes,
    request_ids,
    huge_422,
    as_of,
    bad_import_bytes,
    possible_phones,
    metrics,
    docs,
    audit_zones,
)


def run(base_url: str, ctx: dict[str, Any]) -> list[Result]:
    """Run every operational fault; a check that crashes did not hold."""
    results: list[Result] = []
    for check in CHECKS:
        try:
            results.extend(check(base_url, ctx))
        except Exception as exc:  # noqa: BLE001 - reported as not held, the others still run
            results.append((check.__name__, False, f"{type(exc).__name__}: {exc}"[:120]))
    return results
