"""The one interface the HTTP layer sees, whatever reaches Sage 100 underneath.

Every driver Sage 100 offers is synchronous (sqlite3 for the demo, pyodbc, COM). Each back
end therefore owns one worker thread and runs all its driver calls there: the aiohttp loop
is never blocked, and COM gets the single apartment thread it requires.
"""

from __future__ import annotations

import abc
import asyncio
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, ParamSpec, TypeVar

from ml_connector_agent.paging import Candidate, Position, select_page
from ml_connector_agent.resources import SHAPERS, Resource

P = ParamSpec("P")
T = TypeVar("T")


@dataclass(frozen=True)
class PageQuery:
    """One page request: records with stamp >= ``since`` and position > ``after``."""

    resource: Resource
    since: str | None
    after: Position | None
    limit: int

    def first_day(self) -> str | None:
        """The earliest audit date (YYYYMMDD) a record of this page can carry, if bounded."""
        stamps = [s for s in (self.since, self.after.stamp if self.after else None) if s]
        return max(stamps)[:10].replace("-", "") if stamps else None


@dataclass(frozen=True)
class Page:
    records: list[dict[str, Any]]
    has_more: bool
    last: Position | None = field(default=None)


class Backend(abc.ABC):
    """A read-only view of Sage 100 for a fixed set of companies."""

    kind: str = "abstract"

    def __init__(
        self,
        companies: list[str],
        *,
        thread_name: str,
        initializer: Callable[[], None] | None = None,
    ) -> None:
        self._companies = list(companies)
        self._executor = ThreadPoolExecutor(
            max_workers=1, thread_name_prefix=thread_name, initializer=initializer
        )
        self._thread_ident: int | None = None

    @property
    def companies(self) -> list[str]:
        return list(self._companies)

    def local_now(self) -> datetime:
        """Sage 100's wall clock: its stamps are local times of this server, without zone."""
        return datetime.now()

    async def call(self, fn: Callable[P, T], *args: P.args, **kwargs: P.kwargs) -> T:
        """Run ``fn`` on this back end's own thread."""
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: fn(*args, **kwargs))

    async def read_page(self, company: str, query: PageQuery) -> Page:
        page = await self.call(self._read_page, company, query)
        if page.records and page.last is None:
            last = page.records[-1]
            page = Page(page.records, page.has_more, Position(last["stamp"], last["record_key"]))
        return page

    async def sage_version(self) -> str | None:
        return await self.call(self._sage_version)

    async def close(self) -> None:
        await self.call(self._close)
        self._executor.shutdown(wait=True)

    @abc.abstractmethod
    def _read_page(self, company: str, query: PageQuery) -> Page:
        """Runs on the worker thread; raises RecordLockedError and friends."""

    def _sage_version(self) -> str | None:
        return None

    @abc.abstractmethod
    def _close(self) -> None:
        """Release driver handles (on the worker thread)."""


class ScanningBackend(Backend):
    """A back end whose driver cannot page by ``(stamp, record_key)`` itself (BOI, ODBC).

    Neither the BOI browse filters nor the ProvideX ODBC driver can express the keyset
    condition, so both stream candidate rows and leave ordering and paging to
    :func:`~ml_connector_agent.paging.select_page`; names and line counts are then
    looked up for the page's rows only, which keeps lookups proportional to the page.
    """

    def _read_page(self, company: str, query: PageQuery) -> Page:
        chosen, more = select_page(
            self._candidates(company, query),
            since=query.since,
            after=query.after,
            limit=query.limit,
        )
        rows = [c.row for c in chosen]
        if rows:
            self._enrich(company, query.resource, rows)
        shape = SHAPERS[query.resource]
        return Page([shape(r) for r in rows], more, chosen[-1].position if chosen else None)

    @abc.abstractmethod
    def _candidates(self, company: str, query: PageQuery) -> Iterator[Candidate]:
        """Every row that may belong to the page, in any order (on the worker thread)."""

    @abc.abstractmethod
    def _enrich(self, company: str, resource: Resource, rows: list[dict[str, Any]]) -> None:
        """Add the looked-up fields (vendor and account names, line counts) to ``rows``."""


#: What Sage 100 says when another user holds a record or file. The BOI's exact text is not
#: documented (research §4), so match the words it and ProvideX use: "Record/file busy"
#: (ProvideX Error #0), "in use", "locked".
_LOCK_WORDS = ("busy", "in use", "locked", "lock ")


def is_lock_message(message: str) -> bool:
    text = f"{message.lower()} "
    return any(word in text for word in _LOCK_WORDS)
