"""Faults: Sage 100 record locks, the agent going down, the process dying before its commit."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from ml_connector.sage100.agent_client.client import RetryPolicy
from ml_connector.store.tables import record_states
from ml_connector.vault import ENV_VAR
from ml_connector_agent.config import load_config
from ml_connector_agent.server import start_agent

from .world import World, add_invoices, mentioning

SCRIPT = Path(__file__).with_name("poll_process.py")


async def test_record_locked_three_times_then_data_succeeds(world: World) -> None:
    [key] = await add_invoices(world, [Decimal("42.00")])
    reads_before = world.agent.backend.reads
    await world.agent.backend.inject_locks(3)  # lock_attempts = 1: three 503 record_locked
    outcome = await world.poll("ap_invoices")
    assert outcome.status == "succeeded", outcome.error
    assert world.agent.backend.reads - reads_before == 4
    await world.deliver()
    assert len(mentioning(world, "ap", key)) == 1


async def test_locked_for_longer_than_the_retries_fails_cleanly(world: World) -> None:
    await add_invoices(world, [Decimal("42.00")])
    await world.poll("ap_invoices")
    cursor = await world.cursor("ap_invoices")
    world.clock.advance(minutes=1)
    await add_invoices(world, [Decimal("43.00")])
    await world.agent.backend.inject_locks(50)
    pipeline = world.pipeline(retry=RetryPolicy(attempts=3, base_delay=0.01, max_delay=0.02))
    outcome = await world.poll("ap_invoices", pipeline=pipeline)
    assert outcome.status == "failed"
    assert outcome.error is not None and "record_locked" in outcome.error
    assert "in use by another user" in outcome.error
    assert await world.cursor("ap_invoices") == cursor


async def _restart_agent(world: World, port: int) -> Any:
    config = load_config(world.agent.config_path)
    config = config.model_copy(update={"server": config.server.model_copy(update={"port": port})})
    server, _ = await start_agent(
        config,
        config_path=world.agent.config_path,
        backend=world.agent.backend,
        environ={config.tls.key_passphrase_env: world.agent.passphrase.decode()},
    )
    return server


async def test_agent_down_fails_cleanly_and_the_next_poll_catches_up(world: World) -> None:
    first = await add_invoices(world, [Decimal("1.00")])
    assert (await world.poll("ap_invoices")).status == "succeeded"
    cursor = await world.cursor("ap_invoices")

    port = world.agent.server.port
    await world.agent.server.stop()
    world.clock.advance(minutes=10)
    during = await add_invoices(world, [Decimal("2.00"), Decimal("3.00")])
    outcome = await world.poll()
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert f"cannot reach the Sage 100 agent at {world.agent.url}" in outcome.error
    assert outcome.error.count("cannot reach") == 4  # every stream says so, none is skipped
    assert outcome.messages_queued == 0
    assert await world.cursor("ap_invoices") == cursor
    assert await world.outbox_count() == 1

    server = await _restart_agent(world, port)
    try:
        world.clock.advance(minutes=10)
        after = await add_invoices(world, [Decimal("4.00")])
        caught_up = await world.poll()
        assert caught_up.status == "succeeded", caught_up.error
    finally:
        await server.stop()
    await world.deliver()
    for key in first + during + after:
        assert len(mentioning(world, "ap", key)) == 1, key
    assert len(world.messages("ap")) == 4


async def test_crash_before_commit_leaves_no_trace_and_the_rerun_posts_once(world: World) -> None:
    keys = await add_invoices(world, [Decimal("5.00"), Decimal("6.00")])
    crash = RuntimeError("process died here")
    statements: list[str] = []

    def die_on_cursor_write(_c: Any, _cur: Any, statement: str, *_a: Any) -> None:
        statements.append(statement.split("(")[0].strip())
        if statement.lstrip().startswith("INSERT INTO cursors"):
            raise crash

    sa.event.listen(world.engine.sync_engine, "before_cursor_execute", die_on_cursor_write)
    try:
        with pytest.raises(RuntimeError) as caught:
            await world.poll("ap_invoices")
    finally:
        sa.event.remove(world.engine.sync_engine, "before_cursor_execute", die_on_cursor_write)
    assert caught.value is crash
    assert "INSERT INTO outbox" in statements  # the messages were written, then rolled back
    assert await world.outbox_count() == 0
    assert await world.cursor("ap_invoices") is None
    async with world.engine.connect() as conn:
        assert await conn.scalar(sa.select(sa.func.count()).select_from(record_states)) == 0

    assert (await world.poll("ap_invoices", pipeline=world.pipeline())).messages_queued == 2
    await world.deliver()
    for key in keys:
        assert len(mentioning(world, "ap", key)) == 1


async def test_killed_between_reading_and_committing_posts_every_record_once(
    world: World, database: Any
) -> None:
    backend = world.agent.backend
    invoices = await add_invoices(world, [Decimal("7.00"), Decimal("8.00"), Decimal("9.00")])
    po = await backend.add_purchase_order(line_amounts=[Decimal("12.00")])
    journal, register, _ = await backend.add_gl_register(line_count=4)
    config_file = world.tmp_path / "ml-connector.toml"

    # Write statements counted from the start of each process's poll: the first kill lands in
    # the AP stream's transaction, the second after AP committed, the third in the GL stream.
    codes = []
    for kill_at in (1, 9, 4):
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            str(SCRIPT),
            database.url,
            database.schema or "-",
            str(config_file),
            str(kill_at),
            env={**os.environ, ENV_VAR: ",".join(k.decode() for k in world.vault.keyring.keys)},
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        _, err = await asyncio.wait_for(proc.communicate(), 60)
        codes.append(proc.returncode)
        assert proc.returncode in (0, -signal.SIGKILL), err.decode()
    assert codes == [-signal.SIGKILL] * 3
    assert 0 < await world.outbox_count() < 5  # some streams committed before a later kill

    # "Restart": a new process (here, a new pipeline) polls until nothing is left.
    outcome = await world.poll(pipeline=world.pipeline())
    assert outcome.status == "succeeded", outcome.error
    await world.deliver()
    for key in invoices:
        assert len(mentioning(world, "ap", key)) == 1, key
    assert len(mentioning(world, "po", po)) == 1
    assert len(mentioning(world, "gl", f"{journal}-{register}")) == 1
    assert world.total_posted() == 5
    assert (await world.poll(pipeline=world.pipeline())).messages_queued == 0
