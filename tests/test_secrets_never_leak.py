"""Planted secrets, echoed back by every source in every error path, appear nowhere.

Each outside system gets an echoing front: a proxy before the Intacct gateway simulator that
answers with the request's own login (in a control failure, an HTML error page, a non-XML
body), a Sage 100 agent that repeats the ``Authorization`` header in its JSON errors, and a
proxy before the Slack simulator that repeats the bot token in 500 pages before letting the
post through. The commands run for real (``run``, ``audit``, ``status``) with JSON logs; then
the SQLite file and its WAL (kept by an open reader), every command's output and logs, and
every message the Slack simulator holds are searched for each secret, in each form an echo can
take it (raw, XML-escaped, JSON-escaped, URL-encoded).
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import re
import sqlite3
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import quote

import aiohttp
from aiohttp import web

from ml_connector.sim.http import LocalServer
from ml_connector.sim.intacct import IntacctSimulator
from ml_connector.sim.intacct.protocol import ErrorDetail, render_control_failure
from ml_connector.sim.intacct.sessions import Credentials
from ml_connector.sim.slack import SlackSimulator
from ml_connector.store import make_engine, migrate
from ml_connector.vault import Vault, create_key_file, load_keyring

# None of these has a secret's usual shape: only the vault's knowledge can mask them.
INTACCT_USER_PASSWORD = "Planted&User<Pw>-71c2e9"
INTACCT_SENDER_PASSWORD = "PlantedSenderPw-4be01d"
AGENT_KEY = "planted-agent-key-9d3f77a1"
SIGNING_SECRET = "planted-signing-secret-55e1"


class _Front(LocalServer):
    """A small aiohttp server on 127.0.0.1 whose handler the test gives."""

    def __init__(self, handler: web.Handler) -> None:
        super().__init__()
        self._handler = handler
        self.url = ""

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> object:
        self.url = await self._serve(host, port)
        return None

    def make_app(self) -> web.Application:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handler)
        return app


def _passwords(body: str) -> list[str]:
    return [html.unescape(p) for p in re.findall(r"<password>(.*?)</password>", body)]


class IntacctEcho:
    """Before the gateway: login requests answered with the login echoed, one way per run."""

    MODES = ("control_failure", "html_page", "not_xml")

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode: str | None = None
        self.fired: Counter[str] = Counter()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = (await request.read()).decode()
        if self.mode is not None and "<password>" in body:
            self.fired[self.mode] += 1
            said = " / ".join(_passwords(body))
            if self.mode == "control_failure":
                return web.Response(
                    body=render_control_failure(
                        "x",
                        "x",
                        "false",
                        [
                            ErrorDetail("XL03000006", f"Sign-in refused for {said}", body[:3000]),
                        ],
                    ),
                    content_type="application/xml",
                )
            if self.mode == "html_page":
                return web.Response(
                    status=403,
                    text=f"<html>Forbidden: {said} {body}</html>",
                    content_type="text/html",
                )
            return web.Response(text=f"proxy error: {said} {json.dumps(said)}")
        async with (
            aiohttp.ClientSession() as session,
            session.post(self.upstream, data=body.encode(), headers=dict(request.headers)) as up,
        ):
            return web.Response(
                status=up.status, body=await up.read(), content_type=up.content_type
            )


class SlackEcho:
    """Before Slack: the first posts fail with the token repeated, then pass through."""

    def __init__(self, upstream: str, failures: int) -> None:
        self.upstream = upstream.rstrip("/")
        self.failures = failures
        self.fired = 0

    async def handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        auth = request.headers.get("Authorization", "")
        if request.path.endswith("chat.postMessage") and self.fired < self.failures:
            self.fired += 1
            token = auth.removeprefix("Bearer ")
            return web.Response(
                status=500,
                text=f"<html>upstream failed for {auth} token={token} raw {token}</html>",
                content_type="text/html",
            )
        headers = {k: v for k, v in request.headers.items() if k.lower() not in ("host",)}
        async with (
            aiohttp.ClientSession() as session,
            session.post(
                self.upstream + request.path_qs[len("/api") :], data=body, headers=headers
            ) as up,
        ):
            return web.Response(
                status=up.status,
                body=await up.read(),
                headers={"Content-Type": up.headers.get("Content-Type", "application/json")},
            )


class EchoingAgent:
    """A Sage 100 agent that repeats the caller's key in every error it gives."""

    def __init__(self) -> None:
        self.fired: Counter[int] = Counter()

    async def handle(self, request: web.Request) -> web.StreamResponse:
        auth = request.headers.get("Authorization", "")
        key = auth.removeprefix("Bearer ")
        status = (400, 401, 500)[sum(self.fired.values()) % 3]
        self.fired[status] += 1
        return web.json_response(
            {
                "error": "bad_request",
                "message": f"rejected {auth!r}; key {key} {quote(key)} unknown",
                "retryable": False,
            },
            status=status,
        )


