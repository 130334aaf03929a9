"""Prometheus counters of the delivery path (exposed by the web server's /metrics)."""

from __future__ import annotations

from prometheus_client import Counter

DELIVERIES = Counter(
    "mlc_deliveries_total",
    "Delivery attempts by outcome (delivered, rate_limited, transient, ambiguous, "
    "permanent, credentials, reconciled_found, reconciled_missing).",
    ["outcome"],
)
SLACK_429 = Counter("mlc_slack_429_total", "HTTP 429 answers received from Slack.", ["method"])
