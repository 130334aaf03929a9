"""The Web API methods the simulator speaks, over the workspace state.

Each method takes an :class:`ApiCall` and returns the JSON body of a successful answer, or
raises :class:`ApiError` (``ok: false``, HTTP 200) or :class:`RateLimitExceeded` (HTTP 429).
Checks run in the order Slack's error precedence suggests: authentication, scopes, rate limit,
the target, then the payload.
"""

from __future__ import annotations

import base64
import binascii
import copy
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ml_connector.sim.slack import ids
from ml_connector.sim.slack.api_error import ApiError, RateLimitExceeded, invalid_arguments
from ml_connector.sim.slack.blockkit import text_length, validate_blocks
from ml_connector.sim.slack.metadata import DEFAULT_MAX_BYTES, parse_metadata
from ml_connector.sim.slack.ratelimit import RateLimiter
from ml_connector.sim.slack.request import ApiCall, loads_unicode_json
from ml_connector.sim.slack.state import (
    Channel,
    Grant,
    Message,
    Workspace,
    micros_to_ts,
    ts_to_micros,
)

# "Provide no more than 40,000 characters or risk truncation"
# (https://api.slack.com/changelog/2018-04-truncating-really-long-messages): Slack cuts longer
# text and answers ok with the warning ``message_truncated``; ``msg_too_long`` is also a
# documented error of chat.postMessage, with no documented threshold. Strict mode (the
# default) refuses such text with msg_too_long, since a cut finance message is a wrong one;
# lenient mode truncates with the documented warning.
TEXT_TRUNCATE_AT = 40_000
# msg_blocks_too_long: undocumented; seen at ~13.2k characters across blocks
# (slackapi/bolt-js#2509), where Slack's staff gave "12,000 text characters with a buffer for
# block containers" (quoted in slackapi/bolt-js#2867, which saw a refusal at 11.3k). The
# simulator refuses above 12,000 by default.
BLOCKS_TEXT_LIMIT = 12_000
MAX_ATTACHMENTS = 100
HISTORY_DEFAULT_LIMIT = 100
HISTORY_MAX_LIMIT = 999  # conversations.history: "Maximum of 999."


@dataclass(frozen=True)
class Rules:
    """Limits that Slack does not document exactly, so tests can tighten them.

    ``blocks_text_limit`` models the undocumented ``msg_blocks_too_long`` (see
    BLOCKS_TEXT_LIMIT); None turns it off. ``strict`` refuses text over 40,000 characters
    with ``msg_too_long`` instead of truncating it.
    """

    metadata_max_bytes: int = DEFAULT_MAX_BYTES
    blocks_text_limit: int | None = BLOCKS_TEXT_LIMIT
    history_max_limit: int = HISTORY_MAX_LIMIT
    strict: bool = True


Handler = Callable[[ApiCall], dict[str, Any]]


