"""`serve` as a real process: SIGTERM during delivery loses nothing; SQLite allows one."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa

from ml_connector.config import load_config
from ml_connector.delivery import DeliveryWorker, enqueue
from ml_connector.delivery.outbox import OutboxMessage
from ml_connector.runtime.service import serve
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine, migrate
from ml_connector.store.tables import channel_pacing, outbox, service_instances
from ml_connector.vault import Vault, create_key_file, load_keyring


def write_config(directory: Path, slack: SlackSimulator, port: int = 0) -> Path:
    config = directory / "ml-connector.toml"
    config.write_text(
        f"""
data_dir = "data"
[server]
port = {port}
[delivery]
post_interval = 0.2
lease_seconds = 5
[slack.workspaces.default]
api_base_url = "{slack.base_url}"
bot_token = "slack.bot_token"
"""
    )
    return config


async def prepare(
    directory: Path,
    slack: SlackSimulator,
    channel: str,
    count: int,
    *,
    url: str | None = None,
    schema: str | None = None,
) -> str:
    """The data directory, master key, Slack token and ``count`` queued messages; the
    database is SQLite in ``directory/data`` unless ``url`` (and ``schema``) say otherwise."""
    (directory / "data").mkdir()
    create_key_file(directory / "data" / "master.key")
    url = url or f"sqlite:///{directory / 'data' / 'ml-connector.db'}"
    engine = make_engine(url, schema=schema)
    await migrate(engine)
    vault = Vault(engine, load_keyring(directory / "data" / "master.key", environ={}))
    await vault.ensure_canary()
    await vault.set("slack.bot_token", slack.bot_token)
    async with engine.begin() as conn:
        for n in range(count):
            await enqueue(
                conn,
                workspace="default",
                channel=channel,
                message=OutboxMessage(text=f"message {n}", blocks=[]),
                dedupe_key=f"m{n}",
                source={},
            )
    await engine.dispose()
    return url


async def start_serve(directory: Path, *options: str) -> asyncio.subprocess.Process:
    env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ml_connector",
        *options,
        "serve",
        "--config",
        str(directory / "ml-connector.toml"),
        cwd=directory,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )


async def until_logged(proc: asyncio.subprocess.Process, text: bytes) -> bytes:
    """Read the process's log until ``text`` appears (start-up done); return what was read."""
    assert proc.stderr is not None
    seen = b""
    while text not in seen:
        line = await asyncio.wait_for(proc.stderr.readline(), 30)
        assert line, f"process ended before logging {text!r}: {seen.decode()}"
        seen += line
    return seen


async def delivered(url: str) -> int:
    engine = make_engine(url)
    async with engine.connect() as conn:
        count = await conn.scalar(sa.select(sa.func.count()).where(outbox.c.status == "delivered"))
    await engine.dispose()
    return int(count or 0)


async def test_sigterm_during_delivery_loses_nothing(tmp_path: Path) -> None:
    async with SlackSimulator(channels=["gl"], post_interval=0.2) as slack:
        channel = slack.channel_id("gl")
        write_config(tmp_path, slack)
        url = await prepare(tmp_path, slack, channel, 15)
        proc = await start_serve(tmp_path)
        # Up to 60 s: a loaded machine may take long to start serve; the loop ends at once
        # when the condition holds, so a quick run stays quick.
        for _ in range(1200):
            await asyncio.sleep(0.05)
            if len(slack.messages(channel)) >= 3:
                break
        proc.send_signal(signal.SIGTERM)
        _, stderr = await asyncio.wait_for(proc.communicate(), 30)
        assert proc.returncode == 0, stderr.decode()
        engine = make_engine(url)
        async with engine.connect() as conn:
            statuses = list(await conn.scalars(sa.select(outbox.c.status)))
            leases = list(await conn.scalars(sa.select(channel_pacing.c.lease_owner)))
            instances = await conn.scalar(sa.select(sa.func.count()).select_from(service_instances))
        await engine.dispose()
        assert "in_flight" not in statuses
        assert leases == [None]
        assert instances == 0
        assert 3 <= len(slack.messages(channel)) < 15
        proc = await start_serve(tmp_path)
        for _ in range(1200):
            await asyncio.sleep(0.05)
            if await delivered(url) == 15:
                break
        proc.send_signal(signal.SIGTERM)
        await asyncio.wait_for(proc.communicate(), 30)
        assert [m["text"] for m in slack.messages(channel)] == [f"message {n}" for n in range(15)]


async def test_second_serve_on_one_sqlite_file_refuses(tmp_path: Path) -> None:
    async with SlackSimulator(channels=["gl"]) as slack:
        write_config(tmp_path, slack)
        await prepare(tmp_path, slack, slack.channel_id("gl"), 0)
        first = await start_serve(tmp_path)
        await until_logged(first, b"web server listening")
        second = await start_serve(tmp_path)
        _, stderr = await asyncio.wait_for(second.communicate(), 30)
        first.send_signal(signal.SIGTERM)
        await asyncio.wait_for(first.communicate(), 30)
        assert second.returncode == 1
        assert "already using this SQLite database" in stderr.decode()


async def test_a_crashed_part_stops_serve_instead_of_running_on_without_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A service whose delivery has died must not keep running as if it were healthy."""

    async def crash(self: DeliveryWorker, stop: asyncio.Event | None = None) -> None:
        raise RuntimeError("delivery broke")

    monkeypatch.setattr(DeliveryWorker, "run", crash)
    async with SlackSimulator(channels=["gl"]) as slack:
        config = load_config(write_config(tmp_path, slack))
        url = await prepare(tmp_path, slack, slack.channel_id("gl"), 0)
        keyring = load_keyring(tmp_path / "data" / "master.key", environ={})
        service = serve(
            config, keyring=keyring, pipelines={}, web_enabled=False, install_signals=False
        )
        with pytest.raises(RuntimeError, match="delivery broke"):
            await asyncio.wait_for(service, 10)
    engine = make_engine(url)
    async with engine.connect() as conn:
        instances = await conn.scalar(sa.select(sa.func.count()).select_from(service_instances))
    await engine.dispose()
    assert instances == 0


async def test_logs_are_json_lines_with_log_format_json(tmp_path: Path) -> None:
    import json

    async with SlackSimulator(channels=["gl"]) as slack:
        write_config(tmp_path, slack)
        await prepare(tmp_path, slack, slack.channel_id("gl"), 0)
        proc = await start_serve(tmp_path, "--log-format", "json", "--log-level", "info")
        first = await until_logged(proc, b"web server listening")
        proc.send_signal(signal.SIGTERM)
        _, rest = await asyncio.wait_for(proc.communicate(), 30)
    assert proc.returncode == 0
    text = (first + rest).decode()
    lines = [json.loads(line) for line in text.splitlines() if line.strip()]
    events = [line["event"] for line in lines]
    assert "service starting" in events and "service stopped" in events
    assert all({"event", "level", "timestamp"} <= set(line) for line in lines)
    assert slack.bot_token not in text
