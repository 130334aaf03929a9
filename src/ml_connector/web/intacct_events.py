"""``POST /intacct/events/{connection}``: Sage Intacct's triggers, answered within a second.

Order of checks, cheapest and least trusting first: the connection must be configured for
triggers (404 otherwise); the credential is checked from the headers alone (401, counted by
reason in /metrics: forged, expired, wrong audience, wrong issuer, wrong client, missing);
then the body is read within its cap and parsed for object names and record keys only (400:
not JSON/XML, too large, too deep, names no watched record); then, in one transaction, the
idempotency key is recorded and a targeted read queued (a retry of a key already recorded gets
200 and adds nothing; a credential used before for another delivery is a replay: 401). Only
then is the answer 200, so nothing Intacct was told is accepted can be lost.

The answer waits for that one small transaction and nothing else: the read happens after, in
the trigger worker, which this handler wakes. If the database cannot take the delivery within
``STORE_TIMEOUT`` the answer is 503, which Intacct retries after 10 s, 30 s and 90 s
(developer.sage.com/intacct/docs/developer-portal/guides/webhooks); that is the one 5xx, and
it is never the answer to bad input.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import AsyncIterator, Callable

import sqlalchemy as sa
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import IntacctConnection
from ml_connector.errors import StoreError
from ml_connector.intacct import trigger_store
from ml_connector.intacct.trigger_auth import KeysUnavailable, Refused, TriggerVerifier
from ml_connector.intacct.trigger_events import BadEvent, parse_event
from ml_connector.intacct.trigger_metrics import TRIGGER_REQUESTS
from ml_connector.logging import get_logger
from ml_connector.web.context import context
from ml_connector.web.inbound import Refusal

log = get_logger("ml_connector.web")

PATH = "/intacct/events/{connection}"
STORE_TIMEOUT = 0.8
MAX_KEY = 200

Wake = Callable[[], None]
VERIFIERS: web.AppKey[dict[str, TriggerVerifier]] = web.AppKey(
    "ml_connector.intacct_verifiers", dict
)
WAKE: web.AppKey[Wake] = web.AppKey("ml_connector.intacct_wake")


INTAKE: web.AppKey[trigger_store.AcceptQueue] = web.AppKey("ml_connector.intacct_intake")


def register(app: web.Application, engine: AsyncEngine, on_queued: Wake | None) -> None:
    """Add the route and its group-committing intake; ``on_queued`` wakes this process's
    trigger worker."""
    app[VERIFIERS] = {}
    app[WAKE] = on_queued or (lambda: None)
    app[INTAKE] = intake = trigger_store.AcceptQueue(engine)

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        intake.start()
        try:
            yield
        finally:
            await intake.close()

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(PATH, intacct_events_handler)


def _refuse(status: int, outcome: str, message: str, reason: str = "") -> Refusal:
    TRIGGER_REQUESTS.labels(outcome=outcome, reason=reason).inc()
    return Refusal(status, message)


def _verifier(request: web.Request, name: str) -> TriggerVerifier:
    ctx = context(request)
    verifiers = request.app[VERIFIERS]
    found = verifiers.get(name)
    if found is not None:
        return found
    connection = ctx.config.connections.get(name)
    if not isinstance(connection, IntacctConnection) or connection.triggers is None:
        raise _refuse(404, "not_found", "no Intacct connection by that name takes triggers")
    found = TriggerVerifier(
        name,
        connection.triggers,
        ctx.vault,
        ctx.client,
        base_dir=ctx.config.base_dir,
        now=ctx.clock,
    )
    verifiers[name] = found
    return found


async def intacct_events_handler(request: web.Request) -> web.Response:
    ctx = context(request)
    name = request.match_info["connection"]
    verifier = _verifier(request, name)
    connection = ctx.config.connections[name]
    assert isinstance(connection, IntacctConnection) and connection.triggers is not None
    settings = connection.triggers
    try:
        verified = await verifier.verify(request.headers)
    except Refused as refused:
        log.warning(
            "intacct trigger refused",
            connection=name,
            reason=refused.reason,
            detail=str(refused),
            remote=request.remote,
        )
        raise _refuse(401, "unauthorized", "not authorized", refused.reason) from None
    except KeysUnavailable as exc:
        log.error("intacct trigger cannot be verified now", connection=name, error=str(exc))
        raise _refuse(503, "unavailable", "cannot verify now, try again") from None
    body = await _read_capped(request, settings.max_body_bytes)
    try:
        refs = parse_event(body, request.content_type, max_depth=settings.max_depth)
    except BadEvent as bad:
        log.warning("intacct trigger body refused", connection=name, problem=str(bad))
        raise _refuse(400, "bad_request", str(bad)) from None
    digest = hashlib.sha256(body).hexdigest()
    key = request.headers.get(settings.idempotency_header, "").strip() or f"body:{digest}"
    if len(key) > MAX_KEY or not key.isprintable():
        raise _refuse(400, "bad_request", f"{settings.idempotency_header} is not a usable key")
    delivery = trigger_store.Delivery(name, key, digest, verified)
    try:
        accepted = await asyncio.wait_for(
            request.app[INTAKE].accept(
                delivery,
                refs,
                now=ctx.clock(),
                coalesce=settings.coalesce_seconds,
            ),
            STORE_TIMEOUT,
        )
    except (TimeoutError, sa.exc.SQLAlchemyError, OSError, StoreError) as exc:
        log.error("intacct trigger not recorded; Intacct will retry", error=type(exc).__name__)
        raise _refuse(503, "unavailable", "busy, try again") from None
    if accepted == "replayed":
        log.warning("intacct trigger replayed", connection=name, form=verified.form)
        raise _refuse(401, "unauthorized", "not authorized", "replayed")
    TRIGGER_REQUESTS.labels(outcome=accepted, reason="").inc()
    if accepted == "accepted":
        request.app[WAKE]()
    return web.json_response(
        {"ok": True, "records": len(refs), "duplicate": accepted != "accepted"}
    )


async def _read_capped(request: web.Request, limit: int) -> bytes:
    """The body; 400 as soon as it is known to exceed ``limit`` (nothing more is read)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _refuse(400, "bad_request", f"body over {limit} bytes")
    body = bytearray()
    async for chunk in request.content.iter_any():
        body += chunk
        if len(body) > limit:
            raise _refuse(400, "bad_request", f"body over {limit} bytes")
    return bytes(body)
