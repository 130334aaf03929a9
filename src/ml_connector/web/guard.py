"""Deadlines for every connection and a cap on how many are open, in front of aiohttp.

``serve`` faces the internet, and a client that connects and then sends half its headers,
half a body or nothing at all must not hold a connection (a file descriptor, a task, a slot
in the cap) for long. aiohttp 3.x bounds none of this itself: its only timer is the
keep-alive timeout, armed at connect and after each response, and it neither limits how
long the headers or the body may take to arrive nor caps the number of connections.
``max_line_size``/``max_field_size``/``client_max_size`` bound sizes, not time.

So each connection is a :class:`GuardedRequestHandler` (aiohttp's ``RequestHandler`` with
one timer and a phase), made by :class:`GuardedServer` and started by
:class:`GuardedAppRunner`:

- ``AWAITING`` (connected, nothing sent): closed ``header_timeout`` after connecting;
- ``HEADERS`` (bytes of a request, headers incomplete): answered 408 and closed
  ``header_timeout`` after connecting or, on a kept-alive connection, after the first byte;
- ``BODY`` (the handler runs, the body is still coming): ``body_timeout`` after the headers
  the body stream fails with :class:`BodyTimeout`, the handler answers 408 and the
  connection closes (hard, a second later, if the handler does not finish);
- ``BUSY`` (the handler works): no deadline of ours; our handlers bound their own work;
- ``IDLE`` (kept alive between requests): closed after ``idle_timeout``.

A new connection past ``max_connections`` closes the connection idle the longest (``IDLE``
or ``AWAITING``), else the oldest still sending its headers, else the oldest still sending a
body; if every connection is ``BUSY`` the new one gets a 503 and is closed. Shedding the
stalled ones first is what keeps Slack's acknowledgements flowing under a slow-loris.

This relies on two of aiohttp's internals, each overridden in one place here:
``Server._kwargs``/``_loop`` (to build the handler with the same arguments) and
``RequestHandler._handle_request`` (the one call that spans a request from parsed headers
to written response). tests/web/test_guard.py exercises every phase against a real socket,
so an aiohttp upgrade that changes them fails there first.
"""

from __future__ import annotations

import asyncio
import enum
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.streams import StreamReader
from prometheus_client import Counter, Gauge

from ml_connector.config import ServerConfig
from ml_connector.logging import get_logger

log = get_logger("ml_connector.web")

# After a body timeout the handler has this long to send its 408 before the socket closes.
CLOSE_GRACE = 1.0

CONNECTIONS_OPEN = Gauge("mlc_http_connections_open", "HTTP connections open to the web server.")
CONNECTIONS_CLOSED = Counter(
    "mlc_http_connections_closed_total",
    "HTTP connections the web server closed itself, by reason (header_timeout, body_timeout, "
    "idle_timeout, shed: closed to admit a new one past max_connections, refused: 503 at "
    "the cap).",
    ["reason"],
)

_REQUEST_TIMEOUT = (
    b"HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain\r\n"
    b"Content-Length: 35\r\n\r\nthe request took too long to send\r\n"
)
_UNAVAILABLE = (
    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
    b"Content-Type: text/plain\r\nContent-Length: 28\r\n\r\ntoo many connections, retry\r\n"
)


class BodyTimeout(TimeoutError):
    """The request body did not arrive within ``body_timeout`` of its headers.

    A ``TimeoutError``: after the 408, aiohttp's lingering read of the unread body treats it
    as the timeout it is and closes quietly (any other exception is logged as unhandled).
    """


class Phase(enum.Enum):
    AWAITING = "awaiting"
    HEADERS = "headers"
    BODY = "body"
    BUSY = "busy"
    IDLE = "idle"


# Shedding order: the first phase listed goes first; BUSY is never shed.
_SHED_ORDER = (Phase.IDLE, Phase.AWAITING, Phase.HEADERS, Phase.BODY)


@dataclass(frozen=True)
class Limits:
    header_timeout: float = 10.0
    body_timeout: float = 20.0
    idle_timeout: float = 30.0
    max_connections: int = 1000

    @classmethod
    def from_config(cls, server: ServerConfig) -> Limits:
        return cls(
            header_timeout=server.header_timeout,
            body_timeout=server.body_timeout,
            idle_timeout=server.idle_timeout,
            max_connections=server.max_connections,
        )


