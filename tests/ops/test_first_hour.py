"""From nothing to posts using only what the product prints (issue #23, first hour)."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
from pathlib import Path

from ml_connector.cli.init import example_config
from ml_connector.config import load_config
from ml_connector.config_warnings import config_warnings, public_base_url_warning


async def start_sim(kind: str, *extra: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "ml_connector", "sim", kind, "--port", "0", *extra,
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        lines.append((await asyncio.wait_for(proc.stdout.readline(), 60)).decode().rstrip())
    return proc, lines


def port_of(lines: list[str]) -> int:
    match = re.search(r"listening on http://127\.0\.0\.1:(\d+)", lines[0])
    assert match is not None, lines
    return int(match.group(1))


async def test_init_demo_and_the_simulators_banners_are_all_it_takes(tmp_path: Path) -> None:
    slack, slack_out = await start_sim("slack")
    intacct, intacct_out = await start_sim(
        "intacct", "--gl-entries", "300", "--vendors", "20", "--payments", "20"
    )
    try:
        env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
        env["PATH"] = f"{Path(sys.executable).parent}:{env.get('PATH', '')}"
        base = [sys.executable, "-m", "ml_connector"]
        init = subprocess.run(
            [*base, "init", "--demo", "--dir", str(tmp_path),
             "--slack-port", str(port_of(slack_out)),
             "--intacct-port", str(port_of(intacct_out))],
            capture_output=True, text=True, env=env, timeout=60,
        )  # fmt: skip
        assert init.returncode == 0, init.stderr
        assert "ml-connector sim slack --port" in init.stdout
        # each banner shows the config lines pointing at it: they are in the demo config
        config_text = (tmp_path / "ml-connector.toml").read_text()
        for out in (slack_out, intacct_out):
            shown = [line.strip() for line in out if re.match(r"\s+\w+ = ", line)]
            shown = [line for line in shown if not line.startswith("printf")]
            assert shown, out
            for line in shown:
                assert line in config_text, line
        # and the `secrets set` commands, pasted as printed
        commands = [line.strip() for line in slack_out + intacct_out if "secrets set" in line]
        assert len(commands) == 3
        for command in commands:
            done = subprocess.run(
                command, shell=True, cwd=tmp_path, env=env, capture_output=True, timeout=60
            )
            assert done.returncode == 0, done.stderr
        run = subprocess.run(
            [*base, "run", "intacct", "--wait"],
            cwd=tmp_path, capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        assert re.search(r"\d+ messages? posted", run.stdout), run.stdout
    finally:
        for proc in (slack, intacct):
            proc.terminate()
            await proc.wait()


def test_example_config_shows_every_url_key() -> None:
    text = example_config()
    for key in ("api_base_url", "oauth_authorize_url", "gateway_url", "agent_url",
                "public_base_url", "database_url"):  # fmt: skip
        assert re.search(rf"^#? ?{key} = ", text, re.MULTILINE), key


def test_http_public_base_url_is_warned_about(tmp_path: Path) -> None:
    path = tmp_path / "ml-connector.toml"
    path.write_text('public_base_url = "http://mlc.example.com"\n')
    config = load_config(path)
    warning = public_base_url_warning(config)
    assert warning is not None and "https" in warning and "public_base_url" in warning
    path.write_text('public_base_url = "https://mlc.example.com"\n')
    assert config_warnings(load_config(path)) == []
