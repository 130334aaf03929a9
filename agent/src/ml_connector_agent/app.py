"""The agent's HTTP API (``/v1``), described in ``openapi.json`` beside this module.

Every failure is JSON ``{"error", "message", "retryable"}`` so the connector can decide
from the answer alone. A Sage 100 record lock is waited out here for a moment (most locks
are an operator saving a screen) and only then answered 503 ``record_locked`` with
``Retry-After``.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

from aiohttp import web

from ml_connector_agent import __version__
from ml_connector_agent.auth import FailureThrottle, KeyRing, bearer_token, shown_key
from ml_connector_agent.backends.base import Backend, Page, PageQuery
from ml_connector_agent.certs import certificate_subject, shown_subject
from ml_connector_agent.config import LockSection
from ml_connector_agent.errors import (
    BackendError,
    BackendUnavailableError,
    RecordLockedError,
)
from ml_connector_agent.paging import (
    InvalidRequest,
    decode_after,
    encode_after,
    parse_changed_since,
    parse_company_code,
    parse_limit,
)
from ml_connector_agent.resources import Resource

log = logging.getLogger(__name__)

API_VERSION = "v1"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An answer other than 200, already decided."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        retryable: bool = False,
        retry_after: int | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.headers = dict(headers or {})

    def response(self) -> web.Response:
        headers = dict(self.headers)
        if self.retry_after is not None:
            headers["Retry-After"] = str(self.retry_after)
        return web.json_response(
            {"error": self.code, "message": self.message, "retryable": self.retryable},
            status=self.status,
            headers=headers,
        )


@dataclass
class AgentState:
    backend: Backend
    locks: LockSection
    keys: KeyRing | None
    auth_mode: str
    throttle: FailureThrottle = field(default_factory=FailureThrottle)
    #: Normalised RFC 4514 subjects a client certificate must have; empty: any from the CA.
    client_subjects: frozenset[str] = frozenset()


STATE: web.AppKey[AgentState] = web.AppKey("sage100_agent_state", AgentState)
#: Which API key (by id, never the key) made the request, for the log.
API_KEY_ID: web.RequestKey[str] = web.RequestKey("api_key_id", str)


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except ApiError as exc:
        return exc.response()
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        code = "not_found" if exc.status == 404 else "http_error"
        return ApiError(exc.status, code, exc.reason).response()
    except Exception:
        log.exception("unexpected failure serving %s %s", request.method, request.path)
        return ApiError(500, "internal_error", "the agent failed; see its log").response()


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    """The client certificate's subject (when an allow-list is configured; the certificate
    itself was checked against the CA in the TLS handshake), then the API key (when keys are
    configured). Each failure is logged with the peer and counts toward its throttle."""
    state = request.app[STATE]
    keys = state.keys
    if keys is None and not state.client_subjects:
        return await handler(request)
    peer = request.remote or "unknown"
    wait = state.throttle.retry_after(peer)
    if wait is not None:
        raise ApiError(
            429,
            "too_many_failed_authentications",
            "too many failed authentications from this address; wait and retry",
            retry_after=int(wait + 0.999),
        )
    if state.client_subjects:
        subject = _peer_subject(request)
        if subject not in state.client_subjects:
            _failed(state, peer, f"client certificate {shown_subject(subject)}")
            raise ApiError(
                403,
                "certificate_not_allowed",
                "this client certificate's subject is not in the agent's auth.client_subjects "
                "(the agent's log names it; add it there or use the certificate `init` issued)",
            )
    if keys is not None:
        token = bearer_token(request.headers.get("Authorization"))
        key_id = keys.verify(token) if token else None
        if key_id is None:
            _failed(state, peer, f"key {shown_key(token)}")
            raise ApiError(
                401,
                "unauthorized",
                "missing or unknown API key (send Authorization: Bearer <key>)",
                headers={"WWW-Authenticate": 'Bearer realm="sage100-agent"'},
            )
        request[API_KEY_ID] = key_id
    state.throttle.succeeded(peer)
    return await handler(request)


def _failed(state: AgentState, peer: str, presented: str) -> None:
    failures = state.throttle.failed(peer)
    log.warning(
        "authentication failed: %s from %s (%d in the last %.0f s)",
        presented,
        peer,
        failures,
        state.throttle.window,
    )


def _peer_subject(request: web.Request) -> str | None:
    """The RFC 4514 subject of the certificate this connection presented, if any."""
    transport = request.transport
    ssl_object = transport.get_extra_info("ssl_object") if transport is not None else None
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    return certificate_subject(der) if der else None


async def health(request: web.Request) -> web.Response:
    state = request.app[STATE]
    try:
        sage_version = await state.backend.sage_version()
    except BackendError as exc:
        sage_version = None
        log.warning("Sage 100 version unknown: %s", exc)
    return web.json_response(
        {
            "status": "ok",
            "api_version": API_VERSION,
            "agent_version": __version__,
            "backend": state.backend.kind,
            "sage_version": sage_version,
            "companies": state.backend.companies,
            "auth": state.auth_mode,
            "server_time": state.backend.local_now().replace(microsecond=0).isoformat(),
        }
    )


async def openapi(request: web.Request) -> web.Response:
    text = resources.files(__package__).joinpath("openapi.json").read_text(encoding="utf-8")
    return web.Response(text=text, content_type="application/json")


def _company(request: web.Request) -> str:
    try:
        code = parse_company_code(request.match_info["code"])
    except InvalidRequest as exc:
        raise ApiError(400, "invalid_company", str(exc)) from exc
    if code not in request.app[STATE].backend.companies:
        raise ApiError(404, "unknown_company", f"this agent does not serve Sage 100 company {code}")
    return code


def _query(request: web.Request, resource: Resource) -> PageQuery:
    params = request.rel_url.query
    unknown = set(params) - {"changed_since", "after", "limit"}
    if unknown:
        raise ApiError(
            400, "invalid_parameter", f"unknown parameter(s): {', '.join(sorted(unknown))}"
        )
    try:
        since = parse_changed_since(params["changed_since"]) if "changed_since" in params else None
        after = decode_after(resource.value, params["after"]) if "after" in params else None
        limit = parse_limit(params.get("limit"))
    except InvalidRequest as exc:
        raise ApiError(400, "invalid_parameter", str(exc)) from exc
    return PageQuery(resource=resource, since=since, after=after, limit=limit)


async def _read_with_lock_retry(state: AgentState, company: str, query: PageQuery) -> Page:
    policy = state.locks
    for attempt in range(policy.attempts):
        try:
            return await state.backend.read_page(company, query)
        except RecordLockedError as exc:
            log.info(
                "Sage 100 lock on %s %s (attempt %d): %s",
                company,
                query.resource,
                attempt + 1,
                exc.message,
            )
            if attempt + 1 < policy.attempts:
                await asyncio.sleep(policy.delay_seconds * 2**attempt)
                continue
            raise ApiError(
                503,
                "record_locked",
                f"a Sage 100 record or file is in use by another user ({exc.message}); retry later",
                retryable=True,
                retry_after=policy.retry_after_seconds,
            ) from exc
        except BackendUnavailableError as exc:
            raise ApiError(
                503,
                "backend_unavailable",
                f"Sage 100 is not reachable from the agent: {exc.message}",
                retryable=True,
                retry_after=policy.retry_after_seconds,
            ) from exc
        except BackendError as exc:
            raise ApiError(
                500, "backend_error", f"Sage 100 refused the read: {exc.message}"
            ) from exc
    raise AssertionError("unreachable: attempts >= 1")


async def list_records(request: web.Request) -> web.Response:
    state = request.app[STATE]
    name = request.match_info["resource"]
    try:
        resource = Resource(name)
    except ValueError as exc:
        known = ", ".join(r.value for r in Resource)
        raise ApiError(
            404, "unknown_resource", f"no resource {name!r}; try one of {known}"
        ) from exc
    company = _company(request)
    query = _query(request, resource)
    page = await _read_with_lock_retry(state, company, query)
    body: dict[str, Any] = {
        "company": company,
        "resource": resource.value,
        "records": page.records,
        "has_more": page.has_more,
        "next": encode_after(resource.value, page.last) if page.has_more and page.last else None,
    }
    return web.Response(
        text=json.dumps(body, separators=(",", ":")), content_type="application/json"
    )


def build_app(
    backend: Backend,
    *,
    locks: LockSection,
    keys: KeyRing | None,
    auth_mode: str,
    client_subjects: Iterable[str] = (),
) -> web.Application:
    app = web.Application(middlewares=[error_middleware, auth_middleware])
    app[STATE] = AgentState(
        backend=backend,
        locks=locks,
        keys=keys,
        auth_mode=auth_mode,
        client_subjects=frozenset(client_subjects),
    )
    app.router.add_get(f"/{API_VERSION}/health", health)
    app.router.add_get(f"/{API_VERSION}/openapi.json", openapi)
    app.router.add_get(f"/{API_VERSION}/companies/{{code}}/{{resource}}", list_records)
    return app
