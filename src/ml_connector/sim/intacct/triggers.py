"""Platform Triggers: the simulated company POSTs to a URL when watched records change.

Behaviour from developer.sage.com/intacct/docs/developer-portal/guides/webhooks (2025 R1/R2
release notes say the same):

* An HTTP POST trigger fires on the add/set (here also delete) of its object, with the body the
  customer wrote, injection parameters filled (``injection.py``).
* With "Use webhook delivery" the request carries ``Authorization: Bearer <JWT>`` and
  ``X-Trusted-Context`` (base64 JSON with the client ID); "If a call is unsuccessful, retries
  occur until a successful HTTP status code of 200 is received, up to 4 attempts", on 408, 429,
  500, 502, 503, 504, "First retry after 10 seconds, Second retry after 30 seconds, Third retry
  after 90 seconds"; "Each webhook request includes a unique idempotency key, although retries
  will contain the same key"; "You may have concurrent requests using webhooks". No answer at
  all (timeout, reset) is retried too ("webhooks automatically re-try if no response is
  received").
* Without webhook delivery a plain POST is sent once, with the headers the customer added.

Not documented, so chosen here and configurable: the JWT is RS256, signed with a key the
simulator publishes as a JWKS at ``/.well-known/jwks.json``; issuer ``https://api.intacct.com``
(what a third-party copy of Intacct's OpenID configuration lists, unverified); audience the
client ID; a fresh token (new ``jti``) per attempt, valid five minutes; the trusted context is
``{"clientId": …, "companyId": …}``; the idempotency key travels in ``Idempotency-Key``.

``time_scale`` shrinks the retry schedule for tests. Faults (``faults``) deliver an event twice
at once, hold one back so later events overtake it, or delete the record right after its event
fired, so the read that follows finds nothing.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import jwt
from aiohttp import web
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

from ml_connector.sim.intacct.dataset import Dataset, recordno_of
from ml_connector.sim.intacct.injection import render
from ml_connector.sim.intacct.objects import Record

JWKS_PATH = "/.well-known/jwks.json"
DEFAULT_ISSUER = "https://api.intacct.com"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
RETRY_DELAYS = (10.0, 30.0, 90.0)
MAX_ATTEMPTS = 4
DELETABLE = frozenset({"GLBATCH", "APPYMT"})


@dataclass(frozen=True)
class TriggerDefinition:
    """One trigger as the customer creates it in Intacct."""

    object: str
    url: str
    body: str
    events: tuple[str, ...] = ("add", "set")
    content_type: str = "application/json"
    headers: Mapping[str, str] = field(default_factory=dict)
    webhook: bool = True

    def fires_on(self, event: str, object_name: str) -> bool:
        return object_name == self.object.upper() and event in {e.lower() for e in self.events}


@dataclass(frozen=True)
class Attempt:
    idempotency_key: str
    object: str
    number: int
    status: int | None  # None: no answer
    at: float


@dataclass
class TriggerFaults:
    duplicate: float = 0.0
    reorder: float = 0.0
    delete: float = 0.0
    reorder_delay: float = 1.5


@dataclass(frozen=True)
class Fired:
    """An event as it left the company: what changed, when, under which key."""

    idempotency_key: str
    event: str
    object: str
    recordno: int
    at: float


class TriggerEmitter:
    def __init__(
        self,
        data: Dataset,
        *,
        company_id: str,
        client_id: str | None = None,
        issuer: str = DEFAULT_ISSUER,
        idempotency_header: str = "Idempotency-Key",
        time_scale: float = 1.0,
        token_ttl: float = 300.0,
        attempt_timeout: float = 10.0,
        seed: int = 1,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.data = data
        self.company_id = company_id
        self.client_id = client_id or f"sim-client-{uuid.uuid4().hex[:12]}"
        self.issuer = issuer
        self.idempotency_header = idempotency_header
        self.time_scale = time_scale
        self.token_ttl = token_ttl
        self.attempt_timeout = attempt_timeout
        self.faults = TriggerFaults()
        self.definitions: list[TriggerDefinition] = []
        self.attempts: list[Attempt] = []
        self.fired: list[Fired] = []
        self.deleted: list[tuple[str, int]] = []
        self.private_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.kid = f"sim-{uuid.uuid4().hex[:8]}"
        self._rng = random.Random(seed)
        self._clock = clock
        self._session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        data.listeners.append(self._on_change)

    # -- set-up ---------------------------------------------------------------------------------

    def define(self, definition: TriggerDefinition) -> None:
        self.definitions.append(definition)

    def jwks(self) -> dict[str, Any]:
        public = json.loads(RSAAlgorithm.to_jwk(self.private_key.public_key()))
        public.update(kid=self.kid, use="sig", alg="RS256")
        return {"keys": [public]}

    async def jwks_handler(self, _request: web.Request) -> web.Response:
        return web.json_response(self.jwks())

    def sign(self, **claims: Any) -> str:
        """A token as a delivery carries it; ``claims`` override (tests forge variants)."""
        now = self._clock()
        payload: dict[str, Any] = {
            "iss": self.issuer,
            "aud": self.client_id,
            "iat": int(now),
            "exp": int(now + self.token_ttl),
            "jti": uuid.uuid4().hex,
            "cnyId": self.company_id,
        }
        payload.update(claims)
        payload = {k: v for k, v in payload.items() if v is not None}
        return jwt.encode(payload, self.private_key, algorithm="RS256", headers={"kid": self.kid})

    def trusted_context(self, client_id: str | None = None) -> str:
        context = {"clientId": client_id or self.client_id, "companyId": self.company_id}
        return base64.b64encode(json.dumps(context).encode()).decode()

    def headers(self, definition: TriggerDefinition, key: str) -> dict[str, str]:
        headers = {"Content-Type": definition.content_type, **definition.headers}
        if definition.webhook:
            headers["Authorization"] = f"Bearer {self.sign()}"
            headers["X-Trusted-Context"] = self.trusted_context()
            headers[self.idempotency_header] = key
        return headers

    # -- emission ---------------------------------------------------------------------------------

    def _on_change(self, event: str, object_name: str, record: Record) -> None:
        for definition in self.definitions:
            if not definition.fires_on(event, object_name):
                continue
            body = render(definition.body, object_name, record).encode()
            key = str(uuid.uuid4())
            recordno = recordno_of(record)
            self.fired.append(Fired(key, event, object_name, recordno, self._clock()))
            copies = 2 if self._rng.random() < self.faults.duplicate else 1
            hold = self.faults.reorder_delay if self._rng.random() < self.faults.reorder else 0.0
            for _ in range(copies):
                self._spawn(self._deliver(definition, body, key, object_name, hold))
            if (
                event != "delete"
                and object_name in DELETABLE
                and self._rng.random() < self.faults.delete
            ):
                asyncio.get_running_loop().call_soon(self._delete, object_name, recordno)

    def _delete(self, object_name: str, recordno: int) -> None:
        if self.data.get(object_name, recordno) is not None:
            self.deleted.append((object_name, recordno))
            listeners, self.data.listeners = self.data.listeners, []
            try:
                self.data.delete(object_name, recordno)
            finally:
                self.data.listeners = listeners

    def _spawn(self, coro: Any) -> None:
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _deliver(
        self, definition: TriggerDefinition, body: bytes, key: str, object_name: str, hold: float
    ) -> None:
        if hold:
            await asyncio.sleep(hold)
        attempts = MAX_ATTEMPTS if definition.webhook else 1
        for number in range(1, attempts + 1):
            status = await self._post(definition, body, key)
            self.attempts.append(Attempt(key, object_name, number, status, self._clock()))
            if status == 200 or (status is not None and status not in RETRY_STATUSES):
                return
            if number < attempts:
                await asyncio.sleep(RETRY_DELAYS[number - 1] * self.time_scale)

    async def _post(self, definition: TriggerDefinition, body: bytes, key: str) -> int | None:
        if self._session is None:
            self._session = aiohttp.ClientSession()
        timeout = aiohttp.ClientTimeout(total=self.attempt_timeout)
        try:
            async with self._session.post(
                definition.url, data=body, headers=self.headers(definition, key), timeout=timeout
            ) as response:
                await response.read()
                return response.status
        except (aiohttp.ClientError, TimeoutError):
            return None

    async def drain(self, timeout: float = 30.0) -> bool:
        """Wait until every delivery (and its retries) is over; False on timeout."""
        deadline = time.monotonic() + timeout
        while self._tasks:
            left = deadline - time.monotonic()
            if left <= 0:
                return False
            await asyncio.wait(set(self._tasks), timeout=left)
        return True

    async def close(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None