class WebApi:
    """The methods, with the rate limiters and rules of one simulator."""

    def __init__(
        self,
        workspace: Workspace,
        *,
        post_limiter: RateLimiter,
        history_limiter: RateLimiter,
        rules: Rules,
        clock: Callable[[], float],
    ) -> None:
        self.workspace = workspace
        self.post_limiter = post_limiter
        self.history_limiter = history_limiter
        self.rules = rules
        self.clock = clock

    def _grant(self, call: ApiCall) -> Grant:
        return self.workspace.authenticate(call.token, now=self.clock())

    @staticmethod
    def _require_scope(grant: Grant, needed: str) -> None:
        if needed not in grant.scopes:
            raise ApiError("missing_scope", needed=needed, provided=",".join(sorted(grant.scopes)))

    def _channel_arg(self, call: ApiCall) -> str:
        ref = call.string("channel")
        if ref is None:
            raise ApiError("channel_not_found")
        return ref

    # auth.* ---------------------------------------------------------------------------------

    def auth_test(self, call: ApiCall) -> dict[str, Any]:
        grant = self._grant(call)
        return {
            "ok": True,
            "url": self.workspace.url,
            "team": self.workspace.team_name,
            "user": grant.app.bot_name,
            "team_id": self.workspace.team_id,
            "user_id": grant.app.bot_user_id,
            "bot_id": grant.app.bot_id,
            "is_enterprise_install": False,
        }

    def auth_revoke(self, call: ApiCall) -> dict[str, Any]:
        """``{"ok": true, "revoked": true}``; ``test=true`` checks without revoking."""
        grant = self._grant(call)
        if call.flag("test"):
            return {"ok": True, "revoked": False}
        grant.revoked = True
        return {"ok": True, "revoked": True}

    # chat.postMessage -----------------------------------------------------------------------

    def chat_post_message(self, call: ApiCall) -> dict[str, Any]:
        grant = self._grant(call)
        self._require_scope(grant, "chat:write")
        channel = self.workspace.channel_by_ref(self._channel_arg(call))
        if grant.app.bot_user_id not in channel.members:
            raise ApiError("not_in_channel")
        if channel.is_archived:
            raise ApiError("is_archived")
        wait = self.post_limiter.retry_after((grant.app.app_id, channel.id))
        if wait is not None:
            raise RateLimitExceeded(wait)
        text = call.string("text") or ""
        blocks = self._blocks(call)
        attachments = self._attachments(call)
        if not text and not blocks and not attachments:
            raise ApiError("no_text")
        warnings: list[str] = []
        if len(text) > TEXT_TRUNCATE_AT:
            if self.rules.strict:
                raise ApiError("msg_too_long")
            text = text[:TEXT_TRUNCATE_AT]
            warnings.append("message_truncated")
        metadata = None
        if call.args.get("metadata") not in (None, ""):
            metadata = parse_metadata(
                call.args["metadata"], max_bytes=self.rules.metadata_max_bytes
            )
        message = Message(
            ts=self.workspace.next_ts(channel, now=self.clock()),
            text=text,
            blocks=tuple(blocks),
            metadata=metadata,
            attachments=tuple(attachments),
            user=grant.app.bot_user_id,
            bot_id=grant.app.bot_id,
            app_id=grant.app.app_id,
            team=self.workspace.team_id,
        )
        channel.messages.append(message)
        body: dict[str, Any] = {
            "ok": True,
            "channel": channel.id,
            "ts": message.ts,
            "message": message.as_api(include_metadata=True),
        }
        if warnings:
            # The changelog's example answer for a truncated message.
            body["response_metadata"] = {
                "messages": [
                    "[WARN] Your message was truncated but still posted. The `text` field "
                    "accepts up to 40,000 characters."
                ],
                "warnings": warnings,
            }
        return body

    def _json_list(self, call: ApiCall, name: str, format_error: str) -> list[Any]:
        raw = call.args.get(name)
        if raw is None or raw == "":
            return []
        if isinstance(raw, str):
            try:
                raw = loads_unicode_json(raw)
            except ValueError as exc:
                raise ApiError(format_error) from exc
        if not isinstance(raw, list):
            raise ApiError(format_error)
        return raw

    def _blocks(self, call: ApiCall) -> list[dict[str, Any]]:
        blocks = self._json_list(call, "blocks", "invalid_blocks_format")
        problems = validate_blocks(blocks)
        if problems:
            errors = [str(problem) for problem in problems]
            raise ApiError(
                "invalid_blocks",
                errors=errors,
                response_metadata={"messages": [f"[ERROR] {e}" for e in errors]},
            )
        limit = self.rules.blocks_text_limit
        if limit is not None and text_length(blocks) > limit:
            raise ApiError("msg_blocks_too_long")
        stored = copy.deepcopy(blocks)
        for block in stored:
            # Slack gives every block without an id one of its own.
            block.setdefault("block_id", ids.block_id(self.workspace.rng))
        return stored

    def _attachments(self, call: ApiCall) -> list[dict[str, Any]]:
        attachments = self._json_list(call, "attachments", "invalid_attachments")
        if len(attachments) > MAX_ATTACHMENTS:
            raise ApiError("too_many_attachments")
        if not all(isinstance(item, dict) for item in attachments):
            raise ApiError("invalid_attachments")
        return copy.deepcopy(attachments)

    # conversations.* ------------------------------------------------------------------------

    def conversations_info(self, call: ApiCall) -> dict[str, Any]:
        grant = self._grant(call)
        self._require_scope(grant, "channels:read")
        channel = self.workspace.channel_by_id(self._channel_arg(call))
        info = _channel_object(channel, grant)
        if call.flag("include_num_members"):
            info["num_members"] = len(channel.members)
        return {"ok": True, "channel": info}

    def conversations_history(self, call: ApiCall) -> dict[str, Any]:
        grant = self._grant(call)
        self._require_scope(grant, "channels:history")
        wait = self.history_limiter.retry_after((grant.app.app_id, "conversations.history"))
        if wait is not None:
            raise RateLimitExceeded(wait)
        channel = self.workspace.channel_by_id(self._channel_arg(call))
        if grant.app.bot_user_id not in channel.members:
            # "Only user tokens can access public channels they are not in."
            raise ApiError("not_in_channel")
        page = _history_page(
            channel,
            oldest=_ts_arg(call, "oldest", "invalid_ts_oldest", default=0),
            latest=_ts_arg(
                call, "latest", "invalid_ts_latest", default=int(self.clock() * 1_000_000)
            ),
            inclusive=call.flag("inclusive"),
            limit=self._history_limit(call),
            cursor=call.string("cursor"),
        )
        include_metadata = call.flag("include_all_metadata")
        body: dict[str, Any] = {
            "ok": True,
            "messages": [m.as_api(include_metadata=include_metadata) for m in page.messages],
            "has_more": page.next_micros is not None,
            "pin_count": 0,
            "channel_actions_ts": None,
            "channel_actions_count": 0,
        }
        if page.next_micros is not None:
            body["response_metadata"] = {"next_cursor": encode_cursor(page.next_micros)}
        return body

    def _history_limit(self, call: ApiCall) -> int:
        limit = call.integer("limit", HISTORY_DEFAULT_LIMIT)
        if limit < 1:
            raise invalid_arguments("limit must be at least 1")
        # "Fewer than the requested number of items may be returned": Slack caps, not refuses.
        return min(limit, self.rules.history_max_limit)


