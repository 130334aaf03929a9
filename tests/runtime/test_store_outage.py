"""A database outage is told from a bug, and `serve` rides it out with one warning per part.

The classification is checked on real driver errors where the test can cause them (a locked
SQLite file, a PostgreSQL backend terminated, a refused port, bad SQL, a broken constraint)
and on constructed ones where it cannot (a full disk on a PostgreSQL server). Then `serve`
runs as a real process through an outage of several seconds: on SQLite the disk it writes to
fills (a tiny tmpfs; skipped where it cannot be mounted), on PostgreSQL its connections are
terminated (``pg_terminate_backend``, only this test's, by application name) and a proxy in
front of the shared server refuses it for a while. The service must not exit, every message
must reach Slack exactly once and in order, and each part must log the outage once when it
starts and once when it ends, not a traceback per retry.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import os
import signal
import socket
import sqlite3
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from structlog.testing import capture_logs

from ml_connector.errors import StoreError
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine
from ml_connector.store.outage import OutageWatch, is_outage, outage_reason

from .test_disk_full import fill, tiny_disk
from .test_serve import prepare, start_serve, until_logged

POSTGRES_URL = os.environ.get("MLC_TEST_POSTGRES_URL")
MESSAGES = 16
OUTAGE_SECONDS = 4.0
WARNING = "database unavailable; retrying until it is back"
RECOVERED = "database available again"


# -- classification ------------------------------------------------------------------------------


def wrapped(orig: Exception) -> sa.exc.DBAPIError:
    """What SQLAlchemy raises for a driver error."""
    return sa.exc.DBAPIError.instance("SELECT 1", {}, orig, Exception)


def sqlite_error(text: str, code: int | None) -> sqlite3.OperationalError:
    exc = sqlite3.OperationalError(text)
    if code is not None:
        exc.sqlite_errorcode = code  # type: ignore[attr-defined]
    return exc


def test_sqlite_locked_is_an_outage_and_bad_sql_or_a_constraint_is_not(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'x.db'}"
    holder = sa.create_engine(url)
    impatient = sa.create_engine(url, connect_args={"timeout": 0})
    with holder.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE t (k INTEGER PRIMARY KEY)")
        conn.exec_driver_sql("INSERT INTO t VALUES (1)")
        conn.commit()
    with holder.connect() as locked:
        locked.exec_driver_sql("BEGIN EXCLUSIVE")
        with pytest.raises(sa.exc.OperationalError) as busy, impatient.connect() as conn:
            conn.exec_driver_sql("INSERT INTO t VALUES (2)")
        locked.rollback()
    assert outage_reason(busy.value) == "the database is busy (locked by another process)"
    with impatient.connect() as conn:
        with pytest.raises(sa.exc.OperationalError) as missing:
            conn.exec_driver_sql("SELECT * FROM no_such_table")
        with pytest.raises(sa.exc.IntegrityError) as duplicate:
            conn.exec_driver_sql("INSERT INTO t VALUES (1)")
    assert outage_reason(missing.value) is None  # also an OperationalError, but a bug
    assert outage_reason(duplicate.value) is None
    holder.dispose()
    impatient.dispose()


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (sqlite_error("database or disk is full", sqlite3.SQLITE_FULL), "disk full"),
        (sqlite_error("disk I/O error", 778), "disk I/O error"),  # SQLITE_IOERR_WRITE
        (sqlite_error("database or disk is full", None), "disk full"),  # by its words
        (sqlite_error("no such table: x", sqlite3.SQLITE_ERROR), None),
        (psycopg.errors.DiskFull("could not extend file"), "disk full"),
        (psycopg.errors.AdminShutdown("terminating connection"), "the server is shutting down"),
        (psycopg.errors.CannotConnectNow("the database system is starting up"), "starting up"),
        (psycopg.errors.ReadOnlySqlTransaction("read-only transaction"), "read-only"),
        (psycopg.errors.ConnectionFailure("connection failure"), "connection lost or refused"),
        (psycopg.OperationalError("server closed the connection unexpectedly"), "connection"),
        (psycopg.errors.UniqueViolation("duplicate key"), None),
        (psycopg.errors.UndefinedColumn("column x does not exist"), None),
    ],
)
def test_driver_errors_wrapped_by_sqlalchemy(error: Exception, reason: str | None) -> None:
    found = outage_reason(wrapped(error))
    if reason is None:
        assert found is None
    else:
        assert found is not None and reason in found, found


def test_os_errors_and_wrapping() -> None:
    assert outage_reason(OSError(errno.ENOSPC, "No space left on device")) == "disk full"
    assert outage_reason(ConnectionRefusedError(errno.ECONNREFUSED, "refused")) is not None
    assert outage_reason(OSError(errno.ENOENT, "No such file")) is None
    assert outage_reason(TimeoutError()) is None  # asyncio's: says nothing about a database
    assert outage_reason(ValueError("bad")) is None
    # Our StoreError wrapping the driver's error, as `raise … from` leaves it.
    try:
        try:
            raise wrapped(psycopg.errors.AdminShutdown("terminating connection"))
        except sa.exc.DBAPIError as exc:
            raise StoreError("database unusable") from exc
    except StoreError as store:
        assert is_outage(store)
    # A bug raised while handling an outage is still a bug.
    try:
        try:
            raise wrapped(psycopg.errors.AdminShutdown("terminating connection"))
        except sa.exc.DBAPIError:
            raise KeyError("x") from None
    except KeyError as bug:
        assert not is_outage(bug)


@pytest.mark.postgres
@pytest.mark.skipif(POSTGRES_URL is None, reason="needs MLC_TEST_POSTGRES_URL")
async def test_postgres_terminated_and_refused_connections_are_outages() -> None:
    assert POSTGRES_URL is not None
    name = f"mlc-classify-{uuid.uuid4().hex[:8]}"
    engine = make_engine(f"{POSTGRES_URL}?application_name={name}")
    admin = make_engine(POSTGRES_URL)
    try:
        async with engine.connect() as conn:
            await conn.execute(sa.text("SELECT 1"))
            async with admin.connect() as other:
                await other.execute(
                    sa.text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE application_name = :name"
                    ),
                    {"name": name},
                )
            with pytest.raises(sa.exc.DBAPIError) as terminated:
                await conn.execute(sa.text("SELECT 1"))
            assert is_outage(terminated.value), terminated.value
        async with engine.connect() as conn:
            with pytest.raises(sa.exc.ProgrammingError) as bad_sql:
                await conn.execute(sa.text("SELEC 1"))
        assert outage_reason(bad_sql.value) is None
    finally:
        await engine.dispose()
        await admin.dispose()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed_port = s.getsockname()[1]
    nowhere = make_engine(f"postgresql://postgres@127.0.0.1:{closed_port}/test")
    with pytest.raises(sa.exc.OperationalError) as refused:
        async with nowhere.connect():
            pass
    await nowhere.dispose()
    assert outage_reason(refused.value) == "connection lost or refused"


async def test_the_watch_says_an_outage_once_and_passes_bugs_through() -> None:
    watch = OutageWatch("part", base=0.01, cap=0.02)
    full = wrapped(sqlite_error("database or disk is full", sqlite3.SQLITE_FULL))
    with capture_logs() as logs:
        for _ in range(5):
            async with watch.guard():
                raise full
        assert watch.out and watch.failures == 5
        async with watch.guard():
            pass
        async with watch.guard():
            pass
        async with watch.guard():
            raise full
        with pytest.raises(KeyError):
            async with watch.guard():
                raise KeyError("a bug")
        with pytest.raises(asyncio.CancelledError):
            async with watch.guard():
                raise asyncio.CancelledError
    said = [(e["log_level"], e["event"]) for e in logs if e["log_level"] != "debug"]
    assert said == [("warning", WARNING), ("info", RECOVERED), ("warning", WARNING)]
    assert logs[0]["part"] == "part" and logs[0]["reason"] == "disk full"
    assert watch.outages == 2


# -- serve through an outage ---------------------------------------------------------------------


class Proxy:
    """TCP in front of the shared PostgreSQL: ``cut`` drops and refuses, ``heal`` lets in."""

    def __init__(self, port: int) -> None:
        self.target = port
        self.down = False
        self.port = 0
        self._links: set[asyncio.StreamWriter] = set()
        self._server: asyncio.Server | None = None

    async def __aenter__(self) -> Proxy:
        self._server = await asyncio.start_server(self._client, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *_: object) -> None:
        self.cut()
        assert self._server is not None
        self._server.close()

    def cut(self) -> None:
        self.down = True
        for writer in list(self._links):
            writer.transport.abort()
        self._links.clear()

    def heal(self) -> None:
        self.down = False

    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.down:
            writer.transport.abort()
            return
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target)
        except OSError:
            writer.transport.abort()
            return
        self._links |= {writer, up_writer}

        async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError, ConnectionError):
                while chunk := await src.read(65536):
                    dst.write(chunk)
                    await dst.drain()
            dst.transport.abort()

        await asyncio.gather(pump(reader, up_writer), pump(up_reader, writer))
        self._links -= {writer, up_writer}


def write_config(directory: Path, slack: SlackSimulator, database_url: str | None) -> None:
    line = f'database_url = "{database_url}"\n' if database_url else ""
    (directory / "ml-connector.toml").write_text(
        f"""
