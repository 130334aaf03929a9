"""``ml-connector init``: a commented example config, a private master key, a migrated database.

Idempotent: a second run changes nothing and says so, so it is safe in provisioning scripts.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Annotated

import typer

from ml_connector.cli.context import console, handle_errors, load, open_store, run
from ml_connector.config import DEFAULT_FILE
from ml_connector.sim.config_lines import (
    INTACCT_SIM_PORT,
    SLACK_SIM_PORT,
    demo_channel_ids,
    demo_config,
)
from ml_connector.vault import create_key_file


def example_config() -> str:
    return resources.files("ml_connector.cli").joinpath("example_config.toml").read_text("utf-8")


@handle_errors
def init(
    directory: Annotated[
        Path, typer.Option("--dir", help="Folder to set up (default: the current one).")
    ] = Path("."),
    demo: Annotated[
        bool,
        typer.Option(
            "--demo",
            help="Write a config wired to `ml-connector sim slack` and `sim intacct` instead.",
        ),
    ] = False,
    slack_port: Annotated[int, typer.Option(help="With --demo: the Slack simulator's port.")] = (
        SLACK_SIM_PORT
    ),
    intacct_port: Annotated[
        int, typer.Option(help="With --demo: the Intacct simulator's port.")
    ] = INTACCT_SIM_PORT,
) -> None:
    """Write an example config, create the master key (mode 0600) and migrate the database."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / DEFAULT_FILE
    changes: list[str] = []
    if not config_path.exists():
        if demo:
            text = demo_config(
                slack_port=slack_port, intacct_port=intacct_port, channel_ids=demo_channel_ids()
            )
            config_path.write_text(text, encoding="utf-8")
            changes.append(f"wrote a config wired to the simulators: {config_path}")
        else:
            config_path.write_text(example_config(), encoding="utf-8")
            changes.append(f"wrote the example config {config_path}")
    config = load(config_path)
    if create_key_file(config.key_file):
        changes.append(f"created the master key {config.key_file} (mode 0600)")

    async def setup() -> bool:
        # init is one of the few commands that migrate (under the migration lock); the canary
        # write is what makes this key the vault's key.
        from ml_connector.store import current_revision, make_engine

        engine = make_engine(config.db_url) if config.data_path.exists() else None
        before = await current_revision(engine) if engine is not None else None
        if engine is not None:
            await engine.dispose()
        async with open_store(config, migrate=True) as store:
            after = await current_revision(store.engine)
        return before != after

    if run(setup()):
        changes.append(f"migrated the database {config.db_url}")
    if changes:
        for change in changes:
            console.print(f"[green]✓[/green] {change}", highlight=False)
        if demo:
            where = "" if directory == Path(".") else f"cd {directory} && "
            console.print(
                "Next, each in its own terminal (each prints the `secrets set` commands "
                "to paste here):\n"
                f"  ml-connector sim slack --port {slack_port}\n"
                f"  ml-connector sim intacct --port {intacct_port}\n"
                f"then: {where}ml-connector run intacct --wait",
                highlight=False,
                markup=False,
            )
            return
        console.print(
            "Next: edit the config, store its secrets with `ml-connector secrets set NAME`, "
            "then run `ml-connector config validate`."
        )
    else:
        console.print("Nothing to do: config, master key and database are already in place.")
