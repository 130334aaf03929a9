"""Slack request signatures: is this request from Slack, and fresh?

https://docs.slack.dev/authentication/verifying-requests-from-slack: Slack sends
``X-Slack-Request-Timestamp`` and ``X-Slack-Signature: v0=<hex>``, the hex being
HMAC-SHA256 keyed with the app's signing secret over ``v0:{timestamp}:{raw body}``. A request
older or newer than five minutes is refused so a captured request cannot be replayed later;
the comparison is constant-time so the signature cannot be guessed byte by byte. This is what
slack_sdk's ``SignatureVerifier`` does; ours also says *why* a request failed (for the log)
and tries several secrets, because the workspace is named inside a body we may not parse yet.

Pure functions: the caller passes the clock reading.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum

VERSION = "v0"
TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
MAX_SKEW = 5 * 60.0
# A decimal timestamp longer than this is not a Unix time; refusing early keeps int() cheap.
_MAX_TIMESTAMP_DIGITS = 12


class Failure(StrEnum):
    """Why a request was refused; logged, never shown to the sender beyond "invalid"."""

    MISSING_HEADERS = "missing_headers"
    BAD_TIMESTAMP = "bad_timestamp"
    STALE_TIMESTAMP = "stale_timestamp"
    BAD_SIGNATURE = "bad_signature"
    NO_SECRET = "no_signing_secret"


@dataclass(frozen=True)
class Verdict:
    """``matched``: the names whose secret signed the request (one app may serve several)."""

    matched: tuple[str, ...] = ()
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """``v0=<hex>`` for this body at this timestamp; what Slack would send."""
    base = f"{VERSION}:{timestamp}:".encode() + body
    digest = hmac.new(secret.encode("utf-8"), base, hashlib.sha256).hexdigest()
    return f"{VERSION}={digest}"


def signed_headers(secret: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The two headers a Slack request carries, for simulators, tests and benchmarks."""
    stamp = str(timestamp)
    return {TIMESTAMP_HEADER: stamp, SIGNATURE_HEADER: signature(secret, stamp, body)}


def check_timestamp(timestamp: str | None, now: float) -> Failure | None:
    if not timestamp:
        return Failure.MISSING_HEADERS
    if len(timestamp) > _MAX_TIMESTAMP_DIGITS or not timestamp.isascii():
        return Failure.BAD_TIMESTAMP
    try:
        moment = int(timestamp)
    except ValueError:
        return Failure.BAD_TIMESTAMP
    if abs(now - moment) > MAX_SKEW:
        return Failure.STALE_TIMESTAMP
    return None


def verify(
    secrets: Mapping[str, str],
    headers: Mapping[str, str],
    body: bytes,
    now: float,
) -> Verdict:
    """Check the request against every named secret; every name whose secret matches is kept.

    ``headers`` may be any case-insensitive mapping (aiohttp's ``request.headers``).
    All secrets are always tried so the time taken does not reveal which one matched.
    """
    timestamp = headers.get(TIMESTAMP_HEADER)
    given = headers.get(SIGNATURE_HEADER)
    if not timestamp or not given:
        return Verdict(failure=Failure.MISSING_HEADERS)
    stale = check_timestamp(timestamp, now)
    if stale is not None:
        return Verdict(failure=stale)
    if not secrets:
        return Verdict(failure=Failure.NO_SECRET)
    matched = _matching(secrets.items(), timestamp, body, given)
    if not matched:
        return Verdict(failure=Failure.BAD_SIGNATURE)
    return Verdict(matched=matched)


def _matching(
    secrets: Iterable[tuple[str, str]], timestamp: str, body: bytes, given: str
) -> tuple[str, ...]:
    given_bytes = given.encode("utf-8", "surrogateescape")
    matched = []
    for name, secret in secrets:
        expected = signature(secret, timestamp, body).encode("ascii")
        if hmac.compare_digest(expected, given_bytes):
            matched.append(name)
    return tuple(matched)
