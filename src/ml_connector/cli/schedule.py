"""``ml-connector schedule …``: see when pipelines will run, and why, before trusting it."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from ml_connector.cli.context import ConfigOption, console, fail, handle_errors, load
from ml_connector.schedule.configured import pipeline_schedules
from ml_connector.schedule.planner import DEFAULT_HORIZON, next_fire_times
from ml_connector.schedule.preview import preview_table

app = typer.Typer(help="Inspect pipeline schedules.", no_args_is_help=True)


@app.command()
@handle_errors
def preview(
    pipeline: Annotated[str, typer.Argument(help="Pipeline name from the config.")],
    count: Annotated[int, typer.Option("--next", "-n", min=1, max=1000, help="How many.")] = 20,
    start: Annotated[
        str | None,
        typer.Option(
            "--from",
            help="Start after this ISO time instead of now (without an offset: the "
            "schedule's own zone), e.g. 2026-11-25T00:00.",
            show_default=False,
        ),
    ] = None,
    stream: Annotated[
        str | None, typer.Option(help="Only this Sage 100 stream.", show_default=False)
    ] = None,
    config_path: ConfigOption = None,
) -> None:
    """Print the coming fire times of PIPELINE with the reason for each."""
    config = load(config_path)
    schedules = pipeline_schedules(config, pipeline)
    if stream is not None:
        schedules = [item for item in schedules if item.stream == stream]
        if not schedules:
            raise fail(f"pipeline {pipeline!r} has no enabled stream {stream!r}", code=2)
    # Companies of one pipeline usually share their streams' schedules: one table for each.
    groups: dict[tuple[str | None, str], list[str]] = {}
    firsts = []
    for item in schedules:
        names = groups.setdefault((item.stream, item.spec.model_dump_json()), [])
        if not names:
            firsts.append(item)
        names.append(item.name)
    for item in firsts:
        names = groups[(item.stream, item.spec.model_dump_json())]
        shown = item.name if len(names) == 1 else f"{item.name} and {len(names) - 1} more"
        zone = item.spec.zone
        after = datetime.now(zone) if start is None else _parse_start(start)
        if after.tzinfo is None:
            after = after.replace(tzinfo=zone)
        fires = next_fire_times(item.spec, after, count)
        title = f"{shown} — next {count} fire times ({zone.key}, {item.spec.catch_up} catch-up)"
        console.print(preview_table(title, fires, after))
        if len(fires) < count:
            years = DEFAULT_HORIZON.days // 365
            console.print(f"  no further fire times within {years} years", highlight=False)


def _parse_start(value: str) -> datetime:
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        message = f"--from: expected an ISO date and time like 2026-11-25T06:00, got {value!r}"
        raise fail(message, 2) from None
