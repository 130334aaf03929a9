"""``ml-connector run PIPELINE``: run a pipeline once now and deliver what it queued."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ml_connector.cli.context import ConfigOption, console, handle_errors, load, run
from ml_connector.delivery.outbox import Status
from ml_connector.delivery.outcomes import MessageOutcome, count_by_status, dead, run_messages
from ml_connector.pipeline import RunOutcome
from ml_connector.runtime.service import open_runtime
from ml_connector.wording import plural

# `run --wait`: the run succeeded but not every message reached Slack (main.py documents it).
EXIT_DEAD_LETTERS = 3


def parse_time(value: str | None, option: str, zone: str) -> datetime | None:
    if value is None:
        return None
    from zoneinfo import ZoneInfo

    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise typer.BadParameter(
            f"expected an ISO date or date-time like 2026-11-01 or 2026-11-01T06:30, got {value!r}",
            param_hint=option,
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=ZoneInfo(zone))


def run_ids(outcome: RunOutcome) -> list[int]:
    """The recorded runs behind an outcome (a Sage 100 pipeline has one per stream)."""
    runs = outcome.details.get("runs")
    ids = runs if isinstance(runs, list) else [outcome.details.get("run_id")]
    return [int(i) for i in ids if isinstance(i, int)]


@handle_errors
def run_pipeline(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from the config.")],
    stream: Annotated[
        str | None, typer.Option(help="Sage 100: one stream (ap_invoices, purchase_orders …).")
    ] = None,
    company: Annotated[
        str | None,
        typer.Option(help="One company of the pipeline (Sage 100 code, Intacct entity)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Start of the window (ISO; pipeline's time zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End of the window (ISO).")] = None,
    wait: Annotated[
        bool,
        typer.Option(
            "--wait",
            help=f"Post the run's messages now and wait for Slack's answers; exit "
            f"{EXIT_DEAD_LETTERS} if any was refused.",
        ),
    ] = False,
    timeout: Annotated[float, typer.Option(help="With --wait: seconds to wait.")] = 300.0,
    config_path: ConfigOption = None,
) -> None:
    """Run a pipeline once now (outside its schedule); with --wait, post what it queued.

    Exit codes: 0 the run succeeded (and, with --wait, every message was posted); 1 the run
    failed or was partial; 2 bad usage or configuration; 3 with --wait, the run succeeded but
    Slack refused a message (dead-lettered: see `ml-connector replay`) or delivery did not
    finish within --timeout.
    """
    config = load(config_path)
    zone = str(config.pipeline_timezone(pipeline)) if pipeline in config.pipelines else "UTC"
    start = parse_time(since, "--since", zone)
    end = parse_time(until, "--until", zone)

    async def go() -> tuple[RunOutcome, bool, list[MessageOutcome]]:
        async with open_runtime(config) as rt:
            outcome = await rt.runner.run(
                pipeline, "manual", stream=stream, company=company, since=start, until=end
            )
            async with rt.engine.connect() as conn:
                messages = await run_messages(conn, run_ids(outcome))
            if not wait or not messages:
                return outcome, True, messages
            settled = await rt.worker.run_until_settled([m.id for m in messages], timeout)
            async with rt.engine.connect() as conn:
                return outcome, settled, await run_messages(conn, run_ids(outcome))

    outcome, settled, messages = run(go())
    colour = {"succeeded": "green", "partial": "yellow", "failed": "red"}[outcome.status]
    queued = plural(outcome.messages_queued, "message")
    console.print(
        f"[{colour}]{outcome.status}[/{colour}]: {plural(outcome.records_read, 'record')} read, "
        + (f"{queued} queued" if wait else f"{queued} queued, not yet delivered")
        + (f" — {outcome.summary}" if outcome.summary else ""),
        highlight=False,
    )
    if outcome.error:
        console.print(f"[red]error:[/red] {outcome.error}", markup=True, highlight=False)
    if not wait:
        if outcome.messages_queued:
            console.print(
                "`ml-connector serve` posts them; `run --wait` posts them now and waits.",
                highlight=False,
            )
        if outcome.status != "succeeded":
            raise typer.Exit(1)
        return
    code = report_deliveries(messages, settled)
    if outcome.status != "succeeded":
        raise typer.Exit(1)
    if code:
        raise typer.Exit(code)


def report_deliveries(messages: list[MessageOutcome], settled: bool) -> int:
    """Print what became of the run's messages; return the exit code they call for."""
    counts = count_by_status(messages)
    posted = counts.get(Status.DELIVERED, 0)
    line = f"{plural(posted, 'message')} posted"
    refused = dead(messages)
    if refused:
        line += f", {plural(len(refused), 'dead letter')}"
    held = counts.get(Status.HELD, 0)
    if held:
        line += f", {held} held (Slack installation unusable)"
    waiting = len(messages) - posted - len(refused) - held - counts.get(Status.REPLAYED, 0)
    if waiting:
        line += f", {waiting} still waiting"
    console.print(line, highlight=False)
    for m in refused:
        console.print(
            f"[red]dead letter[/red] message {m.id} to {m.channel}: {m.why} — "
            f"`ml-connector replay {m.id} --channel C…` posts it elsewhere",
            highlight=False,
        )
    for m in messages:
        if m.status == Status.HELD:
            console.print(f"[yellow]held[/yellow] message {m.id}: {m.why}", highlight=False)
    if not settled:
        console.print(
            "[yellow]delivery did not finish in time; `ml-connector serve` will finish it",
            highlight=False,
        )
    return EXIT_DEAD_LETTERS if refused or not settled else 0
