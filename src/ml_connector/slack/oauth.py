"""The OAuth v2 install: an authorize URL with a single-use state, then the code exchange.

https://docs.slack.dev/authentication/installing-with-oauth. The operator runs
``ml-connector slack install-url --workspace W`` and opens the URL; Slack sends the browser back
to ``{public_base_url}/slack/oauth_redirect`` with ``code`` and ``state``; the web server calls
:meth:`Installer.complete_install`. The ``state`` binds the redirect to an install we started
(CSRF): it is random, stored, spent on first use and dead after ten minutes.

Scopes requested (see :mod:`.scopes` for the reason of each): ``chat:write``,
``channels:read``, ``groups:read``, ``channels:history``, ``groups:history``, ``commands``.
History is read only to find our own messages by metadata after an ambiguous failure.

With token rotation on, Slack returns a refresh token and an access token that lives 12 hours
(https://docs.slack.dev/authentication/using-token-rotation); both are stored in the vault and
:class:`~.tokens.WorkspaceTokens` refreshes the access token before it expires.
"""

from __future__ import annotations

from collections.abc import Awaitable, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

from slack_sdk.web.async_client import AsyncWebClient
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import Config, SlackWorkspace
from ml_connector.errors import ConfigError
from ml_connector.logging import get_logger
from ml_connector.slack.client import SlackApi, SlackClient
from ml_connector.slack.errors import SlackError, SlackPermanentError
from ml_connector.slack.installations import (
    Installation,
    bot_token_secret,
    consume_state,
    get_installation,
    issue_state,
    refresh_token_secret,
    save_installation,
)
from ml_connector.slack.manifest import redirect_url
from ml_connector.slack.scopes import missing_scopes, scope_list
from ml_connector.vault import Vault

log = get_logger("ml_connector.slack.oauth")


@dataclass(frozen=True)
class TokenGrant:
    """What ``oauth.v2.access`` granted; ``repr`` never shows the tokens."""

    access_token: str
    refresh_token: str | None
    expires_at: float | None
    scope: str
    team_id: str | None
    team_name: str | None
    bot_user_id: str | None
    app_id: str | None

    def __repr__(self) -> str:
        return (
            f"TokenGrant(team_id={self.team_id!r}, scope={self.scope!r}, "
            f"rotating={self.refresh_token is not None}, expires_at={self.expires_at!r})"
        )


def parse_grant(data: Mapping[str, Any], *, now: float) -> TokenGrant:
    """The bot token part of an ``oauth.v2.access`` answer ("bot access tokens first")."""
    token = data.get("access_token")
    if data.get("token_type") != "bot" or not isinstance(token, str) or not token:
        raise SlackPermanentError(
            "Slack oauth.v2.access: the answer holds no bot token (was a bot scope granted?)",
            method="oauth.v2.access",
            code="no_bot_token",
        )
    raw_team = data.get("team")
    team: Mapping[str, Any] = raw_team if isinstance(raw_team, Mapping) else {}
    expires_in = data.get("expires_in")
    refresh = data.get("refresh_token")
    return TokenGrant(
        access_token=token,
        refresh_token=refresh if isinstance(refresh, str) and refresh else None,
        expires_at=now + float(expires_in) if isinstance(expires_in, int | float) else None,
        scope=str(data.get("scope") or ""),
        team_id=team.get("id"),
        team_name=team.get("name"),
        bot_user_id=data.get("bot_user_id"),
        app_id=data.get("app_id"),
    )


async def oauth_v2_access(
    api: SlackApi,
    *,
    client_id: str,
    client_secret: str,
    code: str | None = None,
    redirect_uri: str | None = None,
    refresh_token: str | None = None,
) -> TokenGrant:
    """Exchange a code (install) or a refresh token (rotation) for a bot token.

    A lost answer is ambiguous here too: Slack may have spent the code or the old refresh
    token already, which only a new install can repair.
    """

    def invoke(web: AsyncWebClient) -> Awaitable[Any]:
        return web.oauth_v2_access(
            client_id=client_id,
            client_secret=client_secret,
            code=code,
            redirect_uri=redirect_uri,
            grant_type="refresh_token" if refresh_token else None,
            refresh_token=refresh_token,
        )

    data = await api.call("oauth.v2.access", invoke, token=None, side_effects=True)
    return parse_grant(data, now=clock.now())


def workspace_settings(config: Config, workspace: str) -> SlackWorkspace:
    settings = config.slack.workspaces.get(workspace)
    if settings is None:
        known = ", ".join(sorted(config.slack.workspaces)) or "none defined"
        raise ConfigError(f"slack.workspaces.{workspace}: not configured (configured: {known})")
    return settings


def oauth_credentials_names(settings: SlackWorkspace, workspace: str) -> tuple[str, str]:
    if settings.client_id is None or settings.client_secret is None:
        raise ConfigError(
            f"slack.workspaces.{workspace}: client_id and client_secret are needed for the "
            "OAuth install (from the Slack app's Basic Information page)"
        )
    return settings.client_id, settings.client_secret


class InstallRefused(SlackPermanentError):
    """An install the config does not allow; the message says which setting would."""


