"""Who may read the status page or ``/metrics``: a bearer token or a user and password.

The credentials are vault secrets named in ``[server]``; they are read when a request comes
(pages are rarely loaded, Prometheus scrapes every few seconds at most) and compared in
constant time. With neither configured the status page is off (it names pipelines, channels
and recent errors) while ``/metrics`` is open, as Prometheus endpoints usually are.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from aiohttp import web

from ml_connector.config import ServerConfig
from ml_connector.vault import Vault

REALM = 'realm="ml-connector"'


@dataclass(frozen=True)
class Credentials:
    token: str | None = None  # vault secret names, never values
    user: str | None = None
    password: str | None = None


def status_credentials(server: ServerConfig) -> Credentials:
    return Credentials(server.status_token, server.status_user, server.status_password)


def metrics_credentials(server: ServerConfig) -> Credentials:
    return Credentials(server.metrics_token, server.metrics_user, server.metrics_password)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    configured: bool
    challenges: tuple[str, ...] = ()


def challenges(server: Credentials) -> tuple[str, ...]:
    found = []
    if server.token:
        found.append(f"Bearer {REALM}")
    if server.user and server.password:
        found.append(f'Basic {REALM}, charset="UTF-8"')
    return tuple(found)


async def authorize(server: Credentials, vault: Vault, header: str | None) -> Decision:
    offered = challenges(server)
    if not offered:
        return Decision(allowed=False, configured=False)
    scheme, _, credentials = (header or "").partition(" ")
    credentials = credentials.strip()
    scheme = scheme.lower()
    if scheme == "bearer" and server.token:
        expected = await vault.get(server.token)
        if same(credentials, expected):
            return Decision(allowed=True, configured=True)
    if scheme == "basic" and server.user and server.password:
        user, password = decode_basic(credentials)
        if user is not None and password is not None:
            expected = await vault.get(server.password)
            # Both compared every time so a wrong user takes as long as a wrong password.
            user_ok = same(user, server.user)
            password_ok = same(password, expected)
            if user_ok and password_ok:
                return Decision(allowed=True, configured=True)
    return Decision(allowed=False, configured=True, challenges=offered)


def decode_basic(credentials: str) -> tuple[str | None, str | None]:
    try:
        decoded = base64.b64decode(credentials.encode("ascii"), validate=True).decode("utf-8")
    except (UnicodeError, binascii.Error, ValueError):
        return None, None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else (None, None)


def same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )


def unauthorized(decision: Decision) -> web.Response:
    answer = web.Response(status=401, text="authentication required\n")
    for challenge in decision.challenges:
        answer.headers.add("WWW-Authenticate", challenge)
    return answer
