"""Prometheus figures for Intacct triggers (default registry, served on /metrics).

Refused deliveries are counted by reason (forged, expired, wrong_audience, wrong_issuer,
wrong_client, missing, replayed): a steady trickle of ``forged`` is someone probing the URL; a
burst of ``expired`` is a clock out of step. ``mlc_intacct_trigger_lag_seconds`` is from the
first event of a record to its alert being queued, coalescing included.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

TRIGGER_REQUESTS = Counter(
    "mlc_intacct_trigger_requests_total",
    "Deliveries to /intacct/events, by outcome (accepted, duplicate, unauthorized, bad_request, "
    "not_found, unavailable) and, when refused, the reason.",
    ["outcome", "reason"],
)
TRIGGER_READS = Counter(
    "mlc_intacct_trigger_reads_total",
    "Records read because a trigger named them, by outcome (alerted, quiet, missing, retried, "
    "dropped).",
    ["outcome"],
)
TRIGGER_LAG = Histogram(
    "mlc_intacct_trigger_lag_seconds",
    "From the first trigger event of a record to the end of its targeted read.",
    buckets=(0.5, 1, 2, 3, 5, 10, 30, 60, 300),
)
