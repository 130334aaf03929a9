from __future__ import annotations

import asyncio
import itertools
import random
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery import DeliverySettings, DeliveryWorker, enqueue
from ml_connector.delivery.metadata import EVENT_TYPE
from ml_connector.delivery.outbox import OutboxMessage
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.store.tables import delivery_attempts, outbox

INTERVAL = 0.05

FAST = DeliverySettings(
    post_interval=INTERVAL,
    backoff_base=0.02,
    backoff_max=0.2,
    max_attempts=30,
    history_interval=0.2,
    reconcile_delay=0.1,
    lease_seconds=5.0,
    idle_poll=0.05,
    probe_interval=0.2,
)


async def fill(engine: AsyncEngine, channels: list[str], per_channel: int) -> None:
    async with engine.begin() as conn:
        for n in range(per_channel):
            for channel in channels:
                await enqueue(
                    conn,
                    workspace="default",
                    channel=channel,
                    message=OutboxMessage(text=f"{channel} #{n}", blocks=[]),
                    dedupe_key=f"test:{channel}:{n}",
                    source={"n": n},
                    pipeline="test",
                )


def texts(slack: SlackSimulator, channel: str) -> list[str]:
    return [m["text"] for m in slack.messages(channel)]


def gaps(slack: SlackSimulator, channel: str) -> list[float]:
    stamps = [float(m["ts"]) for m in slack.messages(channel)]
    return [b - a for a, b in itertools.pairwise(stamps)]


async def test_enqueue_is_idempotent_and_transactional(engine: AsyncEngine) -> None:
    message = OutboxMessage(text="hello", blocks=[])
    async with engine.begin() as conn:
        first = await enqueue(
            conn, workspace="default", channel="C1", message=message, dedupe_key="k", source={}
        )
        second = await enqueue(
            conn, workspace="default", channel="C1", message=message, dedupe_key="k", source={}
        )
    assert first is not None and second is None
    try:
        async with engine.begin() as conn:
            await enqueue(
                conn,
                workspace="default",
                channel="C1",
                message=message,
                dedupe_key="rolled-back",
                source={},
            )
            raise RuntimeError("the pipeline failed after enqueueing")
    except RuntimeError:
        pass
    async with engine.connect() as conn:
        keys = list(await conn.scalars(sa.select(outbox.c.dedupe_key)))
    assert keys == ["k"]


