"""Signing secrets are cached, and a rotated one is picked up without a restart."""

from __future__ import annotations

from ml_connector.config import Config
from ml_connector.vault import Vault
from ml_connector.web.signing_keys import RELOAD_AFTER_FAILURE, TTL, SigningKeys

from .conftest import SIGNING_REF, SIGNING_SECRET, make_config


class Ticker:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_keys_are_read_once_then_refreshed_after_their_ttl(vault: Vault) -> None:
    ticker = Ticker()
    keys = SigningKeys(make_config(), vault, monotonic=ticker)
    assert await keys.current() == {"default": SIGNING_SECRET}
    await vault.set(SIGNING_REF, "rotated-signing-secret")
    ticker.now += TTL / 2
    assert await keys.current() == {"default": SIGNING_SECRET}
    ticker.now += TTL
    assert await keys.current() == {"default": "rotated-signing-secret"}


async def test_a_failed_check_reloads_at_most_every_few_seconds(vault: Vault) -> None:
    ticker = Ticker()
    keys = SigningKeys(make_config(), vault, monotonic=ticker)
    await keys.current()
    await vault.set(SIGNING_REF, "rotated-signing-secret")
    assert await keys.refreshed() is None  # the copy is fresh: a forgery cannot force reads
    ticker.now += RELOAD_AFTER_FAILURE + 0.1
    assert await keys.refreshed() == {"default": "rotated-signing-secret"}


async def test_a_workspace_whose_secret_is_not_stored_is_left_out(vault: Vault) -> None:
    data = make_config().model_dump(exclude={"source"})
    data["slack"]["workspaces"]["other"] = {"signing_secret": "slack.other.signing_secret"}
    config = Config.model_validate(data)
    keys = SigningKeys(config, vault)
    assert await keys.current() == {"default": SIGNING_SECRET}
    assert SIGNING_SECRET not in repr(keys)