class Installer:
    """Starts and completes installs of the Slack app into configured workspaces."""

    def __init__(
        self, config: Config, engine: AsyncEngine, vault: Vault, *, timeout: float = 10.0
    ) -> None:
        self.config = config
        self.engine = engine
        self.vault = vault
        self.timeout = timeout

    def _redirect_uri(self) -> str | None:
        # Without a public URL Slack uses the app's one configured redirect URL.
        return redirect_url(self.config) if self.config.public_base_url else None

    async def install_url(self, workspace: str) -> str:
        """The authorize URL to open in a browser; valid for one install within 10 minutes."""
        url, _state = await self.start_install(workspace)
        return url

    def allow_reinstall(self, workspace: str) -> bool:
        settings = workspace_settings(self.config, workspace)
        if settings.allow_reinstall is not None:
            return settings.allow_reinstall
        return self.config.slack.allow_reinstall

    async def refusal(self, workspace: str) -> InstallRefused | None:
        """Why an install of ``workspace`` may not start now, if it may not: it would replace
        a working bot token and the config does not allow reinstalls."""
        previous = await get_installation(self.engine, workspace)
        if previous is None or not previous.usable or self.allow_reinstall(workspace):
            return None
        return InstallRefused(
            f"install refused: {workspace!r} is already installed "
            f"(team {previous.team_name or previous.team_id or 'unknown'}) and a new install "
            "would replace its bot token; set slack.allow_reinstall = true (or "
            f"slack.workspaces.{workspace}.allow_reinstall) to allow it",
            code="already_installed",
        )

    async def start_install(
        self, workspace: str, *, browser_bound: bool = False, per_minute: int | None = None
    ) -> tuple[str, str]:
        """The authorize URL and its state (``browser_bound``: for ``/slack/install``)."""
        settings = workspace_settings(self.config, workspace)
        client_id, _secret = oauth_credentials_names(settings, workspace)
        state = await issue_state(
            self.engine, workspace, browser_bound=browser_bound, per_minute=per_minute
        )
        params = {"client_id": client_id, "scope": ",".join(scope_list()), "state": state}
        redirect = self._redirect_uri()
        if redirect:
            params["redirect_uri"] = redirect
        return f"{settings.oauth_authorize_url}?{urlencode(params)}", state

    async def complete_install(
        self, code: str, state: str, *, same_browser: bool = False
    ) -> Installation:
        """Check the state, exchange the code, store the installation with its tokens encrypted.

        The state is spent before the exchange: a replayed redirect is refused even if the
        exchange then fails, and the operator starts a fresh install.
        """
        if not code:
            raise SlackPermanentError("install refused: the redirect carried no code")
        workspace = await consume_state(self.engine, state, same_browser=same_browser)
        refused = await self.refusal(workspace)
        if refused is not None:
            raise refused
        settings = workspace_settings(self.config, workspace)
        client_id, secret_name = oauth_credentials_names(settings, workspace)
        client_secret = await self.vault.get(secret_name)
        async with SlackApi(settings.api_base_url, timeout=self.timeout) as api:
            grant = await oauth_v2_access(
                api,
                client_id=client_id,
                client_secret=client_secret,
                code=code,
                redirect_uri=self._redirect_uri(),
            )
            auth = await SlackClient(grant.access_token, api=api).auth_test()
        previous = await get_installation(self.engine, workspace)
        team = grant.team_id or auth.team_id
        expected = settings.team_id or (previous.team_id if previous is not None else None)
        if expected and team != expected and not self.allow_reinstall(workspace):
            log.warning(
                "slack install into another team refused",
                workspace=workspace,
                expected_team=expected,
                team=team,
            )
            raise InstallRefused(
                f"install refused: {workspace!r} belongs to Slack team {expected}, and this "
                f"install was into team {team or 'unknown'}; nothing was stored. Install from "
                f"the right workspace, or set slack.workspaces.{workspace}.team_id (or "
                "allow_reinstall) if the team really changed",
                code="other_team",
            )
        if settings.token_rotation and grant.refresh_token is None:
            log.warning(
                "token_rotation is set but Slack issued a non-expiring token; "
                "turn rotation on in the Slack app's OAuth settings",
                workspace=workspace,
            )
        missing = missing_scopes(grant.scope)
        if missing:
            log.warning("slack install lacks scopes", workspace=workspace, missing=missing)
        async with self.engine.begin() as conn:
            await self.vault.set(bot_token_secret(workspace), grant.access_token, conn=conn)
            refresh_name = None
            if grant.refresh_token:
                refresh_name = refresh_token_secret(workspace)
                await self.vault.set(refresh_name, grant.refresh_token, conn=conn)
            await save_installation(
                conn,
                workspace=workspace,
                team_id=grant.team_id or auth.team_id,
                team_name=grant.team_name or auth.team,
                app_id=grant.app_id,
                bot_user_id=grant.bot_user_id or auth.user_id,
                bot_id=auth.bot_id,
                scopes=grant.scope,
                bot_token_secret=bot_token_secret(workspace),
                refresh_token_secret=refresh_name,
                token_expires_at=grant.expires_at,
            )
        log.info(
            "slack app installed",
            workspace=workspace,
            team=grant.team_id,
            rotating=grant.refresh_token is not None,
        )
        installation = await get_installation(self.engine, workspace)
        if installation is None:
            raise SlackError(f"installation of {workspace!r} vanished after it was stored")
        return installation
