"""The pipeline's memory in the database: stream cursors, last-posted fingerprints, and the
certificate each agent last presented (for the status views' expiry warnings).

Every write here takes the caller's connection, so it lands in the same transaction as the
outbox rows it accounts for: either the messages and the new cursor are both committed, or
neither is, and a crash in between repeats the poll instead of losing or doubling it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector import clock
from ml_connector.errors import StoreError
from ml_connector.sage100.collect.cursor import StreamCursor
from ml_connector.store.tables import cache_entries, cursors, record_states

#: Keys per ``IN (…)`` list: well under SQLite's and PostgreSQL's parameter limits.
CHUNK = 500
#: ``cache_entries`` namespace of the agents' certificates; the key is the connection's name.
AGENT_CERTIFICATES = "sage100.agent_certificate"


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    dialect = postgresql if conn.dialect.name == "postgresql" else sqlite
    return dialect.insert(table)


async def load_cursor(
    conn: AsyncConnection, pipeline: str, stream: str, *, for_update: bool = False
) -> StreamCursor | None:
    """The stream's cursor; ``for_update`` locks its row on PostgreSQL until the commit, so
    two processes polling one stream at once queue the poll's messages once (SQLite's
    ``BEGIN IMMEDIATE`` already serialises writers)."""
    query = sa.select(cursors.c.value).where(
        cursors.c.pipeline == pipeline, cursors.c.stream == stream
    )
    if for_update:
        query = query.with_for_update()
    value = await conn.scalar(query)
    if value is None:
        return None
    try:
        return StreamCursor.from_json(value)
    except (KeyError, TypeError, ValueError) as exc:
        raise StoreError(
            f"the stored cursor of {pipeline}/{stream} is unreadable ({exc}); "
            "reset it to re-read from a chosen time"
        ) from exc


async def save_cursor(
    conn: AsyncConnection, pipeline: str, stream: str, cursor: StreamCursor
) -> None:
    statement = _insert(conn, cursors).values(
        pipeline=pipeline, stream=stream, value=cursor.to_json(), updated_at=clock.now()
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["pipeline", "stream"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


async def load_states(
    conn: AsyncConnection, pipeline: str, stream: str, keys: Iterable[str]
) -> dict[str, dict[str, Any]]:
    wanted = sorted(set(keys))
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(wanted), CHUNK):
        rows = await conn.execute(
            sa.select(record_states.c.record_key, record_states.c.fingerprint).where(
                record_states.c.pipeline == pipeline,
                record_states.c.stream == stream,
                record_states.c.record_key.in_(wanted[start : start + CHUNK]),
            )
        )
        found.update({row.record_key: dict(row.fingerprint) for row in rows})
    return found


async def save_states(
    conn: AsyncConnection, pipeline: str, stream: str, states: Mapping[str, Mapping[str, Any]]
) -> None:
    if not states:
        return
    now = clock.now()
    statement = _insert(conn, record_states)
    statement = statement.on_conflict_do_update(
        index_elements=["pipeline", "stream", "record_key"],
        set_={
            "fingerprint": statement.excluded.fingerprint,
            "updated_at": statement.excluded.updated_at,
        },
    )
    rows = [
        {
            "pipeline": pipeline,
            "stream": stream,
            "record_key": key,
            "fingerprint": dict(value),
            "updated_at": now,
        }
        for key, value in states.items()
    ]
    for start in range(0, len(rows), CHUNK):
        await conn.execute(statement, rows[start : start + CHUNK])


async def save_agent_certificate(
    conn: AsyncConnection, connection: str, subject: str, not_after: float
) -> None:
    """The certificate the agent of ``connection`` presented in its TLS handshake, now."""
    now = clock.now()
    value = {"subject": subject, "not_after": not_after, "seen_at": now}
    statement = _insert(conn, cache_entries).values(
        namespace=AGENT_CERTIFICATES, key=connection, value=value, updated_at=now
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["namespace", "key"],
            set_={"value": statement.excluded.value, "updated_at": statement.excluded.updated_at},
        )
    )


async def load_agent_certificates(conn: AsyncConnection) -> dict[str, dict[str, Any]]:
    """Connection name → ``{"subject", "not_after", "seen_at"}`` (epoch seconds)."""
    rows = await conn.execute(
        sa.select(cache_entries.c.key, cache_entries.c.value).where(
            cache_entries.c.namespace == AGENT_CERTIFICATES
        )
    )
    return {row.key: dict(row.value) for row in rows if isinstance(row.value, dict)}
