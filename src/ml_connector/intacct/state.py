"""What the Intacct pipeline keeps between runs: per-stream cursors and the account titles.

Both are written on the caller's connection, inside the transaction that enqueues the run's
messages, so a crash never leaves a cursor ahead of its messages. Account titles live in the
shared ``cache_entries`` table, keyed by company, so every pipeline and process reading one
company shares one copy of its chart of accounts.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from ml_connector import clock
from ml_connector.intacct.run_window import StreamCursor
from ml_connector.store.tables import cache_entries, cursors

ACCOUNT_TITLES = "intacct.glaccount.title"


def _upsert(
    conn: AsyncConnection, table: sa.Table, values: dict[str, Any], keys: list[str]
) -> sa.Executable:
    insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = insert(table).values(**values)
    changes = {k: v for k, v in values.items() if k not in keys}
    return statement.on_conflict_do_update(index_elements=keys, set_=changes)


async def load_cursors(conn: AsyncConnection, pipeline: str) -> dict[str, StreamCursor]:
    rows = await conn.execute(
        sa.select(cursors.c.stream, cursors.c.value).where(cursors.c.pipeline == pipeline)
    )
    return {row.stream: StreamCursor.from_json(row.value) for row in rows}


async def save_cursor(
    conn: AsyncConnection, pipeline: str, stream: str, cursor: StreamCursor
) -> None:
    values = {
        "pipeline": pipeline,
        "stream": stream,
        "value": cursor.to_json(),
        "updated_at": clock.now(),
    }
    await conn.execute(_upsert(conn, cursors, values, ["pipeline", "stream"]))


def _account_key(company: str, account: str) -> str:
    return f"{company}|{account}"


async def load_titles(conn: AsyncConnection, company: str) -> dict[str, str]:
    """Account number → title for one company."""
    prefix = _account_key(company, "")
    rows = await conn.execute(
        sa.select(cache_entries.c.key, cache_entries.c.value).where(
            cache_entries.c.namespace == ACCOUNT_TITLES,
            cache_entries.c.key.startswith(prefix, autoescape=True),
        )
    )
    titles: dict[str, str] = {}
    for row in rows:
        value = row.value if isinstance(row.value, dict) else {}
        titles[row.key[len(prefix) :]] = str(value.get("title", ""))
    return titles


async def save_titles(conn: AsyncConnection, company: str, titles: Mapping[str, str]) -> None:
    now = clock.now()
    for account, title in titles.items():
        values = {
            "namespace": ACCOUNT_TITLES,
            "key": _account_key(company, account),
            "value": {"title": title},
            "updated_at": now,
        }
        await conn.execute(_upsert(conn, cache_entries, values, ["namespace", "key"]))
