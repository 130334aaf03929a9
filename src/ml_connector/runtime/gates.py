"""How many polls may run at once: in the whole process, and per source they load.

A Sage 100 agent is one Windows server reading Sage 100 through ODBC or BOI for every company
it serves; an Intacct company counts its own concurrent requests (research §4). So a poll
first takes one of its *source's* places — the agent's (keyed by ``agent_url``, shared by
every connection naming it) or the Intacct company's — and then one of the process's. A
source that is slow or dead therefore holds only its own places: polls of other agents and
companies go on.

Taking the source's place first means a poll never holds a process-wide place while waiting
for a busy agent, so one crowded agent cannot starve the rest.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass

from ml_connector.config import Config, IntacctConnection, IntacctPipeline, Sage100Connection


@dataclass(frozen=True, slots=True)
class Source:
    """What a poll loads: ``key`` names it (one agent, one Intacct company); ``limit`` polls."""

    key: str
    limit: int


def agent_key(connection: Sage100Connection) -> str:
    return f"sage100 agent {str(connection.agent_url).rstrip('/')}"


def agent_limits(config: Config) -> dict[str, int]:
    """Each agent's limit: several connections may name one agent (one per company, before
    company lists), and the agent's limit is the smallest any of them sets."""
    limits: dict[str, int] = {}
    for c in config.connections.values():
        if isinstance(c, Sage100Connection):
            key = agent_key(c)
            limits[key] = min(limits.get(key, c.max_concurrent), c.max_concurrent)
    return limits


def source_of(config: Config, pipeline: str, limits: Mapping[str, int] | None = None) -> Source:
    """The source a pipeline's polls load, and how many of them it takes at once.

    ``limits``: :func:`agent_limits` of ``config``, worked out once by a caller that asks for
    thousands of pipelines (otherwise every call scans every connection)."""
    settings = config.pipelines[pipeline]
    connection = config.connections[settings.connection]
    if isinstance(settings, IntacctPipeline):
        assert isinstance(connection, IntacctConnection)
        return Source(f"intacct company {connection.company_id}", connection.max_concurrent)
    assert isinstance(connection, Sage100Connection)
    key = agent_key(connection)
    return Source(key, (limits if limits is not None else agent_limits(config))[key])


class PollGates:
    """The process-wide limit and one limit per source; ``hold`` takes both."""

    def __init__(self, total: int) -> None:
        if total < 1:
            raise ValueError("the concurrent poll limit must be at least 1")
        self.total = total
        self._all = asyncio.Semaphore(total)
        self._sources: dict[str, asyncio.Semaphore] = {}
        self.running: dict[str, int] = {}
        self.peak: dict[str, int] = {}

    def _source(self, source: Source) -> asyncio.Semaphore:
        gate = self._sources.get(source.key)
        if gate is None:
            gate = self._sources[source.key] = asyncio.Semaphore(source.limit)
        return gate

    @asynccontextmanager
    async def hold(self, source: Source) -> AsyncIterator[None]:
        async with self._source(source), self._all:
            count = self.running.get(source.key, 0) + 1
            self.running[source.key] = count
            self.peak[source.key] = max(self.peak.get(source.key, 0), count)
            try:
                yield
            finally:
                self.running[source.key] -= 1
