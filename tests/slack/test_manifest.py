"""The app manifest a user pastes into Slack is built from the config."""

from __future__ import annotations

import json

import pytest

from ml_connector.config import Config, SlackConfig, SlackWorkspace
from ml_connector.errors import ConfigError
from ml_connector.slack.manifest import build_manifest
from ml_connector.slack.scopes import BOT_SCOPES, missing_scopes


def config(public: str | None, rotation: bool = False) -> Config:
    workspace = SlackWorkspace(token_rotation=rotation)
    return Config(public_base_url=public, slack=SlackConfig(workspaces={"acme": workspace}))


def test_urls_come_from_the_public_base_url() -> None:
    manifest = build_manifest(config("https://mlc.example.com/"))
    assert manifest["features"]["slash_commands"][0]["url"] == (
        "https://mlc.example.com/slack/commands"
    )
    assert manifest["settings"]["event_subscriptions"]["request_url"] == (
        "https://mlc.example.com/slack/events"
    )
    assert manifest["oauth_config"]["redirect_urls"] == [
        "https://mlc.example.com/slack/oauth_redirect"
    ]
    assert manifest["oauth_config"]["scopes"]["bot"] == list(BOT_SCOPES)
    assert manifest["settings"]["token_rotation_enabled"] is False
    json.dumps(manifest)  # JSON is a manifest format Slack accepts


def test_token_rotation_follows_the_workspaces() -> None:
    assert build_manifest(config("https://x.example", rotation=True))["settings"][
        "token_rotation_enabled"
    ]


def test_without_a_public_url_the_manifest_says_what_to_set() -> None:
    with pytest.raises(ConfigError, match="public_base_url"):
        build_manifest(config(None))


def test_scopes_cover_posting_reconciliation_and_the_slash_command() -> None:
    assert {"chat:write", "channels:history", "groups:history", "commands"} <= set(BOT_SCOPES)
    assert all(reason for reason in BOT_SCOPES.values())
    assert missing_scopes("chat:write,commands") == [
        "channels:read",
        "groups:read",
        "channels:history",
        "groups:history",
    ]
