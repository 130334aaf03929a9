from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from ml_connector.delivery import enqueue
from ml_connector.delivery.outbox import OutboxMessage
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store.tables import outbox

SCRIPT = Path(__file__).with_name("worker_process.py")
INTERVAL = 0.05


async def start_worker(database: Any, slack: SlackSimulator) -> asyncio.subprocess.Process:
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SCRIPT),
        database.url,
        database.schema or "-",
        slack.base_url,
        slack.bot_token,
        str(INTERVAL),
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    assert (await asyncio.wait_for(proc.stdout.readline(), 30)).strip() == b"ready"
    return proc


async def test_worker_killed_mid_delivery_loses_nothing_and_posts_nothing_twice(
    database: Any,
) -> None:
    async with SlackSimulator(
        channels=["gl", "payments"], post_interval=INTERVAL, history_interval=0.2
    ) as slack:
        slack.faults.add(kind="slow", method="chat.postMessage", probability=0.1, delay=0.3)
        channels = [slack.channel_id("gl"), slack.channel_id("payments")]
        engine = database.engine()
        async with engine.begin() as conn:
            for n in range(60):
                for channel in channels:
                    await enqueue(
                        conn,
                        workspace="default",
                        channel=channel,
                        message=OutboxMessage(text=f"{channel} #{n}", blocks=[]),
                        dedupe_key=f"{channel}:{n}",
                        source={},
                    )
        kills = 0
        for _ in range(6):
            proc = await start_worker(database, slack)
            await asyncio.sleep(0.4)
            proc.send_signal(signal.SIGKILL)
            await proc.wait()
            kills += 1
        proc = await start_worker(database, slack)
        for _ in range(400):
            async with engine.connect() as conn:
                open_count = await conn.scalar(
                    sa.select(sa.func.count()).where(outbox.c.status != "delivered")
                )
            if open_count == 0:
                break
            await asyncio.sleep(0.1)
        proc.send_signal(signal.SIGTERM)
        await proc.wait()
        assert kills == 6
        for channel in channels:
            assert [m["text"] for m in slack.messages(channel)] == [
                f"{channel} #{n}" for n in range(60)
            ]
