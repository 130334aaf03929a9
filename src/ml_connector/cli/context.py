"""What every command needs: the config, the store at the code's schema, the vault, exit codes.

Commands stay thin: they parse options, call into the library through these helpers, and
print. A ``ConfigError`` exits 2 with one line per problem; any other ``MLConnectorError`` exits
1 with its message; nothing prints a traceback at a user.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Annotated, Any, Literal, ParamSpec, TypeVar, cast

import sqlalchemy as sa
import typer
from rich.console import Console, RenderableType
from rich.measure import Measurement
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import logging as mlc_logging
from ml_connector.config import Config, load_config
from ml_connector.errors import ConfigError, MLConnectorError
from ml_connector.redact import redact_text
from ml_connector.store import make_engine
from ml_connector.store.migrate import prepare
from ml_connector.vault import Vault, load_keyring


class RedactingStream:
    """A stream that passes every write through the redactor, then to the real stdout/stderr
    (looked up at each write, so test runners that swap ``sys.stdout`` still see it)."""

    def __init__(self, name: Literal["stdout", "stderr"]) -> None:
        self._name = name

    @property
    def _target(self) -> IO[str]:
        stream: IO[str] = getattr(sys, self._name)
        return stream

    def write(self, text: str) -> int:
        self._target.write(redact_text(text))
        return len(text)

    def flush(self) -> None:
        self._target.flush()

    def isatty(self) -> bool:
        return self._target.isatty()

    def fileno(self) -> int:
        return self._target.fileno()

    @property
    def encoding(self) -> str:
        return getattr(self._target, "encoding", None) or "utf-8"


# Everything a command prints goes through the redactor: a source's error text may echo a
# secret, and a terminal's scroll-back or a CI log is storage too.
console = Console(file=cast(IO[str], RedactingStream("stdout")), soft_wrap=True)
err_console = Console(file=cast(IO[str], RedactingStream("stderr")), soft_wrap=True)
# The one exception: a secret this command has just issued for the user to paste elsewhere
# (a trigger secret), printed once on purpose. Nothing read from a source goes through it.
issued_console = Console(soft_wrap=True)

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
        except sa.exc.SQLAlchemyError as exc:
            raise fail(describe_database_error(exc)) from None
        except OSError as exc:
            where = f" ({exc.filename})" if exc.filename else ""
            raise fail(f"{exc.strerror or exc}{where}") from None

    return wrapper


def describe_database_error(exc: sa.exc.SQLAlchemyError) -> str:
    """One line for a database failure (disk full, unreachable, locked), and what to do."""
    cause = exc.orig if isinstance(exc, sa.exc.DBAPIError) and exc.orig is not None else exc
    first = (str(cause).strip().splitlines() or [type(cause).__name__])[0]
    hint = ""
    if ("disk" in first.lower() and "full" in first.lower()) or "no space" in first.lower():
        hint = "; free space where the database lives, then run the command again"
    elif isinstance(exc, sa.exc.OperationalError):
        hint = "; check that the database is reachable and writable, then run it again"
    return f"database error: {first[:300]}{hint}"


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


async def with_stored_companies(config: Config, engine: AsyncEngine) -> Config:
    """The config with the companies added by `ml-connector companies add`."""
    from ml_connector.companies import with_stored
    from ml_connector.store.companies import stored_settings

    async with engine.connect() as conn:
        return with_stored(config, await stored_settings(conn))


@dataclass
class Store:
    # The file's config with the companies stored in the database merged in.
    config: Config
    engine: AsyncEngine
    vault: Vault


def say_waiting_for_migration() -> None:
    err_console.print(
        "another process is migrating this database; waiting for it to finish", highlight=False
    )


@asynccontextmanager
async def open_store(
    config: Config, *, check_key: bool = True, migrate: bool = False
) -> AsyncIterator[Store]:
    """Open the database and the vault, refusing a wrong or too-open master key.

    The schema must be the code's own; ``migrate`` (or ``database.auto_migrate``) lets it be
    brought there first, under the migration lock.
    """
    config.data_path.mkdir(parents=True, exist_ok=True)
    engine = make_engine(config.db_url)
    try:
        await prepare(
            engine,
            allow_migrate=migrate or config.database.auto_migrate,
            on_wait=say_waiting_for_migration,
        )
        vault = Vault(engine, load_keyring(config.key_file))
        if check_key:
            await vault.ensure_canary()
            await vault.register_all()
        yield Store(await with_stored_companies(config, engine), engine, vault)
    finally:
        await engine.dispose()
