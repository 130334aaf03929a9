"""The connector's client for the Sage 100 agent.

Every call names the company. Reads are keyset-paged: :meth:`Sage100Client.pages` follows
the agent's ``next`` token until the last page. Transient failures (a Sage 100 record lock,
a 5xx, a refused or reset connection, a timeout) are retried with exponential backoff and
full jitter, never sooner than the agent's ``Retry-After``; permanent ones (400, 401, 404,
a failed TLS handshake) raise at once with the agent's own message.

Records are dicts in the agent's JSON shape (see ``agent/openapi.json``): Sage 100 field
names, amounts as two-decimal strings, ``record_key`` and an ISO local ``stamp``; pages
come in ``(stamp, record_key)`` order.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import quote

import aiohttp
from yarl import URL

from ml_connector import backoff
from ml_connector.sage100.agent_client.errors import (
    Sage100AuthError,
    Sage100CompanyNotFoundError,
    Sage100Error,
    Sage100LockedError,
    Sage100PermanentError,
    Sage100TransientError,
)
from ml_connector.sage100.agent_client.metrics import REQUEST_SECONDS
from ml_connector.sage100.agent_client.tls import describe_peer
from ml_connector.sage100.agent_client.wire import Resource

__all__ = [
    "AgentHealth",
    "RecordPage",
    "Resource",
    "RetryPolicy",
    "Sage100AuthError",
    "Sage100Client",
    "Sage100CompanyNotFoundError",
    "Sage100Error",
    "Sage100LockedError",
    "Sage100PermanentError",
    "Sage100TransientError",
]

Sleep = Callable[[float], Awaitable[None]]
KEEPALIVE_SECONDS = 60.0  # under the agent's own 75 s (aiohttp's server default)


@dataclass(frozen=True)
class RetryPolicy:
    """Attempts per call (the first one included) and the backoff between them."""

    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0
    max_elapsed: float = 120.0

    def delay(self, failures: int, rng: Callable[[], float]) -> float:
        """Full jitter: uniform in [0, ceiling), with ``rng`` giving the fraction (tests pin it)."""
        return float(rng() * backoff.ceiling(failures, self.base_delay, self.max_delay))


@dataclass(frozen=True)
class AgentHealth:
    agent_version: str
    api_version: str
    backend: str
    sage_version: str | None
    companies: list[str]
    auth: str
    server_time: str | None
    peer_subject: str | None
    peer_not_after: datetime | None


@dataclass(frozen=True)
class RecordPage:
    company: str
    resource: str
    records: list[dict[str, Any]]
    next: str | None
    has_more: bool


def _format_since(value: datetime | str) -> str:
    if isinstance(value, str):
        return value
    if value.tzinfo is not None:
        raise ValueError(
            "changed_since must be a local time of the agent's server without a time zone"
        )
    return value.replace(microsecond=0).isoformat()


def _ssl_cause(exc: BaseException) -> ssl.SSLError | None:
    """The TLS failure behind ``exc``, if any (with TLS 1.3 a refused client certificate
    surfaces as an alert on the first read, wrapped in a connection error)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, ssl.SSLError):
            return current
        if isinstance(current, aiohttp.ClientSSLError):
            inner = getattr(current, "os_error", None) or getattr(current, "_os_error", None)
            if isinstance(inner, ssl.SSLError):
                return inner
        current = current.__cause__ or current.__context__
    return None


