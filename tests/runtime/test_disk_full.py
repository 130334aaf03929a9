"""The disk fills up under a running service, then space is freed again.

The database lives on a tiny tmpfs (mounted here when the machine allows it; the test is
skipped where it does not, e.g. without CAP_SYS_ADMIN). While the disk is full, `serve` keeps
running and a command fails with one clear line; once space is freed, delivery resumes within
10 s and every message is in the channel exactly once, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from ml_connector.sim.slack import SlackSimulator

from .test_serve import prepare, start_serve, until_logged

MESSAGES = 16


@contextlib.contextmanager
def tiny_disk(path: Path) -> Iterator[Path]:
    """A 6 MB tmpfs at ``path`` (root only; the test is skipped where it cannot be mounted)."""
    path.mkdir()
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=6m", "tmpfs", str(path)],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.fixture
def tiny_fs(tmp_path: Path) -> Iterator[Path]:
    with tiny_disk(tmp_path / "tiny") as mount:
        yield mount


def fill(directory: Path) -> Path:
    """Write a file until the file system has no byte left."""
    filler = directory / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        for size in (1 << 16, 1 << 12, 1 << 9, 1):
            chunk = b"\0" * size
            try:
                while True:
                    os.write(fd, chunk)
            except OSError as exc:
                assert exc.errno == errno.ENOSPC
    finally:
        os.close(fd)
    return filler


def write_config(directory: Path, slack: SlackSimulator) -> None:
    (directory / "ml-connector.toml").write_text(
        f"""
data_dir = "data"
[server]
port = 0
# Beats every half second: a heartbeat that stopped serve on the full disk shows at once.
instance_heartbeat = 0.5
[delivery]
post_interval = 0.2
lease_seconds = 30
history_interval = 0.5
backoff_base = 0.2
backoff_max = 1.0
[slack.workspaces.default]
api_base_url = "{slack.base_url}"
bot_token = "slack.bot_token"
"""
    )


async def test_disk_full_then_freed_loses_and_repeats_nothing(tiny_fs: Path) -> None:
    async with SlackSimulator(channels=["gl"], post_interval=0.2, history_interval=0.5) as slack:
        channel = slack.channel_id("gl")
        write_config(tiny_fs, slack)
        await prepare(tiny_fs, slack, channel, MESSAGES)
        proc = await start_serve(tiny_fs)
        try:
            await until_logged(proc, b"web server listening")
            while len(slack.messages(channel)) < 3:
                await asyncio.sleep(0.05)
            filler = fill(tiny_fs)
            await asyncio.sleep(2)
            assert proc.returncode is None, "serve stopped when the disk filled"

            # A command meanwhile: one line naming the problem, a non-zero exit.
            command = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "ml_connector",
                "secrets",
                "set",
                "some.secret",
                "--config",
                str(tiny_fs / "ml-connector.toml"),
                stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.PIPE,
                env={k: v for k, v in os.environ.items() if k != "MLC_MASTER_KEY"},
            )
            _, err = await asyncio.wait_for(command.communicate(b"a-value-123456"), 60)
            assert command.returncode == 1, err
            lines = [line for line in err.decode().splitlines() if line.strip()]
            assert "Traceback" not in err.decode()
            assert lines[-1].startswith("error: database error:"), lines
            assert "full" in lines[-1] and "free space" in lines[-1]

            at_full = len(slack.messages(channel))
            filler.unlink()
            freed = time.monotonic()
            while len(slack.messages(channel)) <= at_full:
                assert time.monotonic() - freed < 10, "delivery did not resume within 10 s"
                await asyncio.sleep(0.05)
            resumed = time.monotonic() - freed
            while len(slack.messages(channel)) < MESSAGES:
                assert time.monotonic() - freed < 60
                await asyncio.sleep(0.1)
            await asyncio.sleep(1)
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(proc.communicate(), 30)
        texts = [m["text"] for m in slack.messages(channel)]
        assert texts == [f"message {n}" for n in range(MESSAGES)], texts
        assert proc.returncode == 0
        print(f"delivery resumed {resumed:.2f} s after space was freed")
