"""Which companies each pipeline has right now, for the runner, the scheduler and the views.

Three sources: the config file (``companies``, ``[pipelines.NAME.company.*]``, includes), the
database (``ml-connector companies add``, merged by :func:`ml_connector.companies.with_stored`),
and, for ``companies = "*"``, the Sage 100 agent itself (``GET /v1/health`` lists the
companies it serves). The agent's list is cached for ``ttl`` seconds; when the agent cannot
be reached the last list it gave is kept, so a short outage neither forgets companies nor
adds any.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.companies import (
    Company,
    pipeline_companies,
    serves_every_company,
    with_stored,
)
from ml_connector.config import Config, Sage100Connection
from ml_connector.errors import ExternalError, VaultError
from ml_connector.logging import get_logger
from ml_connector.store.companies import stored_settings
from ml_connector.vault import Vault

log = get_logger("ml_connector.companies")

AGENT_LIST_TTL = 300.0


@dataclass
class _Served:
    companies: list[str]
    read_at: float


class CompanyDirectory:
    def __init__(
        self, config: Config, engine: AsyncEngine, vault: Vault, *, ttl: float = AGENT_LIST_TTL
    ) -> None:
        self.base = config
        self.config = config
        self.engine = engine
        self.vault = vault
        self.ttl = ttl
        self._served: dict[str, _Served] = {}
        self._stored: dict[str, dict[str, dict[str, Any]]] | None = None

    async def load_stored(self) -> Config:
        """The config with the companies stored in the database merged in (and kept)."""
        async with self.engine.connect() as conn:
            stored = await stored_settings(conn)
        if stored != self._stored:
            # unchanged rows keep the config object, so its users can tell nothing changed
            self.config = with_stored(self.base, stored)
            self._stored = stored
        return self.config

    async def served(self, connection: str, *, fresh: bool = False) -> list[str] | None:
        """The companies the agent of ``connection`` serves; None if never read."""
        known = self._served.get(connection)
        if known is not None and not fresh and time.monotonic() - known.read_at < self.ttl:
            return known.companies
        settings = self.config.connections.get(connection)
        if not isinstance(settings, Sage100Connection):
            return None
        from ml_connector.sage100.agent_client.credentials import agent_client

        try:
            client, _ = await agent_client(settings, self.config, self.vault)
            async with client:
                health = await client.health()
        except (ExternalError, VaultError) as exc:
            log.warning(
                "cannot list the companies the Sage 100 agent serves; keeping the last list",
                connection=connection,
                error=str(exc),
            )
            return known.companies if known is not None else None
        companies = sorted(c.upper() for c in health.companies)
        if known is None or known.companies != companies:
            log.info("sage100 agent companies", connection=connection, companies=companies)
        self._served[connection] = _Served(companies, time.monotonic())
        return companies

    async def companies(self, pipeline: str) -> list[Company]:
        """The pipeline's companies; for ``"*"`` the agent is asked (or its cached answer)."""
        served = None
        if serves_every_company(self.config, pipeline):
            served = await self.served(self.config.pipelines[pipeline].connection)
        return pipeline_companies(self.config, pipeline, served)

    def known(self, pipeline: str) -> list[Company]:
        """The pipeline's companies from what is already known (no call to the agent)."""
        served = None
        if serves_every_company(self.config, pipeline):
            cached = self._served.get(self.config.pipelines[pipeline].connection)
            served = cached.companies if cached is not None else None
        return pipeline_companies(self.config, pipeline, served)

    def served_lists(self) -> dict[str, list[str]]:
        """Pipeline → the agent's companies, for the ``"*"`` pipelines whose list is known."""
        found: dict[str, list[str]] = {}
        for name, settings in self.config.pipelines.items():
            if serves_every_company(self.config, name):
                cached = self._served.get(settings.connection)
                if cached is not None:
                    found[name] = cached.companies
        return found
