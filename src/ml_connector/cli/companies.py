"""``ml-connector companies …``: add, remove, list, pause and resume a pipeline's companies.

For those who run many companies without editing the TOML file: ``add`` stores a company's
settings in the database, validated by the very models that validate
``[pipelines.NAME.company.CODE]`` in the file; ``serve`` picks it up within a minute. A paused
company is not polled; its cursor stays, so ``resume`` reads on from where it stopped.
"""

from __future__ import annotations

import tomllib
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any

import typer
from pydantic import TypeAdapter, ValidationError
from rich.table import Table

from ml_connector.cli.context import (
    ConfigOption,
    console,
    handle_errors,
    load,
    open_store,
    print_whole,
    run,
)
from ml_connector.companies import (
    check_company_settings,
    pipeline_companies,
    serves_every_company,
)
from ml_connector.config import CompanyCode, Config, EntityId, Sage100Pipeline
from ml_connector.errors import ConfigError
from ml_connector.store import companies as stored

app = typer.Typer(
    help="A pipeline's companies: add, remove, list, pause, resume.", no_args_is_help=True
)

PipelineArg = Annotated[str, typer.Argument(help="Pipeline name from the config.")]
CompanyArg = Annotated[
    str, typer.Argument(help="Sage 100 company code (ABC) or Intacct entity id (E100).")
]


def _pipeline(config: Config, name: str) -> Any:
    settings = config.pipelines.get(name)
    if settings is None:
        known = ", ".join(sorted(config.pipelines)) or "none configured"
        raise ConfigError(f"no pipeline named {name!r} (configured: {known})")
    return settings


def _code(config: Config, pipeline: str, code: str) -> str:
    """The company code as the config spells it (Sage 100 codes are upper case)."""
    settings = _pipeline(config, pipeline)
    connection = config.connections[settings.connection]
    sage = isinstance(settings, Sage100Pipeline)
    if not sage and code == getattr(connection, "company_id", None):
        return code
    adapter: TypeAdapter[str] = TypeAdapter(CompanyCode if sage else EntityId)
    try:
        return adapter.validate_python(code)
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"company {code!r}: {reason}") from None


