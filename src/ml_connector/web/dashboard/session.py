"""Browser sessions for the dashboard: a login form, a signed cookie, CSRF tokens.

A browser cannot use the bearer token the status page takes from scripts, so people log in
with the same credentials (``status_user`` + ``status_password``, or the ``status_token`` as
the password). The cookie holds an expiry and a random id, signed with a key derived from
the stored password: nothing is kept on the server, and changing the password ends every
session. Each action form carries a CSRF token derived from the session id, and the cookie
is ``HttpOnly`` and ``SameSite=Strict``, so another site cannot act with it.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass

from ml_connector.config import ServerConfig
from ml_connector.vault import Vault

COOKIE = "mlc_session"
LIFETIME = 8 * 3600.0


@dataclass(frozen=True)
class Session:
    id: str
    expires: float

    def csrf(self, key: bytes) -> str:
        return hmac.new(key, b"csrf:" + self.id.encode(), hashlib.sha256).hexdigest()


async def signing_key(server: ServerConfig, vault: Vault) -> bytes | None:
    """The cookie key, from the login secret; None when the page has no login configured."""
    name = server.status_password if server.status_user else server.status_token
    if name is None:
        return None
    secret = await vault.get(name)
    return hmac.new(secret.encode(), b"ml-connector dashboard session", hashlib.sha256).digest()


async def check_login(server: ServerConfig, vault: Vault, user: str, password: str) -> bool:
    """The same credentials as the status page; both parts compared in constant time."""
    if server.status_user and server.status_password:
        expected = await vault.get(server.status_password)
        user_ok = _same(user, server.status_user)
        return _same(password, expected) and user_ok
    if server.status_token:
        return _same(password, await vault.get(server.status_token))
    return False


def new_session(key: bytes, now: float | None = None) -> str:
    expires = int((now or time.time()) + LIFETIME)
    body = f"{expires}.{secrets.token_urlsafe(18)}"
    return f"{body}.{_sign(key, body)}"


def read_session(key: bytes, value: str | None, now: float | None = None) -> Session | None:
    if not value or value.count(".") != 2:
        return None
    expires, sid, signature = value.split(".")
    if not _same(signature, _sign(key, f"{expires}.{sid}")):
        return None
    if not expires.isdigit() or int(expires) < (now or time.time()):
        return None
    return Session(sid, float(expires))


def csrf_ok(key: bytes, session: Session, token: str | None) -> bool:
    return token is not None and _same(token, session.csrf(key))


def _sign(key: bytes, body: str) -> str:
    return hmac.new(key, body.encode(), hashlib.sha256).hexdigest()


def _same(given: str, expected: str) -> bool:
    return hmac.compare_digest(
        given.encode("utf-8", "surrogateescape"), expected.encode("utf-8", "surrogateescape")
    )
