"""API sessions: obtained once, kept encrypted in the store, shared by every process.

A sign-in costs a request and counts against the company's API budget, so a session from
``getAPISession`` is reused by every run and every process until it is due for renewal
(https://developer.intacct.com/api/company-console/api-sessions). It is due at whichever comes
first:

- 50 minutes after it was obtained (our own ceiling, whatever the company's duration);
- shortly before the ``sessiontimeout`` the gateway reported last. The timeout slides with every
  call ("reset to the current time plus the session duration"), so each answer may push it
  later; the remaining time is taken from the gateway's own ``sessiontimeout -
  sessiontimestamp`` so a skewed local clock cannot make us use a dead session.

The session id is a credential: it is stored only as vault ciphertext, never logged, and kept
out of every repr. Rows are keyed ``company|user|entity``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field, replace

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

import ml_connector.intacct.gateway.metrics as metrics
from ml_connector import clock
from ml_connector.errors import CorruptSecretError
from ml_connector.intacct.gateway.response import Authentication
from ml_connector.logging import get_logger
from ml_connector.store.tables import intacct_sessions
from ml_connector.vault import Vault

log = get_logger("ml_connector.intacct")

MAX_SESSION_AGE = 50 * 60.0
# Renew this long before the reported timeout; a tenth of the duration for short sessions.
RENEW_MARGIN = 60.0


@dataclass(frozen=True)
class Credentials:
    """What signing in takes: the Web Services sender and one company user (from the vault)."""

    sender_id: str
    sender_password: str = field(repr=False)
    company_id: str
    user_id: str
    user_password: str = field(repr=False)
    entity_id: str | None = None

    @property
    def session_key(self) -> str:
        return f"{self.company_id}|{self.user_id}|{self.entity_id or ''}"


@dataclass(frozen=True)
class Session:
    session_id: str = field(repr=False)
    endpoint: str
    location_id: str
    created_at: float
    renew_at: float

    def usable(self, now: float) -> bool:
        return now < self.renew_at


def renew_time(
    created_at: float, now: float, remaining: float | None, max_age: float = MAX_SESSION_AGE
) -> float:
    """When to stop using a session: 50 minutes of age or just before its timeout."""
    deadline = created_at + max_age
    if remaining is not None:
        margin = min(RENEW_MARGIN, remaining / 10)
        deadline = min(deadline, now + remaining - margin)
    return deadline


class SessionStore:
    """The ``intacct_sessions`` table; ciphertext in, plain session ids out."""

    def __init__(self, engine: AsyncEngine, vault: Vault) -> None:
        self._engine = engine
        self._vault = vault

    async def load(self, key: str) -> Session | None:
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(sa.select(intacct_sessions).where(intacct_sessions.c.key == key))
            ).first()
        if row is None:
            return None
        try:
            session_id = await self._vault.open(
                f"the cached Intacct session {key!r}", row.session_ciphertext
            )
        except CorruptSecretError:
            # A cache, not a credential: a damaged entry costs one new login, nothing more.
            log.warning("cached Intacct session damaged; signing in again", key=key)
            return None
        return Session(
            session_id=session_id,
            endpoint=row.endpoint,
            location_id="",
            created_at=row.created_at,
            renew_at=row.expires_at,
        )

    async def save(self, key: str, session: Session) -> None:
        values = {
            "session_ciphertext": self._vault.encrypt(session.session_id),
            "endpoint": session.endpoint,
            "created_at": session.created_at,
            "expires_at": session.renew_at,
            "updated_at": clock.now(),
        }
        table = intacct_sessions
        update = sa.update(table).where(table.c.key == key).values(**values)
        try:
            async with self._engine.begin() as conn:
                if (await conn.execute(update)).rowcount == 0:
                    await conn.execute(sa.insert(table).values(key=key, **values))
        except sa.exc.IntegrityError:
            # Another process inserted the row between our update and insert: last one wins.
            async with self._engine.begin() as conn:
                await conn.execute(update)

    async def extend(self, key: str, session: Session) -> None:
        """Record a later renewal time, only for the session that is stored (not a newer one)."""
        table = intacct_sessions
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.update(table)
                .where(table.c.key == key, table.c.created_at == session.created_at)
                .values(expires_at=session.renew_at, updated_at=clock.now())
            )

    async def discard(self, key: str, session: Session) -> None:
        """Forget a rejected session, unless another process has already replaced it."""
        table = intacct_sessions
        async with self._engine.begin() as conn:
            await conn.execute(
                sa.delete(table).where(table.c.key == key, table.c.created_at == session.created_at)
            )


Opener = Callable[[], Awaitable[tuple[Session, Authentication]]]


class SessionManager:
    """One company/user/entity's session for this process, backed by the shared store.

    ``opener`` performs getAPISession (the client owns HTTP); the lock makes concurrent callers
    in this process share one sign-in.
    """

    def __init__(
        self,
        credentials: Credentials,
        store: SessionStore,
        opener: Opener,
        *,
        max_age: float = MAX_SESSION_AGE,
        accepts: Callable[[Session], bool] = lambda session: True,
        now: Callable[[], float] = clock.now,
    ) -> None:
        self._key = credentials.session_key
        self._accepts = accepts
        self._store = store
        self._opener = opener
        self._max_age = max_age
        self._now = now
        self._current: Session | None = None
        self._lock = asyncio.Lock()

    async def get(self) -> Session:
        current = self._current
        if current is not None and current.usable(self._now()):
            return current
        async with self._lock:
            current = self._current
            if current is not None and current.usable(self._now()):
                return current
            stored = await self._store.load(self._key)
            if self._fits(stored):
                assert stored is not None
                self._current = stored
                return stored
            reason = "expiring" if current is not None or stored is not None else "new"
            return await self._open(reason)

    async def replace(self, rejected: Session) -> Session:
        """After the gateway refused ``rejected``: a new session, unless one already replaced it."""
        async with self._lock:
            current = self._current
            if current is not None and current.created_at != rejected.created_at:
                return current
            await self._store.discard(self._key, rejected)
            self._current = None
            stored = await self._store.load(self._key)
            if (
                self._fits(stored)
                and stored is not None
                and stored.created_at != rejected.created_at
            ):
                self._current = stored
                return stored
            return await self._open("rejected")

    def _fits(self, stored: Session | None) -> bool:
        """A stored session is used only while fresh and only for the configured gateway."""
        return stored is not None and stored.usable(self._now()) and self._accepts(stored)

    async def observe(self, session: Session, authentication: Authentication | None) -> None:
        """Slide the renewal time along with the gateway's sliding timeout."""
        if authentication is None:
            return
        remaining = authentication.session_duration
        if remaining is None:
            return
        renew_at = renew_time(session.created_at, self._now(), remaining, self._max_age)
        current = self._current
        if current is None or current.created_at != session.created_at:
            return
        # Writing on every call would make each read a database write; a second's drift is
        # covered by the renewal margin.
        if abs(renew_at - current.renew_at) < 1.0:
            return
        updated = replace(current, renew_at=renew_at)
        self._current = updated
        await self._store.extend(self._key, updated)

    async def _open(self, reason: str) -> Session:
        session, authentication = await self._opener()
        remaining = authentication.session_duration
        session = replace(
            session,
            renew_at=renew_time(session.created_at, self._now(), remaining, self._max_age),
        )
        await self._store.save(self._key, session)
        self._current = session
        metrics.SESSION_REFRESHES.labels(reason=reason).inc()
        return session
