"""What every command needs: the config, the migrated store and the vault, and exit codes.

Commands stay thin: they parse options, call into the library through these helpers, and
print. A ``ConfigError`` exits 2 with one line per problem; any other ``MLConnectorError`` exits
1 with its message; nothing prints a traceback at a user.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, Literal, ParamSpec, TypeVar

import typer
from rich.console import Console, RenderableType
from rich.measure import Measurement
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import logging as mlc_logging
from ml_connector.config import Config, load_config
from ml_connector.errors import ConfigError, MLConnectorError
from ml_connector.store import make_engine, migrate
from ml_connector.vault import Vault, load_keyring

console = Console(soft_wrap=True)
err_console = Console(stderr=True, soft_wrap=True)

ConfigOption = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file (default: $MLC_CONFIG or ./ml-connector.toml).",
        show_default=False,
    ),
]

P = ParamSpec("P")
T = TypeVar("T")


def print_whole(renderable: RenderableType) -> None:
    """Print a table at its natural width when the output is a file or a pipe.

    Rich assumes 80 columns when it cannot ask a terminal, which cuts and wraps the cells a
    reader piping ``check`` into a file or a ticket needs whole. In a terminal, its width
    wins.
    """
    if console.is_terminal:
        console.print(renderable)
        return
    options = console.options.update(width=10_000)
    wanted = Measurement.get(console, options, renderable).maximum
    # print(width=…) is capped at the console's width, so widen the console for this one.
    before = console.width
    console.width = max(wanted, before)
    try:
        console.print(renderable)
    finally:
        console.width = before


def fail(message: str, code: int = 1) -> typer.Exit:
    err_console.print(f"[red]error:[/red] {message}", highlight=False, markup=True)
    return typer.Exit(code)


def handle_errors(func: Callable[P, T]) -> Callable[P, T]:
    """Turn our exceptions into a message and the documented exit code."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> T:
        try:
            return func(*args, **kwargs)
        except ConfigError as exc:
            for problem in exc.problems:
                err_console.print(problem, highlight=False, markup=False)
            raise typer.Exit(2) from None
        except MLConnectorError as exc:
            raise fail(str(exc)) from None

    return wrapper


def run(coro: Coroutine[Any, Any, T]) -> T:
    return asyncio.run(coro)


@dataclass
class LogChoice:
    """``--log-format`` / ``--log-level`` given before the command; they beat the config."""

    format: Literal["console", "json"] | None = None
    level: str | None = None


log_choice = LogChoice()


def load(path: Path | None) -> Config:
    config = load_config(path)
    mlc_logging.configure(
        log_choice.format or config.log_format, log_choice.level or config.log_level
    )
    return config


@dataclass
class Store:
    config: Config
    engine: AsyncEngine
    vault: Vault


@asynccontextmanager
async def open_store(config: Config, *, check_key: bool = True) -> AsyncIterator[Store]:
    """Open the database (migrated) and the vault, refusing a wrong or too-open master key."""
    config.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.db_url)
    try:
        await migrate(engine)
        vault = Vault(engine, load_keyring(config.key_file))
        if check_key:
            await vault.ensure_canary()
        yield Store(config, engine, vault)
    finally:
        await engine.dispose()
