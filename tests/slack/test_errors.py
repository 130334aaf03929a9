"""Slack's error codes and HTTP answers land in the right class of the one hierarchy."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.errors import (
    AmbiguousError,
    CredentialsError,
    PermanentError,
    RateLimitedError,
    TransientError,
)
from ml_connector.slack.errors import (
    SlackAmbiguousError,
    SlackCredentialsError,
    SlackPermanentError,
    SlackRateLimitedError,
    SlackTransientError,
    api_error,
    error_class,
    parse_retry_after,
)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("ratelimited", SlackRateLimitedError),
        ("rate_limited", SlackRateLimitedError),
        ("service_unavailable", SlackTransientError),
        ("request_timeout", SlackTransientError),
        ("internal_error", SlackAmbiguousError),
        ("fatal_error", SlackAmbiguousError),
        ("invalid_auth", SlackCredentialsError),
        ("not_authed", SlackCredentialsError),
        ("token_revoked", SlackCredentialsError),
        ("account_inactive", SlackCredentialsError),
        ("token_expired", SlackCredentialsError),
        ("channel_not_found", SlackPermanentError),
        ("not_in_channel", SlackPermanentError),
        ("is_archived", SlackPermanentError),
        ("invalid_blocks", SlackPermanentError),
        ("msg_too_long", SlackPermanentError),
        ("no_text", SlackPermanentError),
        ("missing_scope", SlackPermanentError),
        ("a_code_slack_invents_tomorrow", SlackPermanentError),
    ],
)
def test_error_codes_map_to_classes(code: str, expected: type) -> None:
    assert error_class(code) is expected
    error = api_error("chat.postMessage", http_status=200, code=code)
    assert type(error) is expected
    assert error.code == code
    assert error.system == "slack"
    assert code in str(error)


def test_classes_sit_in_the_shared_hierarchy() -> None:
    assert issubclass(SlackRateLimitedError, RateLimitedError)
    assert issubclass(SlackTransientError, TransientError)
    assert issubclass(SlackAmbiguousError, AmbiguousError)
    assert issubclass(SlackPermanentError, PermanentError)
    assert issubclass(SlackCredentialsError, CredentialsError)
    kinds = {
        cls("x").kind
        for cls in (
            SlackRateLimitedError,
            SlackTransientError,
            SlackAmbiguousError,
            SlackPermanentError,
            SlackCredentialsError,
        )
    }
    assert kinds == {"rate_limited", "transient", "ambiguous", "permanent", "credentials"}


def test_http_429_wins_and_carries_retry_after() -> None:
    error = api_error("chat.postMessage", http_status=429, code=None, retry_after_header="30")
    assert isinstance(error, SlackRateLimitedError)
    assert error.retry_after == 30.0
    assert error.http_status == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504, 408])
def test_5xx_without_a_slack_answer_is_transient(status: int) -> None:
    assert isinstance(api_error("auth.test", http_status=status, code=None), SlackTransientError)


def test_a_code_beats_the_status() -> None:
    error = api_error("chat.postMessage", http_status=500, code="internal_error")
    assert isinstance(error, SlackAmbiguousError)


def test_other_4xx_without_a_code_is_permanent() -> None:
    assert isinstance(api_error("auth.test", http_status=404, code=None), SlackPermanentError)


@given(st.one_of(st.none(), st.text(max_size=12)))
def test_retry_after_is_always_a_usable_wait(header: str | None) -> None:
    seconds = parse_retry_after(header)
    assert seconds >= 0
    assert seconds == seconds  # not NaN


def test_retry_after_reads_whole_and_decimal_seconds() -> None:
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after(" 2.5 ") == 2.5
    assert parse_retry_after(None) == 1.0
    assert parse_retry_after("soon") == 1.0
    assert parse_retry_after("-3") == 1.0


def test_untrusted_certificate_is_permanent_not_retried() -> None:
    import ssl
    from types import SimpleNamespace

    import aiohttp

    from ml_connector.slack.client import _from_transport
    from ml_connector.slack.errors import SlackPermanentError

    key = SimpleNamespace(host="slack.com", port=443, is_ssl=True, ssl=True)
    exc = aiohttp.ClientConnectorCertificateError(key, ssl.SSLCertVerificationError("bad"))  # type: ignore[arg-type]
    error = _from_transport("chat.postMessage", exc, side_effects=True)
    assert isinstance(error, SlackPermanentError)
    assert not error.transient
    assert "certificate" in str(error)
