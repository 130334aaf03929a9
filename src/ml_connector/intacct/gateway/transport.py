"""HTTP to the gateway: one keep-alive connection and one request at a time per company.

Intacct counts concurrent requests per company, so within a process a company's requests are
serialized behind a lock over a connector limited to one connection (kept alive, so a run's
dozens of requests share one TLS handshake), and across processes each request first holds one
of the company's shared slots (``slots.RequestSlots``). A request that would exceed the limit
waits here instead of reaching the gateway and being refused with 429.

Answers are streamed into the parser as they arrive. Everything that can go wrong on the way
is turned into an ``IntacctTransportError`` that names the HTTP status and the start of the
body; only a parsed answer is returned, and judging its control/authentication/function
status is the client's job.
"""

from __future__ import annotations

import asyncio
import time
from urllib.parse import urlsplit

import aiohttp

import ml_connector.intacct.gateway.metrics as metrics
from ml_connector import __version__
from ml_connector.intacct.gateway.errors import (
    IntacctTransportError,
    MalformedResponseError,
    TransportPermanentError,
    TransportRateLimitedError,
    TransportTransientError,
    TruncatedResponseError,
    text_is_offline,
    text_is_rate_limit,
)
from ml_connector.intacct.gateway.parse import DEFAULT_MAX_BYTES, ResponseParser
from ml_connector.intacct.gateway.request_slots import RequestSlots
from ml_connector.intacct.gateway.response import Response

DEFAULT_TIMEOUT = 300.0  # both official SDKs: MaxTimeout 300 s
BODY_PREVIEW = 200
CHUNK = 64 * 1024
HEADERS = {
    "Content-Type": "application/xml",
    "Accept": "application/xml, text/xml",
    "User-Agent": f"ml-connector/{__version__}",
}


class _Company:
    def __init__(self, timeout: aiohttp.ClientTimeout) -> None:
        self.lock = asyncio.Lock()
        self.http = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=1, limit_per_host=1, keepalive_timeout=60),
            timeout=timeout,
            headers=HEADERS,
            # Decompressed bytes are what the size cap counts (a gzip bomb stops there).
            auto_decompress=True,
        )


class IntacctTransport:
    """Shared by every client of a process; ``close()`` it on shutdown."""

    def __init__(
        self,
        slots: RequestSlots,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        max_response_bytes: int = DEFAULT_MAX_BYTES,
    ) -> None:
        self._slots = slots
        self._timeout = aiohttp.ClientTimeout(total=timeout, sock_connect=min(timeout, 30.0))
        self._max_bytes = max_response_bytes
        self._companies: dict[str, _Company] = {}

    async def close(self) -> None:
        companies, self._companies = self._companies, {}
        for company in companies.values():
            await company.http.close()

    async def post(self, company_id: str, url: str, body: bytes) -> Response:
        company = self._companies.get(company_id)
        if company is None:
            company = self._companies[company_id] = _Company(self._timeout)
        started = time.monotonic()
        outcome = "ok"
        try:
            async with company.lock, self._slots.hold(f"intacct:{company_id}") as claim:
                try:
                    return await self._exchange(company.http, url, body)
                except TransportTransientError as exc:
                    if isinstance(exc.__cause__, TimeoutError):
                        # Intacct may still be working on it: it keeps counting against the
                        # company's limit, so its slot stays taken for another timeout.
                        claim.linger = self._timeout.total or DEFAULT_TIMEOUT
                    raise
        except IntacctTransportError as exc:
            outcome = exc.kind
            raise
        finally:
            metrics.REQUEST_SECONDS.observe(time.monotonic() - started)
            metrics.REQUESTS.labels(outcome=outcome).inc()

    async def _exchange(self, http: aiohttp.ClientSession, url: str, body: bytes) -> Response:
        host = urlsplit(url).netloc
        try:
            async with http.post(url, data=body) as answer:
                status = answer.status
                retry_after = _retry_after(answer.headers.get("Retry-After"))
                parser = ResponseParser(max_bytes=self._max_bytes)
                preview = bytearray()
                try:
                    async for chunk in answer.content.iter_chunked(CHUNK):
                        if len(preview) < BODY_PREVIEW:
                            preview += chunk[: BODY_PREVIEW - len(preview)]
                        parser.feed(chunk)
                    response = parser.close()
                except (MalformedResponseError, TruncatedResponseError) as exc:
                    raise _unusable(status, bytes(preview), exc, retry_after) from exc
        except TimeoutError as exc:
            raise TransportTransientError(
                f"Intacct gateway {host} did not answer within {self._timeout.total:.0f} s"
            ) from exc
        except aiohttp.ClientPayloadError as exc:
            raise TransportTransientError(
                f"Intacct gateway {host} dropped the connection mid-answer: {exc}"
            ) from exc
        except aiohttp.ClientError as exc:
            raise TransportTransientError(
                f"cannot reach the Intacct gateway {host}: {type(exc).__name__}: {exc}"
            ) from exc
        response.http_status = status
        response.retry_after = retry_after
        return response


def _unusable(
    status: int,
    preview: bytes,
    cause: MalformedResponseError | TruncatedResponseError,
    retry_after: float | None,
) -> IntacctTransportError:
    """An answer we could not use, classified by what the HTTP status and its text say."""
    start = " ".join(preview.decode("utf-8", "replace").split())[:BODY_PREVIEW]
    message = f"Intacct answered HTTP {status} without a usable XML answer ({cause.message})"
    message = f"{message}; body starts: {start!r}"
    if status == 429 or text_is_rate_limit(start):
        return TransportRateLimitedError(message, http_status=status, retry_after=retry_after)
    if isinstance(cause, TruncatedResponseError) or text_is_offline(start):
        return TransportTransientError(message, http_status=status)
    # 524: the CDN gave up while Intacct may still be working; the official SDKs do not retry
    # it (PHP RequestConfig noRetryServerErrorCodes = [524]) and neither do we.
    if 500 <= status <= 599 and status != 524:
        return TransportTransientError(message, http_status=status)
    return TransportPermanentError(message, http_status=status)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        return None
    return seconds if 0 <= seconds <= 3600 else None
