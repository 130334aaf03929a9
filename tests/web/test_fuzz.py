"""Whatever arrives, signed or not, the Slack endpoints never answer with a 5xx."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp import web
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.slack.signing import signed_headers
from ml_connector.store import make_engine, migrate
from ml_connector.vault import Vault
from ml_connector.web import create_app

from .conftest import SIGNING_REF, SIGNING_SECRET, FakeRunner, make_config


class ThreadedServer:
    """The app on its own loop in a thread, so synchronous Hypothesis tests can call it."""

    def __init__(self, db: Path) -> None:
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.url = ""

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout=30)

    async def _start(self) -> None:
        self.engine = make_engine(f"sqlite:///{self.db}")
        await migrate(self.engine)
        vault = Vault.ephemeral(self.engine)
        await vault.set(SIGNING_REF, SIGNING_SECRET)
        self.runner = web.AppRunner(
            create_app(make_config(), self.engine, vault, FakeRunner(), freeze_gc=False)
        )
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        host, port = self.runner.addresses[0][:2]
        self.url = f"http://{host}:{port}"
        self.http = aiohttp.ClientSession()

    async def _stop(self) -> None:
        await self.http.close()
        await self.runner.cleanup()
        await self.engine.dispose()

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        async with self.http.post(self.url + path, data=body, headers=headers) as answer:
            await answer.read()
            return answer.status

    def __enter__(self) -> ThreadedServer:
        self.thread.start()
        self.run(self._start())
        return self

    def __exit__(self, *_exc: object) -> None:
        self.run(self._stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(timeout=10)
        self.loop.close()


@pytest.fixture(scope="module")
def threaded(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ThreadedServer]:
    with ThreadedServer(tmp_path_factory.mktemp("fuzz") / "fuzz.db") as server:
        yield server


header_text = st.text(alphabet=st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)
json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)
envelopes = st.fixed_dictionaries(
    {},
    optional={
        "type": st.sampled_from(["event_callback", "url_verification", "app_rate_limited"])
        | st.text(max_size=10),
        "event_id": st.text(max_size=120) | st.integers(),
        "team_id": st.text(max_size=50) | st.none(),
        "challenge": json_values,
        "event": st.fixed_dictionaries(
            {},
            optional={
                "type": st.sampled_from(["app_uninstalled", "tokens_revoked", "message"]),
                "tokens": json_values,
            },
        )
        | json_values,
    },
)
forms = st.dictionaries(
    st.sampled_from(["command", "text", "user_id", "channel_id", "team_id", "response_url", "x"]),
    st.sampled_from(["/mlc", "status", "help", "run intacct", "U0ALLOWED1", "C0ALLOWED1"])
    | st.text(max_size=30),
)
bodies = (
    st.binary(max_size=300)
    | envelopes.map(lambda e: json.dumps(e).encode())
    | forms.map(lambda f: urlencode(f).encode())
)
stamps = st.one_of(
    st.just("now"),
    st.integers(min_value=-(10**15), max_value=10**15).map(str),
    header_text,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    path=st.sampled_from(["/slack/events", "/slack/commands"]),
    body=bodies,
    signed=st.booleans(),
    stamp=stamps,
    extra=st.dictionaries(
        st.sampled_from(
            [
                "X-Slack-Retry-Num",
                "X-Slack-Retry-Reason",
                "Content-Type",
                "X-Slack-Signature",
                "X-Forwarded-For",
                "Authorization",
            ]
        ),
        header_text,
        max_size=3,
    ),
)
def test_no_input_gets_a_server_error(
    threaded: ThreadedServer,
    path: str,
    body: bytes,
    signed: bool,
    stamp: str,
    extra: dict[str, str],
) -> None:
    headers = dict(extra)
    if signed:
        # Correctly signed: the fuzzed body gets past the signature into the parsers.
        headers.update(signed_headers(SIGNING_SECRET, int(time.time()), body))
    else:
        headers["X-Slack-Request-Timestamp"] = str(int(time.time())) if stamp == "now" else stamp
    status = threaded.run(threaded.post(path, body, headers))
    assert status < 500, (status, body[:100], headers)
    if not signed:
        assert status in (400, 401, 413)
