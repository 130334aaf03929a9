"""Intacct triggers: how long from a change in Intacct to its alert in Slack.

The driver hosts the Intacct and Slack simulators and runs `serve` (scheduler, trigger
worker, delivery, web server) in-process on SQLite. At a steady rate it changes records in the
simulated company — a payment declined (a ``set`` of APPYMT), an unbalanced journal entry
posted (``add`` of GLBATCH and of each GLENTRY line) — and measures, per change, the time until
its alert is in the Slack simulator's alerts channel. The same config runs twice:

- ``triggers``: the company sends the triggers ``ml-connector intacct triggers`` prints
  (webhook delivery: JWT, retries); the schedule (every minute) runs as well;
- ``scheduled``: the same, with no triggers defined: the baseline.

After the last change the driver waits until a scheduled run that started after it has
finished and delivery is idle, then counts, per change, the alerts in the channel: missed
(none) and duplicates (more than one). Goal: triggers p99 < 5 s, 0 missed, 0 duplicates.

    python bench/intacct_trigger_latency.py            # 120 s per mode
    python bench/intacct_trigger_latency.py --quick    # 40 s per mode
    python bench/intacct_trigger_latency.py --faults   # triggers duplicated and reordered
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import socket
import statistics
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import sqlalchemy as sa

from ml_connector import logging as mlc_logging
from ml_connector.config import load_config
from ml_connector.delivery import DeliverySettings
from ml_connector.intacct.trigger_definitions import DEFINITIONS
from ml_connector.runtime.service import serve
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.triggers import TriggerDefinition
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import outbox, runs
from ml_connector.vault import Vault, create_key_file, load_keyring

ZONE = "America/Los_Angeles"
RECORD = re.compile(r"record (\d+)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def company_now() -> datetime:
    return datetime.now(ZoneInfo(ZONE)).replace(tzinfo=None, microsecond=0)


def write_config(
    directory: Path, port: int, intacct: IntacctSimulator, slack: SlackSimulator
) -> Path:
    c, t = intacct.credentials, intacct.triggers
    path = directory / "ml-connector.toml"
    path.write_text(
        f"""
