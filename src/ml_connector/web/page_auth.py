"""Who may read the status page: a bearer token or a user and password from the config.

The credentials are vault secrets named in ``[server]``; they are read when a request comes
(the page is rarely loaded) and compared in constant time. With neither configured the page
is off: it names pipelines, channels and recent errors, which are not for anyone who can
reach the port.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass

from ml_connector.config import ServerConfig
from ml_connector.vault import Vault

REALM = 'realm="ml-connector"'


@dataclass(frozen=True)
class Decision:
    allowed: bool
    configured: bool
    challenges: tuple[str, ...] = ()


def challenges(server: ServerConfig) -> tuple[str, ...]:
    found = []
    if server.status_token:
        found.append(f"Bearer {REALM}")
    if server.status_user and server.status_password:
        found.append(f'Basic {REALM}, charset="UTF-8"')
    return tuple(found)


async def authorize(server: ServerConfig, vault: Vault, header: str | None) -> Decision:
    offered = challenges(server)
    if not offered:
        return Decision(allowed=False, configured=False)
    scheme, _, credentials = (header or "").partition(" ")
    credentials = credentials.strip()
    scheme = scheme.lower()
    if scheme == "bearer" and server.status_token:
        expected = await vault.get(server.status_token)
        if _same(credentials, expected):
            return Decision(allowed=True, configured=True)
    if scheme == "basic" and server.status_user and server.status_password:
        user, password = decode_basic(credentials)
        if user is not None and password is not None:
            expected = await vault.get(server.status_password)
            # Both compared every time so a wrong user takes as long as a wrong password.
            user_ok = _same(user, server.status_user)
            password_ok = _same(password, expected)
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


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
