"""Telling a database outage from a bug, and riding an outage out inside `serve`.

A disk that fills, a PostgreSQL restart or failover, a connection cut by an administrator or
a network: the database comes back by itself, and `serve` must be there when it does, with
its leases, pace and schedules where the database left them. A bug — a broken constraint, bad
SQL, a wrong type — does not heal; the part of the service that hit it must stop, and with it
the service, so a supervisor sees it. :func:`outage_reason` draws that line from the
exception alone: SQLSTATE classes for PostgreSQL, result codes for SQLite, errno for the OS,
and SQLAlchemy's own "connection invalidated" flag, looked for along the ``raise … from``
chain (our :class:`~ml_connector.errors.StoreError` wraps the driver's error).

:class:`OutageWatch` is what each long-lived task of `serve` keeps: the first failure of an
outage logs one warning (what failed, why), the retries wait a full-jitter backoff
(``ml_connector.backoff``) and log nothing above debug, and the first success logs one info
saying how long it lasted. An outage of an hour is two lines per task, not a traceback every
two seconds. Commands do not use it: they fail at once with one line (``cli.context``).
"""

from __future__ import annotations

import asyncio
import errno
import random
import sqlite3
import time
from types import TracebackType

import psycopg
import sqlalchemy as sa

from ml_connector.backoff import full_jitter
from ml_connector.clock import SystemClock
from ml_connector.logging import get_logger

log = get_logger("ml_connector.store")

# Backoff waits are real seconds, also while a benchmark has installed a WarpClock.
_REAL_TIME = SystemClock()

# SQLSTATE → why the database cannot be used just now. Prefixes are whole classes.
_SQLSTATE_EXACT = {
    "57P01": "the server is shutting down (administrator command)",
    "57P02": "the server is restarting after a crash",
    "57P03": "the server is starting up or shutting down",
    "57P05": "the server closed an idle connection",
    "53100": "disk full",
    "53200": "the server is out of memory",
    "53300": "too many connections",
    "53400": "a server limit was reached",
    "58030": "I/O error on the server",
    "25006": "the database is read-only (a standby, or recovery)",
    "40001": "a transaction conflict (serialization)",
    "40P01": "a transaction conflict (deadlock)",
    "55P03": "a lock could not be had",
}
_SQLSTATE_CLASSES = {"08": "connection lost or refused"}

_SQLITE_CODES = {
    sqlite3.SQLITE_FULL: "disk full",
    sqlite3.SQLITE_IOERR: "disk I/O error",
    sqlite3.SQLITE_BUSY: "the database is busy (locked by another process)",
    sqlite3.SQLITE_LOCKED: "the database is locked",
    sqlite3.SQLITE_READONLY: "the database file cannot be written",
    sqlite3.SQLITE_CANTOPEN: "the database file cannot be opened",
    sqlite3.SQLITE_PROTOCOL: "the database's locking protocol failed (busy)",
    sqlite3.SQLITE_NOMEM: "out of memory",
}
# Older drivers may not set sqlite_errorcode: the messages SQLite gives for the codes above.
_SQLITE_MESSAGES = {
    "database or disk is full": "disk full",
    "disk i/o error": "disk I/O error",
    "database is locked": "the database is locked",
    "attempt to write a readonly database": "the database file cannot be written",
    "unable to open database file": "the database file cannot be opened",
}

_ERRNO = {
    errno.ENOSPC: "disk full",
    errno.EDQUOT: "disk quota exceeded",
    errno.EIO: "I/O error",
    errno.EROFS: "read-only file system",
    errno.ETIMEDOUT: "connection timed out",
    errno.EHOSTUNREACH: "the database host is unreachable",
    errno.ENETUNREACH: "the database network is unreachable",
    errno.EMFILE: "too many open files",
    errno.ENFILE: "too many open files",
}


def outage_reason(exc: BaseException) -> str | None:
    """Why the database is unusable for now, if ``exc`` says it is; ``None`` for anything else
    (a bug, or not a database error at all), which must not be retried as if it would heal."""
    seen: set[int] = set()
    todo: list[BaseException] = [exc]
    while todo:
        current = todo.pop()
        if id(current) in seen:
            continue
        seen.add(id(current))
        reason = _reason(current)
        if reason is not None:
            return reason
        # Only explicit wrapping (``raise … from``, SQLAlchemy's ``orig``): an error raised
        # while handling an outage is not an outage itself.
        if isinstance(current, sa.exc.DBAPIError) and isinstance(current.orig, BaseException):
            todo.append(current.orig)
        if current.__cause__ is not None:
            todo.append(current.__cause__)
    return None


