"""The Intacct and Slack simulators, a config wired to them and its secrets, for operator tests."""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

from ml_connector.sim.config_lines import intacct_lines, slack_lines
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine, migrate
from ml_connector.vault import Vault, create_key_file, load_keyring

CHANNELS = ("finance-gl", "ap-payments", "finance-alerts", "finance-spare")


@dataclass
class World:
    directory: Path
    config_path: Path
    slack: SlackSimulator
    intacct: IntacctSimulator

    def channel(self, name: str) -> str:
        return self.slack.channel_id(name)


def config_text(slack: SlackSimulator, intacct: IntacctSimulator, extra: str = "") -> str:
    ch = {name: slack.channel_id(name) for name in CHANNELS}
    creds = intacct.credentials
    slack_section = "\n".join(slack_lines(slack.base_url))
    intacct_section = "\n".join(
        intacct_lines(intacct.url, creds.sender_id, creds.company_id, creds.user_id)
    )
    return f"""data_dir = "data"
timezone = "America/Chicago"
{extra}
[delivery]
post_interval = 0.05

{slack_section}

{intacct_section}

[pipelines.intacct]
type = "intacct"
connection = "intacct"
post_empty = true

[pipelines.intacct.channels]
gl = "{ch["finance-gl"]}"
payments = "{ch["ap-payments"]}"
alerts = "{ch["finance-alerts"]}"
"""


@asynccontextmanager
async def world(
    directory: Path, extra: str = "", secrets: dict[str, str] | None = None
) -> AsyncIterator[World]:
    async with (
        SlackSimulator(channels=CHANNELS, post_interval=0.05) as slack,
        IntacctSimulator(
            seed=3, gl_entries=300, vendors=20, payments=20, bills=20, history_days=3
        ) as intacct,
    ):
        config_path = directory / "ml-connector.toml"
        config_path.write_text(config_text(slack, intacct, extra), encoding="utf-8")
        data = directory / "data"
        data.mkdir()
        create_key_file(data / "master.key")
        engine = make_engine(f"sqlite:///{data / 'ml-connector.db'}")
        await migrate(engine)
        vault = Vault(engine, load_keyring(data / "master.key", environ={}))
        await vault.ensure_canary()
        creds = intacct.credentials
        await vault.set("slack.bot_token", slack.bot_token)
        await vault.set("intacct.sender_password", creds.sender_password)
        await vault.set("intacct.user_password", creds.user_password)
        for name, value in (secrets or {}).items():
            await vault.set(name, value)
        await engine.dispose()
        yield World(directory, config_path, slack, intacct)


async def cli(w: World, *args: str, timeout: float = 90) -> tuple[int, str, str]:
    """Run ``ml-connector ARGS --config …`` as a process; (exit code, stdout, stderr)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
    env["COLUMNS"] = "200"
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ml_connector",
        *args,
        "--config",
        str(w.config_path),
        cwd=w.directory,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), timeout)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()
