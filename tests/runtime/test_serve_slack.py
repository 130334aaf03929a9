"""`/mlc run` through a real `serve`: signed command → queued answer → run → response_url."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import sqlalchemy as sa
from aiohttp import web
from slack_sdk.signature import SignatureVerifier

from ml_connector.config import load_config
from ml_connector.delivery import DeliverySettings
from ml_connector.runtime.demo import demo_world, store_secrets
from ml_connector.runtime.service import serve
from ml_connector.vault import Vault, load_keyring

USER = "U0TESTER01"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def _until_no_run_is_running(db_url: str) -> None:
    from ml_connector.store import make_engine
    from ml_connector.store.tables import runs

    engine = make_engine(db_url)
    try:
        idle_since = time.monotonic()
        deadline = idle_since + 30
        while time.monotonic() < deadline:
            async with engine.connect() as conn:
                busy = await conn.scalar(
                    sa.select(sa.func.count()).select_from(runs).where(runs.c.status == "running")
                )
            if busy:
                idle_since = time.monotonic()
            elif time.monotonic() - idle_since >= 1.0:
                return
            await asyncio.sleep(0.1)
    finally:
        await engine.dispose()


async def test_mlc_run_through_serve(tmp_path: Path) -> None:
    replies: asyncio.Queue[dict[str, Any]] = asyncio.Queue()

    async def response_url(request: web.Request) -> web.Response:
        await replies.put(await request.json())
        return web.Response(text="ok")

    hook = web.Application()
    hook.router.add_post("/hook", response_url)
    hook_runner = web.AppRunner(hook)
    await hook_runner.setup()
    hook_port = free_port()
    await web.TCPSite(hook_runner, "127.0.0.1", hook_port).start()

    port = free_port()
    async with demo_world(tmp_path, port=port) as world:
        text = world.config_path.read_text().replace(
            'signing_secret = "slack.signing_secret"',
            f'signing_secret = "slack.signing_secret"\nallowed_users = ["{USER}"]',
        )
        world.config_path.write_text(text)
        config = load_config(world.config_path)
        await store_secrets(config, world)
        await world.agent.backend.add_ap_invoice()
        from ml_connector.store import make_engine

        engine = make_engine(config.db_url)
        secret = await Vault(engine, load_keyring(config.key_file, environ={})).get(
            "slack.signing_secret"
        )
        await engine.dispose()
        stop = asyncio.Event()
        service = asyncio.create_task(
            serve(
                config,
                stop=stop,
                install_signals=False,
                delivery=DeliverySettings(post_interval=0.2, idle_poll=0.05),
            )
        )
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as http:
            for _ in range(100):
                try:
                    async with http.get(f"{base}/healthz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)
            # serve's scheduler may start a catch-up run of sage100 right away; a /mlc run
            # that overlaps it is refused ("already running", the right answer), so the
            # command is sent once the start-up runs are over (no running row for 1 s).
            await _until_no_run_is_running(config.db_url)
            body = urlencode(
                {
                    "command": "/mlc",
                    "text": "run sage100",
                    "user_id": USER,
                    "channel_id": world.slack.channel_id("ap-invoices"),
                    "team_id": world.slack.team_id,
                    "response_url": f"http://127.0.0.1:{hook_port}/hook",
                    "trigger_id": "1.2.3",
                }
            )
            timestamp = str(int(time.time()))
            headers = {
                "Content-Type": "application/x-www-form-urlencoded",
                "X-Slack-Request-Timestamp": timestamp,
                "X-Slack-Signature": SignatureVerifier(secret).generate_signature(
                    timestamp=timestamp, body=body
                ),
            }
            started = time.monotonic()
            async with http.post(f"{base}/slack/commands", data=body, headers=headers) as resp:
                answer = await resp.text()
                status = resp.status
            acked_in = time.monotonic() - started
            result = await asyncio.wait_for(replies.get(), 60)
        for _ in range(100):
            if world.slack.messages(world.slack.channel_id("ap-invoices")):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(service, 60)
    await hook_runner.cleanup()
    assert status == 200 and acked_in < 3.0
    assert "sage100" in answer
    assert "succeeded" in str(result)
    assert world.slack.messages(world.slack.channel_id("ap-invoices"))
