"""Signed Slack requests accepted once: a replay within the signature window is recognised.

A slash command's signature covers its timestamp and body, and stays valid for Slack's
5-minute window, so anyone who captured a genuine ``/mlc run …`` could send it again and
start another run each time. Each accepted signature is inserted into
``slack_request_replays`` (insert-or-ignore on the primary key, so two processes sharing
PostgreSQL agree on which of them saw it first) and kept until its timestamp has left the
window; a second sighting is refused by every process. Expired rows are swept as new ones
arrive, at most once a minute per process.
"""

from __future__ import annotations

import time

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.slack import signing
from ml_connector.store.tables import slack_request_replays

# Kept this long past the request's own timestamp: the window either side plus a margin.
KEEP = 2 * signing.MAX_SKEW + 60
SWEEP_EVERY = 60.0


class ReplayGuard:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine
        self._swept = 0.0

    async def first_sighting(
        self, signature: str, timestamp: str | None, endpoint: str, now: float
    ) -> bool:
        """``True`` the first time this signature is seen by any process sharing the store."""
        try:
            stamp = float(timestamp or now)
        except ValueError:
            stamp = now
        async with self._engine.begin() as conn:
            insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
            result = await conn.execute(
                insert(slack_request_replays)
                .values(
                    signature=signature.strip().lower()[:100],
                    endpoint=endpoint,
                    received_at=now,
                    expires_at=max(stamp, now) + KEEP,
                )
                .on_conflict_do_nothing(index_elements=["signature"])
                .returning(slack_request_replays.c.signature)
            )
            first = result.first() is not None
            if time.monotonic() - self._swept > SWEEP_EVERY:
                self._swept = time.monotonic()
                await conn.execute(
                    sa.delete(slack_request_replays).where(slack_request_replays.c.expires_at < now)
                )
        return first
