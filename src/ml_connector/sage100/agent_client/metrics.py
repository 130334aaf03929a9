"""Prometheus series of calls to the Sage 100 agent (served by the web server's /metrics)."""

from __future__ import annotations

from prometheus_client import Histogram

REQUEST_SECONDS = Histogram(
    "mlc_sage100_request_seconds",
    "Latency of requests to the Sage 100 agent, by outcome (ok, error).",
    ["outcome"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
