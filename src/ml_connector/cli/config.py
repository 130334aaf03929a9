"""``ml-connector config …``: check a configuration file before trusting it."""

from __future__ import annotations

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
from ml_connector.config_warnings import config_warnings
from ml_connector.errors import ConfigError
from ml_connector.wording import plural

app = typer.Typer(help="Check the configuration.", no_args_is_help=True)


def secret_references(config: Config) -> list[tuple[str, str]]:
    """Every (dotted key, secret name) the config refers to."""
    refs: list[tuple[str, str]] = []
    for name, ws in config.slack.workspaces.items():
        for field in ("client_secret", "signing_secret", "bot_token"):
            value = getattr(ws, field)
            if value:
                refs.append((f"slack.workspaces.{name}.{field}", value))
    for name, conn in config.connections.items():
        for field in ("sender_password", "user_password", "api_key"):
            value = getattr(conn, field, None)
            if value:
                refs.append((f"connections.{name}.{field}", value))
    for field in ("status_token", "status_password"):
        value = getattr(config.server, field)
        if value:
            refs.append((f"server.{field}", value))
    return refs


@app.command()
@handle_errors
def validate(config_path: ConfigOption = None) -> None:
    """Validate the config file; report unstored secrets it refers to."""
    config = load(config_path)
    from ml_connector.companies import pipeline_problems

    # Routes and record links, the pipelines' and each company's, against their streams.
    problems = [
        f"{config.source}: {p}"
        for name in config.pipelines
        for p in pipeline_problems(config, name)
    ]
    if problems:
        raise ConfigError("\n".join(problems), problems)
    console.print(f"[green]✓[/green] {config.source}: valid", highlight=False)
    if config.included:
        console.print(
            f"  with {plural(len(config.included), 'included file')}: "
            + ", ".join(str(f) for f in config.included),
            highlight=False,
        )
    console.print(
        f"  {plural(len(config.pipelines), 'pipeline')}, "
        f"{plural(len(config.connections), 'connection')}, "
        f"{plural(len(config.slack.workspaces), 'Slack workspace')}; database {config.db_url}",
        highlight=False,
    )
    for warning in config_warnings(config):
        err_console.print(f"  [yellow]warning:[/yellow] {warning}", highlight=False)
    if not config.key_file.exists() and not _env_key():
        err_console.print(
            f"  note: no master key yet ({config.key_file}); run `ml-connector init`",
            highlight=False,
        )
        return

    async def missing() -> list[tuple[str, str]]:
        async with open_store(config) as store:
            return [
                (key, ref)
                for key, ref in secret_references(config)
                if not await store.vault.exists(ref)
            ]

    for key, ref in run(missing()):
        err_console.print(
            f"  note: {key} refers to secret {ref!r}, which is not stored yet "
            f"(`ml-connector secrets set {ref}`)",
            highlight=False,
        )


def _env_key() -> bool:
    import os

    from ml_connector.vault import ENV_VAR

    return bool(os.environ.get(ENV_VAR))


def exit_code_for(ok: bool) -> None:
    if not ok:
        raise typer.Exit(1)
