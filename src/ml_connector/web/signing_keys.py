"""The signing secrets of the configured workspaces, read from the vault and kept briefly.

Reading and decrypting a secret for every request would put a database read in front of
each acknowledgement; keeping them for a minute keeps the check in memory while a secret
rotated with ``ml-connector secrets set`` is picked up soon (at once, if a request fails to
verify and the copy is more than a few seconds old).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

from ml_connector.config import Config
from ml_connector.errors import VaultError
from ml_connector.logging import get_logger
from ml_connector.vault import Vault

log = get_logger("ml_connector.web")

TTL = 60.0
RELOAD_AFTER_FAILURE = 5.0


class SigningKeys:
    def __init__(
        self,
        config: Config,
        vault: Vault,
        *,
        ttl: float = TTL,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._config = config
        self._vault = vault
        self._ttl = ttl
        self._monotonic = monotonic
        self._keys: dict[str, str] = {}
        self._loaded_at: float | None = None
        self._lock = asyncio.Lock()

    def __repr__(self) -> str:
        return f"SigningKeys(workspaces={sorted(self._keys)!r})"

    async def current(self) -> dict[str, str]:
        loaded = self._loaded_at
        if loaded is None or self._monotonic() - loaded > self._ttl:
            await self._reload(loaded)
        return self._keys

    async def refreshed(self) -> dict[str, str] | None:
        """Fresh keys after a failed check, or ``None`` if the copy is already fresh."""
        loaded = self._loaded_at
        if loaded is not None and self._monotonic() - loaded < RELOAD_AFTER_FAILURE:
            return None
        await self._reload(loaded)
        return self._keys

    async def _reload(self, seen: float | None) -> None:
        async with self._lock:
            if self._loaded_at != seen:
                return  # another request reloaded while this one waited
            keys: dict[str, str] = {}
            for name, workspace in self._config.slack.workspaces.items():
                if workspace.signing_secret is None:
                    continue
                try:
                    value = await self._vault.get_optional(workspace.signing_secret)
                except VaultError as exc:
                    log.error("cannot read signing secret", workspace=name, error=exc)
                    continue
                if value is None:
                    log.error(
                        "signing secret not stored; Slack requests will be refused",
                        workspace=name,
                        hint=f"ml-connector secrets set {workspace.signing_secret}",
                    )
                    continue
                keys[name] = value
            self._keys = keys
            self._loaded_at = self._monotonic()
