"""The cookie that binds an install to the browser that started it.

Slack's guidance for the OAuth ``state`` ("Sign in with Slack" / installing with OAuth) and
slack_sdk's ``OAuthStateUtils`` (used by Bolt's install flow) set a cookie holding the state
when the browser is sent to Slack, and on the redirect accept the state only if the same
browser brings the cookie back. Here the cookie also carries an HMAC of the state under a
key kept in the vault, is ``HttpOnly`` (no script reads it), ``SameSite=Lax`` (sent on
Slack's top-level redirect back, not on cross-site subrequests), ``Secure`` when the public
URL is https, scoped to ``/slack/`` and lives as long as the state (ten minutes).
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from aiohttp import web

from ml_connector.config import Config
from ml_connector.slack.installations import STATE_TTL
from ml_connector.vault import Vault

COOKIE = "mlc-oauth-state"
KEY_SECRET = "web.install_cookie_key"
PATH = "/slack/"


async def cookie_key(vault: Vault) -> bytes:
    """The signing key, made on first use (two processes racing at the very first install
    may each make one; the loser's cookie then fails once and the install is started again)."""
    key = await vault.get_optional(KEY_SECRET)
    if key is None:
        key = secrets.token_urlsafe(32)
        await vault.set(KEY_SECRET, key)
    return key.encode()


def _mac(key: bytes, state: str) -> str:
    return hmac.new(key, state.encode(), hashlib.sha256).hexdigest()


def set_cookie(response: web.StreamResponse, config: Config, key: bytes, state: str) -> None:
    response.set_cookie(
        COOKIE,
        f"{state}.{_mac(key, state)}",
        max_age=int(STATE_TTL),
        path=PATH,
        httponly=True,
        samesite="Lax",
        secure=(config.public_base_url or "").startswith("https://"),
    )


def same_browser(request: web.Request, key: bytes, state: str) -> bool:
    """Whether the request carries the cookie set for ``state`` by :func:`set_cookie`."""
    sealed = request.cookies.get(COOKIE, "")
    given, _, mac = sealed.rpartition(".")
    return (
        bool(given)
        and hmac.compare_digest(given, state)
        and hmac.compare_digest(mac, _mac(key, state))
    )


def clear_cookie(response: web.StreamResponse) -> None:
    response.del_cookie(COOKIE, path=PATH)
