"""One client — one aiohttp session and its pool of kept-alive connections — per agent.

An agent serves every company of its Sage 100 server, and each request names its company,
so every pipeline, company and stream polling one agent goes through one
:class:`~ml_connector.sage100.agent_client.client.Sage100Client`: a thousand companies on ten agents
hold at most ``max_concurrent`` connections to each agent, reused from one poll to the next,
instead of a TLS handshake per company and stream. Connections that name the same agent with
the same credentials share the client; the pool is as large as the agent's limit
(``runtime.gates``), which also bounds the polls sent to it at once.
"""

from __future__ import annotations

import asyncio
from typing import Any

from ml_connector.config import Config, Sage100Connection
from ml_connector.sage100.agent_client.client import Sage100Client
from ml_connector.sage100.agent_client.credentials import agent_client
from ml_connector.vault import Vault


def _identity(connection: Sage100Connection) -> tuple[Any, ...]:
    """What makes two connections the same agent, seen by it the same way."""
    return (
        str(connection.agent_url).rstrip("/"),
        connection.auth,
        connection.ca_file,
        connection.cert_file,
        connection.client_key,
        connection.api_key,
        connection.timeout,
    )


class AgentClients:
    """The clients of one runtime; ``aclose()`` once every pipeline using it is done."""

    def __init__(self, config: Config, **client_options: Any) -> None:
        self._config = config
        self._options = client_options
        self._clients: dict[tuple[Any, ...], Sage100Client] = {}
        self._lock = asyncio.Lock()
        self.users = 0

    def _limit(self, identity: tuple[Any, ...]) -> int:
        return min(
            c.max_concurrent
            for c in self._config.connections.values()
            if isinstance(c, Sage100Connection) and _identity(c)[0] == identity[0]
        )

    async def client(self, connection: Sage100Connection, vault: Vault) -> Sage100Client:
        identity = _identity(connection)
        async with self._lock:  # one client per agent, even if the first polls race
            found = self._clients.get(identity)
            if found is None:
                found, _ = await agent_client(
                    connection,
                    self._config,
                    vault,
                    max_connections=self._limit(identity),
                    **self._options,
                )
                self._clients[identity] = found
        return found

    @property
    def count(self) -> int:
        return len(self._clients)

    async def release(self) -> None:
        """One user is done; the last one closes every client."""
        self.users -= 1
        if self.users <= 0:
            await self.aclose()

    async def aclose(self) -> None:
        clients, self._clients = self._clients, {}
        for client in clients.values():
            await client.close()
