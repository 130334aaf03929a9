"""The dashboard's routes: ``/login``, ``/logout``, ``/`` for browsers, ``/dashboard/replay``.

Scripts keep using ``GET /`` with ``Authorization`` (:mod:`ml_connector.web.status`); a
browser without it is sent to the login form. Actions are POSTs carrying the session's CSRF
token. Everything is rendered on the server; the Content-Security-Policy allows no script.
"""

from __future__ import annotations

from functools import cache
from typing import NoReturn
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from ml_connector.delivery.replay import replay_one
from ml_connector.errors import VaultError
from ml_connector.logging import get_logger
from ml_connector.slack.dates import format_datetime
from ml_connector.slack.links import channel_link, is_channel_id, permalinks
from ml_connector.status import gather_status
from ml_connector.web.context import WebContext, context
from ml_connector.web.dashboard import charts
from ml_connector.web.dashboard.channels import ChannelNames
from ml_connector.web.dashboard.data import gather_dashboard
from ml_connector.web.dashboard.session import (
    COOKIE,
    LIFETIME,
    Session,
    check_login,
    csrf_ok,
    new_session,
    read_session,
    signing_key,
)
from ml_connector.web.status import HEADERS

log = get_logger("ml_connector.web")

NAMES: web.AppKey[ChannelNames] = web.AppKey("ml_connector.dashboard.names", ChannelNames)
OFF = (
    "The status page is off: set server.status_token, or server.status_user and "
    "server.status_password, to the names of stored secrets.\n"
)


