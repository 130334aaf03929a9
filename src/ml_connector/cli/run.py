"""``ml-connector run PIPELINE``: run a pipeline once now and deliver what it queued."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ml_connector.cli.context import ConfigOption, console, handle_errors, load, run
from ml_connector.pipeline import RunOutcome
from ml_connector.runtime.service import open_runtime


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


@handle_errors
def run_pipeline(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from the config.")],
    stream: Annotated[
        str | None, typer.Option(help="Sage 100: one stream (ap_invoices, purchase_orders …).")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Start of the window (ISO; pipeline's time zone).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="End of the window (ISO).")] = None,
    deliver: Annotated[
        bool, typer.Option(help="Post the queued messages before returning.")
    ] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for delivery.")] = 300.0,
    config_path: ConfigOption = None,
) -> None:
    """Run a pipeline once now (outside its schedule) and post what it finds."""
    config = load(config_path)
    zone = str(config.pipeline_timezone(pipeline)) if pipeline in config.pipelines else "UTC"
    start = parse_time(since, "--since", zone)
    end = parse_time(until, "--until", zone)

    async def go() -> tuple[RunOutcome, bool]:
        async with open_runtime(config) as rt:
            outcome = await rt.runner.run(pipeline, "manual", stream=stream, since=start, until=end)
            delivered = await rt.worker.run_until_idle(timeout) if deliver else True
            return outcome, delivered

    outcome, delivered = run(go())
    colour = {"succeeded": "green", "partial": "yellow", "failed": "red"}[outcome.status]
    console.print(
        f"[{colour}]{outcome.status}[/{colour}]: {outcome.records_read} records read, "
        f"{outcome.messages_queued} messages queued"
        + (f" — {outcome.summary}" if outcome.summary else "")
    )
    if outcome.error:
        console.print(f"[red]error:[/red] {outcome.error}", markup=True, highlight=False)
    if not delivered:
        console.print("[yellow]delivery still in progress; `ml-connector serve` will finish it")
    if outcome.status != "succeeded":
        raise typer.Exit(1)
