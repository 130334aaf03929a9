"""The Slack simulator: a real aiohttp server speaking the Web API, with its controls.

Routes: ``/api/<method>`` (the Web API), ``/oauth/v2/authorize`` (the install consent page),
``/`` (channels and messages as HTML) and ``/_sim/api/…`` (the same as JSON, for tests and the
demo). Tests drive faults, tokens and channels through the :class:`SlackSimulator` object.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from aiohttp import web

from ml_connector import clock as wall_clock
from ml_connector.sim.http import LocalServer
from ml_connector.sim.slack.api_error import ApiError, RateLimitExceeded
from ml_connector.sim.slack.authorize_page import consent_page, error_page
from ml_connector.sim.slack.faults import BEFORE_HANDLING, Fault, Faults
from ml_connector.sim.slack.metadata import DEFAULT_MAX_BYTES
from ml_connector.sim.slack.methods import BLOCKS_TEXT_LIMIT, Handler, Rules, WebApi
from ml_connector.sim.slack.oauth import (
    AuthorizeProblem,
    AuthorizeRequest,
    oauth_v2_access,
    parse_authorize,
    redirect_with,
)
from ml_connector.sim.slack.page import render_page
from ml_connector.sim.slack.ratelimit import RateLimiter
from ml_connector.sim.slack.request import read_call
from ml_connector.sim.slack.state import CODE_TTL, ROTATING_TOKEN_TTL, App, Workspace

DEFAULT_CHANNELS = ("finance-gl", "payments", "alerts")

# Errors that mean the request itself was wrong (research/slack.md §1, "Payload error":
# "Permanent; our bug"), as opposed to auth, scope, channel or rate-limit answers.
REQUEST_ERRORS = frozenset(
    {
        "invalid_arguments",
        "invalid_array_arg",
        "invalid_attachments",
        "invalid_blocks",
        "invalid_blocks_format",
        "invalid_charset",
        "invalid_cursor",
        "invalid_form_data",
        "invalid_json",
        "invalid_metadata_format",
        "invalid_metadata_schema",
        "invalid_post_type",
        "invalid_ts_latest",
        "invalid_ts_oldest",
        "json_not_object",
        "metadata_too_large",
        "missing_post_type",
        "msg_blocks_too_long",
        "msg_too_long",
        "no_text",
        "too_many_attachments",
    }
)

_ERROR_HTML = (
    "<!DOCTYPE html><html><head><title>Slack</title></head><body>"
    "<h1>{status}</h1><p>Slack is having trouble right now. Please try again.</p>"
    "</body></html>"
)


@dataclass(frozen=True)
class _Route:
    verbs: frozenset[str]
    handler: Handler


class SlackSimulator(LocalServer):
    """A strict, in-process Slack workspace reachable over HTTP.

    Rate limits: ``post_burst`` messages at once per channel, then one per ``post_interval``
    seconds; ``conversations.history`` ``history_burst`` calls, then one per
    ``history_interval`` seconds (about one a minute for apps outside the Marketplace,
    research/slack.md §2). ``strict`` (the default) answers ``msg_too_long`` for text over
    40,000 characters instead of truncating it; ``blocks_text_limit`` is the
    ``msg_blocks_too_long`` threshold (None: off); ``refused`` counts requests refused as
    malformed. ``seed`` fixes ids and random faults. ``clock`` (wall time: ``ts``,
    code and token expiry) and ``monotonic`` (rate limits) let tests move time by hand.
    """

    def __init__(
        self,
        channels: Iterable[str] = DEFAULT_CHANNELS,
        *,
        post_interval: float = 1.0,
        post_burst: int = 1,
        history_interval: float = 60.0,
        history_burst: int = 1,
        seed: int = 0,
        metadata_max_bytes: int = DEFAULT_MAX_BYTES,
        blocks_text_limit: int | None = BLOCKS_TEXT_LIMIT,
        history_max_limit: int = 999,
        strict: bool = True,
        team_name: str = "ML Connector Sim",
        clock: Callable[[], float] = wall_clock.now,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._clock = clock
        self.workspace = Workspace(random.Random(seed), team_name)
        self.faults = Faults(random.Random(f"{seed}:faults"))
        self.calls: Counter[str] = Counter()
        self.rate_limited: Counter[str] = Counter()
        # Calls refused because the request itself was wrong (REQUEST_ERRORS), by error code;
        # injected faults are not counted. Our pipelines' tests check it stays empty.
        self.refused: Counter[str] = Counter()
        self.api = WebApi(
            self.workspace,
            post_limiter=RateLimiter(post_interval, post_burst, monotonic),
            history_limiter=RateLimiter(history_interval, history_burst, monotonic),
            rules=Rules(metadata_max_bytes, blocks_text_limit, history_max_limit, strict),
            clock=clock,
        )
        get_post = frozenset({"GET", "POST"})
        post = frozenset({"POST"})
        # Read methods take GET (slack_sdk's AsyncWebClient uses it for conversations.*) or
        # POST; methods that change something take POST only.
        self._routes: dict[str, _Route] = {
            "auth.test": _Route(get_post, self.api.auth_test),
            "auth.revoke": _Route(get_post, self.api.auth_revoke),
            "chat.postMessage": _Route(post, self.api.chat_post_message),
            "conversations.history": _Route(get_post, self.api.conversations_history),
            "conversations.info": _Route(get_post, self.api.conversations_info),
            "oauth.v2.access": _Route(
                post, lambda call: oauth_v2_access(self.workspace, call, now=self._clock())
            ),
        }
        for name in channels:
            self.create_channel(name)
        super().__init__()
        self._root: str | None = None

    def __repr__(self) -> str:
        where = self._root or "not started"
        return f"SlackSimulator({where}, channels={len(self.workspace.channels)})"

    # Lifecycle ------------------------------------------------------------------------------

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Serve on ``host:port`` (0: any free port) until :meth:`stop`."""
        self._root = await self._serve(host, port)

    # What clients need ----------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Root URL, e.g. ``http://127.0.0.1:8123``; the HTML channel page is served at ``/``."""
        if self._root is None:
            raise RuntimeError("the simulator is not started")
        return self._root

    @property
    def base_url(self) -> str:
        """What slack_sdk's ``base_url`` expects: ``http://127.0.0.1:8123/api/``."""
        return f"{self.url}/api/"

    @property
    def bot_token(self) -> str:
        """A bot token of the simulator's own app, a member of every channel created here."""
        return self.workspace.bot_token

    @property
    def team_id(self) -> str:
        return self.workspace.team_id

    @property
    def bot_user_id(self) -> str:
        return self.workspace.default_app.bot_user_id

    @property
    def bot_id(self) -> str:
        return self.workspace.default_app.bot_id

    # Controls for tests ---------------------------------------------------------------------

    def create_channel(self, name: str, *, bot_member: bool = True) -> str:
        """Create a public channel; return its id."""
        channel = self.workspace.create_channel(name, bot_member=bot_member, now=self._clock())
        return channel.id

    def channel_id(self, name: str) -> str:
        return self.workspace.channel_named(name).id

    def invite(self, channel_id: str, user_id: str) -> None:
        """Add a (bot) user to a channel, as ``/invite @bot`` would."""
        self.workspace.channels[channel_id].members.add(user_id)

    def archive_channel(self, channel_id: str) -> None:
        self.workspace.channels[channel_id].is_archived = True

    def messages(self, channel_id: str) -> list[dict[str, Any]]:
        """Stored messages in post order, each with ts, text, blocks and metadata."""
        return [m.as_record() for m in self.workspace.channels[channel_id].messages]

    def revoke_token(self, token: str) -> None:
        self.workspace.set_revoked(token, True)

    def restore_token(self, token: str) -> None:
        self.workspace.set_revoked(token, False)

    def register_app(
        self,
        client_id: str,
        client_secret: str,
        *,
        scopes: Iterable[str] = ("chat:write", "channels:history", "channels:read"),
        token_rotation: bool = False,
        code_ttl: float = CODE_TTL,
        token_ttl: float = ROTATING_TOKEN_TTL,
        redirect_uris: Iterable[str] = (),
        name: str = "ml-connector",
    ) -> App:
        """Register an app that can be installed through ``/oauth/v2/authorize``.

        ``scopes`` are the bot scopes its configuration allows; an install may ask for fewer.
        Its bot user is a member of no channel until :meth:`invite`.
        """
        return self.workspace.register_app(
            client_id,
            client_secret,
            scopes=scopes,
            token_rotation=token_rotation,
            code_ttl=code_ttl,
            token_ttl=token_ttl,
            redirect_uris=redirect_uris,
            name=name,
        )

    def authorize_url(
        self,
        client_id: str,
        scopes: Iterable[str],
        *,
        redirect_uri: str | None = None,
        state: str = "",
    ) -> str:
        params = {"client_id": client_id, "scope": ",".join(scopes), "state": state}
        if redirect_uri is not None:
            params["redirect_uri"] = redirect_uri
        return f"{self.url}/oauth/v2/authorize?{urlencode(params)}"

    # HTTP -----------------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/oauth/v2/authorize", self._authorize_get)
        app.router.add_post("/oauth/v2/authorize", self._authorize_post)
        app.router.add_get("/", self._page)
        app.router.add_get("/_sim/api/channels", self._channels_json)
        app.router.add_get("/_sim/api/channels/{channel_id}/messages", self._messages_json)
        return app

    async def _api(self, request: web.Request) -> web.StreamResponse:
        method = request.match_info["method"]
        route = self._routes.get(method)
        if route is None:
            self.refused["unknown_method"] += 1
            return web.json_response({"ok": False, "error": "unknown_method", "req_method": method})
        if request.method not in route.verbs:
            self.refused["method_not_allowed"] += 1
            # Stricter than Slack, which is lenient about verbs: a client using the wrong one
            # is told so instead of working here and failing elsewhere.
            return web.json_response(
                {"ok": False, "error": "method_not_allowed"},
                status=405,
                headers={"Allow": ", ".join(sorted(route.verbs))},
            )
        self.calls[method] += 1
        fault = self.faults.pick(method)
        if fault is not None and fault.kind in BEFORE_HANDLING:
            return await self._inject(request, method, fault)
        response = await self._handle(request, method, route)
        if fault is not None and fault.kind == "slow":
            await asyncio.sleep(fault.delay)
        elif fault is not None and fault.kind == "lost_answer":
            return _drop_connection(request)
        return response

    async def _handle(self, request: web.Request, method: str, route: _Route) -> web.Response:
        try:
            call = await read_call(request, method)
            body = route.handler(call)
        except ApiError as error:
            if error.code in REQUEST_ERRORS:
                self.refused[error.code] += 1
            body = error.body()
        except RateLimitExceeded as limited:
            self.rate_limited[method] += 1
            return _ratelimited(limited.retry_after)
        return web.json_response(body)

    async def _inject(self, request: web.Request, method: str, fault: Fault) -> web.StreamResponse:
        if fault.kind in {"http_500", "http_503"}:
            status = 500 if fault.kind == "http_500" else 503
            return web.Response(
                status=status, text=_ERROR_HTML.format(status=status), content_type="text/html"
            )
        if fault.kind == "ratelimited":
            self.rate_limited[method] += 1
            return _ratelimited(fault.retry_after)
        if fault.kind == "drop":
            await request.read()
            return _drop_connection(request)
        code = fault.error if fault.kind == "api_error" else fault.kind
        return web.json_response({"ok": False, "error": code})

    async def _authorize_get(self, request: web.Request) -> web.Response:
        params = dict(request.query)
        try:
            authorize = parse_authorize(self.workspace, params)
        except AuthorizeProblem as problem:
            return _html(error_page(str(problem)), status=400)
        if params.get("approve") == "1":  # tests skip the click
            raise self._code_redirect(authorize)
        return _html(consent_page(authorize, team_name=self.workspace.team_name))

    async def _authorize_post(self, request: web.Request) -> web.Response:
        form = await request.post()
        params = {key: str(value) for key, value in form.items()}
        try:
            authorize = parse_authorize(self.workspace, params)
        except AuthorizeProblem as problem:
            return _html(error_page(str(problem)), status=400)
        if params.get("decision") == "allow":
            raise self._code_redirect(authorize)
        location = redirect_with(
            authorize.redirect_uri, {"error": "access_denied", "state": authorize.state}
        )
        raise web.HTTPFound(location)

    def _code_redirect(self, authorize: AuthorizeRequest) -> web.HTTPFound:
        """Issue a single-use code and send the browser back to the app with it."""
        code = self.workspace.issue_code(
            authorize.app, authorize.scopes, authorize.bound_redirect_uri, now=self._clock()
        )
        return web.HTTPFound(
            redirect_with(authorize.redirect_uri, {"code": code.code, "state": authorize.state})
        )

    async def _page(self, request: web.Request) -> web.Response:
        channels = list(self.workspace.channels.values())
        wanted = request.query.get("channel")
        selected = next((c for c in channels if c.id == wanted), channels[0] if channels else None)
        return _html(render_page(channels, selected, team_name=self.workspace.team_name))

    async def _channels_json(self, request: web.Request) -> web.Response:
        return web.json_response(
            [
                {
                    "id": c.id,
                    "name": c.name,
                    "is_archived": c.is_archived,
                    "members": sorted(c.members),
                    "message_count": len(c.messages),
                }
                for c in self.workspace.channels.values()
            ]
        )

    async def _messages_json(self, request: web.Request) -> web.Response:
        channel_id = request.match_info["channel_id"]
        if channel_id not in self.workspace.channels:
            return web.json_response({"error": "channel_not_found"}, status=404)
        return web.json_response({"channel": channel_id, "messages": self.messages(channel_id)})


def _ratelimited(retry_after: int) -> web.Response:
    # "HTTP 429 Too Many Requests … and a Retry-After HTTP header containing the number of
    # seconds until you can retry" (https://docs.slack.dev/apis/web-api/rate-limits).
    return web.json_response(
        {"ok": False, "error": "ratelimited"},
        status=429,
        headers={"Retry-After": str(retry_after)},
    )


def _drop_connection(request: web.Request) -> web.Response:
    """Close the TCP connection without an answer; the client sees a disconnect."""
    transport = request.transport
    if transport is not None:
        transport.abort()
    return web.Response()


def _html(text: str, *, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html")
