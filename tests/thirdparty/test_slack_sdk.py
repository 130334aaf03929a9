"""slack_sdk's ``WebClient`` (urllib, sync) and ``AsyncWebClient`` (aiohttp), unchanged apart
from ``base_url``, against ``sim slack``: every Web API method ml-connector calls
(``slack/client.py``, ``slack/oauth.py``: auth.test, chat.postMessage, conversations.history,
conversations.info, oauth.v2.access), their error shapes, and a 429 with Retry-After under
slack_sdk's own ``RateLimitErrorRetryHandler``.

One scenario, run through each client; the sync client runs in a worker thread while the
simulator serves on the test's event loop. The rate-limit retry sleeps Retry-After (1 s) plus
slack_sdk's jitter, so each run takes one to two seconds.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler
from slack_sdk.http_retry.builtin_handlers import RateLimitErrorRetryHandler
from slack_sdk.web.async_client import AsyncWebClient

from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.scopes import scope_list

CLIENT_ID, CLIENT_SECRET = "4242.1717", "app-secret-for-tests"
REDIRECT = "http://127.0.0.1:9/slack/oauth_redirect"


class Client:
    """The same calls through WebClient (in a thread) or AsyncWebClient."""

    def __init__(self, kind: str, sim: SlackSimulator, token: str | None, retry: bool) -> None:
        self.kind = kind
        if kind == "sync":
            handlers: list[Any] = [RateLimitErrorRetryHandler(max_retry_count=2)] if retry else []
            self.web: WebClient | AsyncWebClient = WebClient(
                token=token, base_url=sim.base_url, retry_handlers=handlers
            )
        else:
            handlers = [AsyncRateLimitErrorRetryHandler(max_retry_count=2)] if retry else []
            self.web = AsyncWebClient(token=token, base_url=sim.base_url, retry_handlers=handlers)

    async def __call__(self, method: str, **kwargs: Any) -> Any:
        bound = getattr(self.web, method)
        if self.kind == "sync":
            return await asyncio.to_thread(bound, **kwargs)
        return await bound(**kwargs)

    async def error(self, method: str, **kwargs: Any) -> SlackApiError:
        with pytest.raises(SlackApiError) as caught:
            await self(method, **kwargs)
        return caught.value


@pytest.fixture
async def sim() -> AsyncIterator[SlackSimulator]:
    async with SlackSimulator(
        channels=["finance-gl", "payments", "alerts", "limits", "bad-blocks", "too-long"],
        post_interval=1.0,
        post_burst=1,
        history_interval=0.0,
    ) as simulator:
        simulator.create_channel("not-invited", bot_member=False)
        simulator.register_app(
            CLIENT_ID,
            CLIENT_SECRET,
            scopes=scope_list(),
            token_rotation=True,
            redirect_uris=[REDIRECT],
        )
        yield simulator


async def install_code(sim: SlackSimulator) -> str:
    """What the browser brings back from the consent page (tests skip the click)."""
    query = urlencode(
        {"client_id": CLIENT_ID, "scope": ",".join(scope_list()), "redirect_uri": REDIRECT,
         "state": "st", "approve": "1"}
    )  # fmt: skip
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sim.url}/oauth/v2/authorize?{query}", allow_redirects=False) as response,
    ):
        assert response.status == 302
        return parse_qs(urlsplit(response.headers["Location"]).query)["code"][0]


def header(headers: Any, name: str) -> str:
    """A header from either client's response (the sync one keeps lists of values)."""
    for key, value in dict(headers).items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    raise AssertionError(f"no {name} header in {headers!r}")


