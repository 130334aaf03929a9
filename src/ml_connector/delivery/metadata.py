"""The outbox id carried in each message's Slack ``metadata``, and finding it again.

Slack has no idempotency key, so after a lost answer the only way to know whether a message
arrived is to look for it. The namespace is random per database, so two ml-connector
installations posting to one channel never mistake each other's ids.
"""

from __future__ import annotations

import secrets
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.store.tables import cache_entries

EVENT_TYPE = "ml_connector_outbox"


def message_metadata(namespace: str, outbox_id: int) -> dict[str, Any]:
    return {"event_type": EVENT_TYPE, "event_payload": {"ns": namespace, "id": outbox_id}}


def outbox_id_of(message: dict[str, Any], namespace: str) -> int | None:
    metadata = message.get("metadata")
    if not isinstance(metadata, dict) or metadata.get("event_type") != EVENT_TYPE:
        return None
    payload = metadata.get("event_payload")
    if not isinstance(payload, dict) or payload.get("ns") != namespace:
        return None
    value = payload.get("id")
    return value if isinstance(value, int) else None


async def namespace(engine: AsyncEngine) -> str:
    """This database's namespace, created once; concurrent creators agree on the winner."""
    key = {"namespace": "delivery", "key": "namespace"}
    query = sa.select(cache_entries.c.value).where(
        cache_entries.c.namespace == key["namespace"], cache_entries.c.key == key["key"]
    )
    async with engine.connect() as conn:
        found = await conn.scalar(query)
    if found is not None:
        return str(found)
    try:
        async with engine.begin() as conn:
            await conn.execute(
                cache_entries.insert().values(
                    **key, value=secrets.token_hex(6), updated_at=clock.now()
                )
            )
    except sa.exc.IntegrityError:
        pass
    async with engine.connect() as conn:
        return str(await conn.scalar(query))
