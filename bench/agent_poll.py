"""What one poll of the agent costs as GL_DetailPosting grows: 10k, 100k, 1M rows.

Two polls per size, as the connector makes them (``changed_since`` = the last poll):
an empty one (nothing new), and one after 100 new posting lines. Back ends:

- ``demo``: the SQLite demo back end (a stamp-indexed range read). "touched" counts SQLite
  virtual-machine steps / 1000 (progress handler), the work SQLite did, since it reports no
  row count for an index range.
- ``odbc``: the real ODBC back end (``backends/odbc.py``, ProvideX dialect: the very SQL it
  sends to Sage 100, ``{d 'YYYY-MM-DD'}`` escapes and all) through pyodbc and unixODBC to the
  SQLite ODBC driver, over a GL_DetailPosting with an index on DateCreated. Only the
  connection string is adapted (SQLite wants ``Database=FILE``, not ProvideX's
  ``Directory``/``Company``). "touched" = rows the driver returned to the back end (the
  scan's, plus one GL_Account row for the page's name lookup). Needs,
  on Debian, ``apt-get install unixodbc libsqliteodbc`` and ``pip install pyodbc`` (the
  ``[odbc]`` extra); without them the row runs the same SQL through a DB-API seam over
  sqlite3 (the escapes rewritten as the driver would) and says so. Whether the ProvideX
  driver itself uses an index for ``DateCreated >=`` is not measured here (no Sage 100).
- ``boi walk``: the BOI back end over the counting fake COM object (tests/sage100/fake_boi.py)
  with no date index configured: every poll walks the whole object. "touched" = records the
  browse landed on.
- ``boi index``: the same with ``[backend.boi.date_indexes]`` naming an index led by
  DateCreated: the browse visits only the days since the last poll.

The baseline of each row is that back end's 10k-row figure, measured in the same run;
the goal is an empty poll ≤ 2× from 10k to 1M rows for odbc and demo (and the indexed BOI);
the walking BOI is printed beside them as it is.

    python bench/agent_poll.py            # 10k, 100k, 1M
    python bench/agent_poll.py --quick    # 10k, 100k
    python bench/agent_poll.py --odbc-seam  # the odbc row without pyodbc
"""

from __future__ import annotations

import argparse
import asyncio
import re
import sqlite3
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
from ml_connector_agent.backends.odbc import Dialect, OdbcBackend, scan_sql
from ml_connector_agent.config import BoiSection, OdbcSection
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


class Counting:
    """A DB-API connection (pyodbc's, or the sqlite3 seam's) counting the rows it returns."""

    def __init__(self, conn: Any, fetched: list[int], rewrite: bool) -> None:
        self.conn, self.fetched, self.rewrite = conn, fetched, rewrite

    def cursor(self) -> Any:
        return CountingCursor(self.conn.cursor(), self.fetched, self.rewrite)

    def close(self) -> None:
        self.conn.close()


_ESCAPE = re.compile(r"\{d '(\d{4}-\d{2}-\d{2})'\}")


class CountingCursor:
    def __init__(self, cursor: Any, fetched: list[int], rewrite: bool) -> None:
        self.cursor, self.fetched, self.rewrite = cursor, fetched, rewrite

    @property
    def description(self) -> Any:
        return self.cursor.description

    def execute(self, sql: str, *params: Any) -> Any:
        if self.rewrite:  # the seam: sqlite3 has no ODBC escape processing
            sql = _ESCAPE.sub(r"'\1'", sql)
        return self.cursor.execute(sql, *params) if params else self.cursor.execute(sql)

    def fetchmany(self, size: int) -> Any:
        batch = self.cursor.fetchmany(size)
        self.fetched[0] += len(batch)
        return batch

    def close(self) -> None:
        self.cursor.close()


class SqliteOdbc:
    """pyodbc + unixODBC + the SQLite ODBC driver where the ProvideX driver would be; the
    seam (sqlite3) when those are not installed. ``route`` says which ran."""

    def __init__(self, directory: Path, *, seam: bool = False) -> None:
        self.directory = directory
        self.fetched = [0]
        self.pyodbc: Any = None
        try:
            if seam:
                raise ImportError("--odbc-seam")
            import pyodbc

            if "SQLite3" in pyodbc.drivers():
                self.pyodbc = pyodbc
        except ImportError:
            pass
        self.Error: type[Exception] = self.pyodbc.Error if self.pyodbc else sqlite3.Error
        self.route = (
            f"pyodbc {self.pyodbc.version} + unixODBC SQLite3 driver (real ODBC)"
            if self.pyodbc
            else "DB-API seam over sqlite3 (asked for, or pyodbc / the SQLite ODBC driver missing)"
        )

    def connect(self, connection_string: str, **kwargs: Any) -> Counting:
        fields = dict(p.split("=", 1) for p in connection_string.strip(";").split(";"))
        database = self.directory / f"MAS_{fields['Company']}.db"
        if self.pyodbc:
            conn = self.pyodbc.connect(f"Driver={{SQLite3}};Database={database};", **kwargs)
            return Counting(conn, self.fetched, rewrite=False)
        return Counting(sqlite3.connect(database), self.fetched, rewrite=True)


