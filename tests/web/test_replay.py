"""A signed slash command sent again within the signature window is not acted on again,
whichever process (app sharing the database) receives the copy."""

from __future__ import annotations

import json
import time

from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.web.replay_guard import ReplayGuard

from .conftest import FakeRunner, ServerFactory, sign
from .test_commands import command_body

COMMANDS = "/slack/commands"


async def test_a_replayed_run_is_refused_by_the_same_and_another_process(
    start_server: ServerFactory,
) -> None:
    runner = FakeRunner()
    first = await start_server(runner=runner)
    second = await start_server(runner=runner)  # another process on the same database
    body = command_body("run intacct")
    headers = {"Content-Type": "application/x-www-form-urlencoded", **sign(body)}
    status, answer, _ = await first.post(COMMANDS, body, headers)
    assert status == 200
    assert "Queued a run" in json.loads(answer)["text"]
    for server in (first, second, first):
        status, answer, _ = await server.post(COMMANDS, body, headers)
        assert status == 200
        assert "already received" in json.loads(answer)["text"]
    assert runner.calls == [("intacct", "slack")]
    # The same command typed again is a new request (new timestamp), and runs.
    later = {"Content-Type": "application/x-www-form-urlencoded"}
    later.update(sign(body, timestamp=int(time.time()) + 1))
    status, answer, _ = await second.post(COMMANDS, body, later)
    assert "Queued a run" in json.loads(answer)["text"]
    assert len(runner.calls) == 2


async def test_replayed_signatures_expire_with_the_window(engine: AsyncEngine) -> None:
    guard = ReplayGuard(engine)
    now = time.time()
    assert await guard.first_sighting("v0=aa", str(int(now)), "commands", now)
    assert not await guard.first_sighting("V0=AA", str(int(now)), "commands", now + 299)
    # Long after the window the row is swept, and the old timestamp is refused by the
    # signature check anyway; the guard itself forgets it.
    guard._swept = 0.0
    assert await guard.first_sighting("v0=bb", str(int(now)), "commands", now + 2000)
    assert await guard.first_sighting("v0=aa", str(int(now + 2000)), "commands", now + 2000)


async def test_a_database_too_slow_to_record_the_signature_means_nothing_is_run(
    start_server: ServerFactory,
) -> None:
    import asyncio

    from ml_connector.web.context import CONTEXT

    class Stuck(ReplayGuard):
        async def first_sighting(self, *args: object) -> bool:
            await asyncio.sleep(5)
            return True

    runner = FakeRunner()
    server = await start_server(runner=runner)
    server.app[CONTEXT].replays = Stuck(server.engine)
    started = time.monotonic()
    body = command_body("run intacct")
    status, answer, _ = await server.post_signed(COMMANDS, body)
    assert status == 200
    assert "busy" in json.loads(answer)["text"]
    assert time.monotonic() - started < 2.0
    assert runner.calls == []