data_dir = "data"
{line}[server]
port = 0
instance_heartbeat = 0.5
[delivery]
post_interval = 0.2
lease_seconds = 30
history_interval = 0.5
backoff_base = 0.2
backoff_max = 1.0
[slack.workspaces.default]
api_base_url = "{slack.base_url}"
bot_token = "slack.bot_token"
"""
    )


@contextlib.asynccontextmanager
async def outage_place(kind: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    """Where serve's database lives, and how to take it away and give it back."""
    if kind == "sqlite":
        with tiny_disk(tmp_path / "tiny") as directory:
            filler: list[Path] = []
            yield {
                "directory": directory,
                "url": f"sqlite:///{directory / 'data' / 'ml-connector.db'}",
                "schema": None,
                "config_url": None,
                "cut": lambda: filler.append(fill(directory)),
                "heal": lambda: [f.unlink() for f in filler],
            }
        return
    assert POSTGRES_URL is not None
    schema = f"t_{uuid.uuid4().hex[:16]}"
    name = f"mlc-outage-{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    port = sa.engine.make_url(POSTGRES_URL).port or 5432
    try:
        async with Proxy(port) as proxy:
            base = f"postgresql://postgres@127.0.0.1:{proxy.port}/test"

            def cut() -> None:
                with admin.connect() as conn:  # what a server shutting down does to them
                    conn.execute(
                        sa.text(
                            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE application_name = :name"
                        ),
                        {"name": name},
                    )
                proxy.cut()

            yield {
                "directory": tmp_path,
                "url": POSTGRES_URL,
                "schema": schema,
                "config_url": f"{base}?options=-csearch_path%3D{schema}&application_name={name}",
                "cut": cut,
                "heal": proxy.heal,
            }
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


