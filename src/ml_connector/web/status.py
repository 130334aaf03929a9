"""``GET /``: the read-only status page, rendered on the server.

No script, no external assets: the page works behind any proxy and offers nothing to inject
into. Jinja2 escapes every value (autoescape), and what reaches the template comes from
:func:`ml_connector.status.gather_status`, which holds no secret and redacts outside text.
"""

from __future__ import annotations

from functools import cache
from zoneinfo import ZoneInfo

from aiohttp import web
from jinja2 import Environment, PackageLoader, select_autoescape

from ml_connector import clock
from ml_connector.errors import VaultError
from ml_connector.logging import get_logger
from ml_connector.schedule.preview import until
from ml_connector.slack.dates import format_datetime
from ml_connector.status import gather_status
from ml_connector.web.context import context
from ml_connector.web.page_auth import authorize, status_credentials, unauthorized

log = get_logger("ml_connector.web")

RECENT = 25
HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


@cache
def templates() -> Environment:
    env = Environment(
        loader=PackageLoader("ml_connector.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["until"] = until
    return env


async def status_page_handler(request: web.Request) -> web.Response:
    ctx = context(request)
    server = ctx.config.server
    try:
        decision = await authorize(
            status_credentials(server), ctx.vault, request.headers.get("Authorization")
        )
    except VaultError as exc:
        log.error("status page credentials unreadable", error=exc)
        return web.Response(status=503, text="status page credentials cannot be read\n")
    if not decision.configured:
        return web.Response(
            status=403,
            text="The status page is off: set server.status_token, or server.status_user and "
            "server.status_password, to the names of stored secrets.\n",
        )
    if not decision.allowed:
        log.info("status page refused", remote=request.remote)
        return unauthorized(decision)
    zone = ZoneInfo(ctx.config.timezone)
    config, served = ctx.status_view()
    status = await gather_status(
        config, ctx.engine, now=ctx.clock(), recent_limit=RECENT, served=served
    )

    def when(epoch: float | None) -> str:
        return "—" if epoch is None else format_datetime(epoch, zone)

    body = (
        templates()
        .get_template("status.html")
        .render(
            status=status,
            when=when,
            zone=zone.key,
            cert_now=clock.to_datetime(status.generated_at),
        )
    )
    return web.Response(text=body, content_type="text/html", headers=HEADERS)
