"""``ml-connector slack …`` run as a user would, against the simulator."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import structlog
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from ml_connector.cli.main import app
from ml_connector.sim.slack import SlackSimulator

CLIENT_ID = "1111111111.2222222222"


class Cli:
    """The real command, in-process; in a thread so the simulator keeps serving meanwhile."""

    def __init__(self, cwd: Path) -> None:
        self.config = str(cwd / "ml-connector.toml")
        self.env = {"MLC_MASTER_KEY": Fernet.generate_key().decode(), "MLC_CONFIG": self.config}

    async def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str, str]:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            result = await asyncio.to_thread(
                CliRunner().invoke, app, list(args), input=stdin, env=self.env
            )
        finally:
            # The command points logging at the runner's streams, which close afterwards.
            structlog.reset_defaults()
            root.handlers, root.level = handlers, level
        return result.exit_code, result.stdout, result.stderr


@pytest.fixture
async def cli(sim: SlackSimulator, tmp_path: Path) -> Cli:
    (tmp_path / "ml-connector.toml").write_text(
        f"""
data_dir = "{tmp_path / "data"}"
public_base_url = "https://mlc.example.com"

[slack.workspaces.default]
api_base_url = "{sim.base_url}"
oauth_authorize_url = "{sim.url}/oauth/v2/authorize"
client_id = "{CLIENT_ID}"
client_secret = "slack.default.client_secret"
bot_token = "slack.default.bot_token"
"""
    )
    run = Cli(tmp_path)
    code, _out, err = await run("db", "upgrade")
    assert code == 0, err
    code, _out, err = await run("secrets", "set", "slack.default.bot_token", stdin=sim.bot_token)
    assert code == 0, err
    return run


async def test_manifest_points_slack_at_our_public_url(cli: Cli) -> None:
    code, out, err = await cli("slack", "manifest")
    assert code == 0, err
    manifest = json.loads(out)
    assert manifest["features"]["slash_commands"][0]["command"] == "/mlc"
    assert manifest["features"]["slash_commands"][0]["url"] == (
        "https://mlc.example.com/slack/commands"
    )
    assert manifest["settings"]["event_subscriptions"]["request_url"] == (
        "https://mlc.example.com/slack/events"
    )
    assert set(manifest["settings"]["event_subscriptions"]["bot_events"]) == {
        "app_uninstalled",
        "tokens_revoked",
    }
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://mlc.example.com/slack/oauth_redirect"
    ]
    assert "chat:write" in manifest["oauth_config"]["scopes"]["bot"]


async def test_install_url_prints_a_single_use_url(sim: SlackSimulator, cli: Cli) -> None:
    code, out, err = await cli("slack", "install-url", "--workspace", "default")
    assert code == 0, err
    url = urlsplit(out.strip())
    assert out.strip().startswith(f"{sim.url}/oauth/v2/authorize?")
    assert parse_qs(url.query)["client_id"] == [CLIENT_ID]
    assert parse_qs(url.query)["state"]
    assert "10 minutes" in err


async def test_test_post_says_what_happened(sim: SlackSimulator, cli: Cli) -> None:
    channel = sim.channel_id("alerts")
    code, out, err = await cli("slack", "test-post", channel, "hello from the CLI")
    assert code == 0, err
    [message] = sim.messages(channel)
    assert out.strip() == f"Posted to {channel} (ts {message['ts']})."
    assert message["text"] == "hello from the CLI"


async def test_test_post_failures_exit_1_with_a_fix(sim: SlackSimulator, cli: Cli) -> None:
    outside = sim.create_channel("no-bot", bot_member=False)
    code, out, err = await cli("slack", "test-post", outside, "hi")
    assert code == 1
    assert "Not posted" in err and "not_in_channel" in err and "/invite" in err

    sim.revoke_token(sim.bot_token)
    code, out, err = await cli("slack", "test-post", sim.channel_id("alerts"), "hi")
    assert code == 1
    assert "token is not usable" in err and "token_revoked" in err
    assert sim.bot_token not in out + err

    code, out, _err = await cli("slack", "check")
    assert code == 1 and "default: NOT OK" in out
    sim.restore_token(sim.bot_token)
    code, out, err = await cli("slack", "check")
    assert code == 0, err
    assert "default: ok — team" in out and sim.team_id in out