def is_outage(exc: BaseException) -> bool:
    return outage_reason(exc) is not None


def _reason(exc: BaseException) -> str | None:
    if isinstance(exc, sa.exc.DBAPIError) and exc.connection_invalidated:
        return "connection lost"
    if isinstance(exc, sa.exc.PendingRollbackError):
        # Core raises it when a connection died inside a transaction and is used again.
        return "connection lost inside a transaction"
    if isinstance(exc, sa.exc.DisconnectionError):
        return "connection lost"
    if isinstance(exc, sa.exc.TimeoutError):
        return "no database connection free (pool timeout)"
    if isinstance(exc, psycopg.Error):
        return _postgres_reason(exc)
    if isinstance(exc, sqlite3.Error):
        return _sqlite_reason(exc)
    if isinstance(exc, ConnectionError):
        return "connection lost or refused"
    if isinstance(exc, OSError) and exc.errno in _ERRNO:
        return _ERRNO[exc.errno]
    return None


def _postgres_reason(exc: psycopg.Error) -> str | None:
    state = exc.sqlstate
    if state is None:
        # libpq's own failures carry no SQLSTATE: refused, reset, "server closed the
        # connection unexpectedly", "the connection is closed/lost".
        return "connection lost or refused" if isinstance(exc, psycopg.OperationalError) else None
    return _SQLSTATE_EXACT.get(state) or _SQLSTATE_CLASSES.get(state[:2])


def _sqlite_reason(exc: sqlite3.Error) -> str | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return _SQLITE_CODES.get(code & 0xFF)  # extended codes keep the primary in the low byte
    text = str(exc).lower()
    return next((why for words, why in _SQLITE_MESSAGES.items() if words in text), None)


def describe(exc: BaseException) -> str:
    """The driver's first line for ``exc`` (not SQLAlchemy's wrapper text), for one log line."""
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    return first[:300]


class OutageWatch:
    """One long-lived task's view of the database: available, or out since when.

    ``part`` names the task in the log lines. Waits between retries grow from ``base`` to
    ``cap`` seconds with full jitter, so the tasks of many instances do not retry in step.
    """

    def __init__(
        self,
        part: str,
        *,
        base: float = 0.5,
        cap: float = 15.0,
        rng: random.Random | None = None,
    ) -> None:
        self.part = part
        self.base = base
        self.cap = cap
        self._rng = rng
        self.since: float | None = None  # time.monotonic() of the outage's first failure
        self.failures = 0
        self.outages = 0

    @property
    def out(self) -> bool:
        return self.since is not None

    def failed(self, exc: BaseException) -> float | None:
        """Note a failure; the seconds to wait before trying again if it is an outage, or
        ``None`` if it is not one (the caller re-raises: a bug must not be retried)."""
        reason = outage_reason(exc)
        if reason is None:
            return None
        self.failures += 1
        if self.since is None:
            self.since = time.monotonic()
            self.outages += 1
            log.warning(
                "database unavailable; retrying until it is back",
                part=self.part,
                reason=reason,
                error=describe(exc),
            )
        else:
            log.debug("database still unavailable", part=self.part, error=describe(exc))
        return full_jitter(self.failures, self.base, self.cap, self._rng)

    def succeeded(self) -> None:
        """The database answered: end the outage, if there was one, with one line."""
        if self.since is None:
            return
        log.info(
            "database available again",
            part=self.part,
            seconds=round(time.monotonic() - self.since, 1),
            retries=self.failures,
        )
        self.since = None
        self.failures = 0

    def guard(self, stop: asyncio.Event | None = None) -> _Guard:
        """``async with watch.guard(stop): ...`` — an outage inside is noted, waited out (a
        backoff, cut short by ``stop``) and swallowed; success ends an outage; anything else
        (a bug, a cancellation) goes through unchanged."""
        return _Guard(self, stop)


class _Guard:
    def __init__(self, watch: OutageWatch, stop: asyncio.Event | None) -> None:
        self._watch = watch
        self._stop = stop

    async def __aenter__(self) -> None:
        return None

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if exc is None:
            self._watch.succeeded()
            return False
        if not isinstance(exc, Exception):
            return False  # CancelledError, KeyboardInterrupt: never swallowed
        wait = self._watch.failed(exc)
        if wait is None:
            return False
        if self._stop is None:
            await _REAL_TIME.sleep(wait)
        else:
            await _REAL_TIME.wait(self._stop, wait)
        return True
