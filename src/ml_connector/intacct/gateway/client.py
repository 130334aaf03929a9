"""The Intacct client: sessions, batched reads, retries and paging over one transport.

Reads are what ml-connector does, and the gateway rewards doing several at once: related reads
go as several ``<function>``s in one request (one HTTP round trip, one slot, one API
transaction budget check), and each comes back with its own status. ``execute`` therefore
returns one ``Outcome`` per function: a result or that function's error, never an exception
for a single failed function.

Retries: a failure that says it is transient (GW-0010/429, 5xx but 524, "Temporarily
Off-line", "rate limit exceeded", timeouts, dropped connections) is retried with exponential
backoff and full jitter, at most ``RetryPolicy.attempts`` times in all, honouring Retry-After.
A function that failed transiently is sent again on its own; the ones that succeeded are not.
An authentication failure with a stored session gets exactly one new session and one retry
(research §2: the expired-session answer is undocumented, so any sign-in failure counts).

Paging never holds more than one page: the iterators hand records out one at a time and fetch
the next page only when the current one is used up, and check that no page was skipped or
repeated (readMore counts must add up; query offsets must be echoed).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import Self, TypeVar
from urllib.parse import urlsplit

from sqlalchemy.ext.asyncio import AsyncEngine

import ml_connector.intacct.gateway.metrics as metrics
from ml_connector import clock
from ml_connector.backoff import full_jitter
from ml_connector.errors import TransientError
from ml_connector.intacct.gateway.errors import (
    AuthenticationPermanentError,
    IntacctError,
    MalformedResponseError,
    PagingError,
    TransportPermanentError,
)
from ml_connector.intacct.gateway.request import (
    Function,
    GetAPISession,
    Login,
    Query,
    Read,
    ReadByQuery,
    ReadMore,
    Sender,
    SessionAuth,
    build_request,
    new_controlid,
)
from ml_connector.intacct.gateway.request_slots import RequestSlots
from ml_connector.intacct.gateway.response import Authentication, Record, Response, Result
from ml_connector.intacct.gateway.session import (
    MAX_SESSION_AGE,
    Credentials,
    Session,
    SessionManager,
    SessionStore,
)
from ml_connector.intacct.gateway.transport import IntacctTransport
from ml_connector.vault import Vault

DEFAULT_GATEWAY = "https://api.intacct.com/ia/xml/xmlgw.phtml"
T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Full jitter, but never before Retry-After."""
        wait = full_jitter(attempt, self.base_delay, self.max_delay)
        return max(wait, retry_after or 0.0)


@dataclass(frozen=True)
class Outcome:
    """One function of a batch: its result, or the error it alone failed with."""

    function: Function
    controlid: str
    result: Result | None = None
    error: IntacctError | None = None

    def unwrap(self) -> Result:
        if self.error is not None:
            raise self.error
        assert self.result is not None
        return self.result


class Pending:
    """A function added to a ``Batch``; its outcome is known once the batch is sent."""

    def __init__(self, function: Function) -> None:
        self.function = function
        self.outcome: Outcome | None = None

    def result(self) -> Result:
        if self.outcome is None:
            raise RuntimeError("the batch has not been sent yet")
        return self.outcome.unwrap()


class Batch:
    """Collects reads and sends them as one request with one ``<function>`` each."""

    def __init__(self, client: IntacctClient) -> None:
        self._client = client
        self._pending: list[Pending] = []

    def add(self, function: Function) -> Pending:
        pending = Pending(function)
        self._pending.append(pending)
        return pending

    def read_by_query(
        self, object: str, query: str = "", *, fields: Sequence[str] = ("*",), pagesize: int = 1000
    ) -> Pending:
        return self.add(ReadByQuery(object, query, fields, pagesize))

    def query(self, query: Query) -> Pending:
        return self.add(query)

    def read(
        self, object: str, keys: Sequence[int | str], fields: Sequence[str] = ("*",)
    ) -> Pending:
        return self.add(Read(object, keys, fields))

    def read_more(self, result_id: str) -> Pending:
        return self.add(ReadMore(result_id))

    async def send(self) -> list[Outcome]:
        outcomes = await self._client.execute([p.function for p in self._pending])
        for pending, outcome in zip(self._pending, outcomes, strict=True):
            pending.outcome = outcome
        return outcomes


@dataclass(frozen=True)
class SignIn:
    """What a sign-in proved: who we are, where to call next, and until when."""

    company_id: str
    user_id: str
    location_id: str
    endpoint: str
    session_timeout: datetime | None


