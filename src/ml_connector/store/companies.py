"""The companies the database knows about: settings added from the CLI, and pauses.

A *company* is one tenant of a pipeline: a Sage 100 company code (``ABC``), or an Intacct
entity id (``E100``) or company id (the top level). It is named by ``(pipeline, company)``,
the same pair that keys its cursors, runs and schedule slots (``ml_connector.companies``).

Two things live here, in one ``companies`` row per pair:

* **settings** — a company added with ``ml-connector companies add``: its per-company table
  exactly as it would be written in the file (``channels``/``streams`` overrides), stored as
  JSON after validation with the config's own pydantic models. ``None`` for a company that
  only the config file lists (a row then exists only to hold a pause).
* **a pause** — a paused company is not polled; its cursor stays where it is, so ``resume``
  reads on from there and nothing is missed or posted twice. ``reason`` says who paused it:
  ``'operator'`` (``companies pause``) or ``'failing'`` (the scheduler, after repeated
  failures, as Airbyte does for failing connections).

API (every function takes the caller's ``AsyncConnection``, so it joins the caller's
transaction; open one with ``async with engine.begin() as conn``)::

    await pause(conn, "sage100", "ABC", reason="failing", note="8 failures: agent down")
    await is_paused(conn, "sage100", "ABC")        # -> Pause | None
    await paused(conn)                             # -> {("sage100", "ABC"): Pause, ...}
    await resume(conn, "sage100", "ABC")           # -> the Pause lifted, or None
    await save_settings(conn, "sage100", "XYZ", {...})   # `companies add`
    await stored_settings(conn)                    # -> {pipeline: {company: settings}}
    await remove(conn, "sage100", "XYZ")           # `companies remove` (cursors are kept)
    await list_rows(conn, "sage100")               # -> [CompanyRow, ...]

An operator's pause is never overwritten by the scheduler's: ``pause(reason="failing")`` on a
company the operator already paused leaves the operator's reason and note; an operator
pausing a company the scheduler paused takes it over (it then stays paused until resumed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal, get_args

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector import clock
from ml_connector.store.tables import companies

PauseReason = Literal["operator", "failing"]
PAUSE_REASONS: tuple[str, ...] = get_args(PauseReason)


@dataclass(frozen=True)
class Pause:
    reason: PauseReason
    at: float
    note: str | None = None


@dataclass(frozen=True)
class CompanyRow:
    pipeline: str
    company: str
    settings: dict[str, Any] | None
    pause: Pause | None


def _insert(conn: AsyncConnection) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(companies)


def _where(pipeline: str, company: str) -> sa.ColumnElement[bool]:
    return sa.and_(companies.c.pipeline == pipeline, companies.c.company == company)


def _pause_of(row: Any) -> Pause | None:
    if not row.paused:
        return None
    reason: PauseReason = "failing" if row.paused_reason == "failing" else "operator"
    return Pause(reason=reason, at=float(row.paused_at or 0.0), note=row.paused_note)


async def pause(
    conn: AsyncConnection,
    pipeline: str,
    company: str,
    *,
    reason: PauseReason = "operator",
    note: str | None = None,
) -> Pause:
    """Pause a company's polls; returns the pause in effect afterwards (see module doc)."""
    if reason not in PAUSE_REASONS:
        raise ValueError(f"pause reason must be one of {PAUSE_REASONS}, got {reason!r}")
    now = clock.now()
    current = await is_paused(conn, pipeline, company, for_update=True)
    if current is not None and (current.reason == "operator" or reason == "failing"):
        return current
    values = {"paused": True, "paused_reason": reason, "paused_note": note, "paused_at": now}
    statement = _insert(conn).values(
        pipeline=pipeline, company=company, created_at=now, updated_at=now, **values
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["pipeline", "company"], set_={**values, "updated_at": now}
        )
    )
    return Pause(reason=reason, at=now, note=note)


async def resume(conn: AsyncConnection, pipeline: str, company: str) -> Pause | None:
    """Lift a company's pause, whoever set it; returns the pause lifted (None: not paused)."""
    current = await is_paused(conn, pipeline, company, for_update=True)
    if current is None:
        return None
    await conn.execute(
        companies.update()
        .where(_where(pipeline, company))
        .values(
            paused=False,
            paused_reason=None,
            paused_note=None,
            paused_at=None,
            updated_at=clock.now(),
        )
    )
    # A row that held only the pause (a company of the config file) has nothing left.
    await conn.execute(
        companies.delete().where(_where(pipeline, company), companies.c.settings.is_(None))
    )
    return current


async def is_paused(
    conn: AsyncConnection, pipeline: str, company: str, *, for_update: bool = False
) -> Pause | None:
    query = sa.select(
        companies.c.paused,
        companies.c.paused_reason,
        companies.c.paused_note,
        companies.c.paused_at,
    ).where(_where(pipeline, company))
    if for_update:
        query = query.with_for_update()
    row = (await conn.execute(query)).first()
    return None if row is None else _pause_of(row)


async def paused(
    conn: AsyncConnection, pipeline: str | None = None
) -> dict[tuple[str, str], Pause]:
    """Every paused company (of one pipeline, or all), keyed ``(pipeline, company)``."""
    query = sa.select(companies).where(companies.c.paused.is_(True))
    if pipeline is not None:
        query = query.where(companies.c.pipeline == pipeline)
    found: dict[tuple[str, str], Pause] = {}
    for row in await conn.execute(query):
        pause_ = _pause_of(row)
        if pause_ is not None:
            found[(row.pipeline, row.company)] = pause_
    return found


async def save_settings(
    conn: AsyncConnection, pipeline: str, company: str, settings: dict[str, Any]
) -> bool:
    """Store a company's settings (already validated); True if it was new. A pause stays."""
    now = clock.now()
    existing = await conn.scalar(
        sa.select(sa.func.count()).select_from(companies).where(_where(pipeline, company))
    )
    statement = _insert(conn).values(
        pipeline=pipeline, company=company, settings=settings, created_at=now, updated_at=now
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["pipeline", "company"],
            set_={"settings": statement.excluded.settings, "updated_at": now},
        )
    )
    return not existing


async def remove(conn: AsyncConnection, pipeline: str, company: str) -> bool:
    """Forget a company added with ``companies add`` (and its pause). Its cursors and
    fingerprints stay, so adding it back later reads on from where it stopped."""
    result = await conn.execute(
        companies.delete().where(_where(pipeline, company), companies.c.settings.is_not(None))
    )
    return bool(result.rowcount)


async def list_rows(conn: AsyncConnection, pipeline: str | None = None) -> list[CompanyRow]:
    query = sa.select(companies).order_by(companies.c.pipeline, companies.c.company)
    if pipeline is not None:
        query = query.where(companies.c.pipeline == pipeline)
    return [
        CompanyRow(
            pipeline=row.pipeline,
            company=row.company,
            settings=dict(row.settings) if row.settings is not None else None,
            pause=_pause_of(row),
        )
        for row in await conn.execute(query)
    ]


async def stored_settings(conn: AsyncConnection) -> dict[str, dict[str, dict[str, Any]]]:
    """The settings of every company added from the CLI: ``{pipeline: {company: settings}}``."""
    found: dict[str, dict[str, dict[str, Any]]] = {}
    for row in await list_rows(conn):
        if row.settings is not None:
            found.setdefault(row.pipeline, {})[row.company] = row.settings
    return found
