"""Prometheus metrics at ``GET /metrics``: request counts and latency per route, plus feature metrics.

Under gunicorn each worker is a process, so ``registry serve`` points PROMETHEUS_MULTIPROC_DIR at a
fresh folder and the scrape aggregates every worker (prometheus_client's multiprocess mode).
"""

from __future__ import annotations

import os
import time
from typing import Any

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
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
