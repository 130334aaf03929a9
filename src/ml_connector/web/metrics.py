"""``/metrics``: the process's own counters plus figures read from the database at scrape.

Counters kept in memory (deliveries, 429s, Intacct requests, webhooks) describe what this
process did. Queue depth, dead letters and pipeline runs describe the whole deployment and
live in the database, which every process shares: they are read when Prometheus scrapes, so
a restart does not reset them and every replica reports the same value (aggregate them with
``max``, not ``sum``). Run durations become a histogram computed in SQL, one pass over
``runs``, instead of one kept by whichever process happened to run the pipeline.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from aiohttp import web
from prometheus_client import REGISTRY, CollectorRegistry, Counter, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

# Imported for their side effect: their metrics join the default registry served here.
from ml_connector.delivery import metrics as _delivery_metrics  # noqa: F401
from ml_connector.delivery.outbox import Status, queue_depth
from ml_connector.errors import VaultError
from ml_connector.intacct.gateway import metrics as _intacct_metrics  # noqa: F401
from ml_connector.logging import get_logger
from ml_connector.sage100.agent_client import metrics as _sage100_metrics  # noqa: F401
from ml_connector.store.tables import outbox, runs
from ml_connector.web.context import context
from ml_connector.web.page_auth import authorize, challenges, metrics_credentials, unauthorized

log = get_logger("ml_connector.web")

WEBHOOK_REQUESTS = Counter(
    "mlc_webhook_requests_total",
    "Requests to the Slack endpoints, by endpoint and outcome (accepted, duplicate, challenge, "
    "ignored, unauthorized, too_large, too_slow, malformed, replayed, unavailable).",
    ["endpoint", "outcome"],
)
SLACK_EVENTS = Counter(
    "mlc_slack_events_total",
    "Acknowledged Slack events after recording their id: handled, duplicate (a retry of one "
    "already recorded) or unrecorded (the database refused; not handled).",
    ["outcome"],
)

RUN_BUCKETS = (1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0)
SCRAPE_TIMEOUT = 5.0


@dataclass(frozen=True)
class RunDurations:
    buckets: tuple[int, ...]  # cumulative counts, one per RUN_BUCKETS bound
    count: int
    total: float


@dataclass
class StoreSnapshot:
    up: bool = False
    depth: dict[tuple[str, str], int] = field(default_factory=dict)
    dead: dict[str, int] = field(default_factory=dict)
    held: dict[str, int] = field(default_factory=dict)
    runs: dict[tuple[str, str], int] = field(default_factory=dict)
    running: dict[str, int] = field(default_factory=dict)
    durations: dict[str, RunDurations] = field(default_factory=dict)


async def read_snapshot(engine: AsyncEngine) -> StoreSnapshot:
    snap = StoreSnapshot(up=True)
    async with engine.connect() as conn:
        snap.depth = await queue_depth(conn)
        for pipeline, count in await conn.execute(
            sa.select(outbox.c.pipeline, sa.func.count())
            .where(outbox.c.status == Status.DEAD.value)
            .group_by(outbox.c.pipeline)
        ):
            snap.dead[pipeline or ""] = int(count)
        for workspace, count in await conn.execute(
            sa.select(outbox.c.workspace, sa.func.count())
            .where(outbox.c.status == Status.HELD.value)
            .group_by(outbox.c.workspace)
        ):
            snap.held[workspace] = int(count)
        for pipeline, status, count in await conn.execute(
            sa.select(runs.c.pipeline, runs.c.status, sa.func.count()).group_by(
                runs.c.pipeline, runs.c.status
            )
        ):
            if status == "running":
                snap.running[pipeline] = int(count)
            else:
                snap.runs[(pipeline, status)] = int(count)
        snap.durations = await _durations(conn)
    return snap


async def _durations(conn: AsyncConnection) -> dict[str, RunDurations]:
    duration = runs.c.finished_at - runs.c.started_at
    columns = [sa.func.sum(sa.case((duration <= bound, 1), else_=0)) for bound in RUN_BUCKETS]
    query = (
        sa.select(runs.c.pipeline, sa.func.count(), sa.func.sum(duration), *columns)
        .where(runs.c.finished_at.is_not(None))
        .group_by(runs.c.pipeline)
    )
    found: dict[str, RunDurations] = {}
    for row in await conn.execute(query):
        pipeline, count, total, *cumulative = row
        found[pipeline] = RunDurations(
            buckets=tuple(int(c or 0) for c in cumulative),
            count=int(count),
            total=float(total or 0.0),
        )
    return found


class SnapshotCollector:
    """Turns one snapshot into Prometheus families (for a registry made per scrape)."""

    def __init__(self, snap: StoreSnapshot) -> None:
        self.snap = snap

    def collect(self) -> Iterator[Metric]:
        snap = self.snap
        up = GaugeMetricFamily("mlc_store_up", "1 if the database answered this scrape.")
        up.add_metric([], 1.0 if snap.up else 0.0)
        yield up
        if not snap.up:
            return
        depth = GaugeMetricFamily(
            "mlc_outbox_depth",
            "Messages waiting to be posted (pending, in flight, unknown or held), per channel.",
            labels=["workspace", "channel"],
        )
        for (workspace, channel), count in sorted(snap.depth.items()):
            depth.add_metric([workspace, channel], count)
        yield depth
        yield _by_label(
            "mlc_outbox_dead_letters",
            "Dead-lettered messages, per pipeline.",
            "pipeline",
            snap.dead,
        )
        yield _by_label(
            "mlc_outbox_held",
            "Messages held because their workspace's installation is unusable.",
            "workspace",
            snap.held,
        )
        total = CounterMetricFamily(
            "mlc_pipeline_runs",
            "Finished pipeline runs recorded in the database, by pipeline and outcome.",
            labels=["pipeline", "outcome"],
        )
        for (pipeline, outcome), count in sorted(snap.runs.items()):
            total.add_metric([pipeline, outcome], count)
        yield total
        yield _by_label(
            "mlc_pipeline_runs_running", "Pipeline runs in progress.", "pipeline", snap.running
        )
        histogram = HistogramMetricFamily(
            "mlc_pipeline_run_duration_seconds",
            "Duration of finished pipeline runs, by pipeline.",
            labels=["pipeline"],
        )
        for pipeline, durations in sorted(snap.durations.items()):
            histogram.add_metric(
                [pipeline], _buckets(durations, RUN_BUCKETS), sum_value=durations.total
            )
        yield histogram


def _by_label(name: str, doc: str, label: str, values: dict[str, int]) -> GaugeMetricFamily:
    family = GaugeMetricFamily(name, doc, labels=[label])
    for key, count in sorted(values.items()):
        family.add_metric([key], count)
    return family


def _buckets(durations: RunDurations, bounds: Sequence[float]) -> list[tuple[str, float]]:
    pairs = [(_bound(b), float(c)) for b, c in zip(bounds, durations.buckets, strict=True)]
    pairs.append(("+Inf", float(durations.count)))
    return pairs


def _bound(value: float) -> str:
    return repr(float(value))


def render(snap: StoreSnapshot) -> bytes:
    per_scrape = CollectorRegistry(auto_describe=False)
    per_scrape.register(SnapshotCollector(snap))
    return bytes(generate_latest(REGISTRY)) + bytes(generate_latest(per_scrape))


async def metrics_handler(request: web.Request) -> web.Response:
    ctx = context(request)
    credentials = metrics_credentials(ctx.config.server)
    if challenges(credentials):
        try:
            decision = await authorize(credentials, ctx.vault, request.headers.get("Authorization"))
        except VaultError as exc:
            log.error("metrics credentials unreadable", error=exc)
            return web.Response(status=503, text="metrics credentials cannot be read\n")
        if not decision.allowed:
            log.info("metrics refused", remote=request.remote)
            return unauthorized(decision)
    engine = ctx.engine
    try:
        snap = await asyncio.wait_for(read_snapshot(engine), SCRAPE_TIMEOUT)
    except (TimeoutError, sa.exc.SQLAlchemyError, OSError) as exc:
        log.warning("metrics: database unavailable", error=exc)
        snap = StoreSnapshot(up=False)
    return web.Response(body=render(snap), headers={"Content-Type": CONTENT_TYPE_LATEST})