@pytest.mark.parametrize("kind", ["sync", "async"])
async def test_slack_sdk_client_unchanged_against_the_simulator(
    kind: str, sim: SlackSimulator
) -> None:
    # oauth.v2.access: the install exchange, then a token rotation.
    anonymous = Client(kind, sim, None, retry=False)
    code = await install_code(sim)
    grant = await anonymous(
        "oauth_v2_access",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        code=code,
        redirect_uri=REDIRECT,
    )
    assert grant["token_type"] == "bot" and grant["access_token"].startswith("xoxe.xoxb-")
    assert set(grant["scope"].split(",")) == set(scope_list())
    reused = await anonymous.error(
        "oauth_v2_access", client_id=CLIENT_ID, client_secret=CLIENT_SECRET, code=code,
        redirect_uri=REDIRECT,
    )  # fmt: skip
    assert reused.response["error"] == "invalid_code"
    rotated = await anonymous(
        "oauth_v2_access",
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        grant_type="refresh_token",
        refresh_token=grant["refresh_token"],
    )
    token = rotated["access_token"]
    assert token != grant["access_token"] and rotated["refresh_token"] != grant["refresh_token"]

    app = sim.workspace.apps[CLIENT_ID]
    for name in ("finance-gl", "limits", "bad-blocks", "too-long"):
        sim.invite(sim.channel_id(name), app.bot_user_id)
    web = Client(kind, sim, token, retry=True)
    plain = Client(kind, sim, token, retry=False)

    auth = await web("auth_test")
    assert auth["team_id"] == sim.team_id and auth["user_id"] == app.bot_user_id
    info = await web("conversations_info", channel=sim.channel_id("finance-gl"))
    assert info["channel"]["name"] == "finance-gl" and info["channel"]["is_member"] is True

    # chat.postMessage exactly as slack/client.py sends it, then history with its metadata.
    channel = sim.channel_id("finance-gl")
    metadata = {"event_type": "mlc_outbox", "event_payload": {"outbox_id": 17}}
    blocks = [{"type": "section", "text": {"type": "mrkdwn", "text": "*GL run* 3 batches"}}]
    posted = await web(
        "chat_postMessage", channel=channel, text="GL run: 3 batches", blocks=blocks,
        metadata=metadata, unfurl_links=False, unfurl_media=False,
    )  # fmt: skip
    assert posted["channel"] == channel and posted["ts"]
    history = await web(
        "conversations_history", channel=channel, oldest=None, latest=None, limit=1,
        cursor=None, include_all_metadata=True,
    )  # fmt: skip
    (message,) = history["messages"]
    assert message["ts"] == posted["ts"] and message["metadata"] == metadata

    # 429 + Retry-After: without a handler it is an error carrying both; with slack_sdk's
    # RateLimitErrorRetryHandler the second post waits and goes through.
    limits = sim.channel_id("limits")
    await web("chat_postMessage", channel=limits, text="first")
    limited = await plain.error("chat_postMessage", channel=limits, text="too soon")
    assert limited.response.status_code == 429 and limited.response["error"] == "ratelimited"
    assert int(header(limited.response.headers, "Retry-After")) >= 1
    retried = await web("chat_postMessage", channel=limits, text="after waiting")
    assert retried["ok"] and [m["text"] for m in sim.messages(limits)] == ["first", "after waiting"]

    # Error shapes our client classifies (slack/client.py _from_api_error).
    missing = await plain.error("chat_postMessage", channel="C0NOSUCH", text="x")
    assert missing.response.status_code == 200 and missing.response["error"] == "channel_not_found"
    outside = await plain.error("chat_postMessage", channel=sim.channel_id("not-invited"), text="x")
    assert outside.response["error"] == "not_in_channel"
    bad = await plain.error(
        "chat_postMessage",
        channel=sim.channel_id("bad-blocks"),
        text="x",
        blocks=[{"type": "section", "text": {"type": "mrkdwn", "text": "y" * 3001}}],
    )
    assert bad.response["error"] == "invalid_blocks"
    assert any("3001" in problem for problem in bad.response["errors"])
    long = await plain.error(
        "chat_postMessage", channel=sim.channel_id("too-long"), text="z" * 40_001
    )
    assert long.response["error"] == "msg_too_long"
    revoked = Client(kind, sim, "xoxb-not-a-token", retry=False)
    assert (await revoked.error("auth_test")).response["error"] == "invalid_auth"
    narrow = sim.workspace.issue_token(app, frozenset({"chat:write"}), now=time.time()).token
    scope = await Client(kind, sim, narrow, retry=False).error(
        "conversations_history", channel=channel
    )
    assert scope.response["error"] == "missing_scope"
    assert (scope.response["needed"], scope.response["provided"]) == (
        "channels:history",
        "chat:write",
    )
