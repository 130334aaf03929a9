"""What one gateway answer says, level by level, as plain data.

HTTP 200 means nothing on its own: the control block, the authentication block and every
function result carry their own status (https://developer.intacct.com/web-services/responses/).
These classes keep the three apart so that the client can retry a session, a request or one
function without confusing them. Failures become exceptions only on request (``ensure_ok``),
because a batch must hand each function's failure back on its own.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from ml_connector.intacct.gateway.errors import (
    ErrorDetail,
    IntacctAuthenticationError,
    IntacctControlError,
    IntacctFunctionError,
    authentication_error,
    control_error,
    function_error,
)
from ml_connector.intacct.gateway.objects import Value

Record = dict[str, Value | dict[str, object] | list[object]]


@dataclass(slots=True)
class Control:
    status: str
    senderid: str = ""
    controlid: str = ""
    uniqueid: str = ""
    dtdversion: str = ""
    errors: tuple[ErrorDetail, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "success"


@dataclass(slots=True)
class Authentication:
    status: str
    userid: str = ""
    companyid: str = ""
    locationid: str = ""
    sessiontimestamp: datetime | None = None
    sessiontimeout: datetime | None = None
    errors: tuple[ErrorDetail, ...] = ()

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def session_duration(self) -> float | None:
        """Seconds the session has left by the gateway's own clock (skew-free)."""
        if self.sessiontimestamp is None or self.sessiontimeout is None:
            return None
        return (self.sessiontimeout - self.sessiontimestamp).total_seconds()


@dataclass(slots=True)
class Result:
    status: str
    function: str
    controlid: str
    errors: tuple[ErrorDetail, ...] = ()
    listtype: str | None = None
    count: int | None = None
    totalcount: int | None = None
    numremaining: int | None = None
    result_id: str | None = None
    offset: int | None = None
    # Left out of the repr: a getAPISession record holds a session id.
    records: list[Record] = field(default_factory=list, repr=False)

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def error(self) -> IntacctFunctionError | None:
        if self.ok:
            return None
        return function_error(
            self.errors, status=self.status, function=self.function, controlid=self.controlid
        )

    def ensure_ok(self) -> Result:
        error = self.error
        if error is not None:
            raise error
        return self


@dataclass(slots=True)
class Response:
    control: Control
    authentication: Authentication | None = None
    results: list[Result] = field(default_factory=list)
    http_status: int | None = None
    retry_after: float | None = None

    @property
    def error(self) -> IntacctControlError | IntacctAuthenticationError | None:
        """The failure that stopped every function, if any (control first, then sign-in)."""
        if not self.control.ok:
            error = control_error(self.control.errors, http_status=self.http_status)
            error.retry_after = self.retry_after
            return error
        if self.authentication is not None and not self.authentication.ok:
            return authentication_error(self.authentication.errors, http_status=self.http_status)
        return None

    def ensure_ok(self) -> Response:
        error = self.error
        if error is not None:
            raise error
        return self

    def result(self, controlid: str) -> Result | None:
        return next((r for r in self.results if r.controlid == controlid), None)
