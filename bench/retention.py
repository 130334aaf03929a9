"""Retention on SQLite: prune throughput and how long each batch holds the write lock.

A database is filled with delivered messages older than the retention window (each with its
rendered message and two attempts, as the worker writes them), mixed with open messages and
dead letters that must stay. For each batch size it prunes a copy of that database while a
writer stands in for the delivery worker, inserting one attempt row per transaction, and
prints: rows pruned per second (messages and their attempts), the longest and median lock
hold of a batch (BEGIN IMMEDIATE to COMMIT), and the writer's worst wait for the lock. The
baseline is the same writer's worst wait with no pruning, measured first in the same run.

    python bench/retention.py            # 50,000 old messages
    python bench/retention.py --quick    # 5,000
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import statistics
import tempfile
import time
from pathlib import Path

from ml_connector.delivery.audit import record_attempt
from ml_connector.store import make_engine, migrate
from ml_connector.store.retention import DAY, RULES, prune_batch
from ml_connector.store.tables import delivery_attempts, outbox

NOW = 2_000_000_000.0
DAYS = 90
BATCH_SIZES = (50, 100, 250, 500, 1000, 2500, 5000)
BLOCKS = [
    {"type": "section", "text": {"type": "mrkdwn", "text": "*Invoice* " + "x" * 300}}
    for _ in range(4)
]


async def fill(path: Path, old: int) -> None:
    engine = make_engine(f"sqlite:///{path}")
    await migrate(engine)
    rows = []
    for n in range(old + old // 10):
        kept = n % 11 == 0  # about one in eleven stays: pending, held or dead
        status = ("pending", "held", "dead")[n % 3] if kept else "delivered"
        at = NOW - (DAYS + 10) * DAY + n
        rows.append(
            {
                "dedupe_key": f"k{n}",
                "workspace": "main",
                "channel": f"C{n % 20:08d}",
                "pipeline": "sage100.ap_invoices",
                "status": status,
                "source": {"records": [f"INV-{n}"]},
                "message": {"text": f"Invoice {n}", "blocks": BLOCKS},
                "attempts": 2,
                "created_at": at,
                "not_before": at,
                "delivered_at": at if status == "delivered" else None,
                "slack_ts": f"{at:.6f}" if status == "delivered" else None,
            }
        )
    async with engine.begin() as conn:
        for start in range(0, len(rows), 5000):
            await conn.execute(outbox.insert(), rows[start : start + 5000])
        attempts = [
            {"outbox_id": i, "attempted_at": NOW - DAYS * DAY, "outcome": "ok", "worker": "w"}
            for i in range(1, len(rows) + 1)
            for _ in range(2)
        ]
        for start in range(0, len(attempts), 5000):
            await conn.execute(delivery_attempts.insert(), attempts[start : start + 5000])
    await engine.dispose()


async def writer(path: Path, stop: asyncio.Event, waits: list[float]) -> None:
    """One attempt row per transaction, as fast as it can: the delivery worker's writes."""
    engine = make_engine(f"sqlite:///{path}")
    try:
        while not stop.is_set():
            asked = time.perf_counter()
            async with engine.begin() as conn:
                waits.append(time.perf_counter() - asked)
                await record_attempt(conn, 1, at=NOW, outcome="ok", worker="bench")
            await asyncio.sleep(0.002)
    finally:
        await engine.dispose()


async def writer_alone(path: Path, seconds: float) -> list[float]:
    waits: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(writer(path, stop, waits))
    await asyncio.sleep(seconds)
    stop.set()
    await task
    return waits


async def prune_with_writer(path: Path, batch: int, pause: float) -> dict[str, float]:
    engine = make_engine(f"sqlite:///{path}")
    waits: list[float] = []
    stop = asyncio.Event()
    task = asyncio.create_task(writer(path, stop, waits))
    holds: list[float] = []
    rows = 0
    started = time.perf_counter()
    rule = RULES[0]  # the outbox: where nearly all rows are
    try:
        while True:
            pruned, held = await prune_batch(engine, rule, days=DAYS, now=NOW, limit=batch)
            holds.append(held)
            rows += pruned.total
            if pruned.rows.get(rule.name, 0) < batch:
                break
            await asyncio.sleep(pause)
        elapsed = time.perf_counter() - started
    finally:
        stop.set()
        await task
        await engine.dispose()
    return {
        "rows_per_s": rows / elapsed,
        "hold_max_ms": max(holds) * 1000,
        "hold_p50_ms": statistics.median(holds) * 1000,
        "writer_wait_max_ms": max(waits) * 1000,
        "batches": len(holds),
        "rows": rows,
    }


async def main(old: int, pause: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        template = Path(tmp) / "template.db"
        await fill(template, old)
        size = template.stat().st_size / 2**20
        print(f"{old:,} old delivered messages (+ open ones), {size:.1f} MiB; pause {pause}s")
        copy = Path(tmp) / "run.db"
        shutil.copy(template, copy)
        alone = await writer_alone(copy, 2.0)
        base = max(alone) * 1000
        print(f"baseline: writer alone, worst wait for the lock {base:.2f} ms")
        print(
            f"{'batch':>6} {'rows/s':>9} {'hold max':>10} {'hold p50':>10} "
            f"{'writer worst':>13} {'vs baseline':>12}"
        )
        for batch in BATCH_SIZES:
            for suffix in ("", "-wal", "-shm"):
                Path(str(copy) + suffix).unlink(missing_ok=True)
            shutil.copy(template, copy)
            r = await prune_with_writer(copy, batch, pause)
            print(
                f"{batch:>6} {r['rows_per_s']:>9,.0f} {r['hold_max_ms']:>8.1f}ms "
                f"{r['hold_p50_ms']:>8.1f}ms {r['writer_wait_max_ms']:>11.1f}ms "
                f"{r['writer_wait_max_ms'] / base:>11.1f}x"
            )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--pause", type=float, default=0.05)
    args = parser.parse_args()
    asyncio.run(main(5_000 if args.quick else 50_000, args.pause))
