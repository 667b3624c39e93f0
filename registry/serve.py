"""Run the app under gunicorn, each worker building its own app (and its own in-memory indexes)."""

from __future__ import annotations

import gc
import json
import os
import tempfile
import threading
from typing import Any

from gunicorn import util as gunicorn_util
from gunicorn.app.base import BaseApplication


class _Gunicorn(BaseApplication):  # type: ignore[misc]
    def __init__(self, options: dict[str, Any]) -> None:
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self) -> Any:
        from registry import create_app

        app = create_app()
        if self.options.get("preload_app"):
            # Built once here, before fork: the workers share the index pages copy-on-write.
            from registry.check.engine import warm
            from registry.extensions import db

            warm(app)
            with app.app_context():
                # No pooled connection may cross the fork: each worker opens its own.
                db.engine.dispose()
            # Move everything built so far out of the collector's reach: a full collection in a worker
            # would otherwise walk (and, writing GC headers, un-share) the whole index.
            gc.freeze()
        return app


def _warm_worker(worker: Any) -> None:
    """Build (or, when preloaded, catch up) the worker's check engine before it accepts connections."""
    from registry.check.engine import warm

    # The arbiter kills a worker silent for --timeout seconds, and a build of a large index takes
    # longer than that: keep telling it this worker is alive while it builds.
    done = threading.Event()

    def heartbeat() -> None:
        while not done.wait(1.0):
            worker.notify()

    beat = threading.Thread(target=heartbeat, name="warm-heartbeat", daemon=True)
    beat.start()
    try:
        warm(worker.wsgi)
    finally:
        done.set()
        beat.join()
    # The index lives as long as the worker: keep full collections from walking it.
    gc.freeze()


def _write_json_error(sock: Any, status_int: int, reason: str, mesg: str) -> None:
    """Write gunicorn's refusal of an unparseable request as the service's JSON error, not HTML."""
    # Request line or headers too large, malformed request line: refused before the app sees it.
    from registry.errors import error_body

    body = json.dumps(error_body(status_int, mesg or reason)).encode()
    head = (
        f"HTTP/1.1 {status_int} {reason}\r\nConnection: close\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
    )
    gunicorn_util.write_nonblock(sock, head.encode("latin1") + body)


def run(*, host: str, port: int, workers: int, timeout: int) -> None:
    """Start gunicorn in the foreground."""
    # gunicorn's worker calls util.write_error for requests it cannot parse; make those JSON too.
    gunicorn_util.write_error = _write_json_error
    # Workers are processes: metrics go through files that /metrics aggregates across them. This must
    # be set before prometheus_client creates the metrics, i.e. before the app is first built.
    if not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = tempfile.mkdtemp(prefix="registry-metrics-")
    # Build the app once in the parent so a bad setting fails before any worker starts.
    from registry import create_app

    preload = bool(create_app().config["REGISTRY"].check_preload)
    _Gunicorn(
        {
            "bind": f"{host}:{port}",
            "workers": workers,
            "timeout": timeout,
            "graceful_timeout": timeout,
            "accesslog": "-",
            # Only method, path, status and time: query strings and bodies may carry identifiers.
            "access_log_format": '%(h)s "%(m)s %(U)s" %(s)s %(b)s %(L)ss rid=%({x-request-id}o)s',
            "preload_app": preload,
            "post_worker_init": _warm_worker,
        }
    ).run()
