from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from ml_connector.cli.init import example_config

EXE = [sys.executable, "-m", "ml_connector"]


def cli(cwd: Path, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
    return subprocess.run(
        [*EXE, *args], cwd=cwd, input=stdin, capture_output=True, text=True, env=env, timeout=60
    )


def test_init_is_idempotent_and_private(tmp_path: Path) -> None:
    first = cli(tmp_path, "init")
    assert first.returncode == 0, first.stderr
    assert "created the master key" in first.stdout
    assert (tmp_path / "data" / "master.key").stat().st_mode & 0o777 == 0o600
    assert (tmp_path / "data" / "ml-connector.db").exists()
    config = (tmp_path / "ml-connector.toml").read_text()
    assert config == example_config() and config.startswith("#")
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*") if p.is_file()}
    again = cli(tmp_path, "init")
    assert again.returncode == 0
    assert "Nothing to do" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in before} == before
    valid = cli(tmp_path, "config", "validate")
    assert valid.returncode == 0, valid.stderr
    assert "valid" in valid.stdout


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (("max_attempts = 8", 'max_attempts = "x"'), "delivery.max_attempts: expected an integer"),
        (("[server]\n", "[server]\nprot = 1\n"), "server.prot: unknown key"),
        (('gl = "C0GLPOST01"', 'gl = "general"'), "expected a Slack channel id like C0123ABCD"),
        (('company = "ABC"', 'company = "a-c"'), "expected a three-character Sage 100 company"),
        (('user_password = "intacct.user_password"\n', ""), "user_password: required key"),
    ],
)
def test_broken_config_exits_2(tmp_path: Path, edit: tuple[str, str], expected: str) -> None:
    (tmp_path / "ml-connector.toml").write_text(example_config().replace(*edit))
    result = cli(tmp_path, "config", "validate")
    assert result.returncode == 2
    assert "ml-connector.toml: " in result.stderr
    assert expected in result.stderr


def test_secrets_from_stdin_never_from_argv(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    stored = cli(tmp_path, "secrets", "set", "slack.bot_token", stdin="xoxb-1-2-planted\n")
    assert stored.returncode == 0, stored.stderr
    listed = cli(tmp_path, "secrets", "list")
    assert "slack.bot_token" in listed.stdout and "planted" not in listed.stdout
    rotated = cli(tmp_path, "secrets", "rotate-key")
    assert rotated.returncode == 0, rotated.stderr
    assert cli(tmp_path, "secrets", "delete", "slack.bot_token").returncode == 0
    assert cli(tmp_path, "secrets", "delete", "slack.bot_token").returncode == 1
    usage = cli(tmp_path, "secrets", "set")
    assert usage.returncode == 2


def test_open_key_file_is_refused(tmp_path: Path) -> None:
    assert cli(tmp_path, "init").returncode == 0
    (tmp_path / "data" / "master.key").chmod(0o644)
    result = cli(tmp_path, "secrets", "list")
    assert result.returncode == 1
    assert "accessible by group or others" in result.stderr


def test_rotation_with_the_key_in_the_environment_is_two_step(tmp_path: Path) -> None:
    from cryptography.fernet import Fernet

    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    (tmp_path / "ml-connector.toml").write_text(example_config())

    def with_key(key: str, *args: str, stdin: str | None = None) -> Any:
        env = {k: v for k, v in os.environ.items() if k != "MLC_CONFIG"}
        env["MLC_MASTER_KEY"] = key
        return subprocess.run(
            [*EXE, *args],
            cwd=tmp_path,
            input=stdin,
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )

    # No `init` here (the key is in the environment): the schema is created explicitly.
    assert with_key(old, "db", "upgrade").returncode == 0
    assert with_key(old, "secrets", "set", "a.secret", stdin="v4lue\n").returncode == 0
    one = with_key(old, "secrets", "rotate-key")
    assert one.returncode == 2 and "generate-key" in one.stderr
    both = with_key(f"{new},{old}", "secrets", "rotate-key")
    assert both.returncode == 0, both.stderr
    assert with_key(new, "secrets", "list").returncode == 0
    assert with_key(old, "secrets", "list").returncode == 1
