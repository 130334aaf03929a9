"""The systemd units under deploy/systemd, and the service's side of ``Type=notify``."""

from __future__ import annotations

import asyncio
import re
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from ml_connector.config import load_config
from ml_connector.errors import SchemaBehindError
from ml_connector.runtime import systemd
from ml_connector.runtime.service import serve
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine
from ml_connector.store.migrate import migrate, revisions
from ml_connector.vault import Keyring

UNITS = Path(__file__).parents[2] / "deploy" / "systemd"
INSTALLED = {
    "ml-connector.service": "/opt/ml-connector/bin/ml-connector",
    "ml-connector-agent.service": "/opt/ml-connector-agent/bin/ml-connector-agent",
}
ANALYZE = shutil.which("systemd-analyze")
NO_ANALYZE = "systemd-analyze is not installed (Debian: apt-get install systemd)"


def local_copy(unit: Path, directory: Path) -> Path:
    """The unit with ExecStart pointed at this virtualenv's ml-connector, which exists here
    (systemd-analyze verify refuses a unit whose binary is missing)."""
    installed = INSTALLED[unit.name]
    here = Path(sys.executable).with_name(Path(installed).name)
    assert here.exists(), here
    copy = directory / unit.name
    copy.write_text(unit.read_text().replace(installed, str(here)))
    return copy


def directives(unit: Path) -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in unit.read_text().splitlines():
        match = re.match(r"^([A-Za-z]+)=(.*)$", line)
        if match:
            found.setdefault(match[1], []).append(match[2])
    return found


@pytest.mark.parametrize("name", ["ml-connector.service", "ml-connector-agent.service"])
def test_units_are_hardened_and_restart_on_failure(name: str) -> None:
    unit = directives(UNITS / name)
    assert unit["ExecStart"][0].startswith(INSTALLED[name])
    assert unit["DynamicUser"] == ["yes"] and unit["User"][0] != "root"
    assert unit["StateDirectory"] and unit["ProtectSystem"] == ["strict"]
    assert unit["NoNewPrivileges"] == ["yes"] and unit["PrivateTmp"] == ["yes"]
    assert unit["Restart"] == ["on-failure"]
    assert unit["CapabilityBoundingSet"] == [""]


def test_the_connector_unit_waits_for_readiness() -> None:
    unit = directives(UNITS / "ml-connector.service")
    assert unit["Type"] == ["notify"] and unit["NotifyAccess"] == ["main"]
    assert "serve" in unit["ExecStart"][0].split()


def test_the_agent_twin_runs_the_agent_distribution() -> None:
    command = directives(UNITS / "ml-connector-agent.service")["ExecStart"][0].split()
    assert command[0].endswith("/ml-connector-agent") and command[1] == "serve"


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
@pytest.mark.parametrize("name", ["ml-connector.service", "ml-connector-agent.service"])
def test_systemd_analyze_verify_finds_nothing_to_say(name: str, tmp_path: Path) -> None:
    assert ANALYZE is not None
    copy = local_copy(UNITS / name, tmp_path)
    # verify exits 0 even for an unknown key; any message at all is a mistake in the unit.
    result = subprocess.run(
        [ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0 and result.stderr == "" and result.stdout == "", result
    security = subprocess.run(
        [ANALYZE, "security", "--offline=yes", str(copy)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    exposure = re.search(r"Overall exposure level for \S+: ([0-9.]+)", security.stdout)
    assert exposure is not None, security.stdout + security.stderr
    assert float(exposure[1]) <= 2.0, security.stdout  # systemd calls < 2 "OK"


@pytest.mark.skipif(ANALYZE is None, reason=NO_ANALYZE)
def test_verify_would_catch_a_misspelt_hardening_directive(tmp_path: Path) -> None:
    """The check above can fail: a typo that silently drops ProtectSystem is reported."""
    assert ANALYZE is not None
    copy = local_copy(UNITS / "ml-connector.service", tmp_path)
    copy.write_text(copy.read_text().replace("ProtectSystem=", "ProtectSystm="))
    result = subprocess.run(
        [ANALYZE, "verify", str(copy)], capture_output=True, text=True, timeout=60
    )
    assert "ProtectSystm" in result.stderr


def test_notify_sends_one_datagram_and_is_silent_outside_systemd(tmp_path: Path) -> None:
    path = str(tmp_path / "notify")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
        server.bind(path)
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": path}) is True
        assert server.recv(100) == b"READY=1"
    assert systemd.notify("READY=1", {}) is False
    assert systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "gone")}) is False


def _config(directory: Path, slack: SlackSimulator) -> Path:
    path = directory / "ml-connector.toml"
    path.write_text(
        f"""
data_dir = "data"
[server]
port = 0
[slack.workspaces.default]
api_base_url = "{slack.base_url}"
bot_token = "slack.bot_token"
"""
    )
    return path


async def test_serve_refuses_an_older_schema_then_migrates_and_says_ready(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    notify_path = str(tmp_path / "notify")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(notify_path)
    server.setblocking(False)
    monkeypatch.setenv("NOTIFY_SOCKET", notify_path)
    async with SlackSimulator(channels=["gl"]) as slack:
        config = load_config(_config(tmp_path, slack))
        (tmp_path / "data").mkdir()
        engine = make_engine(config.db_url)
        await migrate(engine, target=revisions()[-2].revision)
        await engine.dispose()
        keyring = Keyring.generate()
        with pytest.raises(SchemaBehindError, match="--migrate"):
            await serve(config, keyring=keyring, pipelines={}, install_signals=False)
        stop = asyncio.Event()
        service = asyncio.create_task(
            serve(
                config,
                stop=stop,
                keyring=keyring,
                pipelines={},
                install_signals=False,
                migrate=True,
            )
        )
        loop = asyncio.get_running_loop()
        ready = await asyncio.wait_for(loop.sock_recv(server, 100), 30)
        assert ready.startswith(b"READY=1")
        stop.set()
        await asyncio.wait_for(service, 30)
        assert await asyncio.wait_for(loop.sock_recv(server, 100), 5) == b"STOPPING=1"
    server.close()
