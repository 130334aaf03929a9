"""``/slack/install`` and ``/slack/oauth_redirect``: the browser side of the OAuth v2 install.

The pages are plain HTML with no script: the person installing needs to read one sentence
(installed, or why not and what to do), and nothing here should be able to run code in their
browser. Messages shown come from our own errors, escaped all the same.
"""

from __future__ import annotations

import html

from aiohttp import web

from ml_connector.delivery.holds import resume_workspace
from ml_connector.errors import ConfigError, ExternalError, MLConnectorError
from ml_connector.logging import get_logger
from ml_connector.slack.installations import InstallRateLimited, OAuthStateError
from ml_connector.slack.oauth import InstallRefused
from ml_connector.web.context import context
from ml_connector.web.install_cookie import clear_cookie, cookie_key, same_browser, set_cookie
from ml_connector.web.page_auth import decode_basic, same

log = get_logger("ml_connector.web")

PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>body{{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;}}</style>
</head><body><h1>{title}</h1><p>{message}</p></body></html>
"""


def page(title: str, message: str, status: int) -> web.Response:
    return web.Response(
        status=status,
        text=PAGE.format(title=html.escape(title), message=html.escape(message)),
        content_type="text/html",
        headers={"Cache-Control": "no-store", "Referrer-Policy": "no-referrer"},
    )


def installable_workspaces(request: web.Request) -> list[str]:
    workspaces = context(request).config.slack.workspaces
    return [name for name, ws in workspaces.items() if ws.client_id is not None]


async def install_handler(request: web.Request) -> web.StreamResponse:
    ctx = context(request)
    slack = ctx.config.slack
    if slack.install_password is not None and not await _password_given(request):
        log.info("slack install refused: no or wrong install password", remote=request.remote)
        answer = page(
            "Install password needed",
            "This ml-connector asks for its install password (slack.install_password) before "
            "an install can start.",
            401,
        )
        answer.headers["WWW-Authenticate"] = 'Basic realm="ml-connector install", charset="UTF-8"'
        return answer
    workspace = request.query.get("workspace")
    if workspace is None:
        choices = installable_workspaces(request)
        if len(choices) != 1:
            listed = ", ".join(choices) or "none has client_id and client_secret"
            return page(
                "Which workspace?",
                f"Add ?workspace=NAME to the address; configured for install: {listed}.",
                400,
            )
        workspace = choices[0]
    try:
        refused = await ctx.installer.refusal(workspace)
        if refused is not None:
            return page("Already installed", refused.message, 403)
        url, state = await ctx.installer.start_install(
            workspace, browser_bound=True, per_minute=slack.install_rate_per_minute
        )
    except ConfigError as exc:
        return page("Cannot start the install", str(exc), 400)
    except InstallRateLimited as exc:
        log.warning("slack install links rate-limited", remote=request.remote)
        answer = page("Too many installs started", exc.message, 429)
        answer.headers["Retry-After"] = "60"
        return answer
    answer = web.HTTPFound(url, headers={"Cache-Control": "no-store"})
    set_cookie(answer, ctx.config, await cookie_key(ctx.vault), state)
    raise answer


async def _password_given(request: web.Request) -> bool:
    ctx = context(request)
    name = ctx.config.slack.install_password
    if name is None:
        return True
    scheme, _, credentials = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return False
    _user, password = decode_basic(credentials.strip())
    return password is not None and same(password, await ctx.vault.get(name))


async def oauth_redirect_handler(request: web.Request) -> web.Response:
    ctx = context(request)
    query = request.query
    if "error" in query:
        log.info("slack install declined", error=query.get("error", "")[:100])
        return page(
            "Not installed",
            f"Slack reported: {query.get('error', '')[:100]}. Nothing was installed.",
            400,
        )
    code, state = query.get("code", ""), query.get("state", "")
    if not code or not state:
        return page("Not installed", "The link is missing its code or state.", 400)
    key = await cookie_key(ctx.vault)
    try:
        installation = await ctx.installer.complete_install(
            code, state, same_browser=same_browser(request, key, state)
        )
    except OAuthStateError as exc:
        return _forget(page("Not installed", exc.message, 400))
    except InstallRefused as exc:
        return _forget(page("Not installed", exc.message, 403))
    except ExternalError as exc:
        log.warning("slack install failed", error=exc, transient=exc.transient)
        return page("Not installed", f"Slack refused the install: {exc.message}", 502)
    except MLConnectorError as exc:
        log.error("slack install failed", error=exc)
        return page("Not installed", str(exc), 500 if not isinstance(exc, ConfigError) else 400)
    async with ctx.engine.begin() as conn:
        resumed = await resume_workspace(conn, installation.workspace)
    if resumed:
        log.info(
            "held messages resumed after install", workspace=installation.workspace, count=resumed
        )
    team = installation.team_name or installation.team_id or "the workspace"
    return _forget(
        page(
            "Installed",
            f"ml-connector is installed in {team} (workspace {installation.workspace!r}). "
            "You can close this window.",
            200,
        )
    )


def _forget(response: web.Response) -> web.Response:
    """The state is spent either way: the browser drops its cookie."""
    clear_cookie(response)
    return response
