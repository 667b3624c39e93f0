"""Prometheus metrics at ``GET /metrics``: request counts and latency per route, plus feature metrics.

Under gunicorn each worker is a process, so ``registry serve`` points PROMETHEUS_MULTIPROC_DIR at a
folder (a fresh one, or the operator's, emptied at start), every worker writes its values there and the
scrape aggregates them (prometheus_client's multiprocess mode); a dead worker's files are marked so its
gauges drop out while its counts stay in the totals.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
    values,
)

blp = Blueprint("metrics", __name__)

REQUESTS = Counter("registry_http_requests_total", "HTTP requests answered", ["endpoint", "method", "status"])
LATENCY = Histogram(
    "registry_http_request_seconds",
    "Time to answer an HTTP request",
    ["endpoint"],
    buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
CHECK_DECISIONS = Counter("registry_check_decisions_total", "Signup check decisions", ["decision"])


# prometheus_client names its files "<type>_<pid>.db" (gauges: "gauge_<mode>_<pid>.db").
_METRIC_FILE = re.compile(r"(?:counter|histogram|summary|gauge_[a-z]+)_[0-9]+\.db")


def prepare_multiprocess(directory: str | None) -> str:
    """Point prometheus_client at an empty multiprocess folder (a new one when ``directory`` is unset)."""
    if directory:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        # The scrape reads every *.db file there as metrics: the folder must be the metrics' own.
        foreign = sorted(p.name for p in path.glob("*.db") if not _METRIC_FILE.fullmatch(p.name))
        if foreign:
            raise ValueError(
                f"PROMETHEUS_MULTIPROC_DIR={path} holds {', '.join(foreign[:3])}, which are not metrics "
                "files: give the metrics a folder of their own"
            )
        # Files left by an earlier run would be summed into this one's counts.
        for stale in path.glob("*.db"):
            stale.unlink()
    else:
        path = Path(tempfile.mkdtemp(prefix="registry-metrics-"))
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)
    # prometheus_client picks its value store when first imported, and by the time `registry serve`
    # runs the CLI has imported it (building the app to find its commands) with no folder set: the
    # values would stay in each worker's memory and every scrape would be empty. The metrics here are
    # all labelled, and a labelled metric creates its values per label set, on first use in a worker,
    # from values.ValueClass: choosing the store again now makes them all file-backed.
    values.ValueClass = values.get_value_class()
    return str(path)


def mark_worker_dead(pid: int) -> None:
    """Tell the multiprocess collector a worker has exited (its live gauges no longer count)."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.mark_process_dead(pid)


def remove_directory(directory: str) -> None:
    """Delete a metrics folder this process created."""
    shutil.rmtree(directory, ignore_errors=True)


@blp.get("/metrics")
def metrics() -> Response:
    """Expose the metrics in Prometheus' text format."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest()
    return Response(body, mimetype=CONTENT_TYPE_LATEST)


def init_app(app: Flask) -> None:
    """Time every request and count it by route (the rule, never the raw path: ids stay out)."""
    app.register_blueprint(blp)
    # Labelled children by (rule, method, status): labels() hashes, locks and, in multiprocess mode,
    # builds a key on every call; the set of routes and statuses is small and fixed.
    children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    @app.before_request
    def start_timer() -> None:
        g.metrics_started = time.perf_counter()

    @app.after_request
    def observe(response: Any) -> Any:
        started = g.pop("metrics_started", None)
        rule = request.url_rule
        endpoint = rule.rule if rule is not None else "unmatched"
        if started is not None and endpoint != "/metrics":
            key = (endpoint, request.method, response.status_code)
            pair = children.get(key)
            if pair is None:
                pair = children[key] = (
                    LATENCY.labels(endpoint),
                    REQUESTS.labels(endpoint, key[1], str(key[2])),
                )
            pair[0].observe(time.perf_counter() - started)
            pair[1].inc()
        return response
