"""``ml-connector check``: is every configured system reachable with the stored credentials?"""

from __future__ import annotations

import typer
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
from ml_connector.runtime.check import CheckResult, run_checks, verdict


@handle_errors
def check(config_path: ConfigOption = None) -> None:
    """Ping Intacct, the Sage 100 agent, Slack and the database; exit 0 only if all pass."""
    config = load(config_path)

    async def go() -> list[CheckResult]:
        async with open_store(config) as store:
            return await run_checks(config, store.engine, store.vault)

    results = run(go())
    table = Table("", "system", "target", "found", "what to do")
    for r in results:
        table.add_row(
            ("[yellow]![/yellow]" if r.warning else "[green]✓[/green]") if r.ok else "[red]✗[/red]",
            r.system,
            r.target,
            r.detail,
            r.hint,
        )
    print_whole(table)
    if verdict(results):
        console.print("[green]All systems ready.[/green]")
        return
    broken = sum(not r.ok for r in results)
    console.print(f"[red]{broken} problem{'s' if broken != 1 else ''} to fix[/red] (see above).")
    raise typer.Exit(1)
