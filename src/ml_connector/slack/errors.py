"""How every Slack failure lands in the one hierarchy of :mod:`ml_connector.errors`.

Slack answers API errors with HTTP 200 and ``{"ok": false, "error": "<code>"}``, rate limits
with HTTP 429 and ``Retry-After``, and outages with 5xx pages that are often HTML. The
delivery path decides what to do from the class alone, so the class must say the one thing
that matters for a message that may or may not be in the channel::

    ExternalError
    └── SlackError
        ├── SlackTransientError (TransientError)        5xx, service_unavailable, refused
        ├── SlackRateLimitedError (RateLimitedError)    429 / ratelimited; ``retry_after``
        ├── SlackAmbiguousError (AmbiguousError)        sent, answer lost; may have posted
        ├── SlackPermanentError (PermanentError)        channel_not_found, invalid_blocks …
        └── SlackCredentialsError (CredentialsError)    invalid_auth, token_revoked …

Unknown error codes are permanent: reporting an unexpected code once is better than
retrying a request Slack may never accept.
"""

from __future__ import annotations

from ml_connector.errors import (
    AmbiguousError,
    CredentialsError,
    ExternalError,
    PermanentError,
    RateLimitedError,
    TransientError,
)

SYSTEM = "slack"

# https://docs.slack.dev/apis/web-api/rate-limits: 429 + Retry-After; the body says
# "ratelimited", while the method pages list "rate_limited" — treat both alike.
RATE_LIMITED_CODES = frozenset({"ratelimited", "rate_limited"})

TRANSIENT_CODES = frozenset(
    {
        "service_unavailable",
        # "POST data was either missing or truncated": the request never arrived whole.
        "request_timeout",
        # "intermittently unavailable" while a team moves into an Enterprise org.
        "team_added_to_org",
    }
)

# chat.meMessage's page on internal_error: "It's possible some aspect of the operation
# succeeded before the error was raised." A retry may post the message twice.
AMBIGUOUS_CODES = frozenset({"internal_error", "fatal_error"})

# The installation (or its token) cannot be used until someone re-installs or fixes it.
CREDENTIALS_CODES = frozenset(
    {
        "invalid_auth",
        "not_authed",
        "account_inactive",
        "token_revoked",
        "token_expired",
        "org_login_required",
        "ekm_access_denied",
        "not_allowed_token_type",
    }
)


class SlackError(ExternalError):
    """A Slack Web API call failed; ``method`` is the API method, ``code`` Slack's error."""

    def __init__(
        self,
        message: str,
        *,
        method: str | None = None,
        code: str | None = None,
        http_status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(
            message, system=SYSTEM, code=code, http_status=http_status, retry_after=retry_after
        )
        self.method = method


class SlackTransientError(SlackError, TransientError):
    """Slack was unavailable or unreachable before the request was sent; retry with backoff."""


class SlackRateLimitedError(SlackError, RateLimitedError):
    """Slack asked us to wait ``retry_after`` seconds before calling this method again."""


class SlackAmbiguousError(SlackError, AmbiguousError):
    """The request reached Slack and may have taken effect; reconcile before posting again."""


class SlackPermanentError(SlackError, PermanentError):
    """Slack refused the request itself (bad channel, bad blocks, missing scope …)."""


class SlackCredentialsError(SlackError, CredentialsError):
    """The token is invalid, revoked or expired: the installation needs a person."""


def error_class(code: str) -> type[SlackError]:
    """The class for a Slack ``error`` code in an ``ok: false`` answer."""
    if code in RATE_LIMITED_CODES:
        return SlackRateLimitedError
    if code in TRANSIENT_CODES:
        return SlackTransientError
    if code in AMBIGUOUS_CODES:
        return SlackAmbiguousError
    if code in CREDENTIALS_CODES:
        return SlackCredentialsError
    return SlackPermanentError


def parse_retry_after(value: str | None, default: float = 1.0) -> float:
    """Seconds from a ``Retry-After`` header; Slack sends whole seconds, we accept decimals."""
    if value is None:
        return default
    try:
        seconds = float(value.strip())
    except ValueError:
        return default
    if seconds != seconds or seconds < 0:  # NaN or negative: not a usable wish
        return default
    return seconds


def api_error(
    method: str,
    *,
    http_status: int | None,
    code: str | None,
    retry_after_header: str | None = None,
    detail: str | None = None,
) -> SlackError:
    """The error for a complete HTTP answer that was not a success.

    HTTP 429 wins over any body; a body's ``error`` code wins over the status (Slack sends
    ``internal_error`` with 200 and sometimes with 5xx); without a code the status decides.
    """
    suffix = f" ({detail})" if detail else ""
    if http_status == 429 or (code is not None and code in RATE_LIMITED_CODES):
        wait = parse_retry_after(retry_after_header)
        code = code or "ratelimited"
        return SlackRateLimitedError(
            f"Slack {method}: {code}, retry after {wait:g}s{suffix}",
            method=method,
            code=code,
            http_status=http_status,
            retry_after=wait,
        )
    if code:
        cls = error_class(code)
        return cls(
            f"Slack {method}: {code}{suffix}", method=method, code=code, http_status=http_status
        )
    if http_status is not None and (http_status >= 500 or http_status == 408):
        return SlackTransientError(
            f"Slack {method}: HTTP {http_status} without a Slack answer{suffix}",
            method=method,
            http_status=http_status,
        )
    return SlackPermanentError(
        f"Slack {method}: unexpected answer, HTTP {http_status}{suffix}",
        method=method,
        http_status=http_status,
    )
