"""Reading a request from Slack: headers first, then the raw body within its cap, then the
signature, and only then anything inside the body.

Every refusal is logged with its reason, the path and the size, never with the body (a
forged request is attacker-controlled text, and a genuine one may hold user data).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from aiohttp import web

from ml_connector.logging import get_logger
from ml_connector.slack import signing
from ml_connector.web.context import context
from ml_connector.web.guard import BodyTimeout
from ml_connector.web.metrics import WEBHOOK_REQUESTS

log = get_logger("ml_connector.web")

INVALID = {"error": "invalid request"}


@dataclass(frozen=True)
class SignedRequest:
    body: bytes
    # The configured workspaces whose signing secret signed it (one app can serve several).
    workspaces: tuple[str, ...]


class Refusal(Exception):
    """A request turned away with an HTTP error; the app's middleware sends ``response``."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.response = web.json_response({"error": message}, status=status)


def refuse(endpoint: str, outcome: str, status: int, message: str) -> Refusal:
    """A refusal counted by outcome; the caller raises it."""
    WEBHOOK_REQUESTS.labels(endpoint=endpoint, outcome=outcome).inc()
    return Refusal(status, message)


async def read_signed(request: web.Request, endpoint: str) -> SignedRequest:
    """The verified raw body, or an HTTP error raised: 401, 413.

    The headers are checked before the body is read, so an unsigned request costs nothing.
    """
    ctx = context(request)
    early = _header_failure(request.headers, ctx.clock())
    if early is not None:
        raise _unauthorized(request, endpoint, early, size=request.content_length)
    body = await read_capped(request, ctx.config.server.max_body_bytes, endpoint)
    return await verify_signed(request, endpoint, body)


async def verify_signed(request: web.Request, endpoint: str, body: bytes) -> SignedRequest:
    """``body`` (already read) verified against the request's signature headers (missing or
    stale headers included: ``signing.verify`` checks them too)."""
    ctx = context(request)
    now = ctx.clock()
    headers = request.headers
    verdict = signing.verify(await ctx.keys.current(), headers, body, now)
    if verdict.failure is signing.Failure.BAD_SIGNATURE:
        fresh = await ctx.keys.refreshed()
        if fresh is not None:
            verdict = signing.verify(fresh, headers, body, now)
    if verdict.failure is not None:
        raise _unauthorized(request, endpoint, verdict.failure, size=len(body))
    return SignedRequest(body, verdict.matched)


def _header_failure(headers: Mapping[str, str], now: float) -> signing.Failure | None:
    if not headers.get(signing.SIGNATURE_HEADER):
        return signing.Failure.MISSING_HEADERS
    return signing.check_timestamp(headers.get(signing.TIMESTAMP_HEADER), now)


def _unauthorized(
    request: web.Request, endpoint: str, reason: signing.Failure, *, size: int | None
) -> Refusal:
    log.warning(
        "slack request refused",
        reason=reason.value,
        path=request.path,
        remote=request.remote,
        bytes=size,
        retry=request.headers.get("X-Slack-Retry-Num"),
    )
    return refuse(endpoint, "unauthorized", 401, INVALID["error"])


async def read_capped(request: web.Request, limit: int, endpoint: str) -> bytes:
    """The raw body; 413 as soon as it is known to exceed ``limit`` (nothing more is read)."""
    declared = request.content_length
    if declared is not None and declared > limit:
        raise _too_large(request, endpoint, declared, limit)
    body = bytearray()
    try:
        async for chunk in request.content.iter_any():
            body += chunk
            if len(body) > limit:
                raise _too_large(request, endpoint, len(body), limit)
    except BodyTimeout:
        raise refuse(
            endpoint, "too_slow", 408, "the request body took too long to arrive"
        ) from None
    return bytes(body)


def _too_large(request: web.Request, endpoint: str, size: int, limit: int) -> Refusal:
    log.warning("slack request too large", path=request.path, bytes=size, limit=limit)
    return refuse(endpoint, "too_large", 413, f"body over {limit} bytes")
