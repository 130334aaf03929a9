"""Prometheus series of pipeline runs (the web server exposes the default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PIPELINE_RUNS = Counter(
    "mlc_pipeline_runs_total", "Pipeline runs by pipeline and outcome.", ["pipeline", "outcome"]
)
PIPELINE_SECONDS = Histogram(
    "mlc_pipeline_run_seconds",
    "Duration of pipeline runs.",
    ["pipeline"],
    buckets=(0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900),
)
