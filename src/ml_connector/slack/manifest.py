"""The Slack app manifest: paste it at api.slack.com/apps → "From a manifest" to create the app.

Built from the configuration so the URLs always point at this deployment's web server
(https://docs.slack.dev/reference/app-manifest for the schema). JSON is one of the two
formats Slack accepts, so no YAML library is needed.
"""

from __future__ import annotations

from typing import Any

from ml_connector.config import Config
from ml_connector.errors import ConfigError
from ml_connector.slack.scopes import BOT_EVENTS, scope_list

APP_NAME = "ml-connector"
SLASH_COMMAND = "/mlc"

COMMANDS_PATH = "/slack/commands"
EVENTS_PATH = "/slack/events"
OAUTH_REDIRECT_PATH = "/slack/oauth_redirect"


def public_url(config: Config, path: str) -> str:
    """``{public_base_url}{path}``; Slack only calls HTTPS URLs reachable from the internet."""
    if not config.public_base_url:
        raise ConfigError(
            "public_base_url: required to build Slack URLs (the https address where Slack "
            'reaches `ml-connector serve`), e.g. public_base_url = "https://mlc.example.com"'
        )
    return config.public_base_url.rstrip("/") + path


def redirect_url(config: Config) -> str:
    return public_url(config, OAUTH_REDIRECT_PATH)


def build_manifest(config: Config, *, token_rotation: bool | None = None) -> dict[str, Any]:
    """The manifest as a JSON-ready dict.

    Token rotation follows the configured workspaces unless ``token_rotation`` says otherwise:
    one Slack app serves every workspace, so it is on if any workspace asks for it.
    """
    rotation = (
        token_rotation
        if token_rotation is not None
        else any(ws.token_rotation for ws in config.slack.workspaces.values())
    )
    return {
        "_metadata": {"major_version": 1, "minor_version": 1},
        "display_information": {
            "name": APP_NAME,
            "description": "Finance events from Sage Intacct and Sage 100, posted to Slack.",
            "background_color": "#1d3557",
        },
        "features": {
            "bot_user": {"display_name": APP_NAME, "always_online": False},
            "slash_commands": [
                {
                    "command": SLASH_COMMAND,
                    "url": public_url(config, COMMANDS_PATH),
                    "description": "ml-connector status and on-demand runs",
                    "usage_hint": "status | run PIPELINE | help",
                    "should_escape": False,
                }
            ],
        },
        "oauth_config": {
            "redirect_urls": [redirect_url(config)],
            "scopes": {"bot": scope_list()},
        },
        "settings": {
            "event_subscriptions": {
                "request_url": public_url(config, EVENTS_PATH),
                "bot_events": list(BOT_EVENTS),
            },
            "org_deploy_enabled": False,
            "socket_mode_enabled": False,
            "token_rotation_enabled": rotation,
        },
    }