def events(log: bytes) -> list[dict[str, Any]]:
    found = []
    for line in log.decode(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            found.append(json.loads(line))
    return [e for e in found if isinstance(e, dict)]


async def test_serve_rides_out_an_outage(database_kind: str, tmp_path: Path) -> None:
    kind = database_kind
    async with (
        SlackSimulator(channels=["gl"], post_interval=0.2, history_interval=0.5) as slack,
        outage_place(kind, tmp_path) as place,
    ):
        directory = place["directory"]
        channel = slack.channel_id("gl")
        write_config(directory, slack, place["config_url"])
        await prepare(directory, slack, channel, MESSAGES, url=place["url"], schema=place["schema"])
        proc = await start_serve(directory, "--log-format", "json")
        log = b""
        try:
            log += await until_logged(proc, b"web server listening")
            while len(slack.messages(channel)) < 3:
                await asyncio.sleep(0.05)
            place["cut"]()
            await asyncio.sleep(OUTAGE_SECONDS)  # eight instance heartbeats
            assert proc.returncode is None, "serve stopped during the outage"
            place["heal"]()
            healed = time.monotonic()
            while len(slack.messages(channel)) < MESSAGES:
                assert time.monotonic() - healed < 60, "delivery did not resume"
                await asyncio.sleep(0.1)
            await asyncio.sleep(1.5)  # three more heartbeats: the heartbeat's outage ends too
            assert proc.returncode is None
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                _, rest = await asyncio.wait_for(proc.communicate(), 30)
                log += rest
        assert proc.returncode == 0, log.decode()[-3000:]
        texts = [m["text"] for m in slack.messages(channel)]
        assert texts == [f"message {n}" for n in range(MESSAGES)], texts
        said = events(log)
        started = Counter(e["part"] for e in said if e.get("event") == WARNING)
        ended = Counter(e["part"] for e in said if e.get("event") == RECOVERED)
        assert started["instance heartbeat"] >= 1, started
        assert started == ended, (started, ended)  # every outage said to start also ended
        if kind == "postgresql":
            # Refused throughout: exactly one outage per part, however many retries.
            assert set(started.values()) == {1}, started
        else:
            # A full disk still lets some writes through (pages SQLite already has), so a part
            # may see the outage end and start again; never a line per retry.
            assert max(started.values()) <= 3, started
        assert "Traceback" not in log.decode(), log.decode()[-3000:]
        print(f"outages per part: {dict(started)}")
