"""Is a trigger delivery from the customer's Intacct company? Two ways to prove it.

**Webhook delivery** (Platform Triggers, "Use webhook delivery";
developer.sage.com/intacct/docs/developer-portal/guides/webhooks): the request carries
``Authorization: Bearer <JWT>`` and ``X-Trusted-Context`` ("base64 encoded trusted context
information, including the client ID"), and Sage recommends verifying the JWT's signature.
The page names neither the issuer, nor the key set, nor the signing algorithm, so they are
configuration (``[connections.NAME.triggers]``): the token must be signed by a configured key
(a JWKS fetched over HTTPS and cached, or a PEM public key file) with an asymmetric algorithm
from the configured list, name the configured issuer, have our client ID as audience and an
expiry not passed (a small leeway for clock skew), and the trusted context's client ID must be
ours too.

**Plain HTTP POST triggers and Smart Events** carry no signature of Intacct's own, so the
customer adds a header with a secret we issued (``ml-connector intacct trigger-secret``); it is
kept encrypted in the vault and compared in constant time.

Why not PyJWT's ``PyJWKClient``: it fetches with urllib, blocking the event loop for as long
as the key server takes. The key set is fetched here with aiohttp, cached for ten minutes and
refetched at most every 30 s when a token names a key id we do not hold (keys rotate; a flood
of made-up key ids must not become a flood of fetches), then handed to ``jwt.PyJWKSet``.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import aiohttp
import jwt
from cryptography.hazmat.primitives.serialization import load_pem_public_key

from ml_connector import clock
from ml_connector.config import IntacctTriggers
from ml_connector.errors import TransientError
from ml_connector.vault import Vault

JWKS_TTL = 600.0
JWKS_MIN_REFRESH = 30.0
JWKS_TIMEOUT = 0.8  # the delivery must be answered within a second
SECRET_TTL = 30.0
TRUSTED_CONTEXT = "X-Trusted-Context"
MAX_TOKEN = 8192

Form = Literal["jwt", "secret"]


def secret_name(connection: str) -> str:
    """The vault name of a connection's trigger secret."""
    return f"intacct/{connection}/trigger_secret"


