"""``ml-connector slack …``: create the Slack app, install it, and try a post by hand."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from ml_connector.cli.context import (
    ConfigOption,
    console,
    err_console,
    handle_errors,
    load,
    open_store,
    run,
)
from ml_connector.config import Config
from ml_connector.errors import ConfigError
from ml_connector.slack.errors import (
    SlackAmbiguousError,
    SlackCredentialsError,
    SlackError,
    SlackRateLimitedError,
    SlackTransientError,
)
from ml_connector.slack.installations import STATE_TTL
from ml_connector.slack.manifest import build_manifest
from ml_connector.slack.oauth import Installer, workspace_settings
from ml_connector.slack.tokens import WorkspaceTokens, client_for, installation_status

app = typer.Typer(help="Create, install and check the Slack app.", no_args_is_help=True)

WorkspaceOption = Annotated[
    str | None,
    typer.Option(
        "--workspace", "-w", help="Workspace name from [slack.workspaces] (default: the only one)."
    ),
]

_HINTS = {
    "channel_not_found": "check the channel id (right-click the channel → Copy link)",
    "not_in_channel": "invite the bot to the channel: /invite @ml-connector",
    "is_archived": "the channel is archived; pick another or unarchive it",
    "missing_scope": "re-install the app so it gets the scopes in `ml-connector slack manifest`",
}


def pick_workspace(config: Config, workspace: str | None) -> str:
    if workspace is not None:
        workspace_settings(config, workspace)
        return workspace
    names = sorted(config.slack.workspaces)
    if len(names) == 1:
        return names[0]
    raise ConfigError(
        "slack.workspaces: "
        + ("none configured" if not names else f"several configured ({', '.join(names)})")
        + "; pass --workspace"
    )


@app.command("manifest")
@handle_errors
def manifest(config_path: ConfigOption = None) -> None:
    """Print the Slack app manifest (JSON) to paste at api.slack.com/apps → From a manifest."""
    config = load(config_path)
    typer.echo(json.dumps(build_manifest(config), indent=2))


@app.command("install-url")
@handle_errors
def install_url(workspace: WorkspaceOption = None, config_path: ConfigOption = None) -> None:
    """Print the URL that installs the app into a workspace (single use, 10 minutes)."""
    config = load(config_path)
    name = pick_workspace(config, workspace)

    async def issue() -> str:
        async with open_store(config) as store:
            return await Installer(config, store.engine, store.vault).install_url(name)

    url = run(issue())
    typer.echo(url)
    err_console.print(
        f"Open it in a browser signed in to the Slack workspace; it works once, "
        f"within {int(STATE_TTL // 60)} minutes.",
        highlight=False,
    )


def describe_failure(error: SlackError) -> str:
    """One sentence a person can act on, chosen by what the failure means for the message."""
    if isinstance(error, SlackRateLimitedError):
        return f"Not posted: Slack is rate limiting; try again in {error.retry_after or 1:g} s."
    if isinstance(error, SlackAmbiguousError):
        return (
            f"Unknown whether it was posted ({error.message}). "
            "Look in the channel before trying again, or it may appear twice."
        )
    if isinstance(error, SlackCredentialsError):
        return f"Not posted: the Slack token is not usable. {error.message}"
    if isinstance(error, SlackTransientError):
        return f"Not posted: Slack could not be reached or is unavailable ({error.message})."
    hint = _HINTS.get(error.code or "")
    return f"Not posted: Slack refused it ({error.message})." + (f" Fix: {hint}." if hint else "")


@app.command("test-post")
@handle_errors
def test_post(
    channel: Annotated[str, typer.Argument(help="Channel id, e.g. C0123ABCD.")],
    text: Annotated[str, typer.Argument(help="Message text (mrkdwn).")],
    workspace: WorkspaceOption = None,
    config_path: ConfigOption = None,
) -> None:
    """Post one message now, outside the outbox, and say what happened."""
    config = load(config_path)
    name = pick_workspace(config, workspace)
    settings = config.slack.workspaces[name]

    async def post() -> str:
        async with (
            open_store(config) as store,
            client_for(
                store.engine, store.vault, name, settings, timeout=config.delivery.request_timeout
            ) as client,
        ):
            result = await client.post_message(channel, text)
            return f"Posted to {result.channel} (ts {result.ts})."

    try:
        console.print(run(post()), highlight=False, markup=False)
    except SlackError as exc:
        err_console.print(describe_failure(exc), highlight=False, markup=False)
        raise typer.Exit(1) from None


@app.command("check")
@handle_errors
def check(workspace: WorkspaceOption = None, config_path: ConfigOption = None) -> None:
    """Call auth.test for each workspace; a token that works again makes it usable again."""
    config = load(config_path)
    names = [pick_workspace(config, workspace)] if workspace else sorted(config.slack.workspaces)
    if not names:
        raise ConfigError("slack.workspaces: none configured")

    async def check_all() -> bool:
        healthy = True
        async with open_store(config) as store:
            for name in names:
                settings = config.slack.workspaces[name]
                tokens = WorkspaceTokens(store.engine, store.vault, name, settings)
                try:
                    info = await tokens.recheck()
                except SlackError as exc:
                    healthy = False
                    status = await installation_status(store.engine, name, settings)
                    why = status.reason or exc.message
                    console.print(f"{name}: NOT OK — {why}", highlight=False, markup=False)
                else:
                    console.print(
                        f"{name}: ok — team {info.team} ({info.team_id}), bot {info.user_id}",
                        highlight=False,
                        markup=False,
                    )
        return healthy

    if not run(check_all()):
        raise typer.Exit(1)
