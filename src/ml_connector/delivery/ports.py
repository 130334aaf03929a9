"""What delivery needs from Slack, as a seam: the real adapter wraps the Slack client.

Keeping this narrow lets the worker be read without knowing slack_sdk, and lets the
adapter own token lookup, refresh and the installation's health.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol


@dataclass(frozen=True)
class HistoryPage:
    messages: list[dict[str, Any]]
    next_cursor: str | None


class SlackGateway(Protocol):
    async def post_message(
        self,
        workspace: str,
        channel: str,
        *,
        text: str,
        blocks: list[dict[str, Any]],
        metadata: dict[str, Any],
    ) -> str:
        """Post and return the message ``ts``; raise from the errors tree otherwise."""
        ...

    async def history(
        self, workspace: str, channel: str, *, oldest: str, cursor: str | None
    ) -> HistoryPage:
        """One page of ``conversations.history`` with all metadata, newest first."""
        ...

    async def usable(self, workspace: str) -> bool:
        """Whether the workspace's installation can be used (not revoked or uninstalled)."""
        ...

    async def mark_unusable(self, workspace: str, reason: str) -> None: ...

    async def probe(self, workspace: str) -> bool:
        """Try the installation again (``auth.test``); mark it usable if it works."""
        ...
