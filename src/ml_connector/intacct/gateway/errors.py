"""Intacct failures, placed in ml-connector's one exception tree.

Intacct reports failure at four levels, and the level decides what was executed
(https://developer.intacct.com/web-services/error-handling/): a *control* failure runs
nothing, an *authentication* failure runs no function, a *function* failure affects that
function only, and a *transport* failure (no usable answer at all) leaves us not knowing.
Each level has a transient and a permanent leaf so that ``except TransientError`` (retry) and
``except PermanentError`` (report once) work without knowing Intacct::

    IntacctError (ExternalError)
    ├── IntacctControlError
    │   ├── ControlPermanentError        (PermanentError)   bad sender, XL03000003, GW-0011 …
    │   ├── ControlTransientError        (TransientError)   "Temporarily Off-line"
    │   └── ControlRateLimitedError      (RateLimitedError) GW-0010 / HTTP 429, "rate limit"
    ├── IntacctAuthenticationError
    │   ├── AuthenticationPermanentError (CredentialsError) sign-in refused, session not renewable
    │   └── AuthenticationTransientError (TransientError)
    ├── IntacctFunctionError
    │   ├── FunctionPermanentError       (PermanentError)   query failed, no permission, aborted
    │   ├── FunctionTransientError       (TransientError)
    │   ├── FunctionRateLimitedError     (RateLimitedError)
    │   └── PagingError                  (PermanentError)   readMore/offset lost its place
    └── IntacctTransportError
        ├── TransportTransientError      (TransientError)   5xx but 524, timeouts, drops
        │   └── TruncatedResponseError                      XML that stops part-way
        ├── TransportRateLimitedError    (RateLimitedError) 429 without XML
        └── TransportPermanentError      (PermanentError)   524, other 4xx, not XML
            └── MalformedResponseError                      not Intacct XML, DOCTYPE, too big

Messages carry errorno, description, description2 and correction of every Intacct error,
never a password or session id.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from ml_connector.errors import (
    CredentialsError,
    ExternalError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from ml_connector.redact import redact_text


@dataclass(frozen=True, slots=True)
class ErrorDetail:
    """One ``<error>`` of an ``<errormessage>``; every part may be empty in real answers."""

    errorno: str = ""
    description: str = ""
    description2: str = ""
    correction: str = ""

    def __post_init__(self) -> None:
        # The gateway's own words are outside text: a proxy or gateway may echo the login.
        for name in ("errorno", "description", "description2", "correction"):
            object.__setattr__(self, name, redact_text(getattr(self, name)))

    def __str__(self) -> str:
        head = self.errorno or "(no errorno)"
        parts = [part for part in (self.description, self.description2) if part]
        text = f"{head}: {' — '.join(parts)}" if parts else head
        return f"{text} (correction: {self.correction})" if self.correction else text


# Text markers the gateway puts in HTTP 200 answers for conditions that pass. The fylein SDK
# learnt them from live traffic (commit fa266f0, 2025-11); compared case-insensitively.
RATE_LIMIT_MARKERS = ("rate limit exceeded",)
OFFLINE_MARKERS = ("temporarily off-line", "temporarily offline")
RATE_LIMIT_ERRORNOS = frozenset({"GW-0010"})


def _mentions(details: Iterable[ErrorDetail], markers: Sequence[str]) -> bool:
    for detail in details:
        text = " ".join(
            (detail.errorno, detail.description, detail.description2, detail.correction)
        ).lower()
        if any(marker in text for marker in markers):
            return True
    return False


def is_rate_limit(details: Sequence[ErrorDetail]) -> bool:
    return any(d.errorno in RATE_LIMIT_ERRORNOS for d in details) or _mentions(
        details, RATE_LIMIT_MARKERS
    )


def is_offline(details: Sequence[ErrorDetail]) -> bool:
    return _mentions(details, OFFLINE_MARKERS)


def text_is_rate_limit(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in RATE_LIMIT_MARKERS)


def text_is_offline(text: str) -> bool:
    lowered = text.lower()
    return any(marker in lowered for marker in OFFLINE_MARKERS)


class IntacctError(ExternalError):
    """Base of every Intacct failure; ``errors`` holds the gateway's own error entries."""

    level = "intacct"

    def __init__(
        self,
        message: str,
        *,
        errors: Sequence[ErrorDetail] = (),
        http_status: int | None = None,
        retry_after: float | None = None,
        controlid: str | None = None,
        function: str | None = None,
    ) -> None:
        details = tuple(errors)
        code = next((d.errorno for d in details if d.errorno), None)
        full = message
        if details:
            full = f"{message}: " + "; ".join(str(d) for d in details)
        super().__init__(
            full, system="intacct", code=code, http_status=http_status, retry_after=retry_after
        )
        self.errors = details
        self.controlid = controlid
        self.function = function


