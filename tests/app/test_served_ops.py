"""Through the real server (gunicorn, two workers): slow clients cannot stall it; /metrics sees all."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

REGISTRY = str(Path(sys.executable).parent / "registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    tmp_path = tmp_path_factory.mktemp("served")
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    (metrics_dir / "counter_99999.db").write_bytes(b"left by an earlier run")
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "REGISTRY_PII_KEY": "serve-test-pii-key-0123456789",
        "REGISTRY_INSTANCE_PATH": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir),
    }
    subprocess.run([REGISTRY, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    made = subprocess.run(
        [REGISTRY, "keys", "create", "--name", "t", "--scope", "admin"],
        env=env,
        check=True,
        capture_output=True,
        text=True,
        cwd=tmp_path,
    )
    key = made.stdout.strip().splitlines()[-1]
    port = _free_port()
    proc = subprocess.Popen(
        [REGISTRY, "serve", "--port", str(port), "--workers", "2", "--read-timeout", "3"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield base, port, key, metrics_dir
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _timed(request: urllib.request.Request) -> tuple[int, float]:
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as response:
        response.read()
        return response.status, time.perf_counter() - started


def _check(base: str, key: str) -> urllib.request.Request:
    return urllib.request.Request(
        base + "/v1/check",
        data=json.dumps({"username": "someone_new", "phone": "13800138000"}).encode(),
        headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json"},
    )


def test_fifty_half_sent_requests_do_not_stall_healthz_or_checks(served):
    base, port, key, _ = served
    held = []
    try:
        for i in range(50):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            if i % 2:
                sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
            else:
                sock.sendall(b'POST /v1/check HTTP/1.1\r\nHost: x\r\nContent-Length: 300\r\n\r\n{"user')
            held.append(sock)
        time.sleep(0.3)
        for _ in range(3):
            status, seconds = _timed(urllib.request.Request(base + "/healthz"))
            assert status == 200 and seconds < 1
            status, seconds = _timed(_check(base, key))
            assert status == 200 and seconds < 1
        # A request that never completes is dropped after --read-timeout (3 s here), not held forever.
        time.sleep(4)
        held[0].settimeout(2)
        assert held[0].recv(100) == b""
    finally:
        for sock in held:
            sock.close()


def test_a_request_sent_slowly_but_in_time_is_answered(served):
    base, port, key, _ = served
    body = json.dumps({"username": "slow_but_fine"}).encode()
    head = (
        f"POST /v1/check HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\nConnection: close\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        for piece in (head[:10], head[10:], body[:5], body[5:]):
            sock.sendall(piece)
            time.sleep(0.3)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 200") and b'"decision"' in answer


def test_metrics_aggregate_every_worker(served):
    base, _port, key, metrics_dir = served

    def healthz_count() -> float:
        with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
            text = response.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("registry_http_requests_total{") and 'endpoint="/healthz"' in line
        )

    before = healthz_count()
    for _ in range(30):
        urllib.request.urlopen(
            urllib.request.Request(base + "/healthz", headers={"Connection": "close"})
        ).read()
    # Every request counted, whichever worker answered it (and nothing left from an earlier run).
    assert healthz_count() - before == 30
    assert before < 1000
    assert not (metrics_dir / "counter_99999.db").exists()
    _timed(_check(base, key))
    with urllib.request.urlopen(base + "/metrics", timeout=10) as response:
        text = response.read().decode()
    assert 'registry_http_requests_total{endpoint="/v1/check",method="POST",status="200"}' in text


def test_serve_refuses_a_metrics_folder_holding_other_files(tmp_path):
    (tmp_path / "serve.db").write_bytes(b"")
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path),
        "REGISTRY_INSTANCE_PATH": str(tmp_path),
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
    }
    done = subprocess.run(
        [REGISTRY, "serve", "--port", str(_free_port())],
        env=env,
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=60,
    )
    assert done.returncode == 2 and "serve.db" in done.stderr and (tmp_path / "serve.db").exists()
