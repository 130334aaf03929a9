"""``POST /slack/events``: the Events API endpoint.

Answered at once, handled afterwards: Slack counts a delivery as failed after three seconds
and sends it again, so the answer waits for nothing but the signature check and parsing. In
particular it does not wait for the database: on SQLite the event-id insert queues behind
every delivery worker's write, and its result would not change the answer (a retry gets 200
too). After the answer each ``event_id`` is recorded (insert-or-ignore, group-committed by
:class:`~.ledger.EventLedger`) and only the delivery that recorded it first is handled, so a
retry (``X-Slack-Retry-Num``) is never handled twice, even when another process received the
first delivery. If the ledger falls too far behind, the endpoint answers 503 and Slack
delivers again later.

The app subscribes to two events (``slack.scopes.BOT_EVENTS``): ``app_uninstalled`` and
``tokens_revoked`` for the bot token. Both make the installation unusable, and its pending
messages are held with that reason rather than failing one by one; a new install resumes
them.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ml_connector.backoff import full_jitter
from ml_connector.delivery.holds import hold_workspace
from ml_connector.errors import StoreError
from ml_connector.logging import get_logger
from ml_connector.slack.installations import UNUSABLE, set_status
from ml_connector.web.context import WebContext, context
from ml_connector.web.inbound import read_signed, refuse
from ml_connector.web.json_body import JsonRefused, parse_json
from ml_connector.web.ledger import SeenEvent
from ml_connector.web.metrics import SLACK_EVENTS, WEBHOOK_REQUESTS
from ml_connector.web.workspaces import resolve_workspace

log = get_logger("ml_connector.web")

ENDPOINT = "events"
MAX_ID_LENGTH = 100  # slack_events.event_id
# Events acknowledged but not yet recorded; past this Slack is asked to come back later.
MAX_BACKLOG = 20_000
# Handling an event after it was recorded: about a minute of retries over a database blip.
HANDLE_ATTEMPTS = 8
HANDLE_RETRY_BASE = 0.25
HANDLE_RETRY_CAP = 15.0
REASONS = {
    "app_uninstalled": "the Slack app was uninstalled from the workspace",
    "tokens_revoked": "the bot token was revoked in Slack",
}


async def events_handler(request: web.Request) -> web.Response:
    signed = await read_signed(request, ENDPOINT)
    payload = parse_payload(signed.body, context(request).config.server.max_json_depth)
    kind = payload.get("type")
    if kind == "url_verification":
        challenge = payload.get("challenge")
        if not isinstance(challenge, str):
            raise refuse(ENDPOINT, "malformed", 400, "url_verification without a challenge")
        WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="challenge").inc()
        return web.json_response({"challenge": challenge})
    if kind != "event_callback":
        # app_rate_limited and future envelope types: acknowledged, nothing to do.
        log.info("slack request of another type acknowledged", type=str(kind)[:60])
        WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="ignored").inc()
        return web.Response(status=200)
    seen, event = parse_callback(payload)
    ctx = context(request)
    if ctx.ledger.backlog >= MAX_BACKLOG:
        log.error("slack events arrive faster than they are recorded; asking Slack to retry")
        raise refuse(ENDPOINT, "unavailable", 503, "busy, try again")
    retry = request.headers.get("X-Slack-Retry-Num")
    WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="accepted").inc()
    ctx.tasks.spawn(
        record_and_handle(ctx, signed.workspaces, seen, event, retry),
        name=f"slack-event-{seen.event_id}",
    )
    return web.Response(status=200)


async def record_and_handle(
    ctx: WebContext,
    candidates: tuple[str, ...],
    seen: SeenEvent,
    event: Mapping[str, Any],
    retry: str | None,
) -> None:
    try:
        first = await ctx.ledger.remember(seen)
    except StoreError as exc:
        SLACK_EVENTS.labels(outcome="unrecorded").inc()
        log.error("slack event not recorded, so not handled", event_id=seen.event_id, error=exc)
        return
    if not first:
        SLACK_EVENTS.labels(outcome="duplicate").inc()
        log.info("slack event retry ignored, already handled", event_id=seen.event_id, retry=retry)
        return
    # Slack got its 200 and will not send this event again, so a database blip while handling
    # it is retried here rather than losing the uninstall.
    for attempt in range(1, HANDLE_ATTEMPTS + 1):
        try:
            await handle_event(ctx, candidates, seen, event)
        except (SQLAlchemyError, OSError, StoreError) as exc:
            if attempt == HANDLE_ATTEMPTS:
                SLACK_EVENTS.labels(outcome="failed").inc()
                log.error(
                    "slack event recorded but not handled; give up after retries",
                    event_id=seen.event_id,
                    type=seen.event_type,
                    attempts=attempt,
                    error=type(exc).__name__,
                )
                return
            delay = full_jitter(attempt, HANDLE_RETRY_BASE, HANDLE_RETRY_CAP)
            log.warning(
                "slack event handling failed; retrying",
                event_id=seen.event_id,
                attempt=attempt,
                delay=round(delay, 2),
                error=type(exc).__name__,
            )
            await asyncio.sleep(delay)
        else:
            SLACK_EVENTS.labels(outcome="handled").inc()
            return


def parse_payload(body: bytes, max_depth: int) -> dict[str, Any]:
    try:
        payload = parse_json(body, max_depth)
    except JsonRefused as exc:
        raise refuse(ENDPOINT, "malformed", 400, str(exc)) from None
    if not isinstance(payload, dict):
        raise refuse(ENDPOINT, "malformed", 400, "body is not a JSON object")
    return payload


def parse_callback(payload: Mapping[str, Any]) -> tuple[SeenEvent, Mapping[str, Any]]:
    event_id = payload.get("event_id")
    event = payload.get("event")
    if not isinstance(event_id, str) or not 0 < len(event_id) <= MAX_ID_LENGTH:
        raise refuse(ENDPOINT, "malformed", 400, "event_callback without a valid event_id")
    if not isinstance(event, dict):
        raise refuse(ENDPOINT, "malformed", 400, "event_callback without an event")
    team_id = payload.get("team_id")
    event_type = event.get("type")
    return (
        SeenEvent(
            event_id=event_id,
            team_id=team_id[:40] if isinstance(team_id, str) else None,
            event_type=event_type[:100] if isinstance(event_type, str) else None,
        ),
        event,
    )


async def handle_event(
    ctx: WebContext, candidates: tuple[str, ...], seen: SeenEvent, event: Mapping[str, Any]
) -> None:
    if seen.event_type == "app_uninstalled" or (
        seen.event_type == "tokens_revoked" and _bot_tokens_revoked(event)
    ):
        await make_unusable(ctx, candidates, seen, REASONS[seen.event_type])
    else:
        log.debug("slack event needs no action", event_id=seen.event_id, type=seen.event_type)
    ctx.ledger.mark_handled(seen.event_id)


def _bot_tokens_revoked(event: Mapping[str, Any]) -> bool:
    """``tokens_revoked`` also reports user tokens, which ml-connector never uses."""
    tokens = event.get("tokens")
    return isinstance(tokens, dict) and bool(tokens.get("bot"))


async def make_unusable(
    ctx: WebContext, candidates: tuple[str, ...], seen: SeenEvent, reason: str
) -> None:
    workspace = await resolve_workspace(ctx.engine, candidates, seen.team_id)
    if workspace is None:
        log.warning(
            "slack event for a team no configured workspace is installed in",
            event=seen.event_type,
            team_id=seen.team_id,
        )
        return
    changed = await set_status(ctx.engine, workspace, UNUSABLE, reason)
    async with ctx.engine.begin() as conn:
        held = await hold_workspace(conn, workspace, reason)
    log.warning(
        "slack installation unusable; its messages are held until it is installed again",
        workspace=workspace,
        reason=reason,
        newly=changed,
        held=held,
    )
