"""``/healthz`` (the process answers) and ``/readyz`` (it can do its work).

A load balancer should stop sending traffic to a process whose database is gone or whose
schema is older than its code, but must not restart it for that: liveness and readiness are
separate questions.
"""

from __future__ import annotations

import asyncio

import sqlalchemy as sa
from aiohttp import web

from ml_connector.logging import get_logger
from ml_connector.store import current_revision, head_revision
from ml_connector.store.migrate import state_at
from ml_connector.web.context import context

log = get_logger("ml_connector.web")

READY_TIMEOUT = 3.0


async def healthz_handler(_request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz_handler(request: web.Request) -> web.Response:
    engine = context(request).engine
    try:
        current = await asyncio.wait_for(current_revision(engine), READY_TIMEOUT)
    except (TimeoutError, sa.exc.SQLAlchemyError, OSError) as exc:
        log.warning("not ready: database unreachable", error=exc)
        return web.json_response({"status": "unavailable", "database": "unreachable"}, status=503)
    head = head_revision()
    if current != head:
        state = state_at(current)
        what_to_do = (
            "run the newer ml-connector that wrote it, or restore the backup from before"
            if state.status == "ahead"
            else "run `ml-connector db upgrade` (`ml-connector init` on a new installation)"
        )
        return web.json_response(
            {
                "status": "unavailable",
                "database": "ok",
                "migrations": f"{state.describe()}; {what_to_do}",
            },
            status=503,
        )
    return web.json_response({"status": "ok", "database": "ok", "migrations": "current"})
