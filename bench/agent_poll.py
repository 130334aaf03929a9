"""What one poll of the agent costs as GL_DetailPosting grows: 10k, 100k, 1M rows.

Two polls per size, as the connector makes them (``changed_since`` = the last poll):
an empty one (nothing new), and one after 100 new posting lines. Back ends:

- ``demo``: the SQLite demo back end (the ODBC-shaped SQL path: a stamp-indexed range
  read). "touched" counts SQLite virtual-machine steps / 1000 (progress handler), the work
  SQLite did, since it reports no row count for an index range.
- ``boi walk``: the BOI back end over the counting fake COM object (tests/sage100/fake_boi.py)
  with no date index configured: every poll walks the whole object. "touched" = records the
  browse landed on.
- ``boi index``: the same with ``[backend.boi.date_indexes]`` naming an index led by
  DateCreated: the browse visits only the days since the last poll.

The baseline of each row is that back end's 10k-row figure, measured in the same run;
the goal is an empty poll ≤ 2× from 10k to 1M rows for demo (and the indexed BOI).

    python bench/agent_poll.py            # 10k, 100k, 1M
    python bench/agent_poll.py --quick    # 10k, 100k
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "sage100"))

from fake_boi import FakeProvideX, World

from ml_connector_agent.backends.base import PageQuery
from ml_connector_agent.backends.boi import BoiBackend
from ml_connector_agent.backends.demo import DemoBackend
from ml_connector_agent.config import BoiSection
from ml_connector_agent.demo_data import DemoStore, SeedCounts, connect
from ml_connector_agent.resources import Resource

NEW = 100
REPEAT = 5
TODAY = date(2024, 5, 31)


async def poll(backend: Any, since: str, repeat: int = REPEAT) -> tuple[int, float]:
    """Read every page changed since ``since``; (records, best seconds of ``repeat``)."""
    best, count = float("inf"), 0
    for _ in range(repeat):
        started = time.perf_counter()
        count, after = 0, None
        while True:
            page = await backend.read_page(
                "ABC", PageQuery(Resource.GL_POSTINGS, since=since, after=after, limit=500)
            )
            count += len(page.records)
            if not page.has_more:
                break
            after = page.last
        best = min(best, time.perf_counter() - started)
    return count, best


async def demo_figures(directory: Path, rows: int) -> list[tuple[str, int, float, int]]:
    now = [datetime(2024, 5, 31, 12, 0, 0)]
    data = directory / f"demo-{rows}"
    data.mkdir()
    store = DemoStore(connect(data / "MAS_ABC.db"), clock=lambda: now[0])
    store.seed(SeedCounts(vendors=5, ap_invoices=0, purchase_orders=0, gl_registers=1))
    store.add_gl_postings_bulk(rows, per_register=1000)
    store.conn.close()
    backend = DemoBackend(data, ["ABC"], clock=lambda: now[0])
    steps = 0

    def count() -> int:
        nonlocal steps
        steps += 1
        return 0

    results = []
    try:
        conn = backend._store("ABC").conn
        conn.set_progress_handler(count, 1000)
        since = "2024-05-31T12:00:00"
        steps = 0
        found, secs = await poll(backend, since)
        results.append(("empty", found, secs, steps // REPEAT))
        added, i = 0, 0
        while added < NEW:
            now[0] = datetime(2024, 5, 31, 12, 1, i)
            _, _, keys = await backend.add_gl_register(company="ABC", line_count=5)
            added, i = added + len(keys), i + 1
        steps = 0
        found, secs = await poll(backend, since)
        results.append((f"+{found} new", found, secs, steps // REPEAT))
    finally:
        await backend.close()
    return results


def boi_rows(rows: int) -> list[dict[str, Any]]:
    """``rows`` posting lines over the 400 days before TODAY, oldest first."""
    out = []
    for i in range(rows):
        day = TODAY - timedelta(days=400 - (i * 400) // rows)
        out.append(
            {
                "AccountKey": "000000001",
                "PostingDate": day.strftime("%Y%m%d"),
                "SourceJournal": "GJ",
                "JournalRegisterNo": f"{i // 1000:06d}",
                "SequenceNo": f"{i % 1000:014d}",
                "DebitAmount": 1,
                "CreditAmount": 0,
                "PostingComment": "",
                "SourceModule": "G/L",
                "BatchNo": "",
                "DateCreated": day.strftime("%Y%m%d"),
                "TimeCreated": "9.00000",
            }
        )
    return out


async def boi_figures(rows: int, indexed: bool) -> list[tuple[str, int, float, int]]:
    table = boi_rows(rows)
    world = World(
        tables={"GL_DetailPosting_svc": table, "GL_Account_svc": []},
        indexes={"KDATECREATED": "DateCreated"},
    )
    settings = BoiSection(
        user="conn",
        password_env="PW",
        date_indexes={"GL_DetailPosting_svc": ["KDATECREATED"]} if indexed else {},
    )
    backend = BoiBackend(
        settings,
        ["ABC"],
        factory=lambda: FakeProvideX(world),
        environ={"PW": "secret"}.get,
        today=lambda: TODAY,
    )
    since = TODAY.strftime("%Y-%m-%dT") + "12:00:00"
    repeat = REPEAT if indexed else 1  # a whole walk of 1M rows takes tens of seconds
    results = []
    try:
        world.rows_touched = 0
        found, secs = await poll(backend, since, repeat)
        results.append(("empty", found, secs, world.rows_touched // repeat))
        for n in range(NEW):
            row = dict(table[-1], SequenceNo=f"{900000 + n:014d}", TimeCreated="13.00000")
            row["DateCreated"] = TODAY.strftime("%Y%m%d")
            table.append(row)
        world.index_of(table, "DateCreated")  # the index is maintained on write, not on read
        world.rows_touched = 0
        found, secs = await poll(backend, since, repeat)
        results.append((f"+{found} new", found, secs, world.rows_touched // repeat))
    finally:
        await backend.close()
    return results


async def main(sizes: list[int]) -> None:
    print(f"one poll of GL postings (best of {REPEAT}); ratio = time / same back end at 10k")
    print(f"{'back end':<10} {'rows':>9} {'poll':<10} {'found':>6} {'ms':>9} {'ratio':>6} touched")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("demo", "boi walk", "boi index"):
            base: dict[str, float] = {}
            for rows in sizes:
                if name == "demo":
                    figures = await demo_figures(Path(tmp), rows)
                else:
                    figures = await boi_figures(rows, indexed=name == "boi index")
                for kind, found, secs, touched in figures:
                    label = kind.split()[0] if kind == "empty" else "+new"
                    base.setdefault(label, secs)
                    unit = "k VM steps" if name == "demo" else "records"
                    print(
                        f"{name:<10} {rows:>9,} {kind:<10} {found:>6} {secs * 1000:>9.2f} "
                        f"{secs / base[label]:>5.2f}x {touched:,} {unit}"
                    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only")
    args = parser.parse_args()
    asyncio.run(main([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]))
