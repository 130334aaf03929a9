"""aiohttp's connection protocol, answering its own errors in the agent's JSON shape.

A request aiohttp's HTTP parser cannot take (a header line over 8,190 bytes, a bad request
line, a header that is not HTTP) never reaches the application or its middlewares: aiohttp's
``RequestHandler.handle_error`` answers it with a plain-text 400 whose body is the parser's
message, and that message quotes the start of the offending line — for an oversized
``Authorization`` header, the ``Bearer …`` key itself. It also logs the exception with the
same text. ``handle_error`` is the documented place these answers are made (aiohttp calls it
for parser errors and for exceptions escaping the handler), so the agent's protocol overrides
it: the answer is ``{"error", "message", "retryable"}`` like every other, and neither the
answer nor the log line carries anything the client sent.
"""

from __future__ import annotations

import json
import logging

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError, LineTooLong

log = logging.getLogger(__name__)


def _problem(status: int, exc: BaseException | None) -> tuple[str, str]:
    """The error code and message for an answer aiohttp makes itself; never the client's text."""
    if isinstance(exc, LineTooLong):
        return (
            "bad_request",
            "a request line or header is too long (8190 bytes at most); send a shorter one",
        )
    if isinstance(exc, HttpProcessingError) or status == 400:
        return "bad_request", "the request is not valid HTTP/1.1"
    if status == 504:
        return "timeout", "the agent took too long to answer; retry"
    return "internal_error", "the agent failed; see its log"


class JsonErrorRequestHandler(web.RequestHandler):
    """One connection; errors made below the application are JSON and echo nothing."""

    def handle_error(
        self,
        request: web.BaseRequest,
        status: int = 500,
        exc: BaseException | None = None,
        message: str | None = None,
    ) -> web.StreamResponse:
        code, text = _problem(status, exc)
        peer = request.remote or "unknown"
        if isinstance(exc, HttpProcessingError):
            # Its message quotes what the client sent: log the kind only.
            log.warning("refused a request from %s: %s (%s)", peer, text, type(exc).__name__)
        else:
            log.error("error answering a request from %s", peer, exc_info=exc)
        if request.writer.output_size > 0:
            # aiohttp's own contract: part of an answer is out, the connection is broken.
            raise ConnectionError("an answer was partly sent; the connection is closed")
        resp = web.Response(
            status=status,
            text=json.dumps({"error": code, "message": text, "retryable": code == "timeout"}),
            content_type="application/json",
        )
        resp.force_close()
        return resp
