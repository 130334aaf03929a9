"""The bot scopes ml-connector asks for, and why each one is needed.

Asking for less than this breaks a feature; asking for more makes security reviews harder.
ml-connector never reads messages it did not post: history is read only to find its own
messages by their metadata after an ambiguous failure (see the delivery path).
"""

from __future__ import annotations

BOT_SCOPES: dict[str, str] = {
    "chat:write": "post summaries, alerts and digests to the channels the bot is invited to",
    "channels:read": "check that a configured public channel exists and the bot is in it",
    "groups:read": "the same check for private channels",
    "channels:history": (
        "after a timeout, find our own message in a public channel by its metadata, "
        "so a message is never posted twice"
    ),
    "groups:history": "the same reconciliation for private channels",
    "commands": "the /mlc slash command (status, run a pipeline on demand)",
}

# Bot events the app subscribes to: both mean "stop using this installation's token".
BOT_EVENTS = ("app_uninstalled", "tokens_revoked")


def scope_list() -> list[str]:
    return list(BOT_SCOPES)


def missing_scopes(granted: str | None) -> list[str]:
    """Our scopes absent from a comma-separated ``scope`` string Slack returned."""
    have = {s.strip() for s in (granted or "").split(",") if s.strip()}
    return [scope for scope in BOT_SCOPES if scope not in have]
