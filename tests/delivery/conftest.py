from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from ml_connector.delivery.slack_gateway import ClientGateway
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.client import SlackClient

INTERVAL = 0.05


@pytest.fixture
async def slack() -> AsyncIterator[SlackSimulator]:
    async with SlackSimulator(
        channels=["gl", "payments", "alerts"],
        post_interval=INTERVAL,
        post_burst=1,
        history_interval=0.2,
        history_burst=1,
    ) as sim:
        yield sim


@pytest.fixture
async def gateway(slack: SlackSimulator) -> AsyncIterator[ClientGateway]:
    client = SlackClient(slack.bot_token, base_url=slack.base_url, timeout=0.5)
    gw = ClientGateway({"default": client})
    yield gw
    await gw.aclose()
