"""The signature check against Slack's published vector and slack_sdk's own verifier."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st
from slack_sdk.signature import SignatureVerifier

from ml_connector.slack import signing
from ml_connector.slack.signing import Failure, signed_headers, verify

# research/slack.md §4, copied from python-slack-sdk tests/signature/test_signature_verifier.py
VECTOR_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
VECTOR_TS = 1531420618
VECTOR_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&"
    b"channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&"
    b"command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands"
    b"%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015."
    b"47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
VECTOR_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"
VECTOR_HEADERS = {
    "X-Slack-Request-Timestamp": str(VECTOR_TS),
    "X-Slack-Signature": VECTOR_SIGNATURE,
}


def test_the_published_vector_verifies() -> None:
    assert signing.signature(VECTOR_SECRET, str(VECTOR_TS), VECTOR_BODY) == VECTOR_SIGNATURE
    verdict = verify({"default": VECTOR_SECRET}, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS)
    assert verdict.ok
    assert verdict.matched == ("default",)


def test_a_tampered_body_fails() -> None:
    body = VECTOR_BODY.replace(b"roadrunner", b"roadrunnex")
    verdict = verify({"default": VECTOR_SECRET}, VECTOR_HEADERS, body, VECTOR_TS)
    assert verdict.failure is Failure.BAD_SIGNATURE


def test_a_wrong_secret_fails() -> None:
    verdict = verify({"default": "0" * 32}, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS)
    assert verdict.failure is Failure.BAD_SIGNATURE


def test_the_window_is_five_minutes_either_way() -> None:
    secrets = {"default": VECTOR_SECRET}
    assert verify(secrets, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS + 300).ok
    assert verify(secrets, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS - 300).ok
    late = verify(secrets, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS + 301)
    early = verify(secrets, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS - 301)
    assert late.failure is early.failure is Failure.STALE_TIMESTAMP


def test_missing_or_garbled_headers_fail() -> None:
    secrets = {"default": VECTOR_SECRET}
    assert verify(secrets, {}, VECTOR_BODY, VECTOR_TS).failure is Failure.MISSING_HEADERS
    no_sig = {"X-Slack-Request-Timestamp": str(VECTOR_TS)}
    assert verify(secrets, no_sig, VECTOR_BODY, VECTOR_TS).failure is Failure.MISSING_HEADERS
    for stamp in ("abc", "1e9", "١٥٣١٤٢٠٦١٨", "9" * 40, " 1531420618x"):
        headers = {**VECTOR_HEADERS, "X-Slack-Request-Timestamp": stamp}
        assert verify(secrets, headers, VECTOR_BODY, VECTOR_TS).failure is Failure.BAD_TIMESTAMP


def test_no_configured_secret_refuses_everything() -> None:
    assert verify({}, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS).failure is Failure.NO_SECRET


def test_every_workspace_sharing_the_secret_is_named() -> None:
    secrets = {"a": VECTOR_SECRET, "b": "another-secret-value", "c": VECTOR_SECRET}
    assert verify(secrets, VECTOR_HEADERS, VECTOR_BODY, VECTOR_TS).matched == ("a", "c")


@given(
    secret=st.text(min_size=1, max_size=64).filter(str.strip),  # slack_sdk refuses blank
    text=st.text(max_size=2048),
    skew=st.integers(min_value=-300, max_value=300),
)
def test_we_agree_with_slack_sdk_on_what_slack_sdk_signs(secret: str, text: str, skew: int) -> None:
    # slack_sdk decodes the body as UTF-8, as every Slack body (JSON or form) is.
    body = text.encode("utf-8")
    now = 1_700_000_000
    stamp = str(now + skew)
    theirs = SignatureVerifier(secret).generate_signature(timestamp=stamp, body=body)
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": theirs}
    assert verify({"w": secret}, headers, body, now).ok
    assert signed_headers(secret, now + skew, body) == headers


@given(body=st.binary(min_size=1, max_size=512), data=st.data())
def test_any_single_byte_change_is_refused(body: bytes, data: st.DataObject) -> None:
    now = 1_700_000_000
    headers = signed_headers(VECTOR_SECRET, now, body)
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    flip = data.draw(st.integers(min_value=1, max_value=255))
    changed = bytearray(body)
    changed[index] ^= flip
    verdict = verify({"w": VECTOR_SECRET}, headers, bytes(changed), now)
    assert verdict.failure is Failure.BAD_SIGNATURE


@given(signature=st.text(max_size=80), stamp=st.text(max_size=20))
def test_arbitrary_headers_never_raise(signature: str, stamp: str) -> None:
    headers = {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": signature}
    verdict = verify({"w": VECTOR_SECRET}, headers, b"{}", 1_700_000_000)
    assert not verdict.ok