class Sage100Client:
    """One agent; reusable across calls and companies; close it (or use ``async with``)."""

    def __init__(
        self,
        base_url: str,
        *,
        ssl_context: ssl.SSLContext | None = None,
        api_key: str | None = None,
        retry: RetryPolicy = RetryPolicy(),
        timeout: float = 60.0,
        sleep: Sleep = asyncio.sleep,
        rng: Callable[[], float] = random.random,
        max_connections: int = 4,
    ) -> None:
        """``ssl_context`` comes from :mod:`ml_connector.sage100.agent_client.credentials` (or, in
        tests, :func:`ml_connector.sage100.agent_client.tls.client_ssl_context`); it is required
        for https. ``max_connections``: kept-alive connections to the agent at most (requests
        beyond wait for one), shared by every company and stream polled through this client."""
        self.base_url = base_url.rstrip("/")
        self._ssl: ssl.SSLContext | bool
        if self.base_url.startswith("https://"):
            if ssl_context is None:
                raise Sage100AuthError("ca_file is required: the agent's CA is the only trust root")
            self._ssl = ssl_context
        else:
            self._ssl = False
        self._api_key = api_key
        self._retry = retry
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._sleep = sleep
        self._rng = rng
        self._session: aiohttp.ClientSession | None = None
        self._max_connections = max_connections
        # the agent's clock as last read: (server_time, time.monotonic() when read)
        self._clock: tuple[str | None, float] | None = None
        self._clock_lock = asyncio.Lock()
        self._certificate: tuple[float, tuple[str, datetime] | None] | None = None

    def __repr__(self) -> str:
        return f"Sage100Client({self.base_url!r}, api_key={'set' if self._api_key else 'none'})"

    async def __aenter__(self) -> Sage100Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None:
            headers = {"Accept": "application/json", "User-Agent": "ml-connector"}
            if self._api_key:
                headers["Authorization"] = f"Bearer {self._api_key}"
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(
                    ssl=self._ssl,
                    limit=self._max_connections,
                    # A slot's jitter window (at most 60 s) long, so the polls of one slot
                    # reuse the connections its first polls opened.
                    keepalive_timeout=KEEPALIVE_SECONDS,
                ),
                headers=headers,
                timeout=self._timeout,
            )
        return self._session

    # -- public calls -------------------------------------------------------------------

    async def health(self, *, peer_certificate: bool = True) -> AgentHealth:
        """``peer_certificate=False``: skip the extra handshake that reads the agent's
        certificate (``check`` shows it; a poll only needs the agent's clock)."""
        body = await self._get("/v1/health", {})
        peer = await self._peer_certificate() if peer_certificate else None
        subject, not_after = describe_peer(peer) if peer else (None, None)
        return AgentHealth(
            agent_version=str(body.get("agent_version")),
            api_version=str(body.get("api_version")),
            backend=str(body.get("backend")),
            sage_version=body.get("sage_version"),
            companies=list(body.get("companies", [])),
            auth=str(body.get("auth")),
            server_time=body.get("server_time"),
            peer_subject=subject,
            peer_not_after=not_after,
        )

    async def server_time(self, *, max_age: float = 30.0) -> tuple[str | None, float]:
        """The agent's clock (``server_time`` of ``/v1/health``) and how many seconds ago it
        was read, reading it again when older than ``max_age``.

        Every first poll of a company starts at the agent's clock; a thousand companies on one
        agent starting together need one read of it, not one each (at the top of the hour
        that read was a share of each poll's CPU). The caller adds the age: a stamp read a
        few seconds ago, moved on by its age, is never later than the agent's clock, so a
        window started from it can only begin a little early, which the overlap re-read and
        the dedupe already absorb."""
        async with self._clock_lock:
            if self._clock is None or time.monotonic() - self._clock[1] > max_age:
                health = await self.health(peer_certificate=False)
                self._clock = (health.server_time, time.monotonic())
            stamp, read_at = self._clock
        return stamp, time.monotonic() - read_at

    async def page(
        self,
        company: str,
        resource: Resource | str,
        *,
        changed_since: datetime | str | None = None,
        after: str | None = None,
        limit: int | None = None,
    ) -> RecordPage:
        params: dict[str, str] = {}
        if changed_since is not None:
            params["changed_since"] = _format_since(changed_since)
        if after is not None:
            params["after"] = after
        if limit is not None:
            params["limit"] = str(limit)
        path = f"/v1/companies/{quote(company, safe='')}/{quote(str(resource), safe='')}"
        body = await self._get(path, params)
        return RecordPage(
            company=str(body["company"]),
            resource=str(body["resource"]),
            records=list(body["records"]),
            next=body.get("next"),
            has_more=bool(body.get("has_more")),
        )

    async def pages(
        self,
        company: str,
        resource: Resource | str,
        *,
        changed_since: datetime | str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[RecordPage]:
        """Every page from ``changed_since`` on, following ``next`` (each page retried)."""
        after: str | None = None
        while True:
            page = await self.page(
                company, resource, changed_since=changed_since, after=after, limit=limit
            )
            yield page
            if not page.next:
                return
            after = page.next

    async def records(
        self,
        company: str,
        resource: Resource | str,
        *,
        changed_since: datetime | str | None = None,
        limit: int | None = None,
    ) -> AsyncIterator[dict[str, Any]]:
        async for page in self.pages(company, resource, changed_since=changed_since, limit=limit):
            for record in page.records:
                yield record

    async def certificate(self, *, max_age: float = 0.0) -> tuple[str, datetime] | None:
        """Subject and expiry of the certificate the agent presents (None over plain http).

        ``max_age``: seconds an answer read earlier still serves. Every poll notes the
        certificate for the 30-day warning; with one client per agent and a thousand
        companies polled through it, a handshake per poll would be ten thousand an hour
        (issue #22), one per agent per ``max_age`` is enough for a warning counted in days.
        """
        if self._certificate is not None and time.monotonic() - self._certificate[0] < max_age:
            return self._certificate[1]
        peer = await self._peer_certificate()
        seen = describe_peer(peer) if peer else None
        self._certificate = (time.monotonic(), seen)
        return seen

    # -- transport ------------------------------------------------------------------------

    async def _peer_certificate(self) -> bytes | None:
        """The agent's certificate, from a handshake of its own.

        aiohttp hands a connection back to its pool as soon as a short body is read, so the
        response cannot be asked which certificate it came with.
        """
        if not isinstance(self._ssl, ssl.SSLContext):
            return None
        url = URL(self.base_url)
        try:
            _, writer = await asyncio.wait_for(
                asyncio.open_connection(url.host, url.port, ssl=self._ssl), self._timeout.total
            )
        except (OSError, TimeoutError) as exc:
            raise Sage100TransientError(f"cannot reach the Sage 100 agent: {exc}") from exc
        try:
            ssl_object = writer.get_extra_info("ssl_object")
            der: bytes | None = ssl_object.getpeercert(binary_form=True) if ssl_object else None
            return der
        finally:
            writer.close()
            with contextlib.suppress(OSError, ssl.SSLError):
                await writer.wait_closed()

    async def _expired_peer(self, reason: str) -> str:
        """Name the agent's expired certificate and its date.

        Verification refused the certificate, so it is fetched once more without verifying
        (nothing is sent but the handshake) only to read its subject and end date. With TLS
        1.3 the client's side of the handshake is over before the agent can refuse our
        certificate, so this works in every auth mode.
        """
        url = URL(self.base_url)
        look = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
        look.check_hostname = False
        look.verify_mode = ssl.CERT_NONE
        try:
            async with asyncio.timeout(5):
                _, writer = await asyncio.open_connection(url.host, url.port, ssl=look)
                try:
                    ssl_object = writer.get_extra_info("ssl_object")
                    der = ssl_object.getpeercert(binary_form=True) if ssl_object else None
                finally:
                    writer.close()
        except (OSError, TimeoutError, ssl.SSLError):
            return reason
        if not der:
            return reason
        subject, not_after = describe_peer(der)
        return (
            f"the agent's certificate ({subject}) expired on {not_after:%Y-%m-%d}: run "
            "`ml-connector-agent renew-certs` on the agent host and restart the agent"
        )

    async def _tls_refusal(self) -> str | None:
        """Why the agent hung up, if it was because of our client certificate.

        With TLS 1.3 the agent checks the client certificate after the client has finished
        its side of the handshake, and asyncio closes without relaying the alert, so aiohttp
        only sees a disconnect. A healthy agent answers every complete request; one that
        completes the handshake and then closes without a byte has refused the certificate.
        """
        if not isinstance(self._ssl, ssl.SSLContext):
            return None
        url = URL(self.base_url)
        try:
            async with asyncio.timeout(5):
                reader, writer = await asyncio.open_connection(url.host, url.port, ssl=self._ssl)
                try:
                    writer.write(b"GET /v1/health HTTP/1.1\r\nHost: agent\r\n\r\n")
                    await writer.drain()
                    first = await reader.read(1)
                finally:
                    writer.close()
        except ssl.SSLError as exc:
            return str(exc.reason or exc)
        except (OSError, TimeoutError):
            return None
        if first:
            return None
        return (
            "the agent closed the connection after the handshake: it did not accept our "
            "client certificate (missing, expired, or not signed by the agent's CA)"
        )

    async def _get(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        started = time.monotonic()
        failures = 0
        while True:
            try:
                return await self._get_once(path, params)
            except Sage100Error as exc:
                failures += 1
                if not exc.transient or failures >= self._retry.attempts:
                    raise
                wait = self._retry.delay(failures, self._rng)
                if exc.retry_after is not None:
                    wait = max(wait, exc.retry_after)
                if time.monotonic() - started + wait > self._retry.max_elapsed:
                    raise
                await self._sleep(wait)

    async def _get_once(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        started = time.monotonic()
        outcome = "error"
        try:
            body = await self._fetch(path, params)
            outcome = "ok"
            return body
        finally:
            REQUEST_SECONDS.labels(outcome).observe(time.monotonic() - started)

    async def _fetch(self, path: str, params: Mapping[str, str]) -> dict[str, Any]:
        url = self.base_url + path
        try:
            async with self._http().get(url, params=params) as resp:
                if resp.status == 200:
                    body = await resp.json(content_type=None)
                    if not isinstance(body, dict):
                        raise Sage100PermanentError(
                            "the agent answered something other than a JSON object"
                        )
                    return body
                raise await self._error_from(resp)
        except Sage100Error:
            raise
        except (aiohttp.ClientError, OSError) as exc:
            cause = _ssl_cause(exc)
            reason = None if cause is None else str(getattr(cause, "reason", None) or cause)
            if reason is None and isinstance(
                exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError
            ):
                reason = await self._tls_refusal()
            if reason is not None and not isinstance(exc, aiohttp.ServerTimeoutError):
                if "expired" in reason.lower():
                    reason = await self._expired_peer(reason)
                raise Sage100AuthError(
                    f"TLS handshake with the Sage 100 agent at {self.base_url} failed: {reason}"
                ) from exc
            raise Sage100TransientError(
                f"cannot reach the Sage 100 agent at {self.base_url}: {type(exc).__name__}: {exc}"
            ) from exc
        except TimeoutError as exc:
            raise Sage100TransientError(
                f"the Sage 100 agent at {self.base_url} did not answer in time"
            ) from exc
        except ValueError as exc:
            raise Sage100PermanentError(f"the agent's answer is not valid JSON: {exc}") from exc

    @staticmethod
    async def _error_from(resp: aiohttp.ClientResponse) -> Sage100Error:
        try:
            body = await resp.json(content_type=None)
        except (aiohttp.ContentTypeError, ValueError):
            body = None
        if not isinstance(body, dict):
            body = {}
        code = str(body.get("error") or f"http_{resp.status}")
        message = str(body.get("message") or resp.reason or "no message")
        retry_after = _retry_after(resp.headers.get("Retry-After"))
        text = f"Sage 100 agent: {message} (HTTP {resp.status} {code})"
        status = resp.status
        kwargs: dict[str, Any] = {"code": code, "http_status": status, "retry_after": retry_after}
        if code == "record_locked":
            return Sage100LockedError(text, **kwargs)
        if status in (401, 403):
            return Sage100AuthError(text, **kwargs)
        if status == 404 and code == "unknown_company":
            return Sage100CompanyNotFoundError(text, **kwargs)
        retryable = body.get("retryable")
        if status >= 500 or status in (408, 429):
            if retryable is False:
                return Sage100PermanentError(text, **kwargs)
            return Sage100TransientError(text, **kwargs)
        return Sage100PermanentError(text, **kwargs)


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
