"""Who may call the simulated gateway, and the API sessions it hands out.

Session expiry slides, as Intacct documents for getAPISession
(https://developer.intacct.com/api/company-console/api-sessions): "If a call occurs before the
projected timeout, it is reset to the current time plus the session duration." The duration is
per company or user on the real service, so it is a constructor argument here.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Credentials:
    """What the simulator accepts: the Web Services sender and one company user."""

    sender_id: str
    sender_password: str = field(repr=False)
    company_id: str
    user_id: str
    user_password: str = field(repr=False)

    @classmethod
    def generate(cls) -> Credentials:
        """Fixed ids and fresh random passwords, so a test cannot pass with a stale secret."""
        return cls(
            sender_id="mlc-sim-sender",
            sender_password=secrets.token_urlsafe(18),
            company_id="northwind-dist",
            user_id="mlc_api",
            user_password=secrets.token_urlsafe(18),
        )


@dataclass
class Session:
    sessionid: str = field(repr=False)
    companyid: str
    userid: str
    locationid: str
    expires_at: float


class SessionStore:
    """Live sessions by id; a session past its expiry is gone, exactly like an unknown id."""

    def __init__(self, duration: float, clock: Callable[[], float]) -> None:
        self.duration = duration
        self._clock = clock
        self._sessions: dict[str, Session] = {}

    def create(self, companyid: str, userid: str, locationid: str) -> Session:
        # Real session ids are opaque strings ending in "..": keep clients from parsing them.
        sessionid = secrets.token_urlsafe(30) + ".."
        session = Session(sessionid, companyid, userid, locationid, self._clock() + self.duration)
        self._sessions[sessionid] = session
        return session

    def peek(self, sessionid: str) -> Session | None:
        """The live session without extending it (used to find the company for rate limits)."""
        session = self._sessions.get(sessionid)
        if session is None or session.expires_at <= self._clock():
            return None
        return session

    def touch(self, sessionid: str) -> Session | None:
        """The live session, its expiry pushed to now + duration; None if unknown or expired."""
        session = self.peek(sessionid)
        if session is None:
            self._sessions.pop(sessionid, None)
            return None
        session.expires_at = self._clock() + self.duration
        return session

    def expire_all(self) -> int:
        count = len(self._sessions)
        self._sessions.clear()
        return count
