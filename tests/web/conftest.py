"""A real ml-connector web server on a free port, a signed-request helper and a fake runner."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
import sqlalchemy as sa
from aiohttp import web
from slack_sdk.signature import SignatureVerifier
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.pipeline import RunOutcome
from ml_connector.slack.signing import signed_headers
from ml_connector.store.tables import metadata
from ml_connector.vault import Vault
from ml_connector.web import create_app

SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
SIGNING_REF = "slack.default.signing_secret"
STATUS_TOKEN = "status-token-0123456789abcdef"
STATUS_PASSWORD = "correct horse battery staple"
ALLOWED_USER = "U0ALLOWED1"
ALLOWED_CHANNEL = "C0ALLOWED1"
OTHER_USER = "U0STRANGER"
OTHER_CHANNEL = "C0ELSEWHERE"
TEAM_ID = "T0TEAM0001"


def config_data(**server: Any) -> dict[str, Any]:
    return {
        "timezone": "America/Chicago",
        "public_base_url": "https://mlc.example.com",
        "server": server,
        "slack": {
            "workspaces": {
                "default": {
                    "signing_secret": SIGNING_REF,
                    "allowed_users": [ALLOWED_USER],
                    "allowed_channels": [ALLOWED_CHANNEL],
                }
            }
        },
        "connections": {
            "intacct-prod": {
                "type": "intacct",
                "sender_id": "sender",
                "sender_password": "intacct.sender_password",
                "company_id": "ACME",
                "user_id": "api",
                "user_password": "intacct.user_password",
            }
        },
        "pipelines": {
            "intacct": {
                "type": "intacct",
                "connection": "intacct-prod",
                "channels": {"gl": "C0GL000001", "payments": "C0PAY00001", "alerts": "C0ALERT001"},
            }
        },
    }


def make_config(**server: Any) -> Config:
    return Config.model_validate(config_data(**server))


@dataclass
class FakeRunner:
    """Stands in for the runtime: takes ``delay`` seconds and reports a fixed outcome."""

    delay: float = 0.0
    outcome: RunOutcome = field(
        default_factory=lambda: RunOutcome(
            status="succeeded", records_read=12, messages_queued=3, summary="3 summaries queued"
        )
    )
    calls: list[tuple[str, str]] = field(default_factory=list)
    finished: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, pipeline: str, trigger: str) -> RunOutcome:
        self.calls.append((pipeline, trigger))
        await asyncio.sleep(self.delay)
        self.finished.set()
        return self.outcome


def sign(
    body: bytes, *, secret: str = SIGNING_SECRET, timestamp: int | None = None
) -> dict[str, str]:
    """Headers as Slack sends them, made by slack_sdk's own SignatureVerifier.

    slack_sdk only signs UTF-8 bodies; for the odd non-UTF-8 body (to test that it is refused
    after verification) our own signer stands in.
    """
    stamp = int(time.time()) if timestamp is None else timestamp
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return signed_headers(secret, stamp, body)
    verifier = SignatureVerifier(secret)
    return {
        "X-Slack-Request-Timestamp": str(stamp),
        "X-Slack-Signature": verifier.generate_signature(timestamp=str(stamp), body=body),
    }


class Server:
    """The running app and a client session pointed at it."""

    def __init__(self, app: web.Application, runner: FakeRunner, engine: AsyncEngine) -> None:
        self.app = app
        self.fake = runner
        self.engine = engine
        self._runner = web.AppRunner(app)
        self.url = ""
        self.http: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        host, port = self._runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.http = aiohttp.ClientSession()

    async def stop(self) -> None:
        if self.http is not None:
            await self.http.close()
        await self._runner.cleanup()

    @property
    def client(self) -> aiohttp.ClientSession:
        assert self.http is not None
        return self.http

    async def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None
    ) -> tuple[int, bytes, dict[str, str]]:
        async with self.client.post(self.url + path, data=body, headers=headers or {}) as answer:
            return answer.status, await answer.read(), dict(answer.headers)

    async def post_signed(
        self, path: str, body: bytes, extra: dict[str, str] | None = None, **sign_args: Any
    ) -> tuple[int, bytes, dict[str, str]]:
        content_type = (
            "application/json" if path.endswith("events") else "application/x-www-form-urlencoded"
        )
        headers = {"Content-Type": content_type, **sign(body, **sign_args), **(extra or {})}
        return await self.post(path, body, headers)

    async def get(
        self, path: str, headers: dict[str, str] | None = None
    ) -> tuple[int, str, dict[str, str]]:
        async with self.client.get(
            self.url + path, headers=headers or {}, allow_redirects=False
        ) as answer:
            return answer.status, await answer.text(), dict(answer.headers)


ServerFactory = Callable[..., Any]


@pytest.fixture
async def vault(engine: AsyncEngine) -> Vault:
    vault = Vault.ephemeral(engine)
    await vault.set(SIGNING_REF, SIGNING_SECRET)
    await vault.set("web.status_token", STATUS_TOKEN)
    await vault.set("web.status_password", STATUS_PASSWORD)
    return vault


@pytest.fixture
async def start_server(engine: AsyncEngine, vault: Vault) -> AsyncIterator[ServerFactory]:
    """``await start_server(config=..., runner=...)``: a server, stopped after the test."""
    servers: list[Server] = []

    async def start(
        config: Config | None = None, runner: FakeRunner | None = None, **app_args: Any
    ) -> Server:
        fake = runner or FakeRunner()
        app = create_app(config or make_config(), engine, vault, fake, freeze_gc=False, **app_args)
        server = Server(app, fake, engine)
        await server.start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
async def server(start_server: ServerFactory) -> Server:
    started: Server = await start_server()
    return started


async def database_dump(engine: AsyncEngine) -> str:
    """Every row of every table: compared before and after to show nothing changed."""
    async with engine.connect() as conn:
        parts = []
        for table in metadata.sorted_tables:
            rows = (await conn.execute(sa.select(table))).all()
            parts.append(f"{table.name}: {rows!r}")
    return "\n".join(parts)


def event_body(
    event_id: str = "Ev0TEST0001", event_type: str = "app_mention", **event: Any
) -> bytes:
    return json.dumps(
        {
            "token": "legacy-verification-token",
            "team_id": TEAM_ID,
            "api_app_id": "A0APP00001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": event_type, **event},
        }
    ).encode()
