"""The ``world`` fixture: a fresh demo agent, Slack simulator and database per test."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient
from ml_connector.vault import Vault
from ml_connector_agent.testing import running_agent

from .world import (
    CHANNELS,
    CLIENT_KEY,
    INTERVAL,
    SEED,
    MovableClock,
    World,
    make_config,
    streams_config,
)


@pytest.fixture
async def world(engine: AsyncEngine, tmp_path: Path) -> AsyncIterator[World]:
    clock = MovableClock()
    async with (
        running_agent(
            tmp_path / "agent",
            mode="mtls",
            clock=clock,
            seed=SEED,
            lock_attempts=1,
            retry_after=0,
        ) as agent,
        SlackSimulator(channels=CHANNELS, post_interval=INTERVAL, history_interval=0.2) as slack,
    ):
        gateway = ClientGateway(
            {"default": SlackClient(slack.bot_token, base_url=slack.base_url, timeout=2.0)}
        )
        built = World(
            tmp_path=tmp_path,
            engine=engine,
            agent=agent,
            slack=slack,
            clock=clock,
            config=make_config(tmp_path, agent, slack, streams_config(slack)),
            vault=Vault.ephemeral(engine),
            gateway=gateway,
        )
        await built.vault.set(CLIENT_KEY, agent.client_key.read_text())
        try:
            yield built
        finally:
            for pipeline in built.pipelines:
                await pipeline.aclose()
            await gateway.aclose()
        # Strict mode: our messages never break Slack's rules (issue #20).
        assert not slack.refused, f"the Slack simulator refused: {dict(slack.refused)}"