def _channel_options(
    config: Config, pipeline: str, channels: list[str], disabled: list[str]
) -> dict[str, Any]:
    """``--channel STREAM=C…`` / ``--disable STREAM`` as the company's table."""
    sage = isinstance(_pipeline(config, pipeline), Sage100Pipeline)
    table: dict[str, Any] = {}
    for item in channels:
        name, sep, channel = item.partition("=")
        if not sep or not name or not channel:
            what = "ap_invoices=C0123ABCD" if sage else "gl=C0123ABCD"
            raise ConfigError(f"--channel {item!r}: expected STREAM=CHANNEL, like {what}")
        if sage:
            table.setdefault("streams", {}).setdefault(name, {})["channel"] = channel
        else:
            table.setdefault("channels", {})[name] = channel
    for name in disabled:
        if not sage:
            raise ConfigError("--disable: Intacct pipelines have no streams to disable")
        table.setdefault("streams", {}).setdefault(name, {})["enabled"] = False
    return table


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _read_settings(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None


@app.command("add")
@handle_errors
def add(
    pipeline: PipelineArg,
    company: CompanyArg,
    channel: Annotated[
        list[str] | None,
        typer.Option(
            "--channel",
            help="STREAM=CHANNEL (Sage 100: ap_invoices=C…; Intacct: gl=, payments=, alerts=); "
            "repeat for several.",
        ),
    ] = None,
    disable: Annotated[
        list[str] | None, typer.Option("--disable", help="Sage 100: a stream not polled.")
    ] = None,
    currency: Annotated[
        str | None, typer.Option(help="Sage 100: the company's home currency (CAD).")
    ] = None,
    mention_group: Annotated[
        str | None, typer.Option(help="Intacct: the user group alerts mention (S…).")
    ] = None,
    settings_file: Annotated[
        Path | None,
        typer.Option(
            "--settings",
            help="A TOML file with the company's table, as [pipelines.NAME.company.CODE] "
            "would hold it (routes, record links …); the options above win over it.",
        ),
    ] = None,
    replace: Annotated[
        bool, typer.Option("--replace", help="Replace the settings of a company added before.")
    ] = False,
    config_path: ConfigOption = None,
) -> None:
    """Add a company to a pipeline, with the settings it does not take from the pipeline."""
    config = load(config_path)
    code = _code(config, pipeline, company)
    settings = _pipeline(config, pipeline)
    if code in settings.company:
        raise ConfigError(
            f"company {code} of pipeline {pipeline} is configured in the file "
            f"([pipelines.{pipeline}.company.{code}]); change it there"
        )
    raw: dict[str, Any] = _read_settings(settings_file) if settings_file else {}
    options = _channel_options(config, pipeline, channel or [], disable or [])
    if currency is not None:
        options["currency"] = currency
    if mention_group is not None:
        options["mention_group"] = mention_group
    raw = _merge(raw, options)
    where = str(settings_file) if settings_file else "companies add"
    checked = check_company_settings(config, pipeline, code, raw, where=where)

    async def go() -> bool:
        async with open_store(config) as store, store.engine.begin() as conn:
            existing = {r.company for r in await stored.list_rows(conn, pipeline) if r.settings}
            if code in existing and not replace:
                raise ConfigError(
                    f"company {code} was already added to pipeline {pipeline}; "
                    "--replace replaces its settings"
                )
            return await stored.save_settings(conn, pipeline, code, checked)

    new = run(go())
    verb = "added" if new else "updated"
    console.print(
        f"[green]✓[/green] {verb} company {code} of pipeline {pipeline}; `serve` polls it "
        "within a minute",
        highlight=False,
    )


@app.command("remove")
@handle_errors
def remove(pipeline: PipelineArg, company: CompanyArg, config_path: ConfigOption = None) -> None:
    """Remove a company added with `companies add` (its cursors stay, for adding it back)."""
    config = load(config_path)
    code = _code(config, pipeline, company)

    async def go() -> bool:
        async with open_store(config) as store, store.engine.begin() as conn:
            return await stored.remove(conn, pipeline, code)

    if not run(go()):
        in_file = any(c.code == code for c in pipeline_companies(config, pipeline, []))
        where = (
            f"it is configured in the file ({config.source}); remove it there"
            if in_file
            else "it was never added (`companies list` shows the companies)"
        )
        raise ConfigError(f"company {code} of pipeline {pipeline}: nothing to remove, {where}")
    console.print(f"[green]✓[/green] removed company {code} of pipeline {pipeline}")


def _known(config: Config, pipeline: str, code: str) -> None:
    """A pause names a company of the pipeline (any valid code for ``"*"``)."""
    if serves_every_company(config, pipeline):
        return
    codes = [c.code for c in pipeline_companies(config, pipeline, [])]
    if code not in codes:
        raise ConfigError(
            f"pipeline {pipeline!r} has no company {code!r} (companies: {', '.join(codes)})"
        )


@app.command("pause")
@handle_errors
def pause(
    pipeline: PipelineArg,
    company: CompanyArg,
    note: Annotated[str | None, typer.Option(help="Why, for whoever looks next.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """Stop polling a company; its cursor stays where it is."""
    config = load(config_path)
    code = _code(config, pipeline, company)

    async def go() -> stored.Pause:
        async with open_store(config) as store:
            _known(store.config, pipeline, code)
            async with store.engine.begin() as conn:
                return await stored.pause(conn, pipeline, code, reason="operator", note=note)

    found = run(go())
    console.print(
        f"[green]✓[/green] paused company {code} of pipeline {pipeline} "
        f"(since {_when(found.at)}); `companies resume {pipeline} {code}` polls it again",
        highlight=False,
    )


@app.command("resume")
@handle_errors
def resume(pipeline: PipelineArg, company: CompanyArg, config_path: ConfigOption = None) -> None:
    """Poll a paused company again, from where it stopped."""
    config = load(config_path)
    code = _code(config, pipeline, company)

    async def go() -> stored.Pause | None:
        async with open_store(config) as store, store.engine.begin() as conn:
            return await stored.resume(conn, pipeline, code)

    lifted = run(go())
    if lifted is None:
        console.print(f"company {code} of pipeline {pipeline} was not paused", highlight=False)
        return
    console.print(
        f"[green]✓[/green] resumed company {code} of pipeline {pipeline}; its next run reads "
        f"from where it stopped {_when(lifted.at)}",
        highlight=False,
    )


def _when(epoch: float) -> str:
    return datetime.fromtimestamp(epoch).astimezone().strftime("%Y-%m-%d %H:%M %Z")


@app.command("list")
@handle_errors
def list_companies(
    pipeline: Annotated[str | None, typer.Argument(help="Only this pipeline.")] = None,
    config_path: ConfigOption = None,
) -> None:
    """The companies of each pipeline: where each is configured, and which are paused."""
    config = load(config_path)
    names = [pipeline] if pipeline else list(config.pipelines)
    for name in names:
        _pipeline(config, name)

    async def go() -> tuple[Config, list[stored.CompanyRow]]:
        async with open_store(config) as store, store.engine.connect() as conn:
            return store.config, await stored.list_rows(conn, pipeline)

    merged, rows = run(go())
    by_pair = {(r.pipeline, r.company): r for r in rows}
    table = Table("pipeline", "company", "configured in", "state", title="Companies")
    for name in names:
        listed = pipeline_companies(merged, name, [])
        if serves_every_company(merged, name):
            table.add_row(name, "*", "file", "every company the agent serves")
        for company in listed:
            row = by_pair.pop((name, company.code), None)
            origin = "database" if row is not None and row.settings is not None else "file"
            table.add_row(name, company.code, origin, _state(row))
    for (name, code), row in sorted(by_pair.items()):
        if name in names:
            gone = "" if name in merged.pipelines else " (pipeline not in the config)"
            origin = "database" if row.settings is not None else "—"
            table.add_row(name, code, origin + gone, _state(row))
    print_whole(table)


def _state(row: stored.CompanyRow | None) -> str:
    if row is None or row.pause is None:
        return "polling"
    who = "operator" if row.pause.reason == "operator" else "failing"
    note = f": {row.pause.note}" if row.pause.note else ""
    return f"[yellow]paused[/yellow] ({who}, since {_when(row.pause.at)}){note}"
