"""API keys: made once, shown once, stored only as SHA-256 hashes, compared in constant time.

Keys are 256 random bits, so a plain SHA-256 is as strong as a slow password hash here and
costs nothing per request. Several keys are valid at once so a connector can move to a new
key before the old one is revoked. The key ring re-reads ``agent.toml`` when it changes, so
``agent add-key`` / ``agent revoke-key`` take effect without restarting the agent.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets
import time
import tomllib
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from ml_connector_agent.config import ApiKeyEntry
from ml_connector_agent.errors import ConfigError

KEY_PREFIX = "s100_"
# What a log line may show of a presented key: our prefix and three characters, enough to
# tell "an old key of ours" from "someone guessing", far too little to use.
SHOWN_KEY_CHARS = len(KEY_PREFIX) + 3


def shown_key(token: str | None) -> str:
    if not token:
        return "(none)"
    return token[:SHOWN_KEY_CHARS].encode("ascii", "replace").decode() + "…"


class FailureThrottle:
    """Failed authentications per peer address: after ``limit`` within ``window`` seconds,
    that peer is answered 429 (with Retry-After) until the oldest of them is ``window`` old.

    256-bit keys cannot be guessed, but thousands of wrong keys a second are still an attack
    to slow down and make visible. Kept in memory (a restart forgets it) and bounded in how
    many peers it remembers.
    """

    def __init__(
        self,
        limit: int = 10,
        window: float = 60.0,
        *,
        clock: Callable[[], float] = time.monotonic,
        max_peers: int = 10_000,
    ) -> None:
        self.limit = limit
        self.window = window
        self._clock = clock
        self._max_peers = max_peers
        self._failures: dict[str, deque[float]] = {}

    def retry_after(self, peer: str) -> float | None:
        """Seconds this peer must wait, or None if it may try now."""
        times = self._failures.get(peer)
        if not times:
            return None
        now = self._clock()
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) < self.limit:
            return None
        return max(times[0] + self.window - now, 1.0)

    def failed(self, peer: str) -> int:
        """Record one failure; return how many this peer has within the window."""
        if peer not in self._failures and len(self._failures) >= self._max_peers:
            self._failures.pop(next(iter(self._failures)))
        times = self._failures.setdefault(peer, deque(maxlen=self.limit))
        times.append(self._clock())
        return len(times)

    def succeeded(self, peer: str) -> None:
        self._failures.pop(peer, None)


def hash_key(key: str) -> str:
    """The stored form of a key.

    ``surrogateescape`` because a presented key comes from an HTTP header, which aiohttp
    decodes that way: a header with bytes that are not UTF-8 must hash to a mismatch (401),
    not raise (500). Keys we make are ASCII, so their hashes are unchanged by it.
    """
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogateescape")).hexdigest()


@dataclass(frozen=True)
class NewKey:
    id: str
    key: str
    entry: ApiKeyEntry

    def __repr__(self) -> str:  # the key itself must never reach a log
        return f"NewKey(id={self.id!r})"


def new_key() -> NewKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    key_id = "k" + secrets.token_hex(4)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return NewKey(key_id, key, ApiKeyEntry(id=key_id, hash=hash_key(key), created=created))


def entry_toml(entry: ApiKeyEntry) -> str:
    return (
        f'\n[[api_keys]]\nid = "{entry.id}"\nhash = "{entry.hash}"\n'
        f'created = "{entry.created or ""}"\n'
    )


def append_key(config_path: Path, entry: ApiKeyEntry) -> None:
    """Append an ``[[api_keys]]`` table; a table header at the end keeps any TOML valid."""
    text = config_path.read_text(encoding="utf-8")
    config_path.write_text(text.rstrip("\n") + "\n" + entry_toml(entry), encoding="utf-8")


_BLOCK = re.compile(r"\n*\[\[api_keys\]\]\n(?:[^\[\n][^\n]*\n?)*")


def revoke_key(config_path: Path, key_id: str) -> None:
    """Remove the ``[[api_keys]]`` table whose id is ``key_id``."""
    text = config_path.read_text(encoding="utf-8")
    kept, found = [], False
    pos = 0
    for match in _BLOCK.finditer(text):
        block = match.group(0)
        try:
            data = tomllib.loads(block.strip())
        except tomllib.TOMLDecodeError:
            continue
        if any(k.get("id") == key_id for k in data.get("api_keys", [])):
            kept.append(text[pos : match.start()])
            pos = match.end()
            found = True
    if not found:
        raise ConfigError(f"{config_path}: no API key with id {key_id!r}")
    kept.append(text[pos:])
    new_text = "".join(kept)
    tomllib.loads(new_text)  # never write back a file the agent could not read
    config_path.write_text(new_text.rstrip("\n") + "\n", encoding="utf-8")


class KeyRing:
    """The accepted key hashes, refreshed from the config file at most once a second."""

    def __init__(self, entries: list[ApiKeyEntry], config_path: Path | None = None) -> None:
        self._entries = list(entries)
        self._path = config_path
        self._mtime = self._stat()
        self._checked = time.monotonic()

    def _stat(self) -> float | None:
        if self._path is None:
            return None
        try:
            return os.stat(self._path).st_mtime
        except OSError:
            return None

    def _refresh(self) -> None:
        now = time.monotonic()
        if self._path is None or now - self._checked < 1.0:
            return
        self._checked = now
        mtime = self._stat()
        if mtime is None or mtime == self._mtime:
            return
        try:
            data = tomllib.loads(self._path.read_text(encoding="utf-8"))
            entries = [ApiKeyEntry.model_validate(e) for e in data.get("api_keys", [])]
        except (OSError, ValueError):
            return  # a half-written file: keep the keys we have, try again next second
        self._entries, self._mtime = entries, mtime

    def replace(self, entries: list[ApiKeyEntry]) -> None:
        self._entries = list(entries)

    def verify(self, presented: str) -> str | None:
        """The id of the key that matches, or None; every stored hash is compared."""
        self._refresh()
        digest = hash_key(presented).encode()
        match: str | None = None
        for entry in self._entries:
            if hmac.compare_digest(digest, entry.hash.encode()):
                match = entry.id
        return match


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()
