"""``ml-connector audit …``: what happened to each message, attempt by attempt."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from ml_connector.cli.context import (
    ConfigOption,
    console,
    fail,
    handle_errors,
    load,
    open_store,
    run,
)
from ml_connector.delivery import audit as audit_store
from ml_connector.delivery.audit import Attempt, AuditEntry
from ml_connector.store.retention import OUTBOX, Mark, get_mark, why_missing

app = typer.Typer(help="Inspect the delivery audit trail.", no_args_is_help=True)


def when(epoch: float | None) -> str:
    return "" if epoch is None else datetime.fromtimestamp(epoch).isoformat(" ", "seconds")


def parse_since(value: str | None) -> float | None:
    """An ISO date or date-time, or a relative age like 2h, 30m, 7d."""
    if value is None:
        return None
    units = {"s": 1, "m": 60, "h": 3600, "d": 86400}
    if value[-1:] in units and value[:-1].replace(".", "", 1).isdigit():
        from ml_connector import clock

        return clock.now() - float(value[:-1]) * units[value[-1]]
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO date-time or an age like 2h, got {value!r}", param_hint="--since"
        ) from None


@app.command("list")
@handle_errors
def list_entries(
    pipeline: Annotated[str | None, typer.Option(help="Only this pipeline.")] = None,
    status: Annotated[
        str | None, typer.Option(help="pending, unknown, delivered, dead, held, replayed …")
    ] = None,
    since: Annotated[str | None, typer.Option(help="ISO time or age (2h, 7d).")] = None,
    run_id: Annotated[int | None, typer.Option("--run", help="Only this pipeline run.")] = None,
    limit: int = 50,
    config_path: ConfigOption = None,
) -> None:
    """List recent messages with their delivery status."""
    config = load(config_path)
    since_at = parse_since(since)

    async def fetch() -> tuple[list[AuditEntry], Mark | None]:
        async with open_store(config) as store, store.engine.connect() as conn:
            found = await audit_store.list_entries(
                conn, pipeline=pipeline, status=status, since=since_at, run_id=run_id, limit=limit
            )
            return found, await get_mark(conn, OUTBOX)

    entries, pruned = run(fetch())
    table = Table(
        "id", "created", "pipeline", "run", "kind", "channel", "status", "tries", "ts / error"
    )
    for e in entries:
        table.add_row(
            str(e.id),
            when(e.created_at),
            e.pipeline or "",
            str(e.run_id or ""),
            e.kind or "",
            e.channel,
            e.status,
            str(e.attempts),
            e.slack_ts or (e.last_error or e.held_reason or "")[:60],
        )
    console.print(table if entries else "No messages match.")
    if (
        pruned is not None
        and len(entries) < limit
        and (since_at is None or since_at < pruned.cutoff)
    ):
        console.print(
            f"Delivered messages from before {pruned.cutoff_date} were pruned by retention "
            f"after {pruned.days} days ([retention] days).",
            highlight=False,
        )


@app.command("show")
@handle_errors
def show(outbox_id: int, config_path: ConfigOption = None) -> None:
    """Show one message: its source records, the rendered text and every attempt."""
    config = load(config_path)

    async def fetch() -> tuple[AuditEntry | None, list[Attempt], str]:
        async with open_store(config) as store, store.engine.connect() as conn:
            entry = await audit_store.get_entry(conn, outbox_id)
            return (
                entry,
                await audit_store.attempts(conn, outbox_id),
                "" if entry is not None else await why_missing(conn, outbox_id),
            )

    entry, attempts, missing = run(fetch())
    if entry is None:
        raise fail(missing)
    console.print(f"[bold]Message {entry.id}[/bold] — {entry.status}", highlight=False)
    fields = {
        "pipeline": entry.pipeline,
        "run": entry.run_id,
        "kind": entry.kind,
        "workspace": entry.workspace,
        "channel": entry.channel,
        "dedupe key": entry.dedupe_key,
        "created": when(entry.created_at),
        "delivered": when(entry.delivered_at),
        "slack ts": entry.slack_ts,
        "last error": entry.last_error,
        "held": entry.held_reason,
        "replay of": entry.replay_of,
    }
    for key, value in fields.items():
        if value not in (None, ""):
            console.print(f"  {key}: {value}", highlight=False, markup=False)
    console.print("  source records: " + json.dumps(entry.source, default=str), markup=False)
    console.print("  text:", highlight=False)
    console.print("    " + entry.message.get("text", "").replace("\n", "\n    "), markup=False)
    table = Table("time", "outcome", "http", "slack error", "ts", "ms", "worker")
    for a in attempts:
        table.add_row(
            when(a.attempted_at),
            a.outcome,
            str(a.http_status or ""),
            a.slack_error or "",
            a.slack_ts or "",
            str(a.duration_ms or ""),
            a.worker or "",
        )
    console.print(table if attempts else "  no attempts yet")
