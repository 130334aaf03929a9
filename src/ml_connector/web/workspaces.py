"""Which configured workspace a verified Slack request came from.

One Slack app (one signing secret) may be installed in several workspaces, so the signature
narrows the choice to the workspaces sharing that secret and the ``team_id`` in the body
picks among them by their installations. A request from a team none of them is installed in
belongs to no workspace: it may be acknowledged but never acted on.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.store.tables import slack_installations


async def resolve_workspace(
    engine: AsyncEngine, candidates: Sequence[str], team_id: str | None
) -> str | None:
    if not candidates:
        return None
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(slack_installations.c.workspace, slack_installations.c.team_id).where(
                slack_installations.c.workspace.in_(list(candidates))
            )
        )
        installed = {workspace: team for workspace, team in rows}
    return pick_workspace(candidates, installed, team_id)


def pick_workspace(
    candidates: Sequence[str], installed: dict[str, str | None], team_id: str | None
) -> str | None:
    """Pure choice: an installation of this team, else the only candidate not bound elsewhere."""
    if team_id:
        exact = [name for name in candidates if installed.get(name) == team_id]
        if exact:
            return exact[0] if len(exact) == 1 else None
    if len(candidates) != 1:
        return None
    only = candidates[0]
    bound_to = installed.get(only)
    if bound_to and team_id and bound_to != team_id:
        return None
    return only