class IntacctClient:
    """One company/user/entity. Share one ``IntacctTransport`` between the clients of a
    process; without one the client makes (and closes) its own."""

    def __init__(
        self,
        credentials: Credentials,
        *,
        engine: AsyncEngine,
        vault: Vault,
        transport: IntacctTransport | None = None,
        gateway_url: str = DEFAULT_GATEWAY,
        max_concurrent: int = 2,
        retry: RetryPolicy | None = None,
        max_session_age: float = MAX_SESSION_AGE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._credentials = credentials
        self._gateway = gateway_url
        self._sender = Sender(credentials.sender_id, credentials.sender_password)
        self._owns_transport = transport is None
        self._transport = transport or IntacctTransport(RequestSlots(engine, limit=max_concurrent))
        self._retry = retry or RetryPolicy()
        self._sleep = sleep
        self._sessions = SessionManager(
            credentials,
            SessionStore(engine, vault),
            self._open_session,
            max_age=max_session_age,
            accepts=lambda session: _endpoint_allowed(session.endpoint, gateway_url),
        )

    def __repr__(self) -> str:
        c = self._credentials
        return (
            f"IntacctClient(company={c.company_id!r}, user={c.user_id!r}, entity={c.entity_id!r})"
        )

    async def close(self) -> None:
        if self._owns_transport:
            await self._transport.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    # -- batches ----------------------------------------------------------------------------

    def batch(self) -> Batch:
        return Batch(self)

    async def call(self, function: Function) -> Result:
        """One function; its failure raised."""
        return (await self.execute([function]))[0].unwrap()

    async def execute(self, functions: Sequence[Function]) -> list[Outcome]:
        """Send the functions in one request; one outcome each, in order.

        Raises only when the request as a whole failed (control, sign-in, transport) after
        retries; a function's own failure is in its outcome.
        """
        if not functions:
            return []
        if any(isinstance(f, GetAPISession) for f in functions):
            raise ValueError("sessions are the client's business: do not send getAPISession")
        calls = [(new_controlid(), function) for function in functions]
        outcomes: dict[str, Outcome] = {}
        pending = calls
        attempt = 1
        while True:
            try:
                response = await self._send(pending)
            except TransientError as exc:
                if attempt >= self._retry.attempts:
                    raise
                await self._backoff(attempt, exc)
                attempt += 1
                continue
            again: list[tuple[str, Function]] = []
            reason: IntacctError | None = None
            for controlid, function in pending:
                result = response.result(controlid)
                if result is None:
                    missing = MalformedResponseError(
                        f"Intacct answer has no result for function {function.verb} ({controlid})"
                    )
                    outcomes[controlid] = Outcome(function, controlid, error=missing)
                    continue
                error = result.error
                if error is None:
                    outcomes[controlid] = Outcome(function, controlid, result=result)
                elif error.transient and attempt < self._retry.attempts:
                    again.append((controlid, function))
                    reason = error
                else:
                    outcomes[controlid] = Outcome(function, controlid, error=error)
            if not again:
                return [outcomes[controlid] for controlid, _ in calls]
            assert reason is not None
            await self._backoff(attempt, reason)
            attempt += 1
            pending = again

    async def _send(self, calls: Sequence[tuple[str, Function]]) -> Response:
        session = await self._sessions.get()
        response = await self._post(session, calls)
        if _sign_in_refused(response):
            # Expired, revoked or unknown: one new session, one more try (research §2).
            session = await self._sessions.replace(session)
            response = await self._post(session, calls)
            if _sign_in_refused(response):
                assert response.authentication is not None
                raise AuthenticationPermanentError(
                    "Intacct refused a session it had just issued for "
                    f"{self._credentials.user_id}@{self._credentials.company_id}",
                    errors=response.authentication.errors,
                )
        response.ensure_ok()
        await self._sessions.observe(session, response.authentication)
        return response

    async def _post(self, session: Session, calls: Sequence[tuple[str, Function]]) -> Response:
        body = build_request(self._sender, SessionAuth(session.session_id), calls)
        return await self._transport.post(self._credentials.company_id, session.endpoint, body)

    async def _backoff(self, attempt: int, error: IntacctError | TransientError) -> None:
        metrics.RETRIES.labels(kind=error.kind).inc()
        await self._sleep(self._retry.delay(attempt, error.retry_after))

    # -- sessions ---------------------------------------------------------------------------

    async def sign_in(self) -> SignIn:
        """A real ``getAPISession`` with the credentials, bypassing the cache (for `check`)."""
        session, auth = await self._open_session()
        return SignIn(
            company_id=auth.companyid or self._credentials.company_id,
            user_id=auth.userid or self._credentials.user_id,
            location_id=session.location_id,
            endpoint=session.endpoint,
            session_timeout=auth.sessiontimeout,
        )

    async def _open_session(self) -> tuple[Session, Authentication]:
        creds = self._credentials
        controlid = new_controlid()
        body = build_request(
            self._sender,
            Login(creds.user_id, creds.company_id, creds.user_password, creds.entity_id),
            [(controlid, GetAPISession(creds.entity_id))],
        )

        async def attempt() -> Response:
            response = await self._transport.post(creds.company_id, self._gateway, body)
            error = response.error
            if isinstance(error, AuthenticationPermanentError):
                raise AuthenticationPermanentError(
                    f"Intacct refused the sign-in of {creds.user_id}@{creds.company_id}"
                    + (f" (entity {creds.entity_id})" if creds.entity_id else ""),
                    errors=error.errors,
                ) from None
            return response.ensure_ok()

        response = await self._retrying(attempt)
        result = response.result(controlid)
        if result is None:
            raise MalformedResponseError("Intacct answered getAPISession without its result")
        result.ensure_ok()
        api = result.records[0] if result.records else {}
        session_id, endpoint = api.get("sessionid"), api.get("endpoint")
        if not isinstance(session_id, str) or not isinstance(endpoint, str):
            raise MalformedResponseError("getAPISession answer lacks sessionid or endpoint")
        _check_endpoint(endpoint, self._gateway)
        location = api.get("locationid")
        assert response.authentication is not None
        session = Session(
            session_id=session_id,
            endpoint=endpoint,
            location_id=location if isinstance(location, str) else "",
            created_at=clock.now(),
            renew_at=0.0,
        )
        return session, response.authentication

    async def _retrying(self, attempt: Callable[[], Awaitable[T]]) -> T:
        number = 1
        while True:
            try:
                return await attempt()
            except TransientError as exc:
                if number >= self._retry.attempts:
                    raise
                await self._backoff(number, exc)
                number += 1

    # -- paging -----------------------------------------------------------------------------

    async def read_by_query(
        self,
        object: str,
        query: str = "",
        *,
        fields: Sequence[str] = ("*",),
        pagesize: int = 1000,
    ) -> AsyncIterator[Record]:
        """Every record matching ``query``: readByQuery, then readMore until none remain."""
        first = await self.call(ReadByQuery(object, query, fields, pagesize))
        async for record in self.continue_read_by_query(first):
            yield record

    async def continue_read_by_query(self, first: Result) -> AsyncIterator[Record]:
        """The records of a readByQuery page already fetched (say in a batch), then the rest."""
        page = first
        while True:
            remaining = page.numremaining or 0
            result_id = page.result_id
            records = _take_page(page)
            del page
            records.reverse()
            while records:
                yield records.pop()
            if remaining == 0:
                return
            if not result_id:
                raise PagingError(f"readByQuery reports {remaining} more records but no resultId")
            page = await self.call(ReadMore(result_id))
            count = page.count if page.count is not None else len(page.records)
            if page.numremaining is None or count + page.numremaining != remaining:
                raise PagingError(
                    f"readMore lost its place: {remaining} records were remaining, the next page "
                    f"has {count} and reports {page.numremaining} remaining"
                )

    async def query(self, query: Query) -> AsyncIterator[Record]:
        """Every record of a ``query``, page by page with offsets."""
        first = await self.call(_ordered(query))
        async for record in self.continue_query(query, first):
            yield record

    async def continue_query(self, query: Query, first: Result) -> AsyncIterator[Record]:
        """The records of a query page already fetched, then the following pages by offset.

        Offsets only page reliably over a stable order, so a query without ``orderby`` is
        ordered by RECORDNO (it must be the same order ``first`` was fetched with).
        """
        query = _ordered(query)
        page = first
        offset = query.offset
        while True:
            if page.offset is not None and page.offset != offset:
                raise PagingError(f"query asked for offset {offset}, got {page.offset}")
            remaining = page.numremaining or 0
            records = _take_page(page)
            del page
            offset += len(records)
            got = len(records)
            records.reverse()
            while records:
                yield records.pop()
            if remaining == 0:
                return
            if got == 0:
                raise PagingError(f"query reports {remaining} remaining but returned no records")
            page = await self.call(replace(query, offset=offset))


def _take_page(page: Result) -> list[Record]:
    """The page's records, detached from the result so only one copy is alive."""
    records, page.records = page.records, []
    if page.count is not None and page.count != len(records):
        raise MalformedResponseError(
            f"Intacct page says count={page.count} but holds {len(records)} records"
        )
    return records


def _ordered(query: Query) -> Query:
    return query if query.orderby else replace(query, orderby=(("RECORDNO", True),))


def _sign_in_refused(response: Response) -> bool:
    return (
        response.control.ok
        and response.authentication is not None
        and isinstance(response.error, AuthenticationPermanentError)
    )


def _endpoint_allowed(endpoint: str, gateway: str) -> bool:
    """Session ids go only to Intacct: an intacct.com host over HTTPS (as the PHP SDK's
    Endpoint::isDomainValid insists) or the configured gateway itself (a simulator, a proxy)."""
    target, configured = urlsplit(endpoint), urlsplit(gateway)
    host = target.hostname or ""
    if target.scheme == "https" and (host == "intacct.com" or host.endswith(".intacct.com")):
        return True
    return (target.scheme, target.netloc) == (configured.scheme, configured.netloc)


def _check_endpoint(endpoint: str, gateway: str) -> None:
    if _endpoint_allowed(endpoint, gateway):
        return
    target = urlsplit(endpoint)
    raise TransportPermanentError(
        f"getAPISession named the endpoint {target.scheme}://{target.netloc}, which is neither "
        "an intacct.com HTTPS host nor the configured gateway; refused"
    )