data_dir = "data"
timezone = "{ZONE}"
public_base_url = "http://127.0.0.1:{port}"
log_level = "warning"
[server]
port = {port}
[slack.workspaces.default]
api_base_url = "{slack.base_url}"
bot_token = "slack.bot_token"
[connections.books]
type = "intacct"
gateway_url = "{intacct.url}"
sender_id = "{c.sender_id}"
sender_password = "intacct.sender"
company_id = "{c.company_id}"
user_id = "{c.user_id}"
user_password = "intacct.user"
[connections.books.triggers]
client_id = "{t.client_id}"
jwt_issuer = "{t.issuer}"
jwks_url = "{intacct.jwks_url}"
[pipelines.intacct]
type = "intacct"
connection = "books"
channels = {{ gl = "{slack.channel_id("gl")}", payments = "{slack.channel_id("payments")}", \
alerts = "{slack.channel_id("alerts")}" }}
[pipelines.intacct.schedule]
cron = "* * * * *"
""",
        encoding="utf-8",
    )
    return path


async def prepare(directory: Path, intacct: IntacctSimulator, slack: SlackSimulator) -> Any:
    (directory / "data").mkdir()
    create_key_file(directory / "data" / "master.key")
    keyring = load_keyring(directory / "data" / "master.key", environ={})
    engine = make_engine(f"sqlite:///{directory / 'data' / 'ml-connector.db'}")
    await migrate(engine)
    vault = Vault(engine, keyring)
    await vault.ensure_canary()
    await vault.set("slack.bot_token", slack.bot_token)
    await vault.set("intacct.sender", intacct.credentials.sender_password)
    await vault.set("intacct.user", intacct.credentials.user_password)
    await engine.dispose()
    return keyring


def alerts_by_record(slack: SlackSimulator) -> dict[str, list[float]]:
    """Record number an alert is about → the times (epoch) its alerts were posted."""
    found: dict[str, list[float]] = {}
    for message in slack.messages(slack.channel_id("alerts")):
        match = RECORD.search(json.dumps(message["blocks"]))
        if match:
            found.setdefault(match.group(1), []).append(float(message["ts"]))
    return found


async def run_mode(mode: str, duration: float, interval: float, faults: bool) -> dict[str, Any]:
    as_of = company_now() - timedelta(days=3)
    intacct = IntacctSimulator(
        seed=5, gl_entries=400, vendors=40, payments=200, bills=10, as_of=as_of, timezone=ZONE
    )
    slack = SlackSimulator(channels=["gl", "payments", "alerts"])
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        async with intacct, slack:
            port = free_port()
            path = write_config(directory, port, intacct, slack)
            keyring = await prepare(directory, intacct, slack)
            config = load_config(path)
            if mode == "triggers":
                for item in DEFINITIONS:
                    intacct.triggers.define(
                        TriggerDefinition(
                            item.object,
                            f"http://127.0.0.1:{port}/intacct/events/books",
                            item.body,
                            events=tuple(e.lower() for e in item.events),
                        )
                    )
                if faults:
                    intacct.triggers.faults.duplicate = 0.2
                    intacct.triggers.faults.reorder = 0.2
            stop = asyncio.Event()
            service = asyncio.create_task(
                serve(
                    config,
                    stop=stop,
                    keyring=keyring,
                    delivery=DeliverySettings.from_config(config.delivery),
                    install_signals=False,
                    scheduler_max_sleep=1.0,
                )
            )
            await asyncio.sleep(2.0)
            changed: dict[str, float] = {}
            candidates = [
                p["RECORDNO"] for p in intacct.data.records("APPYMT") if p["STATE"] == "Complete"
            ]
            started = time.monotonic()
            n = 0
            while time.monotonic() - started < duration:
                if n % 2 == 0:
                    recordno = candidates.pop()
                    intacct.data.update(
                        "APPYMT", recordno, STATE="Declined", WHENMODIFIED=company_now()
                    )
                    changed[str(recordno)] = time.time()
                else:
                    day = intacct.data.add_day(
                        company_now(), batches=0, payments=0, unbalanced_batches=1
                    )
                    changed[str(day.unbalanced_batches[0])] = time.time()
                n += 1
                await asyncio.sleep(interval)
            last_change = time.time()
            await until_scheduled_after(directory, last_change, timeout=150)
            await asyncio.sleep(3.0)  # the scheduled run's messages, at 1/s per channel
            stop.set()
            await service
            posted = alerts_by_record(slack)
    latencies = [posted[k][0] - t for k, t in changed.items() if k in posted]
    return {
        "mode": mode,
        "changes": len(changed),
        "latencies": sorted(latencies),
        "missed": sum(1 for k in changed if k not in posted),
        "duplicates": sum(len(posted[k]) - 1 for k in changed if k in posted),
        "unexpected": sum(1 for k in posted if k not in changed),
        "attempts": Counter(a.status for a in intacct.triggers.attempts),
    }


async def until_scheduled_after(directory: Path, moment: float, *, timeout: float) -> None:
    """Wait until a scheduled run that started after ``moment`` has finished, and the outbox
    has nothing left to post."""
    engine = make_engine(f"sqlite:///{directory / 'data' / 'ml-connector.db'}")
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                done = await conn.scalar(
                    sa.select(sa.func.count()).where(
                        runs.c.started_at > moment, runs.c.finished_at.is_not(None)
                    )
                )
                waiting = await conn.scalar(
                    sa.select(sa.func.count()).where(
                        outbox.c.status.in_(["pending", "in_flight", "unknown"])
                    )
                )
            if done and not waiting:
                return
            await asyncio.sleep(0.5)
        raise TimeoutError("no scheduled run finished after the last change")
    finally:
        await engine.dispose()


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def show(result: dict[str, Any]) -> None:
    lat = result["latencies"]
    print(
        f"{result['mode']:>10}: {result['changes']} changes  "
        f"p50 {percentile(lat, 50):6.2f} s  p95 {percentile(lat, 95):6.2f} s  "
        f"p99 {percentile(lat, 99):6.2f} s  max {max(lat, default=float('nan')):6.2f} s  "
        f"missed {result['missed']}  duplicates {result['duplicates']}  "
        f"unexpected {result['unexpected']}"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--duration", type=float, default=120.0, help="seconds of changes")
    parser.add_argument("--interval", type=float, default=2.0, help="seconds between changes")
    parser.add_argument("--quick", action="store_true", help="40 s of changes per mode")
    parser.add_argument("--faults", action="store_true", help="duplicate and reorder triggers")
    args = parser.parse_args()
    mlc_logging.configure("console", "warning")
    duration = 40.0 if args.quick else args.duration
    triggered = await run_mode("triggers", duration, args.interval, args.faults)
    baseline = await run_mode("scheduled", duration, args.interval, False)
    print(f"change → Slack alert, a change every {args.interval:g} s for {duration:g} s")
    show(triggered)
    show(baseline)
    attempts = dict(triggered["attempts"])
    print(f"trigger deliveries by answer: {attempts}")
    p50 = percentile(triggered["latencies"], 50) / percentile(baseline["latencies"], 50)
    p99 = percentile(triggered["latencies"], 99) / percentile(baseline["latencies"], 99)
    print(f"ratio triggers/scheduled: p50 {p50:.3f}, p99 {p99:.3f}")
    goal = (
        percentile(triggered["latencies"], 99) < 5.0
        and triggered["missed"] == 0
        and triggered["duplicates"] == 0
    )
    print("goal (p99 < 5 s, 0 missed, 0 duplicates):", "met" if goal else "NOT met")


if __name__ == "__main__":
    asyncio.run(main())