def _config(slack_url: str, gateway: str, agent: str, channels: dict[str, str]) -> str:
    return f"""data_dir = "data"
[delivery]
post_interval = 0.05
backoff_base = 0.05
backoff_max = 0.2
[slack.workspaces.default]
api_base_url = "{slack_url}"
bot_token = "slack.bot_token"
signing_secret = "slack.signing_secret"
[connections.intacct]
type = "intacct"
gateway_url = "{gateway}"
sender_id = "sender"
sender_password = "intacct.sender_password"
company_id = "acme"
user_id = "mlc_api"
user_password = "intacct.user_password"
timeout = 5.0
[connections.sage100]
type = "sage100"
agent_url = "{agent}"
company = "ABC"
auth = "api_key"
api_key = "sage100.api_key"
timeout = 5.0
[pipelines.intacct]
type = "intacct"
connection = "intacct"
[pipelines.intacct.channels]
gl = "{channels["gl"]}"
payments = "{channels["gl"]}"
alerts = "{channels["alerts"]}"
[pipelines.sage100]
type = "sage100"
connection = "sage100"
[pipelines.sage100.streams.ap_invoices]
channel = "{channels["ap"]}"
"""


async def _cli(config: Path, *args: str) -> tuple[int, str]:
    env = {**os.environ, "MLC_CONFIG": str(config), "COLUMNS": "200"}
    env.pop("MLC_MASTER_KEY", None)
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "ml_connector",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        *args,
        env=env,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(proc.communicate(), 120)
    assert proc.returncode is not None
    return proc.returncode, out.decode() + "\n" + err.decode()


def _forms(secret: str) -> set[str]:
    return {
        secret,
        html.escape(secret),
        html.escape(secret, quote=False),
        json.dumps(secret)[1:-1],
        quote(secret, safe=""),
    }


async def test_secrets_echoed_by_every_source_appear_nowhere(tmp_path: Path) -> None:
    credentials = Credentials(
        sender_id="sender",
        sender_password=INTACCT_SENDER_PASSWORD,
        company_id="acme",
        user_id="mlc_api",
        user_password=INTACCT_USER_PASSWORD,
    )
    async with (
        SlackSimulator(channels=["gl", "alerts", "ap"], post_interval=0.05) as slack,
        IntacctSimulator(seed=3, gl_entries=30, credentials=credentials) as intacct,
    ):
        intacct_echo = IntacctEcho(intacct.url)
        slack_echo = SlackEcho(slack.base_url, failures=3)
        agent = EchoingAgent()
        async with (
            _Front(intacct_echo.handle) as intacct_front,
            _Front(slack_echo.handle) as slack_front,
            _Front(agent.handle) as agent_front,
        ):
            channels = {name: slack.channel_id(name) for name in ("gl", "alerts", "ap")}
            config = tmp_path / "ml-connector.toml"
            config.write_text(
                _config(
                    slack_front.url + "/api/",
                    intacct_front.url + "/ia/xml/xmlgw.phtml",
                    agent_front.url,
                    channels,
                )
            )
            data = tmp_path / "data"
            data.mkdir()
            create_key_file(data / "master.key")
            engine = make_engine(f"sqlite:///{data / 'ml-connector.db'}")
            await migrate(engine)
            vault = Vault(engine, load_keyring(data / "master.key", environ={}))
            await vault.ensure_canary()
            planted = {
                "slack.bot_token": slack.bot_token,
                "slack.signing_secret": SIGNING_SECRET,
                "intacct.sender_password": INTACCT_SENDER_PASSWORD,
                "intacct.user_password": INTACCT_USER_PASSWORD,
                "sage100.api_key": AGENT_KEY,
            }
            for name, value in planted.items():
                await vault.set(name, value)
            await engine.dispose()
            # An open reader keeps the WAL file in place, so it is searched too.
            reader = sqlite3.connect(data / "ml-connector.db")
            reader.execute("SELECT count(*) FROM runs").fetchall()

            outputs: list[str] = []
            for mode in IntacctEcho.MODES:
                intacct_echo.mode = mode
                code, text = await _cli(config, "run", "intacct", "--wait", "--timeout", "30")
                assert code == 1, text
                outputs.append(text)
            for _ in range(3):
                code, text = await _cli(config, "run", "sage100", "--wait", "--timeout", "30")
                assert code == 1, text
                outputs.append(text)
            code, text = await _cli(config, "audit", "list")
            assert code == 0, text
            outputs.append(text)
            ids = re.findall(r"^│ (\d+) ", text, re.M)
            assert ids, text
            for outbox_id in ids[:6]:
                outputs.append((await _cli(config, "audit", "show", outbox_id))[1])
            outputs.append((await _cli(config, "status"))[1])

            stored = b"".join(
                p.read_bytes() for p in data.iterdir() if p.name.startswith("ml-connector.db")
            )
            assert (data / "ml-connector.db-wal").exists()
            reader.close()
            posted = json.dumps(
                [slack.messages(channel) for channel in channels.values()], ensure_ascii=False
            )

    # Every error path was taken, and its text did reach each sink (masked).
    assert all(intacct_echo.fired[mode] >= 1 for mode in IntacctEcho.MODES), intacct_echo.fired
    assert slack_echo.fired == 3
    assert set(agent.fired) == {400, 401, 500}, agent.fired
    alerts = slack.messages(channels["alerts"])
    assert len(alerts) >= 2
    everything = "\n".join(outputs)
    assert "***" in everything and "***" in posted and b"***" in stored
    for name, secret in planted.items():
        for form in _forms(secret):
            assert form not in everything, (name, form)
            assert form not in posted, (name, form)
            assert form.encode() not in stored, (name, form)
