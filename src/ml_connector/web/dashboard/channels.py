"""Channel names for the dashboard, asked of Slack (``conversations.info``) and kept a while.

A page load must not wait on Slack for long or spend its rate budget: names are cached for
ten minutes per process, each lookup has a short timeout, and a channel Slack will not
describe is shown by its id with the reason.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.errors import ExternalError
from ml_connector.slack.tokens import client_for
from ml_connector.vault import Vault

TTL = 600.0
TIMEOUT = 3.0


class ChannelNames:
    def __init__(self) -> None:
        self._names: dict[tuple[str, str], tuple[float, str | None]] = {}

    async def lookup(
        self,
        config: Config,
        engine: AsyncEngine,
        vault: Vault,
        wanted: Iterable[tuple[str, str]],
    ) -> dict[tuple[str, str], str | None]:
        now = time.monotonic()
        missing = sorted({w for w in wanted if w not in self._names or self._names[w][0] < now})
        by_workspace: dict[str, list[str]] = {}
        for workspace, channel in missing:
            by_workspace.setdefault(workspace, []).append(channel)
        for workspace, channels in by_workspace.items():
            settings = config.slack.workspaces.get(workspace)
            if settings is None:
                continue
            try:
                async with client_for(
                    engine, vault, workspace, settings, timeout=TIMEOUT
                ) as client:
                    for channel in channels:
                        try:
                            info = await asyncio.wait_for(
                                client.conversation_info(channel), TIMEOUT
                            )
                            name: str | None = info.name
                        except (ExternalError, TimeoutError):
                            name = None
                        self._names[(workspace, channel)] = (now + TTL, name)
            except ExternalError:
                continue
        return {k: v[1] for k, v in self._names.items()}