@dataclass(frozen=True)
class HistoryPage:
    messages: list[Message]
    next_micros: int | None


def encode_cursor(micros: int) -> str:
    """Slack's history cursors are base64 of ``next_ts:<ts without the dot>``."""
    return base64.b64encode(f"next_ts:{micros}".encode()).decode("ascii")


def decode_cursor(cursor: str) -> int:
    try:
        decoded = base64.b64decode(cursor, validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError) as exc:
        raise ApiError("invalid_cursor") from exc
    prefix, _, digits = decoded.partition(":")
    if prefix != "next_ts" or not digits.isdigit():
        raise ApiError("invalid_cursor")
    return int(digits)


def _ts_arg(call: ApiCall, name: str, error: str, *, default: int) -> int:
    value = call.args.get(name)
    if value is None or value == "":
        return default
    try:
        return ts_to_micros(str(value))
    except ValueError as exc:
        raise ApiError(error) from exc


def _history_page(
    channel: Channel,
    *,
    oldest: int,
    latest: int,
    inclusive: bool,
    limit: int,
    cursor: str | None,
) -> HistoryPage:
    """Newest first; bounds exclusive unless ``inclusive``; the cursor resumes below a ts."""
    start_at = decode_cursor(cursor) if cursor else None

    def wanted(message: Message) -> bool:
        micros = ts_to_micros(message.ts)
        if start_at is not None and micros > start_at:
            return False
        if inclusive:
            return oldest <= micros <= latest
        return oldest < micros < latest

    matching = [m for m in reversed(channel.messages) if wanted(m)]
    page = matching[:limit]
    next_micros = ts_to_micros(matching[limit].ts) if len(matching) > limit else None
    return HistoryPage(page, next_micros)


def _channel_object(channel: Channel, grant: Grant) -> dict[str, Any]:
    return {
        "id": channel.id,
        "name": channel.name,
        "name_normalized": channel.name,
        "is_channel": True,
        "is_group": False,
        "is_im": False,
        "is_mpim": False,
        "is_private": False,
        "is_archived": channel.is_archived,
        "is_general": False,
        "is_shared": False,
        "is_org_shared": False,
        "is_ext_shared": False,
        "is_member": grant.app.bot_user_id in channel.members,
        "created": channel.created,
        "creator": channel.creator,
        "unlinked": 0,
        "topic": {"value": "", "creator": "", "last_set": 0},
        "purpose": {"value": "", "creator": "", "last_set": 0},
        "last_read": micros_to_ts(channel.last_ts_micros),
    }
