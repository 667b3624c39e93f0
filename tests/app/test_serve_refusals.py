"""What the production server refuses before the app runs is still a JSON error."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

REGISTRY = str(Path(sys.executable).parent / "registry")


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def served(tmp_path):
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"sqlite:///{tmp_path / 'serve.db'}",
        "REGISTRY_PII_KEY": "serve-test-pii-key-0123456789",
        "REGISTRY_INSTANCE_PATH": str(tmp_path),
        "PROMETHEUS_MULTIPROC_DIR": str(tmp_path / "metrics"),
    }
    subprocess.run([REGISTRY, "db", "upgrade"], env=env, check=True, capture_output=True, cwd=tmp_path)
    port = _free_port()
    proc = subprocess.Popen(
        [REGISTRY, "serve", "--host", "127.0.0.1", "--port", str(port), "--workers", "1"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                urllib.request.urlopen(base + "/healthz", timeout=2)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.2)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def _error(url: str, headers: dict[str, str] | None = None) -> urllib.error.HTTPError:
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=10)
    return caught.value


def test_oversized_request_line_and_headers_are_json(served):
    too_long = _error(served + "/v1/accounts/" + "x" * 5000)
    assert too_long.code == 400
    assert too_long.headers["Content-Type"] == "application/json"
    body = too_long.read()
    assert b'"code": 400' in body and b"Request Line is too large" in body

    big_header = _error(served + "/v1/accounts", {"Authorization": "Bearer " + "x" * 10000})
    assert big_header.code == 431
    assert big_header.headers["Content-Type"] == "application/json"
    assert b'"code": 431' in big_header.read()


def test_kept_alive_connection_answers_each_request_whole_or_in_parts(served):
    port = int(served.rsplit(":", 1)[1])
    one = b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n"
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        reader = sock.makefile("rb")

        def answer() -> bytes:
            status = reader.readline()
            length = 0
            while (line := reader.readline()) not in (b"\r\n", b""):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":")[1])
            reader.read(length)
            return status

        sock.sendall(one)
        assert answer().startswith(b"HTTP/1.1 200")
        # The next request on the same connection, whole: read at once by the event loop.
        sock.sendall(one)
        assert answer().startswith(b"HTTP/1.1 200")
        # And one that arrives in two parts: the worker waits for the rest, then answers.
        sock.sendall(one[:10])
        time.sleep(0.5)
        sock.sendall(one[10:])
        assert answer().startswith(b"HTTP/1.1 200")
