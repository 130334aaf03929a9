from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from ml_connector_agent.testing import RunningAgent, running_agent


@pytest.fixture
async def agent(tmp_path: Path) -> AsyncIterator[RunningAgent]:
    async with running_agent(tmp_path / "mtls", mode="mtls") as running:
        yield running


@pytest.fixture
async def key_agent(tmp_path: Path) -> AsyncIterator[RunningAgent]:
    async with running_agent(tmp_path / "keys", mode="api_key") as running:
        yield running
