"""``ml-connector status``: pipelines, runs, queues, dead letters, installations, certificates."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from rich.table import Table

from ml_connector import clock
from ml_connector.cli.context import (
    ConfigOption,
    console,
    handle_errors,
    load,
    open_store,
    print_whole,
    run,
)
from ml_connector.status import ServiceStatus, gather_status
from ml_connector.store.companies import Pause, paused


def when(epoch: float | None, zone: str | None = None) -> str:
    """A time in the pipeline's zone (where its schedule is read), else the local one."""
    if epoch is None:
        return "—"
    moment = datetime.fromtimestamp(epoch, ZoneInfo(zone) if zone else None)
    return moment.strftime("%Y-%m-%d %H:%M %Z").strip()


@handle_errors
def status(config_path: ConfigOption = None) -> None:
    """Show pipelines, last and next runs, queue depth per channel, dead letters, Slack health."""
    config = load(config_path)

    async def fetch() -> tuple[ServiceStatus, dict[tuple[str, str], Pause]]:
        async with open_store(config) as store:
            async with store.engine.connect() as conn:
                stopped = await paused(conn)
            return await gather_status(store.config, store.engine, recent_limit=0), stopped

    found, stopped = run(fetch())
    pipelines = Table(
        "pipeline",
        "last run",
        "outcome",
        "read",
        "queued",
        "next run",
        "dead letters",
        title="Pipelines",
        title_justify="left",
    )
    for p in found.pipelines:
        last = p.last_run
        outcome = "—"
        if p.running is not None:
            outcome = "[cyan]running[/cyan]"
        elif last is not None:
            colour = {"succeeded": "green", "partial": "yellow"}.get(last.status, "red")
            outcome = f"[{colour}]{last.status}[/{colour}]"
            if last.error:
                outcome += f" — {last.error[:60]}"
        nxt = p.next_run
        first = next((s for s in p.schedules if s.next_run == nxt), None)
        reason = first.next_reason if first else None
        zone = first.timezone if first else None
        pipelines.add_row(
            p.name,
            when(last.started_at if last else None, zone),
            outcome,
            str(last.records_read) if last else "",
            str(last.messages_queued) if last else "",
            when(nxt, zone) + (f" ({reason})" if reason else ""),
            f"[red]{p.dead_letters}[/red]" if p.dead_letters else "0",
        )
    print_whole(pipelines)
    for (pipeline, company), pause in sorted(stopped.items()):
        who = "by an operator" if pause.reason == "operator" else "after repeated failures"
        note = f": {pause.note}" if pause.note else ""
        console.print(
            f"[yellow]paused[/yellow] {pipeline} {company} {who} since {when(pause.at)}{note} "
            f"— `ml-connector companies resume {pipeline} {company}`",
            highlight=False,
        )
    queues = Table("workspace", "channel", "waiting", title="Delivery queue", title_justify="left")
    for q in found.queues:
        queues.add_row(q.workspace, q.channel, str(q.depth))
    if found.queues:
        print_whole(queues)
    else:
        console.print("Delivery queue: empty")
    health = Table(
        "workspace", "team", "state", "reason", title="Slack installations", title_justify="left"
    )
    for i in found.installations:
        colour = "green" if i.state == "active" else "red"
        health.add_row(
            i.workspace, i.team_name or "", f"[{colour}]{i.state}[/{colour}]", i.reason or ""
        )
    print_whole(health)
    if found.certificates:
        now = clock.to_datetime(found.generated_at)
        certs = Table(
            "connection",
            "certificate",
            "state",
            "note",
            title="Sage 100 certificates",
            title_justify="left",
        )
        colours = {"ok": "green", "expiring": "yellow", "not seen": "yellow"}
        for c in found.certificates:
            state = c.state(now)
            colour = colours.get(state, "red")
            certs.add_row(
                c.connection, f"{c.what} {c.where}", f"[{colour}]{state}[/{colour}]", c.note(now)
            )
        print_whole(certs)
    if found.storage is not None:
        size = found.storage.size
        console.print(f"Database: {size.describe()} — {size.basis}", highlight=False)
        console.print(f"Retention: {found.storage.describe_retention()}", highlight=False)
    console.print(
        f"Dead letters: {found.dead_letters}"
        + (" — `ml-connector replay --dead-letters` posts them again" if found.dead_letters else "")
    )
