"""`ml-connector companies add|remove|list|pause|resume` (issue #22)."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import structlog
from cryptography.fernet import Fernet
from typer.testing import CliRunner

from ml_connector.cli.init import example_config
from ml_connector.cli.main import app


@pytest.fixture
def setup(tmp_path: Path) -> Path:
    (tmp_path / "ml-connector.toml").write_text(example_config())
    (tmp_path / "key").write_text(Fernet.generate_key().decode())
    assert invoke(tmp_path, "db", "upgrade")[0] == 0
    return tmp_path


def invoke(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    env = {
        "MLC_MASTER_KEY": (tmp_path / "key").read_text(),
        "MLC_CONFIG": str(tmp_path / "ml-connector.toml"),
        "COLUMNS": "200",
    }
    try:
        result = CliRunner().invoke(app, list(args), env=env)
    finally:
        structlog.reset_defaults()
        root.handlers, root.level = handlers, level
    return result.exit_code, result.stdout, result.stderr


def test_add_list_pause_resume_remove(setup: Path) -> None:
    code, out, err = invoke(
        setup,
        "companies",
        "add",
        "sage100",
        "xyz",
        "--channel",
        "ap_invoices=C0XYZAP001",
        "--disable",
        "gl_accounts",
        "--currency",
        "CAD",
    )
    assert code == 0, err
    assert "added company XYZ of pipeline sage100" in out
    code, out, err = invoke(setup, "companies", "pause", "sage100", "XYZ", "--note", "audit")
    assert code == 0, err
    assert "paused company XYZ" in out
    code, out, _ = invoke(setup, "companies", "list", "sage100")
    assert code == 0
    lines = [line for line in out.splitlines() if "sage100" in line]
    assert "ABC" in lines[0] and "file" in lines[0] and "polling" in lines[0]
    assert "XYZ" in lines[1] and "database" in lines[1] and "paused (operator" in lines[1]
    assert "audit" in lines[1]
    code, out, _ = invoke(setup, "status")
    assert code == 0 and "paused sage100 XYZ by an operator" in out and "audit" in out
    code, out, _ = invoke(setup, "companies", "resume", "sage100", "XYZ")
    assert code == 0 and "resumed company XYZ" in out
    code, out, _ = invoke(setup, "companies", "resume", "sage100", "XYZ")
    assert code == 0 and "was not paused" in out
    # Adding it again needs --replace.
    code, _, err = invoke(setup, "companies", "add", "sage100", "XYZ")
    assert code == 2 and "already added" in err
    code, out, err = invoke(setup, "companies", "add", "sage100", "XYZ", "--replace")
    assert code == 0 and "updated company XYZ" in out, err
    code, out, _ = invoke(setup, "companies", "remove", "sage100", "XYZ")
    assert code == 0 and "removed company XYZ" in out
    code, _, err = invoke(setup, "companies", "remove", "sage100", "ABC")
    assert code == 2 and "configured in the file" in err


def test_added_settings_are_validated_like_the_file(setup: Path) -> None:
    code, _, err = invoke(
        setup, "companies", "add", "sage100", "XYZ", "--channel", "ap_invoices=general"
    )
    assert code == 2
    assert err.strip() == (
        "companies add: pipelines.sage100.company.XYZ.streams.ap_invoices.channel: expected a "
        "Slack channel id like C0123ABCD, got 'general'"
    )
    code, _, err = invoke(setup, "companies", "add", "sage100", "TOOLONG")
    assert code == 2 and "expected a three-character Sage 100 company code" in err
    code, _, err = invoke(setup, "companies", "add", "sage100", "XYZ", "--channel", "vendors=C0X")
    assert code == 2 and "pipelines.sage100.company.XYZ.streams.vendors" in err
    settings = setup / "xyz.toml"
    settings.write_text(
        '[streams.ap_invoices]\nchannel = "C0XYZAP001"\n'
        'routes = [{ when = [{ field = "Amount", op = "gt", value = 1 }], '
        'channel = "C0XYZBIG01" }]\n'
    )
    code, _, err = invoke(setup, "companies", "add", "sage100", "XYZ", "--settings", str(settings))
    assert code == 2
    assert err.startswith(
        f"{settings}: pipelines.sage100.company.XYZ.streams.ap_invoices.routes[0].when[0].field: "
        "'Amount' is not a field of AP invoices"
    )
    code, _, err = invoke(setup, "companies", "add", "nope", "XYZ")
    assert code == 2 and "no pipeline named 'nope'" in err
    code, _, err = invoke(setup, "companies", "pause", "sage100", "QQQ")
    assert code == 2 and "has no company 'QQQ'" in err
    code, _, err = invoke(
        setup, "companies", "add", "intacct", "E200", "--channel", "alerts=C0E200ALR1"
    )
    assert code == 0, err
    code, _, err = invoke(setup, "companies", "add", "intacct", "E300", "--channel", "gl=x")
    assert code == 2 and "pipelines.intacct.company.E300.channels.gl" in err
