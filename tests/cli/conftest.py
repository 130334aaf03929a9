"""The CLI as an operator runs it: a folder set up by `init`, commands run in-process."""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
import structlog
from typer.testing import CliRunner

from ml_connector.cli.init import example_config
from ml_connector.cli.main import app

SECRET = "xoxb-1-2-planted-secret"


class Site:
    """A folder set up by `init`, with the commands run in-process against it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.config = root / "ml-connector.toml"
        self.key = root / "data" / "master.key"
        self.db = root / "data" / "ml-connector.db"

    def __call__(self, *args: str, stdin: str | None = None) -> tuple[int, str]:
        root = logging.getLogger()
        handlers, level = list(root.handlers), root.level
        try:
            result = CliRunner().invoke(
                app,
                [*args, *(["--config", str(self.config)] if args[0] != "init" else [])],
                input=stdin,
                env={"MLC_CONFIG": None, "MLC_MASTER_KEY": None},
            )
        finally:
            structlog.reset_defaults()
            root.handlers, root.level = handlers, level
        return result.exit_code, result.stdout + result.stderr

    def db_digest(self) -> str:
        return hashlib.sha256(self.db.read_bytes()).hexdigest()


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    here = Site(tmp_path / "site")
    here.root.mkdir()
    here.config.write_text(example_config())
    code, out = here("init", "--dir", str(here.root))
    assert code == 0, out
    code, out = here("secrets", "set", "slack.bot_token", stdin=SECRET + "\n")
    assert code == 0, out
    yield here


def one_line(text: str) -> str:
    return " ".join(text.split())
