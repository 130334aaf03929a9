"""Bot tokens per workspace: read from the vault, refreshed before expiry, retired when refused.

A workspace gets its token from its OAuth installation (``slack_installations`` + vault) or,
in a single-workspace setup, from the secret named by ``bot_token`` in the config; the latter
gets an installation row on first use so both kinds share one status.

When Slack refuses a token (``invalid_auth``, ``token_revoked``, ``account_inactive`` …) the
installation is marked ``unusable`` with the reason, logged once, and every later call fails
fast with :class:`SlackCredentialsError` without touching Slack: the work is held, not retried
forever. It becomes usable again after a re-install, or after :meth:`WorkspaceTokens.recheck`
sees ``auth.test`` accept the (restored or replaced) token.

Rotating tokens are refreshed two hours before they expire, as slack_sdk's ``TokenRotator``
does. Each refresh spends the old refresh token, so two processes must never refresh at the
same time: the refresh runs inside a transaction holding the installation row (``FOR UPDATE``
on PostgreSQL, the write lock on SQLite) and re-checks the expiry once it holds it.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import SlackWorkspace
from ml_connector.logging import get_logger
from ml_connector.slack.client import AuthInfo, SlackApi, SlackClient, StaticToken
from ml_connector.slack.errors import SlackCredentialsError, SlackError, SlackPermanentError
from ml_connector.slack.installations import (
    ACTIVE,
    UNUSABLE,
    Installation,
    get_installation,
    set_status,
    update_token_expiry,
)
from ml_connector.slack.oauth import oauth_credentials_names, oauth_v2_access
from ml_connector.store.tables import slack_installations
from ml_connector.vault import Vault

log = get_logger("ml_connector.slack.tokens")

REFRESH_MARGIN = 2 * 3600.0

NOT_INSTALLED = "not_installed"


@dataclass(frozen=True)
class InstallationStatus:
    """What a status page shows about a workspace; never a token."""

    workspace: str
    state: str  # active | unusable | not_installed
    reason: str | None = None
    team_id: str | None = None
    team_name: str | None = None
    scopes: str | None = None
    token_expires_at: float | None = None
    static_token: bool = False


async def installation_status(
    engine: AsyncEngine, workspace: str, settings: SlackWorkspace | None = None
) -> InstallationStatus:
    installation = await get_installation(engine, workspace)
    if installation is None:
        if settings is not None and settings.bot_token:
            return InstallationStatus(workspace, ACTIVE, static_token=True)
        hint = f"run `ml-connector slack install-url --workspace {workspace}`"
        return InstallationStatus(workspace, NOT_INSTALLED, reason=f"not installed; {hint}")
    return InstallationStatus(
        workspace=workspace,
        state=installation.status,
        reason=installation.unusable_reason,
        team_id=installation.team_id,
        team_name=installation.team_name,
        scopes=installation.scopes,
        token_expires_at=installation.token_expires_at,
        static_token=installation.refresh_token_secret is None
        and settings is not None
        and installation.bot_token_secret == settings.bot_token,
    )


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


class WorkspaceTokens:
    """The :class:`~.client.TokenSource` of one configured workspace."""

    def __init__(
        self,
        engine: AsyncEngine,
        vault: Vault,
        workspace: str,
        settings: SlackWorkspace,
        *,
        refresh_margin: float = REFRESH_MARGIN,
        timeout: float = 10.0,
    ) -> None:
        self.engine = engine
        self.vault = vault
        self.workspace = workspace
        self.settings = settings
        self.refresh_margin = refresh_margin
        self.timeout = timeout
        self._lock = asyncio.Lock()
        self._last_token: str | None = None

    def __repr__(self) -> str:
        return f"WorkspaceTokens(workspace={self.workspace!r})"

    def _reinstall_hint(self, installation: Installation | None) -> str:
        if installation is not None and installation.bot_token_secret == self.settings.bot_token:
            return (
                f"store a working token with `ml-connector secrets set {self.settings.bot_token}`"
                f", then run `ml-connector slack check --workspace {self.workspace}`"
            )
        return f"re-install with `ml-connector slack install-url --workspace {self.workspace}`"

    async def _installation(self) -> Installation:
        installation = await get_installation(self.engine, self.workspace)
        if installation is not None:
            return installation
        if not self.settings.bot_token:
            raise SlackCredentialsError(
                f"Slack workspace {self.workspace!r} is not installed; "
                f"run `ml-connector slack install-url --workspace {self.workspace}`",
                code="not_installed",
            )
        await self._adopt_static_token(self.settings.bot_token)
        installation = await get_installation(self.engine, self.workspace)
        if installation is None:
            raise SlackError(f"Slack workspace {self.workspace!r}: installation row missing")
        return installation

    async def _adopt_static_token(self, secret_name: str) -> None:
        """Give a ``secrets set`` token an installation row, so it can be marked unusable."""
        now = clock.now()
        try:
            async with self.engine.begin() as conn:
                await conn.execute(
                    slack_installations.insert().values(
                        workspace=self.workspace,
                        bot_token_secret=secret_name,
                        status=ACTIVE,
                        installed_at=now,
                        updated_at=now,
                    )
                )
        except sa.exc.IntegrityError:
            pass  # another process adopted it first; same row either way

    async def token(self) -> str:
        installation = await self._installation()
        if not installation.usable:
            raise SlackCredentialsError(
                f"Slack workspace {self.workspace!r} is unusable: "
                f"{installation.unusable_reason or 'token refused'}; "
                f"{self._reinstall_hint(installation)}",
                code="installation_unusable",
            )
        expires = installation.token_expires_at
        due = expires is not None and clock.now() >= expires - self.refresh_margin
        if installation.rotating and expires is not None and due:
            try:
                await self._refresh(force=False)
            except SlackCredentialsError:
                raise
            except SlackError as exc:
                if clock.now() >= expires:
                    raise
                # Slack is briefly unavailable; the token still works, refresh next time.
                log.warning("slack token refresh failed", workspace=self.workspace, error=exc)
            installation = await self._installation()
        token = await self.vault.get(installation.bot_token_secret)
        self._last_token = token
        return token

    async def refresh_expired(self) -> bool:
        installation = await self._installation()
        if not installation.rotating:
            return False
        current = await self.vault.get(installation.bot_token_secret)
        if self._last_token is not None and current != self._last_token:
            return True  # another process refreshed it while our call was in flight
        await self._refresh(force=True)
        return True

    async def _refresh(self, *, force: bool) -> None:
        client_id, secret_name = oauth_credentials_names(self.settings, self.workspace)
        client_secret = await self.vault.get(secret_name)
        async with self._lock, self.engine.begin() as conn:
            installation = await get_installation(conn, self.workspace, for_update=True)
            if installation is None or installation.refresh_token_secret is None:
                return
            expires = installation.token_expires_at or 0.0
            if not force and clock.now() < expires - self.refresh_margin:
                return  # refreshed by another worker while we waited for the row
            refresh_token = await self.vault.get(installation.refresh_token_secret, conn=conn)
            try:
                async with SlackApi(self.settings.api_base_url, timeout=self.timeout) as api:
                    grant = await oauth_v2_access(
                        api,
                        client_id=client_id,
                        client_secret=client_secret,
                        refresh_token=refresh_token,
                    )
            except SlackPermanentError as exc:
                failure: SlackPermanentError | None = exc
            else:
                failure = None
                await self.vault.set(installation.bot_token_secret, grant.access_token, conn=conn)
                if grant.refresh_token:
                    await self.vault.set(
                        installation.refresh_token_secret, grant.refresh_token, conn=conn
                    )
                if grant.expires_at is not None:
                    await update_token_expiry(conn, self.workspace, grant.expires_at)
        if failure is not None:
            # invalid_refresh_token, bad_client_secret …: only a person can fix these.
            error = SlackCredentialsError(
                f"Slack workspace {self.workspace!r}: token refresh refused "
                f"({failure.code or failure.message})",
                method="oauth.v2.access",
                code=failure.code,
            )
            await self.rejected(error)
            raise error from None
        log.info("slack token refreshed", workspace=self.workspace)

    async def rejected(self, error: SlackCredentialsError) -> None:
        installation = await get_installation(self.engine, self.workspace)
        reason = (
            f"Slack refused the token ({error.code or 'credentials'}) "
            f"on {error.method or 'a call'} at {_when(clock.now())}; "
            f"{self._reinstall_hint(installation)}"
        )
        if await set_status(self.engine, self.workspace, UNUSABLE, reason):
            log.error(
                "slack installation unusable: work for this workspace is held",
                workspace=self.workspace,
                error=error.code,
                reason=reason,
            )

    async def recheck(self) -> AuthInfo:
        """``auth.test`` with the stored token even if unusable; on success, usable again."""
        installation = await self._installation()
        token = await self.vault.get(installation.bot_token_secret)
        async with SlackClient(
            StaticToken(token, self.workspace),
            base_url=self.settings.api_base_url,
            timeout=self.timeout,
        ) as client:
            info = await client.auth_test()
        if await set_status(self.engine, self.workspace, ACTIVE):
            log.info("slack installation usable again", workspace=self.workspace)
        return info


def client_for(
    engine: AsyncEngine,
    vault: Vault,
    workspace: str,
    settings: SlackWorkspace,
    *,
    timeout: float = 10.0,
) -> SlackClient:
    """A :class:`SlackClient` for a configured workspace, with its tokens managed."""
    tokens = WorkspaceTokens(engine, vault, workspace, settings, timeout=timeout)
    return SlackClient(tokens, base_url=settings.api_base_url, timeout=timeout)