class IntacctControlError(IntacctError):
    level = "control"


class ControlPermanentError(IntacctControlError, PermanentError):
    pass


class ControlTransientError(IntacctControlError, TransientError):
    pass


class ControlRateLimitedError(IntacctControlError, RateLimitedError):
    pass


class IntacctAuthenticationError(IntacctError):
    level = "authentication"


class AuthenticationPermanentError(IntacctAuthenticationError, CredentialsError):
    pass


class AuthenticationTransientError(IntacctAuthenticationError, TransientError):
    pass


class IntacctFunctionError(IntacctError):
    level = "function"


class FunctionPermanentError(IntacctFunctionError, PermanentError):
    pass


class FunctionTransientError(IntacctFunctionError, TransientError):
    pass


class FunctionRateLimitedError(IntacctFunctionError, RateLimitedError):
    pass


class IntacctTransportError(IntacctError):
    level = "transport"


class TransportTransientError(IntacctTransportError, TransientError):
    pass


class TransportRateLimitedError(IntacctTransportError, RateLimitedError):
    pass


class TransportPermanentError(IntacctTransportError, PermanentError):
    pass


class MalformedResponseError(TransportPermanentError):
    """The answer is not a well-formed, acceptable Intacct XML answer (or was refused: a
    DOCTYPE, an unexpected encoding, too many bytes, a value that does not fit its type)."""


class TruncatedResponseError(TransportTransientError):
    """The answer began as Intacct XML and stopped: a dropped connection, so retry."""


class PagingError(IntacctFunctionError, PermanentError):
    """Paging lost its place (a page skipped or repeated): restarting is the caller's call."""


def control_error(
    details: Sequence[ErrorDetail], *, http_status: int | None = None
) -> IntacctControlError:
    message = "Intacct control block failed (nothing was executed)"
    if is_rate_limit(details) or http_status == 429:
        return ControlRateLimitedError(message, errors=details, http_status=http_status)
    if is_offline(details):
        return ControlTransientError(message, errors=details, http_status=http_status)
    return ControlPermanentError(message, errors=details, http_status=http_status)


def authentication_error(
    details: Sequence[ErrorDetail], *, http_status: int | None = None
) -> IntacctAuthenticationError:
    message = "Intacct authentication failed (no function was executed)"
    if is_rate_limit(details) or is_offline(details):
        return AuthenticationTransientError(message, errors=details, http_status=http_status)
    return AuthenticationPermanentError(message, errors=details, http_status=http_status)


def function_error(
    details: Sequence[ErrorDetail], *, status: str, function: str, controlid: str
) -> IntacctFunctionError:
    message = f"Intacct function {function} ({controlid}) {status}"
    kind: type[IntacctFunctionError] = FunctionPermanentError
    if status == "aborted":
        # Rolled back because a sibling failed under transaction="true" (XL03000009).
        kind = FunctionPermanentError
    elif is_rate_limit(details):
        kind = FunctionRateLimitedError
    elif is_offline(details):
        kind = FunctionTransientError
    return kind(message, errors=details, function=function, controlid=controlid)