class Refused(Exception):
    """Not proven to come from the company; ``reason`` is counted in /metrics."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class KeysUnavailable(TransientError):
    """The key set could not be fetched: nothing can be verified now (answered 503, which
    Intacct retries)."""


@dataclass(frozen=True)
class Verified:
    form: Form
    # What identifies the credential, to refuse it when replayed: the JWT's jti (or a digest
    # of the token); None for the static secret (its replays are caught by the body digest).
    token_id: str | None
    # Until when a replay of this credential could still be accepted.
    expires_at: float


class JwksCache:
    """A JWKS fetched with aiohttp, cached; an unknown ``kid`` refetches, rate-limited."""

    def __init__(
        self,
        url: str,
        session: Callable[[], aiohttp.ClientSession],
        *,
        ttl: float = JWKS_TTL,
        min_refresh: float = JWKS_MIN_REFRESH,
    ) -> None:
        self._url = url
        self._session = session
        self._ttl = ttl
        self._min_refresh = min_refresh
        self._keys: dict[str, jwt.PyJWK] = {}
        self._fetched_at = float("-inf")

    async def key(self, kid: str | None) -> jwt.PyJWK | None:
        fresh = time.monotonic() - self._fetched_at < self._ttl
        if not fresh:
            await self._fetch()
        found = self._lookup(kid)
        if found is None and time.monotonic() - self._fetched_at >= self._min_refresh:
            await self._fetch()
            found = self._lookup(kid)
        return found

    def _lookup(self, kid: str | None) -> jwt.PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        try:
            timeout = aiohttp.ClientTimeout(total=JWKS_TIMEOUT)
            async with self._session().get(self._url, timeout=timeout) as response:
                if response.status != 200:
                    raise KeysUnavailable(f"the JWKS answered HTTP {response.status}")
                data = await response.json(content_type=None)
            keys = jwt.PyJWKSet.from_dict(data).keys
        except (aiohttp.ClientError, TimeoutError, ValueError, jwt.PyJWKSetError) as exc:
            if self._keys:
                return  # keep the keys we hold; try again after min_refresh
            raise KeysUnavailable(f"cannot fetch the JWKS: {type(exc).__name__}") from None
        self._keys = {k.key_id or f"#{n}": k for n, k in enumerate(keys)}
        self._fetched_at = time.monotonic()


class TriggerVerifier:
    """Checks deliveries for one connection, in either form."""

    def __init__(
        self,
        connection: str,
        settings: IntacctTriggers,
        vault: Vault,
        session: Callable[[], aiohttp.ClientSession],
        *,
        base_dir: Path,
        now: Callable[[], float] = clock.now,
    ) -> None:
        self._connection = connection
        self._settings = settings
        self._vault = vault
        self._now = now
        self._jwks = (
            JwksCache(settings.jwks_url, session) if settings.jwks_url is not None else None
        )
        self._pem: Any = None
        if settings.jwt_public_key_file is not None:
            path = settings.jwt_public_key_file
            path = path if path.is_absolute() else base_dir / path
            self._pem_path: Path | None = path
        else:
            self._pem_path = None
        self._secret: tuple[str | None, float] | None = None

    async def verify(self, headers: Mapping[str, str]) -> Verified:
        authorization = headers.get("Authorization", "")
        if authorization:
            return await self._verify_jwt(authorization, headers)
        provided = headers.get(self._settings.secret_header)
        if provided:
            return await self._verify_secret(provided)
        raise Refused("missing", "no bearer token and no trigger secret header")

    # -- webhook delivery -------------------------------------------------------------------

    async def _verify_jwt(self, authorization: str, headers: Mapping[str, str]) -> Verified:
        s = self._settings
        if s.client_id is None or s.jwt_issuer is None:
            raise Refused("forged", "webhook delivery (JWT) is not configured for this connection")
        scheme, _, token = authorization.partition(" ")
        token = token.strip()
        if scheme.lower() != "bearer" or not token or len(token) > MAX_TOKEN:
            raise Refused("forged", "Authorization is not a bearer token")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise Refused("forged", "the bearer token is not a JWT") from None
        if header.get("alg") not in s.jwt_algorithms:
            raise Refused("forged", f"JWT algorithm {str(header.get('alg'))[:20]!r} not accepted")
        kid = header.get("kid")
        key = await self._key(kid if isinstance(kid, str) else None)
        if key is None:
            raise Refused("forged", "the JWT is signed by a key not in the configured key set")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key=key,
                algorithms=list(s.jwt_algorithms),
                audience=s.client_id,
                issuer=s.jwt_issuer,
                leeway=s.leeway_seconds,
                options={"require": ["exp", "iss", "aud"]},
            )
        except jwt.ExpiredSignatureError:
            raise Refused("expired", "the JWT has expired") from None
        except jwt.InvalidAudienceError:
            raise Refused("wrong_audience", "the JWT is not meant for this client ID") from None
        except jwt.InvalidIssuerError:
            raise Refused("wrong_issuer", "the JWT comes from another issuer") from None
        except jwt.InvalidTokenError as exc:
            raise Refused("forged", f"the JWT does not verify ({type(exc).__name__})") from None
        context_client = trusted_context_client(
            headers.get(TRUSTED_CONTEXT), s.trusted_context_client_key
        )
        if context_client is None:
            raise Refused("missing", f"no readable {TRUSTED_CONTEXT} header")
        if not hmac.compare_digest(context_client.encode(), s.client_id.encode()):
            raise Refused("wrong_client", f"{TRUSTED_CONTEXT} names another client ID")
        jti = claims.get("jti")
        token_id = (
            f"jti:{jti[:90]}"
            if isinstance(jti, str) and jti
            else "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:64]
        )
        return Verified("jwt", token_id, float(claims["exp"]) + s.leeway_seconds)

    async def _key(self, kid: str | None) -> Any:
        """The verification key (a ``cryptography`` public key), or None if unknown."""
        if self._jwks is not None:
            found = await self._jwks.key(kid)
            return None if found is None else found.key
        if self._pem is None and self._pem_path is not None:
            try:
                self._pem = load_pem_public_key(self._pem_path.read_bytes())
            except (OSError, ValueError) as exc:
                raise KeysUnavailable(
                    f"cannot read the JWT public key file: {type(exc).__name__}"
                ) from None
        return self._pem

    # -- plain triggers -----------------------------------------------------------------------

    async def _verify_secret(self, provided: str) -> Verified:
        if not self._settings.accept_secret:
            raise Refused("forged", "trigger secrets are not accepted for this connection")
        expected = await self._current_secret()
        if expected is None:
            raise Refused("forged", "no trigger secret has been issued for this connection")
        if not hmac.compare_digest(provided.strip().encode(), expected.encode()):
            raise Refused("forged", "the trigger secret does not match")
        # A static secret never expires; a replayed body is refused for a day.
        return Verified("secret", None, self._now() + 86_400.0)

    async def _current_secret(self) -> str | None:
        now = time.monotonic()
        if self._secret is None or now - self._secret[1] > SECRET_TTL:
            value = await self._vault.get_optional(secret_name(self._connection))
            self._secret = (value, now)
        return self._secret[0]


def trusted_context_client(value: str | None, key: str) -> str | None:
    """The client ID in an X-Trusted-Context header (base64 JSON), or None if unreadable."""
    if not value or len(value) > MAX_TOKEN:
        return None
    text = value.strip()
    try:
        text = text.replace("-", "+").replace("_", "/")
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
        data = json.loads(raw)
    except (binascii.Error, ValueError):
        return None
    found = data.get(key) if isinstance(data, dict) else None
    return found if isinstance(found, str) and found else None
