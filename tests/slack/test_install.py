"""The OAuth v2 install end to end against the simulator, and what happens to tokens after."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import Config
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.errors import SlackCredentialsError
from ml_connector.slack.installations import OAuthStateError, get_installation, issue_state
from ml_connector.slack.oauth import Installer
from ml_connector.slack.scopes import scope_list
from ml_connector.slack.tokens import WorkspaceTokens, client_for, installation_status
from ml_connector.store.tables import metadata
from ml_connector.vault import Vault

from .conftest import sim_config

# slack_sdk's AsyncWebClient still passes aiohttp.BasicAuth for oauth.v2.access.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

CLIENT_ID = "1111111111.2222222222"
CLIENT_SECRET = "9f8e7d6c5b4a39281706f5e4d3c2b1a0"
SECRET_NAME = "slack.default.client_secret"
REDIRECT = "https://mlc.example.com/slack/oauth_redirect"


async def setup_app(
    sim: SlackSimulator, vault: Vault, *, rotation: bool = False, token_ttl: float = 43200.0
) -> Config:
    sim.register_app(
        CLIENT_ID,
        CLIENT_SECRET,
        scopes=scope_list(),
        token_rotation=rotation,
        token_ttl=token_ttl,
        redirect_uris=[REDIRECT],
    )
    await vault.set(SECRET_NAME, CLIENT_SECRET)
    return sim_config(sim, client_id=CLIENT_ID, client_secret=SECRET_NAME, token_rotation=rotation)


async def approve(url: str) -> tuple[str, str]:
    """Click "Allow" on the simulator's consent page; return the redirect's code and state."""
    async with (
        aiohttp.ClientSession() as http,
        http.get(url + "&approve=1", allow_redirects=False) as answer,
    ):
        assert answer.status == 302, await answer.text()
        location = answer.headers["Location"]
    assert location.startswith(REDIRECT)
    query = parse_qs(urlsplit(location).query)
    return query["code"][0], query["state"][0]


async def all_rows_text(engine: AsyncEngine) -> str:
    async with engine.connect() as conn:
        dumps = []
        for table in metadata.sorted_tables:
            rows = (await conn.execute(sa.select(table))).all()
            dumps.append(repr(rows))
    return "\n".join(dumps)


def sqlite_files(engine: AsyncEngine) -> list[Path]:
    if engine.dialect.name != "sqlite" or not engine.url.database:
        return []
    base = Path(engine.url.database)
    return [p for p in (base, Path(f"{base}-wal")) if p.exists()]


async def test_install_url_asks_for_our_scopes_with_a_fresh_state(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await setup_app(sim, vault)
    installer = Installer(config, engine, vault)
    first = urlsplit(await installer.install_url("default"))
    second = urlsplit(await installer.install_url("default"))
    query = parse_qs(first.query)
    assert f"{first.scheme}://{first.netloc}{first.path}" == f"{sim.url}/oauth/v2/authorize"
    assert query["client_id"] == [CLIENT_ID]
    assert query["scope"] == [",".join(scope_list())]
    assert query["redirect_uri"] == [REDIRECT]
    assert query["state"] != parse_qs(second.query)["state"]
    assert len(query["state"][0]) >= 40


async def test_install_end_to_end_stores_the_token_encrypted(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await setup_app(sim, vault)
    installer = Installer(config, engine, vault)
    code, state = await approve(await installer.install_url("default"))
    installation = await installer.complete_install(code, state)

    assert installation.usable
    assert installation.team_id == sim.team_id
    assert installation.bot_user_id and installation.bot_user_id.startswith("U")
    assert installation.bot_id and installation.bot_id.startswith("B")
    assert set(scope_list()) <= set((installation.scopes or "").split(","))
    assert installation.refresh_token_secret is None and installation.token_expires_at is None

    token = await vault.get(installation.bot_token_secret)
    assert token.startswith("xoxb-")
    assert token not in await all_rows_text(engine)
    for path in sqlite_files(engine):
        assert token.encode() not in path.read_bytes()
        assert CLIENT_SECRET.encode() not in path.read_bytes()

    # The installed bot posts once someone invites it to a channel.
    channel = sim.channel_id("payments")
    sim.invite(channel, installation.bot_user_id)
    async with client_for(engine, vault, "default", config.slack.workspaces["default"]) as slack:
        result = await slack.post_message(channel, "installed")
    assert sim.messages(channel)[0]["ts"] == result.ts


async def test_a_replayed_state_is_refused(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await setup_app(sim, vault)
    installer = Installer(config, engine, vault)
    code, state = await approve(await installer.install_url("default"))
    await installer.complete_install(code, state)
    with pytest.raises(OAuthStateError, match="already used") as caught:
        await installer.complete_install(code, state)
    assert caught.value.code == "state_used"


async def test_an_expired_state_is_refused(
    sim: SlackSimulator,
    engine: AsyncEngine,
    vault: Vault,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    config = await setup_app(sim, vault)
    installer = Installer(config, engine, vault)
    code, state = await approve(await installer.install_url("default"))
    later = clock.now() + 601
    monkeypatch.setattr(clock, "now", lambda: later)
    with pytest.raises(OAuthStateError, match="expired") as caught:
        await installer.complete_install(code, state)
    assert caught.value.code == "state_expired"
    assert await get_installation(engine, "default") is None


async def test_an_unknown_state_is_refused_before_any_exchange(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await setup_app(sim, vault)
    installer = Installer(config, engine, vault)
    code, _state = await approve(await installer.install_url("default"))
    with pytest.raises(OAuthStateError) as caught:
        await installer.complete_install(code, "forged-state")
    assert caught.value.code == "state_unknown"
    assert sim.calls["oauth.v2.access"] == 0


async def test_a_state_is_spent_only_once_under_a_race(engine: AsyncEngine) -> None:
    import asyncio

    from ml_connector.slack.installations import consume_state

    state = await issue_state(engine, "default")
    results = await asyncio.gather(
        *(consume_state(engine, state) for _ in range(5)), return_exceptions=True
    )
    assert [r for r in results if r == "default"] == ["default"]
    assert all(isinstance(r, OAuthStateError) for r in results if r != "default")


# Tokens after the install -------------------------------------------------------------------


async def static_setup(sim: SlackSimulator, vault: Vault) -> Config:
    await vault.set("slack.default.bot_token", sim.bot_token)
    return sim_config(sim, bot_token="slack.default.bot_token")


async def test_a_revoked_token_marks_the_installation_unusable_until_rechecked(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await static_setup(sim, vault)
    settings = config.slack.workspaces["default"]
    channel = sim.channel_id("alerts")
    async with client_for(engine, vault, "default", settings) as slack:
        await slack.post_message(channel, "before")
        assert (await installation_status(engine, "default", settings)).state == "active"

        sim.revoke_token(sim.bot_token)
        with pytest.raises(SlackCredentialsError, match="token_revoked"):
            await slack.post_message(channel, "revoked")
        status = await installation_status(engine, "default", settings)
        assert status.state == "unusable"
        assert status.reason and "token_revoked" in status.reason
        assert "secrets set slack.default.bot_token" in status.reason

        # Held, not retried: the next attempt fails here without calling Slack.
        calls = sim.calls["chat.postMessage"]
        with pytest.raises(SlackCredentialsError) as held:
            await slack.post_message(channel, "held")
        assert held.value.code == "installation_unusable"
        assert sim.calls["chat.postMessage"] == calls

        sim.restore_token(sim.bot_token)
        tokens = WorkspaceTokens(engine, vault, "default", settings)
        assert (await tokens.recheck()).team_id == sim.team_id
        assert (await installation_status(engine, "default", settings)).state == "active"
        await slack.post_message(channel, "after")
    assert [m["text"] for m in sim.messages(channel)] == ["before", "after"]


async def test_a_recheck_with_a_still_revoked_token_keeps_it_unusable(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await static_setup(sim, vault)
    settings = config.slack.workspaces["default"]
    sim.revoke_token(sim.bot_token)
    async with client_for(engine, vault, "default", settings) as slack:
        with pytest.raises(SlackCredentialsError):
            await slack.auth_test()
    with pytest.raises(SlackCredentialsError):
        await WorkspaceTokens(engine, vault, "default", settings).recheck()
    assert (await installation_status(engine, "default", settings)).state == "unusable"


async def test_a_workspace_without_install_or_token_says_how_to_install(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    settings = sim_config(sim).slack.workspaces["default"]
    async with client_for(engine, vault, "default", settings) as slack:
        with pytest.raises(SlackCredentialsError, match="slack install-url") as caught:
            await slack.auth_test()
    assert caught.value.code == "not_installed"
    assert (await installation_status(engine, "default", settings)).state == "not_installed"


async def install_rotating(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault, token_ttl: float = 43200.0
) -> Config:
    config = await setup_app(sim, vault, rotation=True, token_ttl=token_ttl)
    installer = Installer(config, engine, vault)
    code, state = await approve(await installer.install_url("default"))
    installation = await installer.complete_install(code, state)
    sim.invite(sim.channel_id("alerts"), installation.bot_user_id or "")
    return config


async def test_rotating_tokens_are_refreshed_before_they_expire(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await install_rotating(sim, engine, vault)
    installation = await get_installation(engine, "default")
    assert installation is not None and installation.rotating
    assert installation.token_expires_at == pytest.approx(clock.now() + 43200, abs=60)
    first_token = await vault.get(installation.bot_token_secret)
    first_refresh = await vault.get(installation.refresh_token_secret or "")
    assert first_token.startswith("xoxe.xoxb-")

    settings = config.slack.workspaces["default"]
    tokens = WorkspaceTokens(engine, vault, "default", settings, refresh_margin=43200.0)
    token = await tokens.token()  # inside the margin: refreshed first
    assert token != first_token
    assert await vault.get(installation.refresh_token_secret or "") != first_refresh
    refreshed = await get_installation(engine, "default")
    assert refreshed is not None and refreshed.token_expires_at is not None
    assert refreshed.token_expires_at >= (installation.token_expires_at or 0)

    # Not due any more: the same token, no second exchange.
    exchanges = sim.calls["oauth.v2.access"]
    assert await WorkspaceTokens(engine, vault, "default", settings).token() == token
    assert sim.calls["oauth.v2.access"] == exchanges


async def test_a_spent_refresh_token_marks_the_installation_unusable(
    sim: SlackSimulator, engine: AsyncEngine, vault: Vault
) -> None:
    config = await install_rotating(sim, engine, vault)
    installation = await get_installation(engine, "default")
    assert installation is not None and installation.refresh_token_secret
    await vault.set(installation.refresh_token_secret, "xoxe-1-not-a-refresh-token")
    settings = config.slack.workspaces["default"]
    tokens = WorkspaceTokens(engine, vault, "default", settings, refresh_margin=43200.0)
    with pytest.raises(SlackCredentialsError, match="refresh refused"):
        await tokens.token()
    status = await installation_status(engine, "default", settings)
    assert status.state == "unusable"
    assert status.reason and "install-url" in status.reason


async def test_token_expired_from_slack_refreshes_and_retries_once(
    engine: AsyncEngine, vault: Vault
) -> None:
    now: list[float] = [clock.now()]
    sim_clock: Callable[[], float] = lambda: now[0]  # noqa: E731
    async with SlackSimulator(
        channels=["alerts"], post_interval=0.0, history_interval=0.0, clock=sim_clock
    ) as sim:
        config = await install_rotating(sim, engine, vault, token_ttl=3600.0)
        settings = config.slack.workspaces["default"]
        now[0] += 4000  # Slack's clock says the token expired; ours has not noticed yet
        async with client_for(engine, vault, "default", settings) as slack:
            tokens = slack.tokens
            assert isinstance(tokens, WorkspaceTokens)
            tokens.refresh_margin = 0.0
            result = await slack.post_message(sim.channel_id("alerts"), "after expiry")
        assert result.ts
        assert sim.calls["oauth.v2.access"] == 2  # the install, then one refresh