async def test_three_channels_in_order_at_the_pace_without_429(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    channels = [slack.channel_id(n) for n in ("gl", "payments", "alerts")]
    await fill(engine, channels, 100)
    worker = DeliveryWorker(engine, gateway, FAST)
    assert await worker.run_until_idle(timeout=60)
    for channel in channels:
        assert texts(slack, channel) == [f"{channel} #{n}" for n in range(100)]
        assert min(gaps(slack, channel)) >= INTERVAL
    assert sum(slack.rate_limited.values()) == 0
    for message in slack.messages(channels[0]):
        assert message["metadata"]["event_type"] == EVENT_TYPE


async def test_every_fault_kind_still_exactly_once(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    channels = [slack.channel_id(n) for n in ("gl", "payments", "alerts")]
    await fill(engine, channels, 30)
    kinds = ["http_500", "http_503", "drop", "internal_error", "lost_answer", "ratelimited", "slow"]
    for kind in kinds:
        extra: dict[str, Any] = {"delay": 1.0} if kind == "slow" else {}
        slack.faults.add(
            kind=kind, method="chat.postMessage", probability=0.2 / len(kinds), **extra
        )
    worker = DeliveryWorker(engine, gateway, FAST, rng=random.Random(7))
    assert await worker.run_until_idle(timeout=120)
    for channel in channels:
        assert texts(slack, channel) == [f"{channel} #{n}" for n in range(30)]
    assert sum(slack.faults.injected.values()) >= 5
    async with engine.connect() as conn:
        statuses = set(await conn.scalars(sa.select(outbox.c.status)))
        outcomes = set(await conn.scalars(sa.select(delivery_attempts.c.outcome)))
    assert statuses == {"delivered"}
    assert "delivered" in outcomes


async def test_lost_answer_is_reconciled_not_reposted(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    channel = slack.channel_id("gl")
    slack.faults.add(kind="lost_answer", method="chat.postMessage", count=2)
    slack.faults.add(kind="drop", method="chat.postMessage", count=1)
    await fill(engine, [channel], 5)
    worker = DeliveryWorker(engine, gateway, FAST)
    assert await worker.run_until_idle(timeout=30)
    assert texts(slack, channel) == [f"{channel} #{n}" for n in range(5)]
    async with engine.connect() as conn:
        outcomes = list(await conn.scalars(sa.select(delivery_attempts.c.outcome)))
    assert outcomes.count("reconciled_found") == 2
    assert outcomes.count("reconciled_missing") == 1
    # One answered history read per reconciliation. Under load the simulator's own history
    # limit (as Slack's) may answer 429 first, which the worker waits out and asks again.
    answered = slack.calls["conversations.history"] - slack.rate_limited["conversations.history"]
    assert answered == 3


async def test_permanent_errors_dead_letter_at_once(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    await fill(engine, ["C0NOSUCH01"], 1)
    worker = DeliveryWorker(engine, gateway, FAST)
    assert await worker.run_until_idle(timeout=10)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "dead" and "channel_not_found" in row.last_error
    assert row.attempts == 1


async def test_revoked_token_holds_then_resumes_once(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    channel = slack.channel_id("payments")
    await fill(engine, [channel], 3)
    slack.revoke_token(slack.bot_token)
    worker = DeliveryWorker(engine, gateway, FAST)
    runner = asyncio.create_task(worker.run())
    for _ in range(100):
        await asyncio.sleep(0.05)
        async with engine.connect() as conn:
            statuses = list(await conn.scalars(sa.select(outbox.c.status)))
        if statuses == ["held"] * 3:
            break
    assert statuses == ["held"] * 3
    async with engine.connect() as conn:
        reasons = set(await conn.scalars(sa.select(outbox.c.held_reason)))
        attempts = set(await conn.scalars(sa.select(outbox.c.attempts)))
    assert all("token_revoked" in (r or "") for r in reasons)
    assert attempts == {0}
    # A message queued while the workspace is held joins the hold with the same reason.
    async with engine.begin() as conn:
        await enqueue(
            conn,
            workspace="default",
            channel=channel,
            message=OutboxMessage(text=f"{channel} #3", blocks=[]),
            dedupe_key="late",
            source={},
        )
    for _ in range(100):
        await asyncio.sleep(0.05)
        async with engine.connect() as conn:
            late = (
                await conn.execute(
                    sa.select(outbox.c.status, outbox.c.held_reason).where(
                        outbox.c.dedupe_key == "late"
                    )
                )
            ).one()
        if late.status == "held":
            break
    assert late.status == "held" and "token_revoked" in (late.held_reason or "")
    slack.restore_token(slack.bot_token)
    for _ in range(200):
        await asyncio.sleep(0.05)
        if len(slack.messages(channel)) == 4:
            break
    worker.request_stop()
    await runner
    assert texts(slack, channel) == [f"{channel} #{n}" for n in range(4)]


async def test_two_workers_share_the_pace(database: Any, slack: SlackSimulator) -> None:
    """Separate engines stand for separate processes."""
    channels = [slack.channel_id(n) for n in ("gl", "payments")]
    await fill(database.engine(), channels, 40)
    gateways = [
        ClientGateway({"default": SlackClient(slack.bot_token, base_url=slack.base_url)})
        for _ in range(2)
    ]
    workers = [DeliveryWorker(database.engine(), gw, FAST) for gw in gateways]
    results = await asyncio.gather(*(w.run_until_idle(timeout=60) for w in workers))
    assert all(results)
    for channel in channels:
        assert texts(slack, channel) == [f"{channel} #{n}" for n in range(40)]
        assert min(gaps(slack, channel)) >= INTERVAL
    assert sum(slack.rate_limited.values()) == 0
    for gw in gateways:
        await gw.aclose()


async def test_reconciliation_over_several_history_pages_completes(engine: AsyncEngine) -> None:
    """A lost post found only by reading many pages must not restart the scan forever.

    Apps outside the Marketplace get small pages and about one history call a minute, so the
    budget runs out between pages; the scan waits for it instead of starting over.
    """
    async with SlackSimulator(
        channels=["gl"],
        post_interval=INTERVAL,
        history_interval=0.2,
        history_max_limit=2,
    ) as sim:
        gw = ClientGateway({"default": SlackClient(sim.bot_token, base_url=sim.base_url)})
        channel = sim.channel_id("gl")
        await fill(engine, [channel], 5)
        assert await DeliveryWorker(engine, gw, FAST).run_until_idle(timeout=30)
        sim.faults.add(kind="drop", method="chat.postMessage", count=1)
        async with engine.begin() as conn:
            await enqueue(
                conn,
                workspace="default",
                channel=channel,
                message=OutboxMessage(text="after the drop", blocks=[]),
                dedupe_key="test:after-drop",
                source={},
            )
        # Our budget a little stricter than the simulator's limit, as with the real one.
        settings = replace(FAST, history_interval=0.3)
        assert await DeliveryWorker(engine, gw, settings).run_until_idle(timeout=30)
        await gw.aclose()
        assert texts(sim, channel)[-1] == "after the drop"
        assert len(texts(sim, channel)) == 6
        assert sim.calls["conversations.history"] == 3


async def test_ambiguous_failures_dead_letter_after_max_attempts(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    """A send that keeps failing ambiguously is reconciled each time, then given up."""
    channel = slack.channel_id("gl")
    slack.faults.add(kind="drop", method="chat.postMessage")
    await fill(engine, [channel], 1)
    settings = replace(FAST, max_attempts=3)
    assert await DeliveryWorker(engine, gateway, settings).run_until_idle(timeout=30)
    async with engine.connect() as conn:
        row = (await conn.execute(sa.select(outbox))).one()
    assert row.status == "dead" and row.attempts == 3
    assert "3 attempts" in row.last_error
    assert texts(slack, channel) == []


class SlowGateway:
    """Holds each post longer than a channel lease lasts before passing it on."""

    def __init__(self, inner: ClientGateway, delay: float) -> None:
        self.inner = inner
        self.delay = delay

    async def post_message(self, workspace: str, channel: str, **kwargs: Any) -> str:
        await asyncio.sleep(self.delay)
        return await self.inner.post_message(workspace, channel, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


async def test_slow_post_keeps_its_lease(
    engine: AsyncEngine, slack: SlackSimulator, gateway: ClientGateway
) -> None:
    """Another worker must not take over (and re-post) a channel whose post is still going."""
    channel = slack.channel_id("gl")
    await fill(engine, [channel], 2)
    settings = replace(FAST, lease_seconds=1.2)
    slow = DeliveryWorker(engine, SlowGateway(gateway, 2.5), settings)  # type: ignore[arg-type]
    fast = DeliveryWorker(engine, gateway, settings)
    first = asyncio.create_task(slow.run())
    for _ in range(100):
        await asyncio.sleep(0.02)
        async with engine.connect() as conn:
            statuses = list(await conn.scalars(sa.select(outbox.c.status)))
        if "in_flight" in statuses:
            break
    assert await fast.run_until_idle(timeout=30)
    slow.request_stop()
    await first
    assert texts(slack, channel) == [f"{channel} #{n}" for n in range(2)]