def odbc_table(path: Path, rows: int) -> None:
    """GL_DetailPosting (the columns the back end reads, DATE-typed audit dates, an index on
    DateCreated) and GL_Account, from the same rows as the BOI figures."""
    conn = sqlite3.connect(path)
    conn.executescript(
        """
        CREATE TABLE GL_DetailPosting (
            AccountKey TEXT, PostingDate DATE, SourceJournal TEXT, JournalRegisterNo TEXT,
            SequenceNo TEXT, DebitAmount NUMERIC, CreditAmount NUMERIC, PostingComment TEXT,
            SourceModule TEXT, BatchNo TEXT, DateCreated DATE, TimeCreated TEXT);
        CREATE INDEX GL_DetailPosting_DateCreated ON GL_DetailPosting (DateCreated);
        CREATE TABLE GL_Account (AccountKey TEXT PRIMARY KEY, Account TEXT, AccountDesc TEXT);
        INSERT INTO GL_Account VALUES ('000000001', '1000-00', 'Cash');
        """
    )
    conn.executemany(
        "INSERT INTO GL_DetailPosting VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
        (_odbc_row(r) for r in boi_rows(rows)),
    )
    conn.commit()
    conn.close()


def _iso(day: str) -> str:
    return f"{day[:4]}-{day[4:6]}-{day[6:]}"


def _odbc_row(r: dict[str, Any]) -> tuple[Any, ...]:
    return (
        r["AccountKey"],
        _iso(r["PostingDate"]),
        r["SourceJournal"],
        r["JournalRegisterNo"],
        r["SequenceNo"],
        r["DebitAmount"],
        r["CreditAmount"],
        r["PostingComment"],
        r["SourceModule"],
        r["BatchNo"],
        _iso(r["DateCreated"]),
        r["TimeCreated"],
    )


def odbc_plan(driver: SqliteOdbc, since: str) -> str:
    """What SQLite does with the back end's own scan SQL (through the same driver)."""
    sql, params = scan_sql(
        Dialect("providex"), "GL_DetailPosting", "*", since[:10].replace("-", ""), False
    )
    conn = driver.connect("Company=ABC;")
    cursor = conn.cursor()
    cursor.execute("EXPLAIN QUERY PLAN " + sql, *params)
    plan = " / ".join(str(row[-1]) for row in cursor.fetchmany(10))
    cursor.close()
    conn.close()
    return f"{sql}  ->  {plan}"


async def odbc_figures(directory: Path, rows: int) -> list[tuple[str, int, float, int]]:
    data = directory / f"odbc-{rows}"
    data.mkdir()
    odbc_table(data / "MAS_ABC.db", rows)
    driver = SqliteOdbc(data, seam=ODBC_SEAM[0])
    backend = OdbcBackend(
        OdbcSection(edition="providex", directory=str(data)), ["ABC"], driver=driver
    )
    since = TODAY.strftime("%Y-%m-%dT") + "12:00:00"
    results = []
    try:
        driver.fetched[0] = 0
        found, secs = await poll(backend, since)
        results.append(("empty", found, secs, driver.fetched[0] // REPEAT))
        last = boi_rows(1)[0]
        new = [
            dict(
                last,
                JournalRegisterNo="900000",
                SequenceNo=f"{n:014d}",
                DateCreated=TODAY.strftime("%Y%m%d"),
                TimeCreated="13.00000",
            )
            for n in range(NEW)
        ]
        conn = sqlite3.connect(data / "MAS_ABC.db")
        conn.executemany(
            "INSERT INTO GL_DetailPosting VALUES (?,?,?,?,?,?,?,?,?,?,?,?)",
            [_odbc_row(r) for r in new],
        )
        conn.commit()
        conn.close()
        driver.fetched[0] = 0
        found, secs = await poll(backend, since)
        results.append((f"+{found} new", found, secs, driver.fetched[0] // REPEAT))
    finally:
        await backend.close()
    if not ODBC_NOTES:
        ODBC_NOTES.append(f"odbc route: {driver.route}")
        ODBC_NOTES.append(f"odbc scan:  {odbc_plan(driver, since)}")
    return results


ODBC_NOTES: list[str] = []
ODBC_SEAM = [False]
GOAL = 2.0


async def main(sizes: list[int]) -> None:
    empty_ratio: dict[str, float] = {}
    print(f"one poll of GL postings (best of {REPEAT}); ratio = time / same back end at 10k")
    print(f"{'back end':<10} {'rows':>9} {'poll':<10} {'found':>6} {'ms':>9} {'ratio':>6} touched")
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("odbc", "demo", "boi walk", "boi index"):
            base: dict[str, float] = {}
            for rows in sizes:
                if name == "odbc":
                    figures = await odbc_figures(Path(tmp), rows)
                elif name == "demo":
                    figures = await demo_figures(Path(tmp), rows)
                else:
                    figures = await boi_figures(rows, indexed=name == "boi index")
                for kind, found, secs, touched in figures:
                    label = kind.split()[0] if kind == "empty" else "+new"
                    base.setdefault(label, secs)
                    if label == "empty":
                        empty_ratio[name] = secs / base[label]
                    unit = {"demo": "k VM steps", "odbc": "rows fetched"}.get(name, "records")
                    print(
                        f"{name:<10} {rows:>9,} {kind:<10} {found:>6} {secs * 1000:>9.2f} "
                        f"{secs / base[label]:>5.2f}x {touched:,} {unit}"
                    )
    for note in ODBC_NOTES:
        print(note)
    print(f"goal: an empty poll at {sizes[-1]:,} rows costs <= {GOAL:g}x the one at {sizes[0]:,}")
    for name, ratio in empty_ratio.items():
        held = "yes" if ratio <= GOAL else "NO"
        aim = "goal" if name in ("odbc", "demo") else "printed beside"
        print(f"  {name:<10} {ratio:6.2f}x  {held}  ({aim})")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="10k and 100k rows only")
    parser.add_argument(
        "--odbc-seam", action="store_true", help="odbc row through sqlite3, not pyodbc"
    )
    args = parser.parse_args()
    ODBC_SEAM[0] = args.odbc_seam
    asyncio.run(main([10_000, 100_000] if args.quick else [10_000, 100_000, 1_000_000]))
