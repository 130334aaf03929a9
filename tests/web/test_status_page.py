"""``GET /``: behind auth, escaped, and never showing a secret."""

from __future__ import annotations

import base64
import re
import time

import aiohttp
import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.outbox import OutboxMessage, enqueue
from ml_connector.schedule.runs import finish_run, try_start_run
from ml_connector.slack.installations import save_installation
from ml_connector.store.engine import is_sqlite
from ml_connector.vault import Vault

from .conftest import (
    SIGNING_SECRET,
    STATUS_PASSWORD,
    STATUS_TOKEN,
    Server,
    ServerFactory,
    make_config,
)

BOT_TOKEN = "xoxb-1234567890-abcdefghijklmnop"


def basic(user: str, password: str) -> dict[str, str]:
    raw = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {raw}"}


@pytest.fixture
async def page_server(start_server: ServerFactory) -> Server:
    config = make_config(
        status_token="web.status_token",
        status_user="finance",
        status_password="web.status_password",
    )
    server: Server = await start_server(config=config)
    return server


async def seed(engine: AsyncEngine, vault: Vault) -> None:
    await vault.set("slack.default.bot_token", BOT_TOKEN)
    async with engine.begin() as conn:
        await save_installation(
            conn,
            workspace="default",
            team_id="T0TEAM0001",
            team_name="Acme <Corp>",
            bot_token_secret="slack.default.bot_token",
        )
        await enqueue(
            conn,
            workspace="default",
            channel="C0GL000001",
            message=OutboxMessage(text="GL summary", blocks=[]),
            dedupe_key="k1",
            source={"batch": 1},
            pipeline="intacct",
            kind="gl_summary",
        )
    run_id = await try_start_run(engine, "intacct", "schedule", "t", now=time.time() - 30)
    assert run_id is not None
    await finish_run(
        engine,
        run_id,
        "failed",
        0,
        0,
        f"<script>alert(1)</script> Slack said token={BOT_TOKEN}",
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer wrong-token"},
        {"Authorization": f"Bearer {STATUS_TOKEN}x"},
        basic("finance", "wrong"),
        basic("someone", STATUS_PASSWORD),
        {"Authorization": "Basic !!!not-base64"},
        {"Authorization": "Digest whatever"},
    ],
)
async def test_the_page_needs_credentials(page_server: Server, headers: dict[str, str]) -> None:
    status, text, answer_headers = await page_server.get("/", headers)
    assert status == 401
    assert "intacct" not in text
    assert (
        "Basic" in answer_headers["WWW-Authenticate"]
        or "Bearer" in answer_headers["WWW-Authenticate"]
    )


async def test_a_browser_without_credentials_is_sent_to_the_login_form(
    page_server: Server,
) -> None:
    # No Authorization header: a browser, which cannot answer a Bearer challenge (#23).
    status, text, headers = await page_server.get("/", {})
    assert status == 303 and headers["Location"] == "/login" and "intacct" not in text
    status, text, _ = await page_server.get("/login", {})
    assert status == 200 and 'action="/login"' in text and "intacct" not in text


async def test_without_configured_credentials_the_page_is_off(server: Server) -> None:
    status, text, _ = await server.get("/", {"Authorization": f"Bearer {STATUS_TOKEN}"})
    assert status == 403
    assert "status_token" in text


@pytest.mark.parametrize(
    "headers",
    [{"Authorization": f"Bearer {STATUS_TOKEN}"}, basic("finance", STATUS_PASSWORD)],
)
async def test_the_page_shows_the_service_and_no_secret(
    page_server: Server, engine: AsyncEngine, vault: Vault, headers: dict[str, str]
) -> None:
    await seed(engine, vault)
    status, text, answer_headers = await page_server.get("/", headers)
    assert status == 200
    assert answer_headers["Content-Type"].startswith("text/html")
    assert "default-src 'none'" in answer_headers["Content-Security-Policy"]
    for expected in ("intacct", "C0GL000001", "gl_summary", "failed", "Acme &lt;Corp&gt;"):
        assert expected in text, expected
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text
    assert "<script" not in text
    for secret in (BOT_TOKEN, SIGNING_SECRET, STATUS_TOKEN, STATUS_PASSWORD):
        assert secret not in text


async def test_the_page_and_the_dashboard_show_the_database_size(
    page_server: Server, engine: AsyncEngine, vault: Vault
) -> None:
    await seed(engine, vault)
    status, text, _ = await page_server.get("/", {"Authorization": f"Bearer {STATUS_TOKEN}"})
    assert status == 200
    backend = "SQLite file + write-ahead log" if is_sqlite(engine) else "pg_total_relation_size"
    size = re.search(r'id="database-size">([\d.]+) (B|KiB|MiB) \(', text)
    assert size and float(size.group(1)) > 0, text
    assert backend in text
    assert "delivered messages kept 90 days; none pruned yet" in text

    login = aiohttp.FormData({"user": "finance", "password": STATUS_PASSWORD})
    async with page_server.client.post(
        page_server.url + "/login", data=login, allow_redirects=False
    ) as answer:
        assert answer.status == 303
        cookie = answer.headers["Set-Cookie"].split(";", 1)[0]
    status, text, _ = await page_server.get("/", {"Cookie": cookie})
    assert status == 200 and 'id="database-size">Database: ' in text and backend in text
