"""Prometheus figures for the Intacct client, in the default registry (served on /metrics).

Session refreshes should be rare (one per 50 minutes per company): a climbing count means
sessions are being rejected or not shared. Request latency is measured per gateway request,
slot wait included, because that is what a run waits for.
"""

from __future__ import annotations

from prometheus_client import Counter, Histogram

SESSION_REFRESHES = Counter(
    "mlc_intacct_session_refreshes_total",
    "Intacct API sessions obtained with getAPISession, by reason (new, expiring, rejected).",
    ["reason"],
)
REQUESTS = Counter(
    "mlc_intacct_requests_total",
    "Intacct gateway requests, by outcome (ok or the error kind).",
    ["outcome"],
)
REQUEST_SECONDS = Histogram(
    "mlc_intacct_request_seconds",
    "Latency of Intacct gateway requests, from asking for a slot to the last byte parsed.",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
SLOT_WAIT_SECONDS = Histogram(
    "mlc_intacct_slot_wait_seconds",
    "Time spent waiting for one of the company's shared concurrent-request slots.",
    buckets=(0.001, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120),
)
RETRIES = Counter(
    "mlc_intacct_retries_total",
    "Intacct requests or functions sent again after a transient failure, by error kind.",
    ["kind"],
)
