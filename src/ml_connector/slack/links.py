"""Links into Slack for a channel or a posted message, for people reading our pages.

Real Slack: a channel opens through Slack's documented ``app_redirect`` URL
(https://api.slack.com/docs/deep-linking), which needs no workspace sub-domain; a message
through its archive path ``/archives/C…/p<ts without the dot>``, the shape Slack's own
permalinks have. The canonical permalink carries the workspace's sub-domain
(``chat.getPermalink`` returns it), which we do not store; ``slack.com/archives/…`` sends a
signed-in reader to their workspace. A workspace pointed at a simulator
(``api_base_url`` other than Slack's) links to the simulator's channel page instead.
"""

from __future__ import annotations

from collections.abc import Callable
from urllib.parse import quote, urlencode, urlsplit

from ml_connector.config import CHANNEL_ID, SLACK_API, Config


def _simulator_origin(api_base_url: str) -> str | None:
    if api_base_url.rstrip("/") == SLACK_API.rstrip("/"):
        return None
    parts = urlsplit(api_base_url)
    return f"{parts.scheme}://{parts.netloc}"


def channel_link(api_base_url: str, channel: str, team_id: str | None = None) -> str:
    """Where a reader opens ``channel`` (an id like C0123ABCD)."""
    origin = _simulator_origin(api_base_url)
    if origin is not None:
        return f"{origin}/?{urlencode({'channel': channel})}"
    query = {"channel": channel} | ({"team": team_id} if team_id else {})
    return f"https://slack.com/app_redirect?{urlencode(query)}"


def message_link(api_base_url: str, channel: str, ts: str) -> str:
    """Where a reader opens the message posted to ``channel`` at ``ts``."""
    origin = _simulator_origin(api_base_url)
    if origin is not None:
        return channel_link(api_base_url, channel)  # the simulator's page is per channel
    return f"https://slack.com/archives/{quote(channel)}/p{ts.replace('.', '')}"


def api_base_of(config: Config, workspace: str) -> str:
    settings = config.slack.workspaces.get(workspace)
    return settings.api_base_url if settings is not None else SLACK_API


def permalinks(config: Config) -> Callable[[str, str, str], str | None]:
    """``(workspace, channel, ts) -> link``, for replay notes."""

    def link(workspace: str, channel: str, ts: str) -> str | None:
        return message_link(api_base_of(config, workspace), channel, ts)

    return link


def is_channel_id(value: str) -> bool:
    return CHANNEL_ID.match(value) is not None
