"""The simulated Sage Intacct XML gateway as a real aiohttp server.

One endpoint, ``POST /ia/xml/xmlgw.phtml`` with an ``application/xml`` body (DOC web-services
overview: "The endpoint is always https://api.intacct.com/ia/xml/xmlgw.phtml initially";
JSON is not accepted). Answers carry the Content-Type seen on live traffic,
``text/xml; encoding="UTF-8";charset=UTF-8``.

Concurrency: most tenants may have two requests in flight (research §4, corroborated by Domo's
connector documentation); no source shows the answer to the third. The simulator answers it with
HTTP 429 and a GW-0010 control failure, the gateway's documented rate-limit answer, before doing
any work, so a client that respects the limit never sees it.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import Callable
from datetime import datetime
from zoneinfo import ZoneInfo

from aiohttp import web

from ml_connector.sim.http import LocalServer
from ml_connector.sim.intacct.dataset import Dataset
from ml_connector.sim.intacct.faults import Faults
from ml_connector.sim.intacct.gateway import Gateway, concurrency_error, support_id
from ml_connector.sim.intacct.protocol import ErrorDetail, render_control_failure
from ml_connector.sim.intacct.resultsets import ResultSetStore
from ml_connector.sim.intacct.sessions import Credentials, SessionStore
from ml_connector.sim.intacct.triggers import JWKS_PATH, TriggerEmitter

GATEWAY_PATH = "/ia/xml/xmlgw.phtml"
XML_CONTENT_TYPE = 'text/xml; encoding="UTF-8";charset=UTF-8'
_ERROR_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>500 Internal Server Error</title></head>"
    "<body><h1>Internal Server Error</h1><p>The server encountered an internal error and was "
    "unable to complete your request.</p><hr><address>Sage Intacct</address></body></html>\n"
)


class IntacctSimulator(LocalServer):
    """A seeded Intacct company behind a local gateway; see the package docstring for use."""

    def __init__(
        self,
        *,
        seed: int = 1,
        session_timeout: float = 3600.0,
        max_concurrent: int = 2,
        entities: int = 3,
        gl_entries: int = 4000,
        vendors: int = 250,
        payments: int = 300,
        bills: int = 500,
        history_days: int = 60,
        as_of: datetime | None = None,
        result_ttl: float = 600.0,
        credentials: Credentials | None = None,
        timezone: str = "America/Los_Angeles",
        clock: Callable[[], float] = time.time,
        strict: bool = True,
    ) -> None:
        if max_concurrent < 1:
            raise ValueError("max_concurrent must be at least 1")
        self.credentials = credentials or Credentials.generate()
        self.max_concurrent = max_concurrent
        tz = ZoneInfo(timezone)
        self.data = Dataset(
            seed=seed,
            entities=entities,
            vendors=vendors,
            gl_entries=gl_entries,
            payments=payments,
            bills=bills,
            history_days=history_days,
            as_of=as_of,
            timezone=tz,
        )
        self.faults = Faults(random.Random(seed * 7919 + 17))
        self.sessions = SessionStore(session_timeout, clock)
        self.resultsets = ResultSetStore(result_ttl, clock)
        self.gateway = Gateway(
            self.credentials,
            self.data,
            self.sessions,
            self.resultsets,
            self.faults,
            endpoint=lambda: self.url,
            clock=clock,
            timezone=tz,
            strict=strict,
        )
        self.strict = strict
        self.refused = self.gateway.refused
        # Platform Triggers the company sends (triggers.py); none until defined.
        self.triggers = TriggerEmitter(self.data, company_id=self.credentials.company_id)
        self.requests = 0
        self.function_calls: Counter[str] = Counter()
        self.rejected_concurrent = 0
        self.peak_in_flight = 0
        self._in_flight: Counter[str] = Counter()
        super().__init__()
        self.url = ""

    # -- lifecycle --------------------------------------------------------------------------

    def make_app(self) -> web.Application:
        app = web.Application(client_max_size=8 * 1024 * 1024)
        app.router.add_post(GATEWAY_PATH, self._handle)
        app.router.add_get(JWKS_PATH, self.triggers.jwks_handler)
        return app

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> str:
        self.url = await self._serve(host, port) + GATEWAY_PATH
        return self.url

    @property
    def jwks_url(self) -> str:
        """Where the key set that verifies the triggers' JWTs is published."""
        return self.url.removesuffix(GATEWAY_PATH) + JWKS_PATH

    async def stop(self) -> None:
        await self.triggers.close()
        await super().stop()

    def expire_sessions(self) -> int:
        """Invalidate every session now, as an administrator or a timeout would."""
        return self.sessions.expire_all()

    # -- requests ---------------------------------------------------------------------------

    @staticmethod
    def _xml(body: bytes, status: int = 200) -> web.Response:
        return web.Response(body=body, status=status, headers={"Content-Type": XML_CONTENT_TYPE})

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        if request.content_type != "application/xml":
            error = ErrorDetail(
                "XL03000003",
                "XML Parse schema error: the request must be XML sent as application/xml",
                support_id(),
                "Send the request with Content-Type: application/xml.",
            )
            self.refused["XL03000003"] += 1
            return self._xml(render_control_failure("", "", "false", [error]))
        parsed = self.gateway.parse(body)
        if parsed.request is None:
            assert parsed.failure is not None
            return self._xml(parsed.failure)
        gateway_request = parsed.request
        company = self.gateway.company_of(gateway_request)
        if self._in_flight[company] >= self.max_concurrent:
            self.rejected_concurrent += 1
            return self._xml(
                self.gateway.control_failure(gateway_request, concurrency_error()), 429
            )
        self._in_flight[company] += 1
        self.peak_in_flight = max(self.peak_in_flight, self._in_flight[company])
        try:
            delay = self.faults.draw_delay()
            if delay:
                await asyncio.sleep(delay)
            fault = self.faults.draw_request()
            if fault == "http_500":
                return web.Response(text=_ERROR_PAGE, status=500, content_type="text/html")
            if fault == "gw_0010":
                failure = self.gateway.control_failure(gateway_request, concurrency_error())
                return self._xml(failure, 429)
            self.function_calls.update(call.verb for call in gateway_request.functions)
            answer = self.gateway.execute(gateway_request, fault)
            if fault == "truncated":
                return await self._truncated(request, answer)
            return self._xml(answer)
        finally:
            self._in_flight[company] -= 1

    async def _truncated(self, request: web.Request, answer: bytes) -> web.StreamResponse:
        """Promise the whole answer, send half, drop the connection."""
        response = web.StreamResponse(status=200, headers={"Content-Type": XML_CONTENT_TYPE})
        response.content_length = len(answer)
        await response.prepare(request)
        await response.write(answer[: len(answer) // 2])
        transport = request.transport
        if transport is not None:
            transport.close()
        return response
