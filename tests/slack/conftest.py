"""A running Slack simulator, a vault, and a config pointing at them."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator, Iterator

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config, SlackConfig, SlackWorkspace
from ml_connector.sim.slack import SlackSimulator
from ml_connector.vault import Vault

CHANNELS = ["finance-gl", "payments", "alerts"]


@pytest.fixture
async def sim() -> AsyncIterator[SlackSimulator]:
    # Pacing off: tests about rate limits build their own simulator.
    async with SlackSimulator(
        channels=CHANNELS, post_interval=0.0, history_interval=0.0
    ) as simulator:
        yield simulator


@pytest.fixture
def vault(engine: AsyncEngine) -> Vault:
    return Vault.ephemeral(engine)


def sim_config(sim: SlackSimulator, **workspace: object) -> Config:
    """One workspace, ``default``, served by the simulator."""
    settings = SlackWorkspace.model_validate(
        {
            "api_base_url": sim.base_url,
            "oauth_authorize_url": f"{sim.url}/oauth/v2/authorize",
            **workspace,
        }
    )
    return Config(
        public_base_url="https://mlc.example.com",
        slack=SlackConfig(workspaces={"default": settings}),
    )


class ThreadedSimulator:
    """A simulator on its own event loop in a thread, for synchronous (Hypothesis) tests."""

    def __init__(self, simulator: SlackSimulator) -> None:
        self.sim = simulator
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    def __enter__(self) -> SlackSimulator:
        self.thread.start()
        asyncio.run_coroutine_threadsafe(self.sim.start(), self.loop).result(timeout=10)
        return self.sim

    def __exit__(self, *_exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.sim.stop(), self.loop).result(timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def threaded_sim() -> Iterator[SlackSimulator]:
    # blocks_text_limit: Slack's undocumented msg_blocks_too_long ceiling (bolt-js#2509).
    simulator = SlackSimulator(
        channels=CHANNELS, post_interval=0.0, history_interval=0.0, blocks_text_limit=13_000
    )
    with ThreadedSimulator(simulator) as running:
        yield running
