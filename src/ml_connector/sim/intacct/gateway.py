"""One request through the gateway's three levels: control, authentication, functions.

DOC https://developer.intacct.com/web-services/error-handling/ : "If the error occurs at the
control level, no operations are executed. If … authentication level, no function calls are
executed. If … content level, only the problematic function call fails, other function calls can
succeed." With ``transaction="true"`` one failure rolls the whole operation back: the failed
function and all others carry XL03000009 and the others are ``aborted`` (PHP SDK ResultTest
testStatusAbort, OnlineClientTest testExecuteBatchTransactionResultException).
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ml_connector.sim.intacct.faults import FaultKind, Faults
from ml_connector.sim.intacct.functions import (
    HANDLERS,
    INJECTED_FAILURE,
    CallContext,
    FunctionError,
    Principal,
    RecordSource,
    bad_argument,
)
from ml_connector.sim.intacct.protocol import (
    ErrorDetail,
    GatewayRequest,
    LoginAuth,
    RequestSchemaError,
    SessionAuth,
    parse_request,
    peek_control,
    render_authentication,
    render_control,
    render_control_failure,
    render_errors,
    render_response,
    render_result,
)
from ml_connector.sim.intacct.resultsets import ResultSetStore
from ml_connector.sim.intacct.sessions import Credentials, SessionStore

ROLLED_BACK = ErrorDetail(
    "XL03000009",
    "",
    "The entire transaction in this operation has been rolled back due to an error.",
)
# Sign-in failures carry their text in description2 with description empty: PHP SDK
# test/Intacct/Xml/OnlineResponseTest.php testAuthenticationFailure ("Sign-in information is
# incorrect") and, for a wrong sender, recorded gateway answers (e.g. the lorenz-bus-service
# PowerShell module's tests: "Incorrect Intacct XML Partner ID or password." in description2).
# fylein's sageintacctsdk reads description2 of a control failure and crashes with
# UnboundLocalError when it is empty, so the place matters to real clients.
BAD_SENDER = ErrorDetail("XL03000006", "", "Incorrect Intacct XML Partner ID or password.")
# No source gives the answer for an expired or unknown session (research §2, §8 item 1): the
# simulator answers it like a wrong password.
BAD_SIGN_IN = ErrorDetail("XL03000006", "", "Sign-in information is incorrect")


def support_id() -> str:
    return f"[Support ID: {secrets.token_urlsafe(12)}]"


def offline_error() -> ErrorDetail:
    return ErrorDetail("", "", f"The Service is Temporarily Off-line, {support_id()}", "")


def rate_limited_error() -> ErrorDetail:
    return ErrorDetail("", "API rate limit exceeded", support_id(), "Wait, then try again.")


def concurrency_error() -> ErrorDetail:
    # DOC error-handling names "429 errors (GW-0010)" without their text; this one is ours.
    return ErrorDetail(
        "GW-0010",
        "Too many concurrent requests for this company. Rate limit exceeded.",
        support_id(),
        "Wait for a request in progress to finish, then try again.",
    )


@dataclass(frozen=True)
class Parsed:
    """A request that passed the schema check, or the failure body if it did not."""

    request: GatewayRequest | None
    failure: bytes | None


class Gateway:
    def __init__(
        self,
        credentials: Credentials,
        source: RecordSource,
        sessions: SessionStore,
        resultsets: ResultSetStore,
        faults: Faults,
        endpoint: Callable[[], str],
        clock: Callable[[], float],
        timezone: ZoneInfo,
        strict: bool = True,
    ) -> None:
        self.credentials = credentials
        self.strict = strict
        # What the gateway refused because the request was wrong (schema errors, bad
        # arguments, unknown objects or fields), by errorno: injected faults are not counted.
        # A client that follows Intacct's rules leaves this empty (tests check ours does).
        self.refused: Counter[str] = Counter()
        self.source = source
        self.sessions = sessions
        self.resultsets = resultsets
        self.faults = faults
        self._endpoint = endpoint
        self._clock = clock
        self._tz = timezone

    def parse(self, body: bytes) -> Parsed:
        try:
            return Parsed(parse_request(body, strict=self.strict), None)
        except RequestSchemaError as exc:
            self.refused["XL03000003"] += 1
            senderid, controlid = peek_control(body)
            error = ErrorDetail("XL03000003", f"XML Parse schema error: {exc}", support_id(), "")
            return Parsed(None, render_control_failure(senderid, controlid, "false", [error]))

    def company_of(self, request: GatewayRequest) -> str:
        """The company a request counts against for the concurrency limit ('' if unknown)."""
        auth = request.authentication
        if isinstance(auth, LoginAuth):
            return auth.companyid
        session = self.sessions.peek(auth.sessionid)
        return session.companyid if session is not None else ""

    def control_failure(self, request: GatewayRequest, error: ErrorDetail) -> bytes:
        control = request.control
        return render_control_failure(
            control.senderid, control.controlid, control.uniqueid, [error]
        )

    def _stamp(self, epoch: float) -> str:
        return datetime.fromtimestamp(epoch, self._tz).isoformat(timespec="seconds")

    def _authenticate(self, auth: LoginAuth | SessionAuth) -> Principal | None:
        creds = self.credentials
        if isinstance(auth, SessionAuth):
            session = self.sessions.touch(auth.sessionid)
            if session is None:
                return None
            return Principal(session.companyid, session.userid, session.locationid, session)
        if (
            auth.userid != creds.user_id
            or auth.companyid != creds.company_id
            or not secrets.compare_digest(auth.password, creds.user_password)
        ):
            return None
        location = auth.locationid or ""
        if location and location not in self.source.entity_ids():
            return None
        return Principal(auth.companyid, auth.userid, location, None)

    def execute(self, request: GatewayRequest, request_fault: FaultKind | None = None) -> bytes:
        control = request.control
        creds = self.credentials
        if control.senderid != creds.sender_id or not secrets.compare_digest(
            control.password, creds.sender_password
        ):
            return self.control_failure(request, BAD_SENDER)
        if request_fault == "rate_limit_200":
            return self.control_failure(request, rate_limited_error())
        control_block = render_control(
            "success", control.senderid, control.controlid, control.uniqueid
        )
        principal = self._authenticate(request.authentication)
        if principal is None:
            auth = request.authentication
            userid = auth.userid if isinstance(auth, LoginAuth) else ""
            companyid = auth.companyid if isinstance(auth, LoginAuth) else ""
            locationid = (auth.locationid or "") if isinstance(auth, LoginAuth) else ""
            return render_response(
                control_block,
                [
                    render_authentication("failure", userid, companyid, locationid),
                    render_errors([BAD_SIGN_IN]),
                ],
            )
        now = self._clock()
        expires = (
            principal.session.expires_at if principal.session else now + self.sessions.duration
        )
        auth_block = render_authentication(
            "success",
            principal.userid,
            principal.companyid,
            principal.locationid,
            self._stamp(now),
            self._stamp(expires),
        )
        results = self._run_functions(request, principal, request_fault)
        return render_response(control_block, [auth_block, *results])

    def _run_functions(
        self, request: GatewayRequest, principal: Principal, request_fault: FaultKind | None
    ) -> list[str]:
        context = CallContext(
            principal=principal,
            source=self.source,
            sessions=self.sessions,
            resultsets=self.resultsets,
            faults=self.faults,
            endpoint=self._endpoint(),
            functions_in_request=len(request.functions),
            strict=self.strict,
        )
        outcomes: list[tuple[str, str | tuple[ErrorDetail, ...]]] = []
        opened_before = set(self._open_result_ids())
        failed_at: int | None = None
        for index, call in enumerate(request.functions):
            try:
                if request_fault == "offline":
                    raise FunctionError(offline_error())
                handler = HANDLERS.get(call.verb)
                if handler is None:
                    raise bad_argument(f"Function {call.verb} is not available in this gateway")
                outcomes.append(("success", handler(call.element, context)))
            except FunctionError as exc:
                if request_fault != "offline" and INJECTED_FAILURE not in exc.errors:
                    self.refused.update(error.errorno for error in exc.errors)
                outcomes.append(("failure", exc.errors))
                if request.transaction:
                    failed_at = index
                    break
        rendered: list[str] = []
        if failed_at is None:
            for call, (status, payload) in zip(request.functions, outcomes, strict=True):
                if isinstance(payload, str):
                    rendered.append(render_result(status, call.verb, call.controlid, payload))
                else:
                    rendered.append(render_result(status, call.verb, call.controlid, "", payload))
            return rendered
        # Roll back: result sets opened by this operation disappear with it.
        for result_id in set(self._open_result_ids()) - opened_before:
            self.resultsets.discard(result_id)
        for index, call in enumerate(request.functions):
            if index == failed_at:
                errors = outcomes[index][1]
                assert not isinstance(errors, str)
                rendered.append(
                    render_result("failure", call.verb, call.controlid, "", (*errors, ROLLED_BACK))
                )
            else:
                rendered.append(
                    render_result("aborted", call.verb, call.controlid, "", (ROLLED_BACK,))
                )
        return rendered

    def _open_result_ids(self) -> list[str]:
        return self.resultsets.ids()