class ConnectionTracker:
    """The open connections in the order they were made, and who goes at the cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[GuardedRequestHandler, None] = {}

    def __len__(self) -> int:
        return len(self._open)

    def admit(self, new: GuardedRequestHandler) -> bool:
        """Make room for ``new`` if needed; ``False`` when every connection is busy."""
        while len(self._open) >= self.limit:
            victim = self._victim()
            if victim is None:
                return False
            self.forget(victim)
            victim.shed()
        self._open[new] = None
        CONNECTIONS_OPEN.set(len(self._open))
        return True

    def forget(self, handler: GuardedRequestHandler) -> None:
        if self._open.pop(handler, False) is None:
            CONNECTIONS_OPEN.set(len(self._open))

    def phases(self) -> dict[Phase, int]:
        counts = dict.fromkeys(Phase, 0)
        for handler in self._open:
            counts[handler.phase] += 1
        return counts

    def _victim(self) -> GuardedRequestHandler | None:
        best: GuardedRequestHandler | None = None
        for handler in self._open:
            phase = handler.phase
            if phase is Phase.BUSY:
                continue
            if best is None or (_SHED_ORDER.index(phase), handler.since) < (
                _SHED_ORDER.index(best.phase),
                best.since,
            ):
                best = handler
        return best


class GuardedRequestHandler(web.RequestHandler):
    """aiohttp's per-connection protocol with the deadlines described in the module."""

    def __init__(
        self, manager: web.Server, *, tracker: ConnectionTracker, limits: Limits, **kwargs: Any
    ) -> None:
        # aiohttp's own keep-alive timer stays as a backstop that never fires before ours.
        kwargs["keepalive_timeout"] = limits.idle_timeout + limits.header_timeout
        super().__init__(manager, **kwargs)
        self._tracker = tracker
        self._limits = limits
        self._deadline: asyncio.TimerHandle | None = None
        self._body: StreamReader | None = None
        self.phase = Phase.AWAITING
        self.since = 0.0  # loop time the phase began (or, for HEADERS, its deadline's start)

    # -- asyncio protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        super().connection_made(transport)
        now = self._loop.time()
        self._enter(Phase.AWAITING, now, now + self._limits.header_timeout)
        if not self._tracker.admit(self):
            CONNECTIONS_CLOSED.labels(reason="refused").inc()
            log.warning("connection refused: every connection is busy", open=len(self._tracker))
            self._close_with(_UNAVAILABLE)

    def data_received(self, data: bytes) -> None:
        if data and self.phase in (Phase.AWAITING, Phase.IDLE):
            now = self._loop.time()
            # A fresh connection keeps the deadline it got when it connected.
            start = self.since if self.phase is Phase.AWAITING else now
            self._enter(Phase.HEADERS, start, start + self._limits.header_timeout)
        super().data_received(data)

    def connection_lost(self, exc: BaseException | None) -> None:
        self._cancel_deadline()
        self._tracker.forget(self)
        super().connection_lost(exc)

    # -- aiohttp: one request, from parsed headers to the written response -------------------

    async def _handle_request(
        self, request: web.BaseRequest, start_time: float | None, request_handler: Any
    ) -> tuple[web.StreamResponse, bool]:
        now = self._loop.time()
        if request.content.is_eof():
            self._enter(Phase.BUSY, now, None)
        else:
            self._body = request.content
            self._enter(Phase.BODY, now, now + self._limits.body_timeout)
        try:
            return await super()._handle_request(request, start_time, request_handler)
        finally:
            self._body = None
            if self.transport is not None:
                now = self._loop.time()
                self._enter(Phase.IDLE, now, now + self._limits.idle_timeout)

    # -- deadlines ---------------------------------------------------------------------------

    def _enter(self, phase: Phase, since: float, deadline: float | None) -> None:
        self._cancel_deadline()
        self.phase = phase
        self.since = since
        if deadline is not None:
            self._deadline = self._loop.call_at(deadline, self._expired)

    def _cancel_deadline(self) -> None:
        if self._deadline is not None:
            self._deadline.cancel()
            self._deadline = None

    def _expired(self) -> None:
        self._deadline = None
        phase = self.phase
        if phase is Phase.BODY:
            body = self._body
            if body is None or body.is_eof():
                self.phase = Phase.BUSY
                return
            CONNECTIONS_CLOSED.labels(reason="body_timeout").inc()
            log.info("request body too slow; answered 408", remote=self._remote())
            body.set_exception(BodyTimeout("the request body took too long to arrive"))
            self.close()  # no keep-alive after the 408
            self._deadline = self._loop.call_later(CLOSE_GRACE, self.force_close)
        elif phase is Phase.HEADERS:
            CONNECTIONS_CLOSED.labels(reason="header_timeout").inc()
            log.info("request headers too slow; closed", remote=self._remote())
            self._close_with(_REQUEST_TIMEOUT)
        elif phase is Phase.AWAITING:
            CONNECTIONS_CLOSED.labels(reason="header_timeout").inc()
            self.force_close()
        elif phase is Phase.IDLE:
            CONNECTIONS_CLOSED.labels(reason="idle_timeout").inc()
            self.force_close()

    def shed(self) -> None:
        """Closed to make room at the connection cap."""
        CONNECTIONS_CLOSED.labels(reason="shed").inc()
        self._cancel_deadline()
        self.force_close()

    def _close_with(self, answer: bytes) -> None:
        transport = self.transport
        if transport is not None and not transport.is_closing():
            transport.write(answer)
        self._cancel_deadline()
        self.force_close()

    def _remote(self) -> str | None:
        peer = self.peername
        return str(peer[0]) if isinstance(peer, tuple) else None


class GuardedServer(web.Server):
    """aiohttp's protocol factory, making :class:`GuardedRequestHandler` connections."""

    def __init__(self, *args: Any, limits: Limits, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.tracker = ConnectionTracker(limits.max_connections)

    def __call__(self) -> GuardedRequestHandler:
        return GuardedRequestHandler(
            self, loop=self._loop, tracker=self.tracker, limits=self.limits, **self._kwargs
        )


class GuardedAppRunner(web.AppRunner):
    """``web.AppRunner`` whose server guards its connections (see the module docstring)."""

    def __init__(self, app: web.Application, *, limits: Limits, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self.limits = limits

    async def _make_server(self) -> web.Server:
        plain = await super()._make_server()
        return GuardedServer(
            plain.request_handler,
            request_factory=plain.request_factory,
            handler_cancellation=plain.handler_cancellation,
            loop=asyncio.get_running_loop(),
            limits=self.limits,
            **plain._kwargs,
        )

    @property
    def tracker(self) -> ConnectionTracker:
        server = self.server
        if not isinstance(server, GuardedServer):
            raise RuntimeError("the runner is not set up")
        return server.tracker
