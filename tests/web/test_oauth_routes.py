"""``/slack/install`` and ``/slack/oauth_redirect`` against the Slack simulator."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.delivery.holds import hold_workspace
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.installations import get_installation
from ml_connector.slack.scopes import scope_list
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault

from .conftest import Server, ServerFactory, config_data
from .test_events import queue_messages

pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
REDIRECT = "https://mlc.example.com/slack/oauth_redirect"


@pytest.fixture
async def sim() -> AsyncIterator[SlackSimulator]:
    async with SlackSimulator(post_interval=0.0, history_interval=0.0) as simulator:
        yield simulator


async def oauth_server(start_server: ServerFactory, sim: SlackSimulator, vault: Vault) -> Server:
    sim.register_app(CLIENT_ID, CLIENT_SECRET, scopes=scope_list(), redirect_uris=[REDIRECT])
    await vault.set("slack.default.client_secret", CLIENT_SECRET)
    data: dict[str, Any] = config_data()
    data["slack"]["workspaces"]["default"].update(
        api_base_url=sim.base_url,
        oauth_authorize_url=f"{sim.url}/oauth/v2/authorize",
        client_id=CLIENT_ID,
        client_secret="slack.default.client_secret",
    )
    server: Server = await start_server(config=Config.model_validate(data))
    return server


async def consent(location: str) -> tuple[str, str]:
    async with (
        aiohttp.ClientSession() as http,
        http.get(location + "&approve=1", allow_redirects=False) as answer,
    ):
        assert answer.status == 302, await answer.text()
        query = parse_qs(urlsplit(answer.headers["Location"]).query)
    return query["code"][0], query["state"][0]


async def test_install_redirects_to_slack_with_a_fresh_state_each_time(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault
) -> None:
    server = await oauth_server(start_server, sim, vault)
    first_status, _t, first = await server.get("/slack/install")
    _s, _t, second = await server.get("/slack/install?workspace=default")
    assert first_status == 302
    one, two = urlsplit(first["Location"]), urlsplit(second["Location"])
    assert f"{one.scheme}://{one.netloc}{one.path}" == f"{sim.url}/oauth/v2/authorize"
    assert parse_qs(one.query)["client_id"] == [CLIENT_ID]
    assert parse_qs(one.query)["state"] != parse_qs(two.query)["state"]


async def test_install_for_an_unknown_workspace_is_a_plain_400(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault
) -> None:
    server = await oauth_server(start_server, sim, vault)
    status, text, _ = await server.get("/slack/install?workspace=<script>")
    assert status == 400
    assert "&lt;script&gt;" in text and "<script>" not in text


async def test_the_redirect_completes_the_install_and_resumes_held_messages(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault, engine: AsyncEngine
) -> None:
    server = await oauth_server(start_server, sim, vault)
    await queue_messages(engine, 2)
    async with engine.begin() as conn:
        await hold_workspace(conn, "default", "the Slack app was uninstalled from the workspace")
    _s, _t, headers = await server.get("/slack/install")
    code, state = await consent(headers["Location"])
    status, text, _ = await server.get(f"/slack/oauth_redirect?code={code}&state={state}")
    assert status == 200, text
    assert "Installed" in text
    installation = await get_installation(engine, "default")
    assert installation is not None and installation.status == "active"
    async with engine.connect() as conn:
        statuses = set((await conn.execute(sa.select(outbox.c.status))).scalars())
    assert statuses == {"pending"}
    # The same redirect again (a reload, or an attacker replaying it) is refused.
    again, text, _ = await server.get(f"/slack/oauth_redirect?code={code}&state={state}")
    assert again == 400
    assert "already used" in text


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("?error=access_denied&state=abc", "access_denied"),
        ("?code=abc", "missing its code or state"),
        ("?code=abc&state=never-issued", "unknown state"),
    ],
)
async def test_failed_redirects_get_a_plain_failure_page(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault, query: str, expected: str
) -> None:
    server = await oauth_server(start_server, sim, vault)
    status, text, headers = await server.get(f"/slack/oauth_redirect{query}")
    assert status == 400
    assert expected in text
    assert headers["Content-Type"].startswith("text/html")
    assert "<script" not in text
