from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from ml_connector_agent.auth import hash_key
from ml_connector_agent.cli import main


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_init_certs_writes_ca_agent_and_client(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, output = run(capsys, "init-certs", "--out", str(tmp_path / "certs"))
    assert code == 0, output
    for name in ("ca.pem", "ca.key", "agent.pem", "agent.key", "connector.pem", "connector.key"):
        assert (tmp_path / "certs" / name).exists()
    assert (tmp_path / "certs" / "agent.key").stat().st_mode & 0o077 == 0
    assert "127.0.0.1" in output


def test_add_key_prints_once_and_stores_hash_then_revoke(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agent.toml"
    config.write_text('companies = ["ABC"]\n')
    code, output = run(capsys, "add-key", "--config", str(config))
    assert code == 0, output
    key = output.split("vault): ")[1].strip()
    key_id = output.split("key id: ")[1].split()[0]
    stored = tomllib.loads(config.read_text())["api_keys"]
    assert stored[0]["hash"] == hash_key(key)
    assert key not in config.read_text()
    code, output = run(capsys, "revoke-key", key_id, "--config", str(config))
    assert code == 0, output
    assert "api_keys" not in tomllib.loads(config.read_text())
    code, output = run(capsys, "revoke-key", key_id, "--config", str(config))
    assert code == 2
    assert f"no API key with id {key_id!r}" in output


def test_serve_needs_config_or_demo(capsys: pytest.CaptureFixture[str]) -> None:
    code, output = run(capsys, "serve")
    assert code == 2
    assert "exactly one of --config FILE or --demo" in output
