"""The OAuth v2 install flow: the authorize request and ``oauth.v2.access``.

Sources: https://docs.slack.dev/authentication/installing-with-oauth,
https://docs.slack.dev/reference/methods/oauth.v2.access (arguments, error codes, the advice to
send client credentials with HTTP Basic) and
https://docs.slack.dev/authentication/using-token-rotation ("After an exchange the old refresh
token is revoked"; access tokens expire after 12 hours).
"""

from __future__ import annotations

import hmac
import math
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode, urlsplit, urlunsplit

from ml_connector.sim.slack.api_error import ApiError
from ml_connector.sim.slack.request import ApiCall
from ml_connector.sim.slack.state import App, Grant, Workspace

_SCOPE = re.compile(r"^[a-z][a-z0-9_.:-]*$")


class AuthorizeProblem(Exception):
    """The authorize request is unusable; Slack shows an error page instead of the consent."""


@dataclass(frozen=True)
class AuthorizeRequest:
    app: App
    scopes: frozenset[str]
    redirect_uri: str  # where to send the browser
    bound_redirect_uri: str | None  # what the exchange must repeat (None: not sent)
    state: str


def parse_authorize(workspace: Workspace, params: dict[str, str]) -> AuthorizeRequest:
    """Check ``client_id``, ``scope``, ``redirect_uri`` and ``state`` of an authorize request."""
    app = workspace.apps.get(params.get("client_id", ""))
    if app is None:
        raise AuthorizeProblem("invalid_client_id")
    raw_scopes = re.split(r"[,\s]+", params.get("scope", "").strip())
    scopes = frozenset(s for s in raw_scopes if s)
    if not scopes:
        raise AuthorizeProblem("no_scopes")
    if not all(_SCOPE.match(s) for s in scopes) or not scopes <= app.scopes:
        raise AuthorizeProblem("invalid_scope")
    given = params.get("redirect_uri") or None
    if given is None:
        if not app.redirect_uris:
            raise AuthorizeProblem("bad_redirect_uri")
        target = app.redirect_uris[0]
    else:
        if not _redirect_allowed(given, app.redirect_uris):
            raise AuthorizeProblem("bad_redirect_uri")
        target = given
    return AuthorizeRequest(app, scopes, target, given, params.get("state", ""))


def _redirect_allowed(uri: str, registered: tuple[str, ...]) -> bool:
    """The URI must be absolute http(s); with registered URLs, equal to one or below one."""
    parts = urlsplit(uri)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        return False
    if not registered:
        return True
    return any(uri == base or uri.startswith(base.rstrip("/") + "/") for base in registered)


def redirect_with(uri: str, params: dict[str, str]) -> str:
    """``uri`` with ``params`` added to whatever query string it already has."""
    parts = urlsplit(uri)
    query = "&".join(q for q in (parts.query, urlencode(params)) if q)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, parts.fragment))


def oauth_v2_access(workspace: Workspace, call: ApiCall, *, now: float) -> dict[str, Any]:
    app = _client(workspace, call)
    grant_type = call.string("grant_type") or "authorization_code"
    if grant_type == "authorization_code":
        return _exchange_code(workspace, app, call, now=now)
    if grant_type == "refresh_token":
        return _refresh(workspace, app, call, now=now)
    raise ApiError("invalid_grant_type")


def _client(workspace: Workspace, call: ApiCall) -> App:
    if call.basic_auth is not None:
        client_id, secret = call.basic_auth
    else:
        client_id, secret = call.string("client_id") or "", call.string("client_secret") or ""
    app = workspace.apps.get(client_id)
    if app is None:
        raise ApiError("invalid_client_id")
    if not hmac.compare_digest(secret.encode(), app.client_secret.encode()):
        raise ApiError("bad_client_secret")
    return app


def _exchange_code(workspace: Workspace, app: App, call: ApiCall, *, now: float) -> dict[str, Any]:
    code = workspace.codes.get(call.string("code") or "")
    if code is None or code.used or code.client_id != app.client_id or now >= code.expires_at:
        raise ApiError("invalid_code")
    # RFC 6749 §4.1.3: a redirect_uri sent to the authorize step must be repeated, identical.
    given = call.string("redirect_uri")
    if (code.redirect_uri is not None or given is not None) and given != code.redirect_uri:
        raise ApiError("bad_redirect_uri")
    code.used = True
    grant = workspace.issue_token(app, code.scopes, now=now)
    body = _token_body(workspace, grant)
    body["authed_user"] = {"id": workspace.installer_user_id}
    return body


def _refresh(workspace: Workspace, app: App, call: ApiCall, *, now: float) -> dict[str, Any]:
    refresh = workspace.refresh_grants.get(call.string("refresh_token") or "")
    if refresh is None or refresh.app is not app:
        raise ApiError("invalid_refresh_token")
    # The old refresh token is revoked by the exchange; access tokens already issued stay
    # valid until they expire.
    del workspace.refresh_grants[refresh.token]
    grant = workspace.issue_token(app, refresh.scopes, now=now)
    return _token_body(workspace, grant)


def _token_body(workspace: Workspace, grant: Grant) -> dict[str, Any]:
    app = grant.app
    body: dict[str, Any] = {
        "ok": True,
        "app_id": app.app_id,
        "scope": ",".join(sorted(grant.scopes)),
        "token_type": "bot",
        "access_token": grant.token,
        "bot_user_id": app.bot_user_id,
        "team": {"id": workspace.team_id, "name": workspace.team_name},
        "enterprise": None,
        "is_enterprise_install": False,
    }
    if app.token_rotation and grant.expires_at is not None:
        body["refresh_token"] = workspace.issue_refresh_token(app, grant.scopes).token
        body["expires_in"] = math.ceil(app.token_ttl)
    return body
