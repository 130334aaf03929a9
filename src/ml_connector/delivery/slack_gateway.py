"""The delivery seam implemented with :class:`ml_connector.slack.client.SlackClient`.

One client per workspace. Installation health comes from an optional ``health`` object (the
installations table, see :func:`managed_gateway`); without one (tests, a bare bot token) it
is kept in memory.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.delivery.ports import HistoryPage
from ml_connector.errors import CredentialsError, ExternalError
from ml_connector.slack.client import SlackClient
from ml_connector.slack.installations import get_installation, set_status
from ml_connector.slack.tokens import WorkspaceTokens
from ml_connector.vault import Vault


class InstallationHealth(Protocol):
    async def is_usable(self, workspace: str) -> bool: ...

    async def mark_unusable(self, workspace: str, reason: str) -> None: ...

    async def mark_usable(self, workspace: str) -> None: ...

    async def probe(self, workspace: str) -> bool: ...


class ClientGateway:
    def __init__(
        self, clients: Mapping[str, SlackClient], health: InstallationHealth | None = None
    ) -> None:
        self._clients = dict(clients)
        self._health = health
        self._unusable: dict[str, str] = {}

    def client(self, workspace: str) -> SlackClient:
        try:
            return self._clients[workspace]
        except KeyError:
            raise CredentialsError(
                f"no Slack installation for workspace {workspace!r}", system="slack"
            ) from None

    async def post_message(
        self,
        workspace: str,
        channel: str,
        *,
        text: str,
        blocks: list[dict[str, Any]],
        metadata: dict[str, Any],
    ) -> str:
        result = await self.client(workspace).post_message(channel, text, blocks, metadata)
        return result.ts

    async def history(
        self, workspace: str, channel: str, *, oldest: str, cursor: str | None
    ) -> HistoryPage:
        page = await self.client(workspace).history(channel, oldest=oldest, cursor=cursor)
        messages = [
            {"ts": m.ts, "metadata": dict(m.metadata) if m.metadata else None}
            for m in page.messages
        ]
        return HistoryPage(messages=messages, next_cursor=page.next_cursor)

    async def usable(self, workspace: str) -> bool:
        if self._health is not None:
            return await self._health.is_usable(workspace)
        return workspace not in self._unusable

    async def mark_unusable(self, workspace: str, reason: str) -> None:
        self._unusable[workspace] = reason
        if self._health is not None:
            await self._health.mark_unusable(workspace, reason)

    async def probe(self, workspace: str) -> bool:
        if self._health is not None:
            return await self._health.probe(workspace)
        try:
            await self.client(workspace).auth_test()
        except CredentialsError:
            return False
        self._unusable.pop(workspace, None)
        if self._health is not None:
            await self._health.mark_usable(workspace)
        return True

    async def aclose(self) -> None:
        for client in self._clients.values():
            await client.aclose()


class InstallationsHealth:
    """Installation health kept in ``slack_installations``, shared by every process."""

    def __init__(self, engine: AsyncEngine, tokens: Mapping[str, WorkspaceTokens]) -> None:
        self._engine = engine
        self._tokens = dict(tokens)

    async def is_usable(self, workspace: str) -> bool:
        installation = await get_installation(self._engine, workspace)
        # No row yet: a configured bot token is adopted on first use.
        return installation is None or installation.usable

    async def mark_unusable(self, workspace: str, reason: str) -> None:
        # WorkspaceTokens.rejected has usually recorded a fuller reason already; keep it.
        if await self.is_usable(workspace):
            await set_status(self._engine, workspace, "unusable", reason)

    async def mark_usable(self, workspace: str) -> None:
        await set_status(self._engine, workspace, "active")

    async def probe(self, workspace: str) -> bool:
        tokens = self._tokens.get(workspace)
        if tokens is None:
            return False
        try:
            await tokens.recheck()
        except ExternalError:
            return False
        return True


def managed_gateway(
    engine: AsyncEngine, vault: Vault, config: Config, *, timeout: float | None = None
) -> ClientGateway:
    """The gateway ``serve`` uses: one managed client per configured workspace."""
    request_timeout = timeout or config.delivery.request_timeout
    tokens = {
        name: WorkspaceTokens(engine, vault, name, settings, timeout=request_timeout)
        for name, settings in config.slack.workspaces.items()
    }
    clients = {
        name: SlackClient(tokens[name], base_url=settings.api_base_url, timeout=request_timeout)
        for name, settings in config.slack.workspaces.items()
    }
    return ClientGateway(clients, InstallationsHealth(engine, tokens))