@cache
def templates() -> Environment:
    return Environment(
        loader=PackageLoader("ml_connector.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )


def add_routes(app: web.Application) -> None:
    app[NAMES] = ChannelNames()
    app.router.add_get("/login", login_form)
    app.router.add_post("/login", login_submit)
    app.router.add_post("/logout", logout)
    app.router.add_post("/dashboard/replay", replay_action)


async def _session(request: web.Request) -> tuple[bytes, Session | None] | None:
    ctx = context(request)
    key = await signing_key(ctx.config.server, ctx.vault)
    if key is None:
        return None
    return key, read_session(key, request.cookies.get(COOKIE), ctx.clock())


def _html(body: str, status: int = 200) -> web.Response:
    return web.Response(text=body, status=status, content_type="text/html", headers=HEADERS)


async def login_form(request: web.Request, *, problem: str | None = None) -> web.Response:
    ctx = context(request)
    server = ctx.config.server
    if not (server.status_token or (server.status_user and server.status_password)):
        return web.Response(status=403, text=OFF)
    body = (
        templates()
        .get_template("login.html")
        .render(user_field=bool(server.status_user), problem=problem)
    )
    return _html(body, 401 if problem else 200)


async def login_submit(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    form = await request.post()
    user, password = str(form.get("user", "")), str(form.get("password", ""))
    try:
        ok = await check_login(ctx.config.server, ctx.vault, user, password)
        key = await signing_key(ctx.config.server, ctx.vault)
    except VaultError as exc:
        log.error("status page credentials unreadable", error=exc)
        return web.Response(status=503, text="status page credentials cannot be read\n")
    if not ok or key is None:
        log.warning("dashboard login refused", remote=request.remote)
        return await login_form(request, problem="Wrong user or password.")
    redirect = web.HTTPSeeOther("/")
    redirect.set_cookie(
        COOKIE,
        new_session(key, ctx.clock()),
        max_age=int(LIFETIME),
        httponly=True,
        samesite="Strict",
        secure=_secure(request, ctx),
        path="/",
    )
    raise redirect


async def logout(request: web.Request) -> web.StreamResponse:
    found = await _session(request)
    form = await request.post()
    if found is not None and found[1] is not None:
        key, session = found[0], found[1]
        if not csrf_ok(key, session, _field(form, "csrf")):
            return web.Response(status=403, text="stale form: reload the page and try again\n")
    redirect = web.HTTPSeeOther("/login")
    redirect.del_cookie(COOKIE, path="/")
    raise redirect


async def dashboard_page(request: web.Request) -> web.StreamResponse:
    try:
        found = await _session(request)
    except VaultError as exc:
        log.error("status page credentials unreadable", error=exc)
        return web.Response(status=503, text="status page credentials cannot be read\n")
    if found is None:
        return web.Response(status=403, text=OFF)
    key, session = found
    if session is None:
        raise web.HTTPSeeOther("/login")
    ctx = context(request)
    config, served = ctx.status_view()
    zone = ZoneInfo(config.timezone)
    status = await gather_status(config, ctx.engine, now=ctx.clock(), recent_limit=0, served=served)
    data = await gather_dashboard(config, ctx.engine, status, now=ctx.clock())
    wanted = {(r.workspace, c) for r in data.rows for c in r.channels}
    wanted |= {(d.workspace, d.channel) for d in data.dead_letters}
    names = await request.app[NAMES].lookup(config, ctx.engine, ctx.vault, wanted)

    def channel(workspace: str, channel_id: str) -> dict[str, str]:
        settings = config.slack.workspaces.get(workspace)
        base = settings.api_base_url if settings else ""
        team = next((i.team_id for i in data.installations if i.workspace == workspace), None)
        name = names.get((workspace, channel_id))
        return {
            "id": channel_id,
            "name": f"#{name}" if name else channel_id,
            "url": channel_link(base, channel_id, team) if base else "",
        }

    def when(epoch: float | None) -> str:
        return "—" if epoch is None else format_datetime(epoch, zone)

    chart_html = {
        "day": [
            charts.bar_list("Posts per channel, 24 h", _named(data.day.posts_per_channel, names)),
            charts.bar_chart("Posts per hour", data.day.posts, data.day.labels),
            charts.bar_chart("Failures per hour", data.day.failures, data.day.labels),
            charts.bar_chart("Queue depth", data.day.queue_depth, data.day.labels),
            charts.bar_chart(
                "Run duration (mean)", data.day.run_seconds, data.day.labels, unit=" s"
            ),
        ],
        "week": [
            charts.bar_list(
                "Posts per channel, 7 days", _named(data.week.posts_per_channel, names)
            ),
            charts.bar_chart("Posts per day", data.week.posts, data.week.labels),
            charts.bar_chart("Failures per day", data.week.failures, data.week.labels),
            charts.bar_chart("Queue depth", data.week.queue_depth, data.week.labels),
            charts.bar_chart(
                "Run duration (mean)", data.week.run_seconds, data.week.labels, unit=" s"
            ),
        ],
    }
    body = (
        templates()
        .get_template("dashboard.html")
        .render(
            data=data,
            status=status,
            when=when,
            channel=channel,
            charts=chart_html,
            csrf=session.csrf(key),
            notice=request.query.get("notice"),
            zone=zone.key,
        )
    )
    return _html(body)


def _named(
    items: tuple[tuple[str, int], ...], names: dict[tuple[str, str], str | None]
) -> list[tuple[str, float]]:
    by_id = {c: n for (_w, c), n in names.items() if n}
    return [(f"#{by_id[c]}" if c in by_id else c, float(v)) for c, v in items]


async def replay_action(request: web.Request) -> web.StreamResponse:
    found = await _session(request)
    if found is None or found[1] is None:
        raise web.HTTPSeeOther("/login")
    key, session = found[0], found[1]
    form = await request.post()
    if not csrf_ok(key, session, _field(form, "csrf")):
        return web.Response(status=403, text="stale form: reload the page and try again\n")
    raw_id = _field(form, "outbox_id") or ""
    target = (_field(form, "channel") or "").strip() or None
    if not raw_id.isdigit():
        _back("no message chosen")
    if target is not None and not is_channel_id(target):
        _back(f"not a channel id (like C0123ABCD): {target[:40]}")
    ctx = context(request)
    async with ctx.engine.begin() as conn:
        result = await replay_one(
            conn, int(raw_id), channel=target, permalink=permalinks(ctx.config)
        )
    if result.replay is None:
        _back(f"message {raw_id}: {result.skipped}")
    log.info(
        "dead letter replayed from the dashboard",
        outbox_id=int(raw_id),
        replay=result.replay,
        channel=result.channel,
    )
    _back(f"message {raw_id} queued again as {result.replay} for {result.channel}")


def _back(notice: str) -> NoReturn:
    raise web.HTTPSeeOther("/?" + urlencode({"notice": notice}))


def _field(form: object, name: str) -> str | None:
    value = form.get(name) if hasattr(form, "get") else None
    return value if isinstance(value, str) else None


def _secure(request: web.Request, ctx: WebContext) -> bool:
    base = ctx.config.public_base_url or ""
    return request.secure or base.startswith("https://")
