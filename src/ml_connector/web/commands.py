"""``POST /slack/commands``: the ``/mlc`` slash command.

Slack shows "operation timed out" if the answer takes more than three seconds, so ``run``
answers that the run is queued, runs the pipeline in the background and reports through the
command's ``response_url``; ``status`` answers directly, or in the same delayed way if the
database is slow to answer. Only the users or channels listed in the workspace's
``allowed_users`` / ``allowed_channels`` may run pipelines; both empty means nobody may.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Literal
from urllib.parse import parse_qs
from zoneinfo import ZoneInfo

from aiohttp import web
from sqlalchemy.exc import SQLAlchemyError

from ml_connector.config import SlackWorkspace
from ml_connector.logging import get_logger
from ml_connector.slack import signing
from ml_connector.status import gather_status
from ml_connector.web import replies
from ml_connector.web.context import WebContext, context
from ml_connector.web.inbound import read_capped, refuse, verify_signed
from ml_connector.web.metrics import WEBHOOK_REQUESTS
from ml_connector.web.response_url import post_response, usable_url
from ml_connector.web.workspaces import resolve_workspace

log = get_logger("ml_connector.web")

ENDPOINT = "commands"
STATUS_DEADLINE = 2.0  # seconds to gather status before answering "later"
REPLAY_DEADLINE = 0.75  # seconds to record the signature before answering "busy"
BUSY = "ml-connector's database is busy right now, so nothing was done; type the command again."
MAX_FIELDS = 50

Action = Literal["help", "status", "run", "unknown"]


@dataclass(frozen=True)
class CommandText:
    action: Action
    argument: str = ""


@dataclass(frozen=True)
class SlashCommand:
    command: str
    text: str
    user_id: str
    channel_id: str
    team_id: str | None
    response_url: str | None


def parse_text(text: str) -> CommandText:
    """``/mlc`` arguments: ``help``, ``status``, ``run NAME``; anything else is unknown."""
    words = text.split()
    if not words or words[0].lower() == "help":
        return CommandText("help")
    verb = words[0].lower()
    if verb == "status" and len(words) == 1:
        return CommandText("status")
    if verb == "run" and len(words) == 2:
        return CommandText("run", words[1])
    return CommandText("unknown", text.strip())


def parse_form(body: bytes) -> SlashCommand:
    try:
        fields = parse_qs(
            body.decode("utf-8"),
            keep_blank_values=True,
            strict_parsing=True,
            max_num_fields=MAX_FIELDS,
        )
    except (UnicodeDecodeError, ValueError):
        raise refuse(ENDPOINT, "malformed", 400, "body is not form data") from None

    def one(name: str) -> str | None:
        values = fields.get(name)
        return values[0] if values else None

    command, user_id, channel_id = one("command"), one("user_id"), one("channel_id")
    if not command or not user_id or not channel_id:
        raise refuse(ENDPOINT, "malformed", 400, "command, user_id and channel_id are required")
    return SlashCommand(
        command=command,
        text=one("text") or "",
        user_id=user_id,
        channel_id=channel_id,
        team_id=one("team_id"),
        response_url=one("response_url"),
    )


def may_run(settings: SlackWorkspace, user_id: str, channel_id: str) -> bool:
    return user_id in settings.allowed_users or channel_id in settings.allowed_channels


def is_ssl_check(body: bytes) -> bool:
    """Slack's periodic certificate check of a slash command's URL (``ssl_check=1``).

    It asks for nothing and carries no command, so it is answered 200 before any signature
    check, as Bolt's SslCheck middleware does (slack_bolt/middleware/ssl_check); a 401 would
    show the command's URL as failing in the app's settings.
    """
    try:
        fields = parse_qs(body.decode("ascii"), max_num_fields=MAX_FIELDS)
    except (UnicodeDecodeError, ValueError):
        return False
    return fields.get("ssl_check") == ["1"] and "command" not in fields


async def commands_handler(request: web.Request) -> web.Response:
    ctx = context(request)
    body = await read_capped(request, ctx.config.server.max_body_bytes, ENDPOINT)
    if is_ssl_check(body):
        WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="ssl_check").inc()
        return web.Response(status=200)
    signed = await verify_signed(request, ENDPOINT, body)
    command = parse_form(signed.body)
    first = await first_sighting(ctx, request)
    if first is None:
        WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="unavailable").inc()
        return web.json_response(replies.ephemeral(BUSY))
    if not first:
        log.warning("slash command replayed; not acted on", remote=request.remote)
        WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="replayed").inc()
        return web.json_response(replies.replayed())
    WEBHOOK_REQUESTS.labels(endpoint=ENDPOINT, outcome="accepted").inc()
    parsed = parse_text(command.text)
    if parsed.action == "help":
        return web.json_response(replies.help_message())
    if parsed.action == "status":
        return web.json_response(await status_reply(ctx, command))
    if parsed.action == "run":
        return web.json_response(await run_reply(ctx, signed.workspaces, command, parsed.argument))
    return web.json_response(replies.unknown_command(command.text))


async def first_sighting(ctx: WebContext, request: web.Request) -> bool | None:
    """Whether this signed request is new; ``None`` when the database cannot say within
    :data:`REPLAY_DEADLINE` (a write queued behind others on SQLite) or at all. Then the
    command is not acted on: running it unchecked could start a replayed run, and Slack's
    three seconds leave no time to wait longer."""
    recording = asyncio.ensure_future(
        ctx.replays.first_sighting(
            request.headers.get(signing.SIGNATURE_HEADER, ""),
            request.headers.get(signing.TIMESTAMP_HEADER),
            ENDPOINT,
            ctx.clock(),
        )
    )
    # Not wait_for: cancelling a SQLite call waits for the driver's thread to finish it (up to
    # the busy timeout). The write is left to finish on its own; the command is not acted on.
    done, _pending = await asyncio.wait({recording}, timeout=REPLAY_DEADLINE)
    if not done:
        recording.add_done_callback(_ignore_outcome)
        log.error("slash command's signature not recorded in time; not acted on")
        return None
    try:
        return recording.result()
    except (SQLAlchemyError, OSError) as exc:
        log.error("cannot record the slash command's signature; not acted on", error=exc)
        return None


def _ignore_outcome(task: asyncio.Future[bool]) -> None:
    if not task.cancelled():
        task.exception()  # retrieved, so asyncio does not log it as never retrieved


async def status_reply(ctx: WebContext, command: SlashCommand) -> replies.Message:
    zone = ZoneInfo(ctx.config.timezone)
    config, served = ctx.status_view()
    gathering = asyncio.ensure_future(
        gather_status(config, ctx.engine, recent_limit=0, served=served)
    )
    done, _pending = await asyncio.wait({gathering}, timeout=STATUS_DEADLINE)
    if done:
        return replies.status_message(gathering.result(), zone)
    if not usable_url(command.response_url):
        gathering.cancel()
        return replies.ephemeral("The database is slow to answer; try `/mlc status` again.")
    url = str(command.response_url)

    async def later() -> None:
        status = await gathering
        await post_response(ctx.client(), url, replies.status_message(status, zone))

    ctx.tasks.spawn(later(), name="mlc-status")
    return replies.ephemeral("Gathering the status; it will appear here in a moment.")


async def run_reply(
    ctx: WebContext, candidates: tuple[str, ...], command: SlashCommand, name: str
) -> replies.Message:
    workspace = await resolve_workspace(ctx.engine, candidates, command.team_id)
    settings = ctx.config.slack.workspaces.get(workspace) if workspace else None
    if workspace is None or settings is None:
        return replies.unknown_workspace()
    if not may_run(settings, command.user_id, command.channel_id):
        log.info(
            "slash command run refused",
            workspace=workspace,
            user=command.user_id,
            channel=command.channel_id,
            pipeline=name[:100],
        )
        return replies.not_allowed(command.user_id)
    pipeline = ctx.config.pipelines.get(name)
    if pipeline is None:
        return replies.unknown_pipeline(name, list(ctx.config.pipelines))
    if pipeline.workspace != workspace:
        return replies.other_workspace(name)
    log.info("pipeline run requested in slack", pipeline=name, user=command.user_id)
    ctx.tasks.spawn(run_and_report(ctx, name, command.response_url), name=f"mlc-run-{name}")
    return replies.queued(name)


async def run_and_report(ctx: WebContext, pipeline: str, response_url: str | None) -> None:
    started = time.monotonic()
    try:
        outcome = await ctx.run_pipeline(pipeline, "slack")
    except Exception as exc:  # the runner is the service's; whatever it raises, the user hears
        log.error("pipeline run from slack crashed", pipeline=pipeline, error=exc)
        message = replies.run_crashed(pipeline)
    else:
        message = replies.run_result(pipeline, outcome, time.monotonic() - started)
    if usable_url(response_url):
        await post_response(ctx.client(), str(response_url), message)
