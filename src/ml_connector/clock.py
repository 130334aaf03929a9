"""Wall-clock time as UTC epoch seconds, the one time format stored by ml-connector.

Storing floats keeps leases, pacing and slots comparable on SQLite and PostgreSQL alike.

The scheduler also sleeps through this module (:func:`sleep`, :func:`wait`), so that one seam
(:func:`use`) can replace the system's time: ``bench/poll_scale.py`` installs a
:class:`WarpClock` that runs at real speed while work is in progress (:func:`busy`) and jumps
straight to the next wake-up when nothing is, compressing hours of schedules into minutes
without making the work itself look faster than it is.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime


class SystemClock:
    """Real time: what the service uses."""

    def now(self) -> float:
        return time.time()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        """Wait for ``event`` at most ``timeout`` seconds; ``True`` if it was set."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout=max(timeout, 0.0))
        return event.is_set()


class WarpClock(SystemClock):
    """Real time plus an offset that jumps forward whenever nothing is :func:`busy`.

    A sleep or wait while some work is in progress passes in real time (the work's own
    duration, and any delay it causes, is measured honestly); one while nothing is in progress
    returns at once with the clock moved to its end.
    """

    def __init__(self, start: float | None = None, *, until: float | None = None) -> None:
        self.offset = 0.0 if start is None else start - time.time()
        self.warped = 0.0  # seconds skipped in total
        # Never jump past this moment (a benchmark's next measurement point).
        self.until = until

    def now(self) -> float:
        return time.time() + self.offset

    def _jump(self, seconds: float) -> bool:
        if self.until is not None:
            seconds = min(seconds, self.until - self.now())
        if _busy or seconds <= 0:
            return False
        self.offset += seconds
        self.warped += seconds
        return True

    async def sleep(self, seconds: float) -> None:
        if self._jump(seconds):
            await asyncio.sleep(0)
            return
        await super().sleep(seconds)

    async def wait(self, event: asyncio.Event, timeout: float) -> bool:
        if not event.is_set() and self._jump(timeout):
            await asyncio.sleep(0)
            return event.is_set()
        return await super().wait(event, timeout)


_clock: SystemClock = SystemClock()
_busy = 0


def use(clock: SystemClock) -> SystemClock:
    """Install ``clock`` (benchmarks and tests); returns the one it replaces."""
    global _clock
    previous, _clock = _clock, clock
    return previous


def now() -> float:
    return _clock.now()


async def sleep(seconds: float) -> None:
    await _clock.sleep(seconds)


async def wait(event: asyncio.Event, timeout: float) -> bool:
    """Wait for ``event`` at most ``timeout`` seconds of this clock; ``True`` if it was set."""
    return await _clock.wait(event, timeout)


def hold() -> Callable[[], None]:
    """Mark work in progress until the returned function is called (once is enough): a
    :class:`WarpClock` does not skip time while any is. Taken where work is *planned* (a task
    created), so that time cannot jump before the task has even started."""
    global _busy
    _busy += 1
    released = False

    def release() -> None:
        global _busy
        nonlocal released
        if not released:
            released = True
            _busy -= 1

    return release


@contextlib.contextmanager
def busy() -> Iterator[None]:
    """:func:`hold` for the length of a ``with`` block."""
    release = hold()
    try:
        yield
    finally:
        release()


def to_datetime(epoch: float) -> datetime:
    return datetime.fromtimestamp(epoch, tz=UTC)


def from_datetime(value: datetime) -> float:
    if value.tzinfo is None:
        raise ValueError("naive datetime: give a time zone")
    return value.timestamp()
