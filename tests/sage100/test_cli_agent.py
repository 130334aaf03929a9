from __future__ import annotations

import tomllib
from pathlib import Path

from typer.testing import CliRunner

from ml_connector.cli.main import app
from ml_connector.sage100.agent.auth import hash_key

runner = CliRunner()


def test_init_certs_writes_ca_agent_and_client(tmp_path: Path) -> None:
    result = runner.invoke(app, ["agent", "init-certs", "--out", str(tmp_path / "certs")])
    assert result.exit_code == 0, result.output
    for name in ("ca.pem", "ca.key", "agent.pem", "agent.key", "connector.pem", "connector.key"):
        assert (tmp_path / "certs" / name).exists()
    assert (tmp_path / "certs" / "agent.key").stat().st_mode & 0o077 == 0
    assert "127.0.0.1" in result.output


def test_add_key_prints_once_and_stores_hash_then_revoke(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('companies = ["ABC"]\n')
    result = runner.invoke(app, ["agent", "add-key", "--config", str(config)])
    assert result.exit_code == 0, result.output
    key = result.output.split("vault): ")[1].strip()
    key_id = result.output.split("key id: ")[1].split()[0]
    stored = tomllib.loads(config.read_text())["api_keys"]
    assert stored[0]["hash"] == hash_key(key)
    assert key not in config.read_text()
    result = runner.invoke(app, ["agent", "revoke-key", key_id, "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "api_keys" not in tomllib.loads(config.read_text())
    result = runner.invoke(app, ["agent", "revoke-key", key_id, "--config", str(config)])
    assert result.exit_code == 2


def test_serve_needs_config_or_demo() -> None:
    result = runner.invoke(app, ["agent", "serve"])
    assert result.exit_code == 2
