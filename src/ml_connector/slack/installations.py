"""Rows of ``slack_installations`` and ``oauth_states``: who is installed, and pending installs.

Tokens never live here, only the names of the vault secrets that hold them. The status of an
installation is shared by every process, so a token Slack revoked is noticed once and every
worker stops using it.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any, Literal

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ml_connector import clock
from ml_connector.slack.errors import SlackPermanentError
from ml_connector.store.tables import oauth_states, slack_installations

STATE_TTL = 600.0  # seconds; Slack's SDKs default to ten minutes as well

Status = Literal["active", "unusable"]
ACTIVE: Status = "active"
UNUSABLE: Status = "unusable"


@dataclass(frozen=True)
class Installation:
    workspace: str
    team_id: str | None
    team_name: str | None
    app_id: str | None
    bot_user_id: str | None
    bot_id: str | None
    scopes: str | None
    bot_token_secret: str
    refresh_token_secret: str | None
    token_expires_at: float | None
    status: str
    unusable_reason: str | None
    installed_at: float
    updated_at: float

    @property
    def usable(self) -> bool:
        return self.status == ACTIVE

    @property
    def rotating(self) -> bool:
        return self.refresh_token_secret is not None


def bot_token_secret(workspace: str) -> str:
    return f"slack.{workspace}.bot_token"


def refresh_token_secret(workspace: str) -> str:
    return f"slack.{workspace}.refresh_token"


def _row(row: Any) -> Installation:
    mapping = row._mapping
    return Installation(**{column.name: mapping[column.name] for column in slack_installations.c})


async def get_installation(
    db: AsyncEngine | AsyncConnection, workspace: str, *, for_update: bool = False
) -> Installation | None:
    query = sa.select(slack_installations).where(slack_installations.c.workspace == workspace)
    if for_update:
        query = query.with_for_update()
    if isinstance(db, AsyncConnection):
        row = (await db.execute(query)).first()
    else:
        async with db.connect() as conn:
            row = (await conn.execute(query)).first()
    return None if row is None else _row(row)


async def list_installations(engine: AsyncEngine) -> list[Installation]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(slack_installations).order_by(slack_installations.c.workspace)
        )
        return [_row(r) for r in rows]


async def save_installation(conn: AsyncConnection, **values: Any) -> None:
    """Insert or replace a workspace's installation; it becomes active."""
    now = clock.now()
    workspace = values["workspace"]
    values = {**values, "status": ACTIVE, "unusable_reason": None, "updated_at": now}
    updated = await conn.execute(
        slack_installations.update()
        .where(slack_installations.c.workspace == workspace)
        .values(**values)
    )
    if updated.rowcount == 0:
        await conn.execute(slack_installations.insert().values(installed_at=now, **values))


async def update_token_expiry(conn: AsyncConnection, workspace: str, expires_at: float) -> None:
    await conn.execute(
        slack_installations.update()
        .where(slack_installations.c.workspace == workspace)
        .values(token_expires_at=expires_at, updated_at=clock.now())
    )


async def set_status(
    engine: AsyncEngine,
    workspace: str,
    status: Status,
    reason: str | None = None,
) -> bool:
    """Move an installation to ``status``; ``True`` if it was not there already."""
    async with engine.begin() as conn:
        result = await conn.execute(
            slack_installations.update()
            .where(
                slack_installations.c.workspace == workspace,
                slack_installations.c.status != status,
            )
            .values(status=status, unusable_reason=reason, updated_at=clock.now())
        )
    return bool(result.rowcount)


class OAuthStateError(SlackPermanentError):
    """An install redirect whose ``state`` we did not issue, or issued and already spent."""


class InstallRateLimited(SlackPermanentError):
    """More install links were asked for in the last minute than ``install_rate_per_minute``."""


async def issue_state(
    engine: AsyncEngine,
    workspace: str,
    *,
    ttl: float = STATE_TTL,
    browser_bound: bool = False,
    per_minute: int | None = None,
) -> str:
    """A fresh single-use ``state`` for one install of ``workspace``.

    ``per_minute``: refuse (:class:`InstallRateLimited`) once that many states were issued in
    the last minute by any process, so an open ``/slack/install`` cannot fill the table.
    """
    state = secrets.token_urlsafe(32)
    now = clock.now()
    async with engine.begin() as conn:
        # Expired states are useless; sweeping here keeps the table small without a job.
        await conn.execute(oauth_states.delete().where(oauth_states.c.expires_at < now - 86400))
        if per_minute is not None:
            recent = await conn.scalar(
                sa.select(sa.func.count()).where(oauth_states.c.created_at > now - 60)
            )
            if int(recent or 0) >= per_minute:
                raise InstallRateLimited(
                    f"install refused: more than {per_minute} install links were started in "
                    "the last minute; wait a minute and try again",
                    code="install_rate_limited",
                )
        await conn.execute(
            oauth_states.insert().values(
                state=state,
                workspace=workspace,
                created_at=now,
                expires_at=now + ttl,
                browser_bound=browser_bound,
            )
        )
    return state


async def consume_state(engine: AsyncEngine, state: str, *, same_browser: bool = False) -> str:
    """Spend ``state`` and return its workspace, or refuse saying why.

    The conditional UPDATE is what makes a state single-use even when two redirects race:
    only one of them changes the row. A state issued to a browser (``/slack/install``) is
    spent only by a redirect carrying that browser's cookie (``same_browser``), so a link
    someone else started cannot be completed in your browser (login CSRF), nor used up by it.
    """
    now = clock.now()
    async with engine.begin() as conn:
        binding = sa.true() if same_browser else oauth_states.c.browser_bound.is_(False)
        spent = await conn.execute(
            oauth_states.update()
            .where(
                oauth_states.c.state == state,
                oauth_states.c.used_at.is_(None),
                oauth_states.c.expires_at > now,
                binding,
            )
            .values(used_at=now)
            .returning(oauth_states.c.workspace)
        )
        workspace = spent.scalar()
        if workspace is not None:
            return str(workspace)
        row = (
            await conn.execute(sa.select(oauth_states).where(oauth_states.c.state == state))
        ).first()
    if row is None:
        raise OAuthStateError(
            "install refused: unknown state (not issued by this ml-connector); "
            "start again with `ml-connector slack install-url`",
            code="state_unknown",
        )
    if row.browser_bound and not same_browser and row.used_at is None:
        raise OAuthStateError(
            "install refused: this install was started in another browser (or its cookie "
            "was blocked); open /slack/install again in this browser",
            code="state_other_browser",
        )
    if row.used_at is not None:
        raise OAuthStateError(
            "install refused: this install link was already used; "
            "start again with `ml-connector slack install-url`",
            code="state_used",
        )
    raise OAuthStateError(
        "install refused: the install link expired (valid for 10 minutes); "
        "start again with `ml-connector slack install-url`",
        code="state_expired",
    )
