"""``/slack/install`` and ``/slack/oauth_redirect`` against the Slack simulator."""

from __future__ import annotations

import base64
import contextlib
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
from ml_connector.store.tables import oauth_states, outbox
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


async def oauth_server(
    start_server: ServerFactory,
    sim: SlackSimulator,
    vault: Vault,
    slack: dict[str, Any] | None = None,
    **workspace: Any,
) -> Server:
    with contextlib.suppress(ValueError):  # a second server for the same app
        sim.register_app(CLIENT_ID, CLIENT_SECRET, scopes=scope_list(), redirect_uris=[REDIRECT])
    await vault.set("slack.default.client_secret", CLIENT_SECRET)
    data: dict[str, Any] = config_data()
    data["slack"]["workspaces"]["default"].update(
        api_base_url=sim.base_url,
        oauth_authorize_url=f"{sim.url}/oauth/v2/authorize",
        client_id=CLIENT_ID,
        client_secret="slack.default.client_secret",
        **workspace,
    )
    data["slack"].update(slack or {})
    server: Server = await start_server(config=Config.model_validate(data))
    return server


def browser_cookie(headers: dict[str, str]) -> dict[str, str]:
    """The Cookie header a browser would send back (the client's jar refuses cookies from an
    IP address, so the test carries it as a browser would)."""
    name_value = headers["Set-Cookie"].split(";")[0]
    return {"Cookie": name_value}


async def install(server: Server, **headers: str) -> tuple[str, str, dict[str, str]]:
    """Start an install in a browser and consent at Slack: code, state, that browser's cookie."""
    status, text, answer = await server.get("/slack/install", headers)
    assert status == 302, text
    code, state = await consent(answer["Location"])
    return code, state, browser_cookie(answer)


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
    code, state, cookie = await install(server)
    status, text, _ = await server.get(f"/slack/oauth_redirect?code={code}&state={state}", cookie)
    assert status == 200, text
    assert "Installed" in text
    installation = await get_installation(engine, "default")
    assert installation is not None and installation.status == "active"
    async with engine.connect() as conn:
        statuses = set((await conn.execute(sa.select(outbox.c.status))).scalars())
    assert statuses == {"pending"}
    # The same redirect again (a reload, or an attacker replaying it) is refused.
    again, text, _ = await server.get(f"/slack/oauth_redirect?code={code}&state={state}", cookie)
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


async def redirect(
    server: Server, code: str, state: str, cookie: dict[str, str]
) -> tuple[int, str]:
    status, text, _ = await server.get(f"/slack/oauth_redirect?code={code}&state={state}", cookie)
    return status, text


async def test_the_state_cookie_binds_the_install_to_the_browser(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault, engine: AsyncEngine
) -> None:
    server = await oauth_server(start_server, sim, vault)
    _s, _t, answer = await server.get("/slack/install")
    attributes = [part.strip().lower() for part in answer["Set-Cookie"].split(";")]
    assert {"httponly", "samesite=lax", "secure", "path=/slack/", "max-age=600"} <= set(
        attributes
    ), attributes
    code, state = await consent(answer["Location"])
    cookie = browser_cookie(answer)
    # Another browser (no cookie, or a forged one) cannot complete it, nor use the state up.
    status, text = await redirect(server, code, state, {})
    assert status == 400 and "started in another browser" in text
    forged = {"Cookie": f"mlc-oauth-state={state}.{'0' * 64}"}
    status, text = await redirect(server, code, state, forged)
    assert status == 400 and "another browser" in text
    other_code, other_state, other_cookie = await install(server)
    status, _text = await redirect(server, code, state, other_cookie)  # another install's cookie
    assert status == 400
    assert await get_installation(engine, "default") is None
    status, text = await redirect(server, code, state, cookie)
    assert status == 200, text
    del other_code, other_state


async def test_install_password_is_asked_for(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault
) -> None:
    await vault.set("slack.install_password", "open sesame")
    server = await oauth_server(
        start_server, sim, vault, {"install_password": "slack.install_password"}
    )
    status, text, headers = await server.get("/slack/install")
    assert status == 401 and "install password" in text
    assert headers["WWW-Authenticate"].startswith("Basic")
    wrong = base64.b64encode(b"admin:guess").decode()
    assert (await server.get("/slack/install", {"Authorization": f"Basic {wrong}"}))[0] == 401
    right = base64.b64encode(b"admin:open sesame").decode()
    status, _t, _h = await server.get("/slack/install", {"Authorization": f"Basic {right}"})
    assert status == 302


async def test_a_working_installation_is_not_replaced_unless_allowed(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault, engine: AsyncEngine
) -> None:
    server = await oauth_server(start_server, sim, vault)
    # Two installs started before either finished: the second would replace the first's token.
    first = await install(server)
    second = await install(server)
    assert (await redirect(server, *first))[0] == 200
    before = await vault.get("slack.default.bot_token")
    status, text = await redirect(server, *second)
    assert status == 403
    assert "already installed" in text and "allow_reinstall" in text
    assert await vault.get("slack.default.bot_token") == before
    # Once installed, /slack/install itself is closed and says why.
    status, text, _ = await server.get("/slack/install")
    assert status == 403 and "allow_reinstall" in text
    reinstalling = await oauth_server(start_server, sim, vault, {"allow_reinstall": True})
    status, text = await redirect(reinstalling, *(await install(reinstalling)))
    assert status == 200, text
    assert await vault.get("slack.default.bot_token") != before


async def test_an_install_into_a_team_the_config_does_not_name_is_refused(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault, engine: AsyncEngine
) -> None:
    server = await oauth_server(start_server, sim, vault, team_id="T0SOMEONEELSE")
    status, text = await redirect(server, *(await install(server)))
    assert status == 403
    assert "belongs to Slack team T0SOMEONEELSE" in text and "nothing was stored" in text
    assert await get_installation(engine, "default") is None
    assert not await vault.exists("slack.default.bot_token")


async def test_install_links_are_rate_limited(
    start_server: ServerFactory, sim: SlackSimulator, vault: Vault, engine: AsyncEngine
) -> None:
    server = await oauth_server(start_server, sim, vault, {"install_rate_per_minute": 3})
    for _ in range(3):
        assert (await server.get("/slack/install"))[0] == 302
    status, text, headers = await server.get("/slack/install")
    assert status == 429 and "wait a minute" in text
    assert headers["Retry-After"] == "60"
    async with engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(oauth_states)) == 3
