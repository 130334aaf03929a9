"""Delivery throughput at Slack's per-channel limit: our outbox vs. slack_sdk posting directly.

Both post the same messages to the same channels of a strict Slack simulator that allows one
message per second per channel (burst 1). The baseline is what a hand-written script does:
slack_sdk's AsyncWebClient with its RateLimitErrorRetryHandler, one task per channel, posting
back to back. Printed per side: messages per second per channel as a fraction of the limit,
429s received, duplicates in the channels; then ours/baseline ratios.

    python bench/slack_delivery.py            # 50 channels, 1.0 s limit, 30 s of messages
    python bench/slack_delivery.py --quick    # 10 channels, 0.1 s limit, ~5 s
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path

from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from ml_connector.delivery import DeliverySettings, DeliveryWorker, enqueue
from ml_connector.delivery.outbox import OutboxMessage
from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.store import make_engine, migrate


def channel_names(count: int) -> list[str]:
    return [f"bench-{n:02d}" for n in range(count)]


def measure(sim: SlackSimulator, channels: list[str], interval: float) -> tuple[float, int]:
    """(mean fraction of the limit achieved per channel, duplicate messages)."""
    fractions = []
    duplicates = 0
    for name in channels:
        messages = sim.messages(sim.channel_id(name))
        counts = Counter(m["text"] for m in messages)
        duplicates += sum(c - 1 for c in counts.values())
        stamps = [float(m["ts"]) for m in messages]
        if len(stamps) > 1:
            rate = (len(stamps) - 1) / (stamps[-1] - stamps[0])
            fractions.append(rate * interval)
    return statistics.mean(fractions), duplicates


async def run_ours(channels: list[str], per_channel: int, interval: float) -> dict[str, float]:
    async with SlackSimulator(channels=channels, post_interval=interval, post_burst=1) as sim:
        with tempfile.TemporaryDirectory() as tmp:
            engine = make_engine(f"sqlite:///{Path(tmp) / 'bench.db'}")
            await migrate(engine)
            async with engine.begin() as conn:
                for n in range(per_channel):
                    for name in channels:
                        await enqueue(
                            conn,
                            workspace="default",
                            channel=sim.channel_id(name),
                            message=OutboxMessage(text=f"{name} message {n}", blocks=[]),
                            dedupe_key=f"{name}:{n}",
                            source={},
                        )
            client = SlackClient(sim.bot_token, base_url=sim.base_url)
            gateway = ClientGateway({"default": client})
            settings = DeliverySettings(post_interval=interval, idle_poll=0.05, channel_hold=60)
            started = time.monotonic()
            ok = await DeliveryWorker(engine, gateway, settings).run_until_idle(timeout=600)
            elapsed = time.monotonic() - started
            await gateway.aclose()
            await engine.dispose()
        fraction, duplicates = measure(sim, channels, interval)
        return {
            "fraction": fraction,
            "429s": sum(sim.rate_limited.values()),
            "duplicates": duplicates,
            "seconds": elapsed,
            "complete": float(ok),
        }


async def run_baseline(channels: list[str], per_channel: int, interval: float) -> dict[str, float]:
    async with SlackSimulator(channels=channels, post_interval=interval, post_burst=1) as sim:
        client = AsyncWebClient(
            token=sim.bot_token,
            base_url=sim.base_url,
            retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=100)],
        )

        async def post_all(name: str) -> None:
            channel = sim.channel_id(name)
            for n in range(per_channel):
                await client.chat_postMessage(channel=channel, text=f"{name} message {n}")

        started = time.monotonic()
        await asyncio.gather(*(post_all(name) for name in channels))
        elapsed = time.monotonic() - started
        fraction, duplicates = measure(sim, channels, interval)
        return {
            "fraction": fraction,
            "429s": sum(sim.rate_limited.values()),
            "duplicates": duplicates,
            "seconds": elapsed,
            "complete": 1.0,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="10 channels at a 0.1 s limit")
    parser.add_argument("--channels", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--interval", type=float, default=1.0)
    args = parser.parse_args()
    if args.quick:
        args.channels, args.seconds, args.interval = 10, 5.0, 0.1
    channels = channel_names(args.channels)
    per_channel = int(args.seconds / args.interval)
    print(
        f"{args.channels} channels × {per_channel} messages, limit 1 per {args.interval:g} s "
        f"per channel (burst 1)"
    )
    ours = asyncio.run(run_ours(channels, per_channel, args.interval))
    base = asyncio.run(run_baseline(channels, per_channel, args.interval))
    print(f"{'':28}{'ml-connector':>14}{'slack_sdk+retry':>18}")
    for key, label in [
        ("fraction", "rate / limit per channel"),
        ("429s", "429s received"),
        ("duplicates", "duplicates"),
        ("seconds", "wall time (s)"),
    ]:
        print(f"{label:28}{ours[key]:>14.3f}{base[key]:>18.3f}")
    print(f"ratio of rates (ours / baseline): {ours['fraction'] / base['fraction']:.2f}")
    target = ours["fraction"] >= 0.97 and ours["429s"] == 0 and ours["duplicates"] == 0
    verdict = "met" if target else "MISSED"
    print(f"target (≥ 0.97 of the limit, zero 429s, zero duplicates): {verdict}")


if __name__ == "__main__":
    main()
