"""Connection deadlines and the connection cap, on a real socket against the served app.

Timeouts are configured short (fractions of a second) so each case runs quickly; every case
measures when the server closed the connection and checks it against its own deadline.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web

from ml_connector.store import make_engine, migrate
from ml_connector.vault import Vault
from ml_connector.web import create_app
from ml_connector.web.app import app_runner
from ml_connector.web.guard import GuardedAppRunner, Phase

from .conftest import SIGNING_REF, SIGNING_SECRET, FakeRunner, event_body, make_config, sign

HEADER = 0.6
BODY = 0.8
IDLE = 0.7
SLACK = 0.5  # scheduling slack on a loaded 2-core machine


class Served:
    def __init__(self, runner: GuardedAppRunner, port: int, release: asyncio.Event) -> None:
        self.runner = runner
        self.port = port
        self.release = release  # lets /test/hold return

    async def connect(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        return await asyncio.open_connection("127.0.0.1", self.port)


StartServed = Callable[..., Any]


@pytest.fixture
async def start_served(tmp_path: Path) -> AsyncIterator[StartServed]:
    engine = make_engine(f"sqlite:///{tmp_path / 'guard.db'}")
    await migrate(engine)
    vault = Vault.ephemeral(engine)
    await vault.set(SIGNING_REF, SIGNING_SECRET)
    runners: list[GuardedAppRunner] = []

    async def start(**server: Any) -> Served:
        limits = {
            "header_timeout": HEADER,
            "body_timeout": BODY,
            "idle_timeout": IDLE,
            **server,
        }
        config = make_config(**limits)
        app = create_app(config, engine, vault, FakeRunner(), freeze_gc=False)
        release = asyncio.Event()

        async def hold(_request: web.Request) -> web.Response:
            await release.wait()
            return web.Response(text="held")

        app.router.add_get("/test/hold", hold)
        runner = app_runner(app, config)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        runners.append(runner)
        return Served(runner, runner.addresses[0][1], release)

    yield start
    for runner in runners:
        await runner.cleanup()
    await engine.dispose()


async def closed_after(reader: asyncio.StreamReader, started: float, limit: float) -> bytes:
    """Everything the server sends until it closes; fails if it keeps the socket past limit."""
    data = await asyncio.wait_for(reader.read(), timeout=limit)
    assert reader.at_eof()
    del started
    return data


def signed_event_request(extra: str = "") -> tuple[bytes, bytes]:
    """The head and body of a signed POST /slack/events, to send in parts."""
    body = event_body()
    headers = {"Content-Type": "application/json", **sign(body)}
    head = (
        f"POST /slack/events HTTP/1.1\r\nHost: x\r\n{extra}"
        + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        + f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    return head, body


async def test_a_connection_that_sends_nothing_is_closed_after_the_header_timeout(
    start_served: StartServed,
) -> None:
    served = await start_served()
    started = time.monotonic()
    reader, writer = await served.connect()
    data = await closed_after(reader, started, HEADER + SLACK)
    elapsed = time.monotonic() - started
    assert HEADER - 0.05 <= elapsed <= HEADER + SLACK
    assert data == b""
    writer.close()


async def test_half_headers_get_408_and_are_closed_after_the_header_timeout(
    start_served: StartServed,
) -> None:
    served = await start_served()
    reader, writer = await served.connect()
    started = time.monotonic()
    writer.write(b"POST /slack/events HTTP/1.1\r\nHost: x\r\nContent-Le")
    await writer.drain()
    data = await closed_after(reader, started, HEADER + SLACK)
    assert time.monotonic() - started >= HEADER - 0.05
    assert data.startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_headers_trickled_byte_by_byte_still_hit_the_deadline(
    start_served: StartServed,
) -> None:
    served = await start_served()
    reader, writer = await served.connect()
    started = time.monotonic()
    request = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: " + b"a" * 200

    async def trickle() -> None:
        for byte in request:
            writer.write(bytes([byte]))
            await asyncio.sleep(0.02)

    sender = asyncio.create_task(trickle())
    data = await closed_after(reader, started, HEADER + SLACK)
    sender.cancel()
    assert data.startswith(b"HTTP/1.1 408 ")
    writer.close()


async def test_half_a_body_gets_408_after_the_body_timeout(start_served: StartServed) -> None:
    served = await start_served()
    head, body = signed_event_request()
    reader, writer = await served.connect()
    writer.write(head + body[: len(body) // 2])
    await writer.drain()
    started = time.monotonic()
    data = await closed_after(reader, started, BODY + SLACK + 1.0)
    elapsed = time.monotonic() - started
    assert BODY - 0.05 <= elapsed <= BODY + SLACK
    assert data.startswith(b"HTTP/1.1 408 "), data[:200]
    assert b"took too long" in data
    writer.close()


async def test_a_kept_alive_connection_closes_after_the_idle_timeout(
    start_served: StartServed,
) -> None:
    served = await start_served()
    reader, writer = await served.connect()
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await writer.drain()
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    started = time.monotonic()
    # A second request on the same connection within the idle time is served.
    await asyncio.sleep(IDLE / 3)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await reader.readuntil(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    await reader.readexactly(int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0]))
    started = time.monotonic()
    await closed_after(reader, started, IDLE + SLACK)
    assert time.monotonic() - started >= IDLE - 0.05
    writer.close()


async def test_a_complete_request_is_unaffected(start_served: StartServed) -> None:
    served = await start_served()
    head, body = signed_event_request("Connection: close\r\n")
    reader, writer = await served.connect()
    writer.write(head + body)
    data = await asyncio.wait_for(reader.read(), 5)
    assert data.startswith(b"HTTP/1.1 200 ")
    writer.close()


async def test_at_the_cap_the_oldest_idle_connection_is_shed_first(
    start_served: StartServed,
) -> None:
    served = await start_served(max_connections=3, header_timeout=30.0, idle_timeout=30.0)
    # One connection kept alive after a request (idle), then two that sent part of a request.
    idle_r, idle_w = await served.connect()
    idle_w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    await idle_r.readuntil(b"\r\n\r\n")
    stalled = []
    for _ in range(2):
        r, w = await served.connect()
        w.write(b"GET /healthz HTTP/1.1\r\nHost")
        await w.drain()
        stalled.append((r, w))
    await asyncio.sleep(0.1)
    assert served.runner.tracker.phases()[Phase.IDLE] == 1
    # A fourth connection: the idle one goes, though it is not the oldest connection.
    new_r, new_w = await served.connect()
    new_w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert (await asyncio.wait_for(new_r.read(), 5)).startswith(b"HTTP/1.1 200 ")
    assert await asyncio.wait_for(idle_r.read(), 2) is not None
    assert idle_r.at_eof()
    # The stalled ones are still open. A silent new connection fills the cap again; the next
    # one sheds it (idle since connecting) before any connection that sent something.
    for r, _w in stalled:
        assert not r.at_eof()
    silent_r, silent_w = await served.connect()
    await asyncio.sleep(0.05)

    async def one_request() -> None:
        r, w = await served.connect()
        w.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert (await asyncio.wait_for(r.read(), 5)).startswith(b"HTTP/1.1 200 ")
        w.close()

    await one_request()
    await asyncio.wait_for(silent_r.read(), 2)
    assert silent_r.at_eof()
    assert not any(r.at_eof() for r, _w in stalled)
    # Three stalled connections fill the cap: the oldest of them makes room.
    r, w = await served.connect()
    w.write(b"GET /healthz HTTP/1.1\r\nHost")
    await w.drain()
    stalled.append((r, w))
    await asyncio.sleep(0.05)
    await one_request()
    await asyncio.wait_for(stalled[0][0].read(), 2)
    assert stalled[0][0].at_eof()
    assert not stalled[1][0].at_eof() and not stalled[2][0].at_eof()
    for _r, w in [*stalled, (idle_r, idle_w), (new_r, new_w), (silent_r, silent_w)]:
        w.close()


async def test_at_the_cap_with_every_connection_busy_a_new_one_gets_503(
    start_served: StartServed,
) -> None:
    served = await start_served(max_connections=2)
    busy = []
    for _ in range(2):
        r, w = await served.connect()
        w.write(b"GET /test/hold HTTP/1.1\r\nHost: x\r\n\r\n")
        await w.drain()
        busy.append((r, w))
    await asyncio.sleep(0.1)
    assert served.runner.tracker.phases()[Phase.BUSY] == 2
    r, w = await served.connect()
    assert (await asyncio.wait_for(r.read(), 2)).startswith(b"HTTP/1.1 503 ")
    w.close()
    served.release.set()
    for r, w in busy:
        head = await asyncio.wait_for(r.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200 ")
        w.close()
