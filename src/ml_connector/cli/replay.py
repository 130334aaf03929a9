"""``ml-connector replay``: post messages again, by id, by pipeline run, or all dead letters."""

from __future__ import annotations

from typing import Annotated

import typer

from ml_connector.cli.context import (
    ConfigOption,
    console,
    fail,
    handle_errors,
    load,
    open_store,
    run,
)
from ml_connector.delivery.replay import (
    ReplayResult,
    replay_dead_letters,
    replay_one,
    replay_run,
)
from ml_connector.slack.links import is_channel_id, permalinks
from ml_connector.store.retention import why_run_empty


@handle_errors
def replay(
    outbox_id: Annotated[int | None, typer.Argument(help="The message id to post again.")] = None,
    run_id: Annotated[int | None, typer.Option("--run", help="Every message of a run.")] = None,
    dead_letters: Annotated[
        bool, typer.Option("--dead-letters", help="Every dead-lettered message.")
    ] = False,
    pipeline: Annotated[str | None, typer.Option(help="With --dead-letters: one pipeline.")] = None,
    channel: Annotated[
        str | None,
        typer.Option(help="Post to this channel id (C0123ABCD) instead of the original's."),
    ] = None,
    force: Annotated[
        bool, typer.Option("--force", help="Also post messages that were delivered.")
    ] = False,
    config_path: ConfigOption = None,
) -> None:
    """Queue messages for delivery again, marked as replays; the audit trail links each copy."""
    chosen = [outbox_id is not None, run_id is not None, dead_letters]
    if sum(chosen) != 1:
        raise fail("give exactly one of: an ID, --run RUN_ID, --dead-letters", 2)
    if channel is not None and not is_channel_id(channel):
        raise fail(f"--channel: expected a Slack channel id like C0123ABCD, got {channel!r}", 2)
    config = load(config_path)
    link = permalinks(config)

    async def go() -> tuple[list[ReplayResult], str | None]:
        async with open_store(config) as store, store.engine.begin() as conn:
            if outbox_id is not None:
                one = await replay_one(
                    conn, outbox_id, force=force, channel=channel, permalink=link
                )
                return [one], None
            if run_id is not None:
                found = await replay_run(conn, run_id, force=force, channel=channel, permalink=link)
                return found, None if found else await why_run_empty(conn, run_id)
            dead = await replay_dead_letters(
                conn, pipeline=pipeline, channel=channel, permalink=link
            )
            return dead, None

    results, empty_run = run(go())
    if empty_run is not None:
        raise fail(empty_run)
    queued = [r for r in results if r.replay is not None]
    for r in results:
        if r.replay is not None:
            console.print(
                f"[green]✓[/green] message {r.original} queued again as {r.replay} "
                f"for {r.channel}; `ml-connector serve` posts it",
                highlight=False,
            )
        else:
            console.print(f"[yellow]-[/yellow] message {r.original}: {r.skipped}", highlight=False)
    if not results:
        console.print("Nothing to replay.")
    elif not queued:
        raise typer.Exit(1)
