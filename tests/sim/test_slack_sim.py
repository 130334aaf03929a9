"""The Slack simulator against slack_sdk's own clients: what Slack accepts, refuses and breaks."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError
from slack_sdk.web.async_client import AsyncWebClient

from ml_connector.sim.slack import SlackSimulator

# slack_sdk's AsyncWebClient still passes aiohttp.BasicAuth for oauth.v2.access.
pytestmark = pytest.mark.filterwarnings("ignore:BasicAuth is deprecated:DeprecationWarning")

TS = re.compile(r"^\d{10}\.\d{6}$")
CHANNEL_ID = re.compile(r"^C[A-Z0-9]{8,10}$")


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sim() -> AsyncIterator[SlackSimulator]:
    # Limits off: tests about rate limits make their own simulator.
    async with SlackSimulator(
        channels=["finance-gl", "payments", "alerts"], post_interval=0.0, history_interval=0.0
    ) as simulator:
        yield simulator


@pytest.fixture
def wall() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def timed_sim(wall: FakeClock) -> AsyncIterator[SlackSimulator]:
    """A simulator whose wall clock (ts, code and token expiry) a test moves by hand."""
    async with SlackSimulator(
        channels=["payments"], post_interval=0.0, history_interval=0.0, clock=wall
    ) as simulator:
        yield simulator


def client(sim: SlackSimulator, token: str | None = None, **kwargs: Any) -> AsyncWebClient:
    """An AsyncWebClient with slack_sdk's retry handlers off unless a test passes its own."""
    kwargs.setdefault("retry_handlers", [])
    return AsyncWebClient(
        token=token if token is not None else sim.bot_token, base_url=sim.base_url, **kwargs
    )


async def slack_error(awaitable: Any) -> SlackApiError:
    with pytest.raises(SlackApiError) as caught:
        await awaitable
    return caught.value


def section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text}}


# slack_sdk clients work unchanged ----------------------------------------------------------


async def test_async_client_auth_test(sim: SlackSimulator) -> None:
    answer = await client(sim).auth_test()
    assert answer["team_id"] == sim.team_id
    assert answer["user_id"] == sim.bot_user_id
    assert answer["bot_id"].startswith("B")
    assert answer["url"].startswith("https://")
    assert sim.calls["auth.test"] == 1


async def test_sync_client_posts_and_reads_history_with_metadata(sim: SlackSimulator) -> None:
    web = WebClient(token=sim.bot_token, base_url=sim.base_url)
    channel = sim.channel_id("payments")
    assert (await asyncio.to_thread(web.auth_test))["user_id"] == sim.bot_user_id
    posted = await asyncio.to_thread(
        web.chat_postMessage,
        channel=channel,
        text="Payment batch 42 posted",
        blocks=[section("*Batch 42*")],
        metadata={"event_type": "mlc_outbox", "event_payload": {"outbox_id": "7"}},
    )
    assert posted["channel"] == channel and TS.match(posted["ts"])
    assert posted["message"]["subtype"] == "bot_message"

    # The sync client sends conversations.history as a form POST, the async one as a GET.
    plain = await asyncio.to_thread(web.conversations_history, channel=channel)
    assert "metadata" not in plain["messages"][0]
    full = await asyncio.to_thread(
        web.conversations_history, channel=channel, include_all_metadata=True
    )
    assert full["messages"][0]["metadata"] == {
        "event_type": "mlc_outbox",
        "event_payload": {"outbox_id": "7"},
    }
    assert full["messages"][0]["ts"] == posted["ts"]


async def test_async_client_post_and_history(sim: SlackSimulator) -> None:
    slack = client(sim)
    channel = sim.channel_id("finance-gl")
    stamps = []
    for n in range(3):
        answer = await slack.chat_postMessage(
            channel=channel,
            text=f"entry {n}",
            metadata={"event_type": "mlc_outbox", "event_payload": {"outbox_id": str(n)}},
        )
        stamps.append(answer["ts"])
    assert stamps == sorted(stamps, key=float) and len(set(stamps)) == 3
    history = await slack.conversations_history(channel=channel, include_all_metadata=True)
    assert [m["text"] for m in history["messages"]] == ["entry 2", "entry 1", "entry 0"]
    assert [m["metadata"]["event_payload"]["outbox_id"] for m in history["messages"]] == [
        "2",
        "1",
        "0",
    ]
    assert history["has_more"] is False
    stored = sim.messages(channel)
    assert [m["ts"] for m in stored] == stamps
    assert stored[0]["metadata"]["event_type"] == "mlc_outbox"


async def test_ids_look_like_slack_ids(sim: SlackSimulator) -> None:
    for name in ("finance-gl", "payments", "alerts"):
        assert CHANNEL_ID.match(sim.channel_id(name))
    assert sim.bot_token.startswith("xoxb-")
    assert re.match(r"^T[A-Z0-9]{8,10}$", sim.team_id)
    assert sim.base_url == f"{sim.url}/api/"


async def test_channel_name_is_accepted_by_post_but_not_by_history(sim: SlackSimulator) -> None:
    slack = client(sim)
    answer = await slack.chat_postMessage(channel="#alerts", text="by name")
    assert answer["channel"] == sim.channel_id("alerts")
    error = await slack_error(slack.conversations_history(channel="alerts"))
    assert error.response["error"] == "channel_not_found"


async def test_ts_strictly_increases_even_within_one_microsecond() -> None:
    frozen = 1_700_000_000.0
    async with SlackSimulator(channels=["a"], post_interval=0.0, clock=lambda: frozen) as sim:
        slack = client(sim)
        stamps = [
            (await slack.chat_postMessage(channel=sim.channel_id("a"), text=str(n)))["ts"]
            for n in range(3)
        ]
    assert stamps == ["1700000000.000000", "1700000000.000001", "1700000000.000002"]


async def test_history_pages_with_cursor_and_bounds(sim: SlackSimulator) -> None:
    slack = client(sim)
    channel = sim.channel_id("alerts")
    stamps = [(await slack.chat_postMessage(channel=channel, text=f"m{n}"))["ts"] for n in range(5)]
    first = await slack.conversations_history(channel=channel, limit=2)
    assert [m["text"] for m in first["messages"]] == ["m4", "m3"]
    assert first["has_more"] is True
    cursor = first["response_metadata"]["next_cursor"]
    second = await slack.conversations_history(channel=channel, limit=2, cursor=cursor)
    assert [m["text"] for m in second["messages"]] == ["m2", "m1"]
    third = await slack.conversations_history(
        channel=channel, limit=2, cursor=second["response_metadata"]["next_cursor"]
    )
    assert [m["text"] for m in third["messages"]] == ["m0"]
    assert third["has_more"] is False and "response_metadata" not in third.data

    exclusive = await slack.conversations_history(
        channel=channel, oldest=stamps[1], latest=stamps[3]
    )
    assert [m["text"] for m in exclusive["messages"]] == ["m2"]
    inclusive = await slack.conversations_history(
        channel=channel, oldest=stamps[1], latest=stamps[3], inclusive=True
    )
    assert [m["text"] for m in inclusive["messages"]] == ["m3", "m2", "m1"]

    bad_cursor = await slack_error(slack.conversations_history(channel=channel, cursor="nope"))
    assert bad_cursor.response["error"] == "invalid_cursor"
    bad_oldest = await slack_error(slack.conversations_history(channel=channel, oldest="x"))
    assert bad_oldest.response["error"] == "invalid_ts_oldest"


async def test_conversations_info(sim: SlackSimulator) -> None:
    outside = sim.create_channel("no-bot-here", bot_member=False)
    slack = client(sim)
    info = await slack.conversations_info(channel=sim.channel_id("payments"))
    assert info["channel"]["name"] == "payments" and info["channel"]["is_member"] is True
    assert (await slack.conversations_info(channel=outside))["channel"]["is_member"] is False
    missing = await slack_error(slack.conversations_info(channel="C0000000000"))
    assert missing.response["error"] == "channel_not_found"


# What Slack refuses ------------------------------------------------------------------------


async def test_refuses_unknown_channel_and_channel_without_bot(sim: SlackSimulator) -> None:
    slack = client(sim)
    unknown = await slack_error(slack.chat_postMessage(channel="C0NOTACHAN", text="x"))
    assert unknown.response.status_code == 200
    assert unknown.response["error"] == "channel_not_found"
    outside = sim.create_channel("private-ish", bot_member=False)
    refused = await slack_error(slack.chat_postMessage(channel=outside, text="x"))
    assert refused.response["error"] == "not_in_channel"
    history = await slack_error(slack.conversations_history(channel=outside))
    assert history.response["error"] == "not_in_channel"
    sim.invite(outside, sim.bot_user_id)
    assert (await slack.chat_postMessage(channel=outside, text="now in"))["ok"]
    sim.archive_channel(outside)
    archived = await slack_error(slack.chat_postMessage(channel=outside, text="x"))
    assert archived.response["error"] == "is_archived"


async def test_refuses_51_blocks_and_accepts_50(sim: SlackSimulator) -> None:
    slack = client(sim)
    channel = sim.channel_id("payments")
    error = await slack_error(
        slack.chat_postMessage(channel=channel, text="x", blocks=[section("b")] * 51)
    )
    assert error.response["error"] == "invalid_blocks"
    assert error.response["response_metadata"]["messages"] == [
        "[ERROR] no more than 50 items allowed [json-pointer:/blocks]"
    ]
    ok = await slack.chat_postMessage(channel=channel, text="x", blocks=[section("b")] * 50)
    assert len(ok["message"]["blocks"]) == 50
    assert len(sim.messages(channel)) == 1


async def test_refuses_3001_character_section_and_accepts_3000(sim: SlackSimulator) -> None:
    slack = client(sim)
    channel = sim.channel_id("payments")
    error = await slack_error(
        slack.chat_postMessage(channel=channel, text="x", blocks=[section("a" * 3001)])
    )
    assert error.response["error"] == "invalid_blocks"
    assert error.response["errors"] == [
        "must be less than 3001 characters [json-pointer:/blocks/0/text/text]"
    ]
    assert (await slack.chat_postMessage(channel=channel, text="x", blocks=[section("a" * 3000)]))[
        "ok"
    ]


@pytest.mark.parametrize(
    ("blocks", "pointer"),
    [
        (
            [{"type": "header", "text": {"type": "plain_text", "text": "h" * 151}}],
            "/blocks/0/text/text",
        ),
        ([{"type": "header", "text": {"type": "mrkdwn", "text": "h"}}], "/blocks/0/text/type"),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f"}] * 11}],
            "/blocks/0/fields",
        ),
        (
            [{"type": "section", "fields": [{"type": "mrkdwn", "text": "f" * 2001}]}],
            "/blocks/0/fields/0/text",
        ),
        (
            [{"type": "context", "elements": [{"type": "mrkdwn", "text": "c"}] * 11}],
            "/blocks/0/elements",
        ),
        ([{"type": "section"}], "/blocks/0"),
        ([{"type": "carousel"}], "/blocks/0/type"),
        ([{"type": "divider", "block_id": "b" * 256}], "/blocks/0/block_id"),
        (
            [{"type": "divider", "block_id": "d"}, {"type": "divider", "block_id": "d"}],
            "/blocks/1/block_id",
        ),
        ([{"type": "section", "text": {"type": "mrkdwn", "text": ""}}], "/blocks/0/text/text"),
        (
            [{"type": "section", "text": {"type": "mrkdwn", "text": "t", "emoji": True}}],
            "/blocks/0/text/emoji",
        ),
    ],
)
async def test_refuses_blocks_beyond_block_kit_limits(
    sim: SlackSimulator, blocks: list[dict[str, Any]], pointer: str
) -> None:
    error = await slack_error(
        client(sim).chat_postMessage(channel=sim.channel_id("alerts"), text="x", blocks=blocks)
    )
    assert error.response["error"] == "invalid_blocks"
    assert any(f"[json-pointer:{pointer}]" in e for e in error.response["errors"])
    assert sim.messages(sim.channel_id("alerts")) == []


async def test_refuses_bad_revoked_and_missing_tokens(sim: SlackSimulator) -> None:
    channel = sim.channel_id("payments")
    bad = await slack_error(client(sim, token="xoxb-not-a-real-token").auth_test())
    assert bad.response["error"] == "invalid_auth"
    sim.revoke_token(sim.bot_token)
    revoked = await slack_error(client(sim).chat_postMessage(channel=channel, text="x"))
    assert revoked.response["error"] == "token_revoked"
    sim.restore_token(sim.bot_token)
    assert (await client(sim).chat_postMessage(channel=channel, text="x"))["ok"]
    missing = await slack_error(client(sim, token="").auth_test())
    assert missing.response["error"] == "not_authed"


async def test_auth_revoke_revokes_the_calling_token(sim: SlackSimulator) -> None:
    slack = client(sim)
    assert (await slack.auth_revoke(test=True))["revoked"] is False
    assert (await slack.auth_test())["ok"]
    assert (await slack.auth_revoke())["revoked"] is True
    assert (await slack_error(slack.auth_test())).response["error"] == "token_revoked"


async def test_refuses_messages_without_text_and_bad_metadata(sim: SlackSimulator) -> None:
    slack = client(sim)
    channel = sim.channel_id("alerts")
    with pytest.warns(UserWarning, match="text"):  # slack_sdk warns too
        nothing = await slack_error(slack.chat_postMessage(channel=channel))
        no_text = await slack_error(slack.chat_postMessage(channel=channel, text=""))
    assert nothing.response["error"] == "no_text"
    assert no_text.response["error"] == "no_text"
    schema = await slack_error(
        slack.chat_postMessage(channel=channel, text="x", metadata={"event_type": "t"})
    )
    assert schema.response["error"] == "invalid_metadata_schema"
    nested = await slack_error(
        slack.chat_postMessage(
            channel=channel,
            text="x",
            metadata={"event_type": "t", "event_payload": {"deep": {"deeper": {"x": 1}}}},
        )
    )
    assert nested.response["error"] == "invalid_metadata_schema"
    large = await slack_error(
        slack.chat_postMessage(
            channel=channel,
            text="x",
            metadata={"event_type": "t", "event_payload": {"blob": "x" * 9000}},
        )
    )
    assert large.response["error"] == "metadata_too_large"
    assert sim.messages(channel) == []


async def test_form_metadata_must_be_json(sim: SlackSimulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.post(
            sim.base_url + "chat.postMessage",
            data={
                "token": sim.bot_token,
                "channel": sim.channel_id("alerts"),
                "text": "form post",
                "metadata": "{not json",
            },
        ) as response:
            assert (await response.json())["error"] == "invalid_metadata_format"
        async with http.post(
            sim.base_url + "chat.postMessage",
            data={
                "token": sim.bot_token,
                "channel": sim.channel_id("alerts"),
                "text": "form post",
                "metadata": '{"event_type":"t","event_payload":{"id":"1"}}',
                "blocks": '[{"type":"divider"}]',
            },
        ) as response:
            body = await response.json()
    assert body["ok"] is True
    assert body["message"]["metadata"]["event_payload"] == {"id": "1"}
    assert body["message"]["blocks"][0]["type"] == "divider"
    assert body["message"]["blocks"][0]["block_id"]  # Slack assigns one


async def test_text_longer_than_40000_is_msg_too_long_in_strict_mode(sim: SlackSimulator) -> None:
    channel = sim.channel_id("alerts")
    error = await slack_error(client(sim).chat_postMessage(channel=channel, text="y" * 40_001))
    assert error.response["error"] == "msg_too_long"
    assert sim.messages(channel) == [] and sim.refused["msg_too_long"] == 1
    answer = await client(sim).chat_postMessage(channel=channel, text="y" * 40_000)
    assert len(answer["message"]["text"]) == 40_000


async def test_lenient_mode_truncates_long_text_with_slacks_warning() -> None:
    async with SlackSimulator(channels=["a"], post_interval=0.0, strict=False) as sim:
        channel = sim.channel_id("a")
        answer = await client(sim).chat_postMessage(channel=channel, text="y" * 40_500)
        assert len(answer["message"]["text"]) == 40_000
        assert len(sim.messages(channel)[0]["text"]) == 40_000
        assert answer["response_metadata"]["warnings"] == ["message_truncated"]
        assert not sim.refused


async def test_aggregate_block_text_limit_is_on_by_default(sim: SlackSimulator) -> None:
    channel = sim.channel_id("alerts")
    five = [section("z" * 2400)] * 5  # 12,000 characters: the limit itself is fine
    await client(sim).chat_postMessage(channel=channel, text="x", blocks=five)
    error = await slack_error(
        client(sim).chat_postMessage(channel=channel, text="x", blocks=[*five, section("z")])
    )
    assert error.response["error"] == "msg_blocks_too_long"


async def test_aggregate_block_text_limit_can_be_set_or_turned_off() -> None:
    async with SlackSimulator(channels=["a"], post_interval=0.0, blocks_text_limit=5000) as sim:
        error = await slack_error(
            client(sim).chat_postMessage(
                channel=sim.channel_id("a"), text="x", blocks=[section("z" * 2600)] * 2
            )
        )
    assert error.response["error"] == "msg_blocks_too_long"
    async with SlackSimulator(channels=["a"], post_interval=0.0, blocks_text_limit=None) as sim:
        await client(sim).chat_postMessage(
            channel=sim.channel_id("a"), text="x", blocks=[section("z" * 3000)] * 5
        )


async def test_lone_surrogate_in_metadata_is_a_slack_json_error(sim: SlackSimulator) -> None:
    channel = sim.channel_id("alerts")
    headers = {"Authorization": f"Bearer {sim.bot_token}"}
    form = {
        "channel": channel,
        "text": "x",
        "metadata": '{"event_type":"t","event_payload":{"id":"\\ud800"}}',
    }
    lone = '{"event_type":"t","event_payload":{"id":"\\udc00"}}'
    body_json = f'{{"channel":"{channel}","text":"x","metadata":{lone}}}'
    async with aiohttp.ClientSession() as http:
        async with http.post(f"{sim.base_url}chat.postMessage", data=form, headers=headers) as r:
            assert r.status == 200 and r.content_type == "application/json"
            assert (await r.json())["error"] == "invalid_metadata_format"
        async with http.post(
            f"{sim.base_url}chat.postMessage",
            data=body_json.encode(),
            headers={**headers, "Content-Type": "application/json; charset=utf-8"},
        ) as r:
            assert r.status == 200 and r.content_type == "application/json"
            assert (await r.json())["error"] == "invalid_json"
    assert sim.messages(channel) == []


async def test_missing_scope_names_what_is_needed(sim: SlackSimulator) -> None:
    app = sim.register_app("1.1", "s3cret", scopes=["chat:write"], redirect_uris=["http://x/cb"])
    token = sim.workspace.issue_token(app, frozenset({"chat:write"}), now=time.time()).token
    error = await slack_error(
        client(sim, token=token).conversations_history(channel=sim.channel_id("alerts"))
    )
    assert error.response["error"] == "missing_scope"
    assert error.response["needed"] == "channels:history"
    assert error.response["provided"] == "chat:write"


# HTTP strictness ---------------------------------------------------------------------------


async def test_http_envelope_rules(sim: SlackSimulator) -> None:
    bearer = {"Authorization": f"Bearer {sim.bot_token}"}
    async with aiohttp.ClientSession() as http:
        async with http.get(sim.base_url + "chat.postMessage", headers=bearer) as response:
            assert response.status == 405 and response.headers["Allow"] == "POST"
        async with http.post(sim.base_url + "no.such", headers=bearer) as response:
            assert response.status == 200
            assert (await response.json())["error"] == "unknown_method"
        # A JSON body cannot carry the token; a form body can.
        async with http.post(sim.base_url + "auth.test", json={"token": sim.bot_token}) as response:
            assert (await response.json())["error"] == "not_authed"
        async with http.post(sim.base_url + "auth.test", data={"token": sim.bot_token}) as response:
            assert (await response.json())["ok"] is True
        # Tokens in the query string are refused for apps created after 2021-02-24.
        async with http.get(sim.base_url + f"auth.test?token={sim.bot_token}") as response:
            assert (await response.json())["error"] == "not_authed"
        async with http.post(
            sim.base_url + "auth.test",
            data=b"{oops",
            headers={**bearer, "Content-Type": "application/json"},
        ) as response:
            assert (await response.json())["error"] == "invalid_json"
        async with http.post(
            sim.base_url + "auth.test",
            data=b"[]",
            headers={**bearer, "Content-Type": "application/json"},
        ) as response:
            assert (await response.json())["error"] == "json_not_object"
        async with http.post(
            sim.base_url + "auth.test",
            data=b"hello",
            headers={**bearer, "Content-Type": "text/plain"},
        ) as response:
            assert (await response.json())["error"] == "invalid_post_type"


# Rate limits -------------------------------------------------------------------------------


async def test_second_post_inside_the_interval_gets_429_with_retry_after() -> None:
    monotonic = FakeClock(0.0)
    async with SlackSimulator(
        channels=["a", "b"], post_interval=1.0, post_burst=1, monotonic=monotonic
    ) as sim:
        slack = client(sim)
        first = sim.channel_id("a")
        assert (await slack.chat_postMessage(channel=first, text="1"))["ok"]
        monotonic.now += 0.9
        limited = await slack_error(slack.chat_postMessage(channel=first, text="2"))
        assert limited.response.status_code == 429
        assert limited.response.headers["Retry-After"] == "1"
        assert limited.response["error"] == "ratelimited"
        # The limit is per channel: another channel is not affected.
        assert (await slack.chat_postMessage(channel=sim.channel_id("b"), text="1"))["ok"]
        monotonic.now += 1.0
        assert (await slack.chat_postMessage(channel=first, text="3"))["ok"]
        assert [m["text"] for m in sim.messages(first)] == ["1", "3"]
        assert sim.rate_limited["chat.postMessage"] == 1


async def test_burst_allows_that_many_posts_at_once() -> None:
    async with SlackSimulator(channels=["a"], post_interval=5.0, post_burst=3) as sim:
        slack = client(sim)
        channel = sim.channel_id("a")
        for n in range(3):
            await slack.chat_postMessage(channel=channel, text=str(n))
        limited = await slack_error(slack.chat_postMessage(channel=channel, text="4"))
    assert limited.response.status_code == 429
    assert 1 <= int(limited.response.headers["Retry-After"]) <= 5


async def test_history_has_its_own_tight_limit() -> None:
    async with SlackSimulator(channels=["a"], post_interval=0.0) as sim:  # defaults: 1/min
        slack = client(sim)
        channel = sim.channel_id("a")
        assert (await slack.conversations_history(channel=channel))["ok"]
        limited = await slack_error(slack.conversations_history(channel=channel))
        assert limited.response.status_code == 429
        assert limited.response.headers["Retry-After"] == "60"
        # Posting is limited separately.
        assert (await slack.chat_postMessage(channel=channel, text="still fine"))["ok"]
    assert sim.rate_limited == {"conversations.history": 1}


async def test_slack_sdk_rate_limit_handler_honours_retry_after(sim: SlackSimulator) -> None:
    from slack_sdk.http_retry.builtin_async_handlers import AsyncRateLimitErrorRetryHandler

    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind="ratelimited", retry_after=1, count=1)
    slack = client(sim, retry_handlers=[AsyncRateLimitErrorRetryHandler(max_retry_count=1)])
    started = time.monotonic()
    assert (await slack.chat_postMessage(channel=channel, text="after waiting"))["ok"]
    assert time.monotonic() - started >= 1.0  # slept Retry-After (1 s) plus jitter
    assert sim.rate_limited["chat.postMessage"] == 1
    assert [m["text"] for m in sim.messages(channel)] == ["after waiting"]


# Faults ------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind,status", [("http_500", 500), ("http_503", 503)])
async def test_5xx_faults_answer_html_and_store_nothing(
    sim: SlackSimulator, kind: Any, status: int
) -> None:
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind=kind, count=1)
    error = await slack_error(client(sim).chat_postMessage(channel=channel, text="x"))
    assert error.response.status_code == status
    async with aiohttp.ClientSession() as http:
        sim.faults.add(method="auth.test", kind=kind, count=1)
        async with http.post(sim.base_url + "auth.test") as response:
            assert response.status == status
            assert response.content_type == "text/html"
            assert "<html>" in await response.text()
    assert sim.messages(channel) == []
    assert sim.faults.injected[kind] == 2
    # count=1: the next call goes through.
    assert (await client(sim).chat_postMessage(channel=channel, text="x"))["ok"]


async def test_sync_client_sees_5xx_html_as_an_error(sim: SlackSimulator) -> None:
    sim.faults.add(method="chat.postMessage", kind="http_503", count=1)
    web = WebClient(token=sim.bot_token, base_url=sim.base_url, retry_handlers=[])
    with pytest.raises(SlackApiError) as caught:
        await asyncio.to_thread(web.chat_postMessage, channel=sim.channel_id("payments"), text="x")
    assert caught.value.response.status_code == 503


@pytest.mark.parametrize("kind", ["internal_error", "fatal_error"])
async def test_internal_and_fatal_error_store_nothing(sim: SlackSimulator, kind: Any) -> None:
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind=kind)
    error = await slack_error(client(sim).chat_postMessage(channel=channel, text="x"))
    assert error.response.status_code == 200
    assert error.response["error"] == kind
    assert sim.messages(channel) == []


async def test_api_error_fault_answers_any_code(sim: SlackSimulator) -> None:
    sim.faults.add(method="auth.test", kind="api_error", error="account_inactive")
    error = await slack_error(client(sim).auth_test())
    assert error.response["error"] == "account_inactive"
    assert sim.faults.injected["api_error"] == 1


async def test_drop_closes_the_connection_before_handling(sim: SlackSimulator) -> None:
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind="drop", count=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client(sim).chat_postMessage(channel=channel, text="x")
    assert sim.messages(channel) == []
    assert sim.faults.injected["drop"] == 1


async def test_lost_answer_stores_the_message_then_drops(sim: SlackSimulator) -> None:
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind="lost_answer", count=1)
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await client(sim).chat_postMessage(
            channel=channel,
            text="ambiguous",
            metadata={"event_type": "mlc_outbox", "event_payload": {"outbox_id": "9"}},
        )
    stored = sim.messages(channel)
    assert [m["text"] for m in stored] == ["ambiguous"]
    assert stored[0]["metadata"]["event_payload"]["outbox_id"] == "9"


async def test_default_sdk_retry_turns_a_lost_answer_into_a_duplicate(
    sim: SlackSimulator,
) -> None:
    """Why ml-connector turns slack_sdk's connection retry off: it re-posts blindly."""
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind="lost_answer", count=1)
    slack = AsyncWebClient(token=sim.bot_token, base_url=sim.base_url)  # default handlers
    assert (await slack.chat_postMessage(channel=channel, text="once"))["ok"]
    assert [m["text"] for m in sim.messages(channel)] == ["once", "once"]


async def test_slow_answers_late_after_storing(sim: SlackSimulator) -> None:
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind="slow", delay=0.3, count=1)
    started = time.monotonic()
    answer = await client(sim).chat_postMessage(channel=channel, text="late")
    assert time.monotonic() - started >= 0.3
    assert answer["ok"] and sim.messages(channel)[0]["ts"] == answer["ts"]


async def test_slow_beyond_client_timeout_leaves_a_stored_message(sim: SlackSimulator) -> None:
    channel = sim.channel_id("payments")
    sim.faults.add(method="chat.postMessage", kind="slow", delay=1.5, count=1)
    with pytest.raises(asyncio.TimeoutError):
        await client(sim, timeout=1).chat_postMessage(channel=channel, text="timed out")
    assert [m["text"] for m in sim.messages(channel)] == ["timed out"]


async def test_ratelimited_fault_sends_429_with_its_retry_after(sim: SlackSimulator) -> None:
    sim.faults.add(method="chat.postMessage", kind="ratelimited", retry_after=7, count=1)
    error = await slack_error(
        client(sim).chat_postMessage(channel=sim.channel_id("payments"), text="x")
    )
    assert error.response.status_code == 429
    assert error.response.headers["Retry-After"] == "7"
    assert error.response["error"] == "ratelimited"
    assert sim.rate_limited["chat.postMessage"] == 1


async def test_faults_without_method_hit_every_method_until_cleared(sim: SlackSimulator) -> None:
    sim.faults.add(kind="internal_error")
    slack = client(sim)
    assert (await slack_error(slack.auth_test())).response["error"] == "internal_error"
    error = await slack_error(slack.conversations_info(channel=sim.channel_id("alerts")))
    assert error.response["error"] == "internal_error"
    sim.faults.clear()
    assert (await slack.auth_test())["ok"]
    assert sim.faults.injected["internal_error"] == 2


async def test_probability_faults_are_seeded() -> None:
    async def outcomes(seed: int) -> list[bool]:
        async with SlackSimulator(channels=["a"], seed=seed) as sim:
            sim.faults.add(method="auth.test", kind="internal_error", probability=0.5)
            results = []
            for _ in range(20):
                try:
                    await client(sim).auth_test()
                    results.append(True)
                except SlackApiError:
                    results.append(False)
            return results

    first, again = await outcomes(3), await outcomes(3)
    assert first == again
    assert 0 < first.count(False) < 20


def test_fault_arguments_are_checked() -> None:
    sim = SlackSimulator(channels=[])
    with pytest.raises(ValueError, match="unknown fault kind"):
        sim.faults.add(kind="gremlins")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        sim.faults.add(kind="drop", probability=1.5)
    with pytest.raises(ValueError):
        sim.faults.add(kind="drop", count=0)


# OAuth v2 install --------------------------------------------------------------------------

REDIRECT = "https://mlc.example.com/slack/oauth_redirect"


async def authorize(
    sim: SlackSimulator, http: aiohttp.ClientSession, **params: str
) -> aiohttp.ClientResponse:
    """Load the consent page and press Allow; return the redirect."""
    query = {"client_id": "111.222", "scope": "chat:write,channels:history", "state": "s1"}
    query.update(params)
    async with http.get(f"{sim.url}/oauth/v2/authorize", params=query) as page:
        assert page.status == 200
        html = await page.text()
    assert "Allow" in html and "chat:write" in html
    form = dict(re.findall(r'name="([^"]+)" value="([^"]*)"', html))
    form["decision"] = "allow"
    return await http.post(f"{sim.url}/oauth/v2/authorize", data=form, allow_redirects=False)


def code_from(response: aiohttp.ClientResponse) -> str:
    assert response.status == 302
    location = response.headers["Location"]
    assert location.startswith(REDIRECT + "?")
    query = dict(part.split("=", 1) for part in location.split("?", 1)[1].split("&"))
    assert query["state"] == "s1"
    return query["code"]


async def test_install_flow_with_both_clients(sim: SlackSimulator) -> None:
    app = sim.register_app("111.222", "shh", redirect_uris=[REDIRECT])
    async with aiohttp.ClientSession() as http:
        code = code_from(await authorize(sim, http, redirect_uri=REDIRECT))
        second_code = code_from(await authorize(sim, http, redirect_uri=REDIRECT))

    exchanger = AsyncWebClient(base_url=sim.base_url, retry_handlers=[])
    installed = await exchanger.oauth_v2_access(
        client_id="111.222", client_secret="shh", code=code, redirect_uri=REDIRECT
    )
    assert installed["token_type"] == "bot"
    assert installed["access_token"].startswith("xoxb-")
    assert installed["bot_user_id"] == app.bot_user_id
    assert installed["app_id"] == app.app_id
    assert installed["team"] == {"id": sim.team_id, "name": sim.workspace.team_name}
    assert installed["scope"] == "channels:history,chat:write"
    assert installed["authed_user"]["id"].startswith("U")
    assert "refresh_token" not in installed.data

    token = installed["access_token"]
    assert (await client(sim, token=token).auth_test())["user_id"] == app.bot_user_id
    channel = sim.channel_id("payments")
    refused = await slack_error(
        client(sim, token=token).chat_postMessage(channel=channel, text="x")
    )
    assert refused.response["error"] == "not_in_channel"
    sim.invite(channel, app.bot_user_id)
    assert (await client(sim, token=token).chat_postMessage(channel=channel, text="hi"))["ok"]

    replay = await slack_error(
        exchanger.oauth_v2_access(
            client_id="111.222", client_secret="shh", code=code, redirect_uri=REDIRECT
        )
    )
    assert replay.response["error"] == "invalid_code"

    # The sync client sends the credentials with HTTP Basic too.
    web = WebClient(base_url=sim.base_url)
    synced = await asyncio.to_thread(
        web.oauth_v2_access,
        client_id="111.222",
        client_secret="shh",
        code=second_code,
        redirect_uri=REDIRECT,
    )
    assert synced["access_token"].startswith("xoxb-") and synced["access_token"] != token


async def test_exchange_refuses_wrong_secret_redirect_and_expired_code(
    timed_sim: SlackSimulator, wall: FakeClock
) -> None:
    sim = timed_sim
    sim.register_app("111.222", "shh", redirect_uris=[REDIRECT])  # codes live 600 s
    exchanger = AsyncWebClient(base_url=sim.base_url, retry_handlers=[])
    async with aiohttp.ClientSession() as http:
        code = code_from(await authorize(sim, http, redirect_uri=REDIRECT))
    wrong_secret = await slack_error(
        exchanger.oauth_v2_access(
            client_id="111.222", client_secret="nope", code=code, redirect_uri=REDIRECT
        )
    )
    assert wrong_secret.response["error"] == "bad_client_secret"
    unknown = await slack_error(
        exchanger.oauth_v2_access(client_id="9.9", client_secret="shh", code=code)
    )
    assert unknown.response["error"] == "invalid_client_id"
    wrong_redirect = await slack_error(
        exchanger.oauth_v2_access(
            client_id="111.222", client_secret="shh", code=code, redirect_uri=REDIRECT + "/x"
        )
    )
    assert wrong_redirect.response["error"] == "bad_redirect_uri"
    wall.now += 601
    expired = await slack_error(
        exchanger.oauth_v2_access(
            client_id="111.222", client_secret="shh", code=code, redirect_uri=REDIRECT
        )
    )
    assert expired.response["error"] == "invalid_code"


async def test_authorize_page_refusals_and_shortcuts(sim: SlackSimulator) -> None:
    sim.register_app("111.222", "shh", scopes=["chat:write"], redirect_uris=[REDIRECT])
    base = f"{sim.url}/oauth/v2/authorize"
    async with aiohttp.ClientSession() as http:
        async with http.get(base, params={"client_id": "0.0", "scope": "chat:write"}) as page:
            assert page.status == 400 and "invalid_client_id" in await page.text()
        async with http.get(base, params={"client_id": "111.222", "scope": "admin"}) as page:
            assert page.status == 400 and "invalid_scope" in await page.text()
        async with http.get(
            base,
            params={"client_id": "111.222", "scope": "chat:write", "redirect_uri": "https://evil"},
        ) as page:
            assert page.status == 400 and "bad_redirect_uri" in await page.text()
        async with http.get(
            base,
            params={"client_id": "111.222", "scope": "chat:write", "state": "<s>", "approve": "1"},
            allow_redirects=False,
        ) as approved:
            assert approved.status == 302
            location = approved.headers["Location"]
            assert location.startswith(REDIRECT + "?code=") and "state=%3Cs%3E" in location
        async with http.post(
            base,
            data={"client_id": "111.222", "scope": "chat:write", "state": "s", "decision": "deny"},
            allow_redirects=False,
        ) as denied:
            assert denied.headers["Location"] == REDIRECT + "?error=access_denied&state=s"
        async with http.get(
            base, params={"client_id": "111.222", "scope": "chat:write", "state": '"><script>'}
        ) as page:
            assert "<script>" not in await page.text()


async def test_token_rotation_refresh_and_expiry(
    timed_sim: SlackSimulator, wall: FakeClock
) -> None:
    sim = timed_sim
    sim.register_app("111.222", "shh", redirect_uris=[REDIRECT], token_rotation=True)
    exchanger = AsyncWebClient(base_url=sim.base_url, retry_handlers=[])
    async with aiohttp.ClientSession() as http:
        code = code_from(await authorize(sim, http, redirect_uri=REDIRECT))
    installed = await exchanger.oauth_v2_access(
        client_id="111.222", client_secret="shh", code=code, redirect_uri=REDIRECT
    )
    assert installed["access_token"].startswith("xoxe.xoxb-1-")
    assert installed["refresh_token"].startswith("xoxe-1-")
    assert installed["expires_in"] == 43200  # 12 hours

    refreshed = await exchanger.oauth_v2_access(
        client_id="111.222",
        client_secret="shh",
        grant_type="refresh_token",
        refresh_token=installed["refresh_token"],
    )
    assert refreshed["access_token"] != installed["access_token"]
    assert refreshed["refresh_token"] != installed["refresh_token"]
    # Old access token still works until it expires; the old refresh token is revoked.
    assert (await client(sim, token=installed["access_token"]).auth_test())["ok"]
    reused = await slack_error(
        exchanger.oauth_v2_access(
            client_id="111.222",
            client_secret="shh",
            grant_type="refresh_token",
            refresh_token=installed["refresh_token"],
        )
    )
    assert reused.response["error"] == "invalid_refresh_token"
    wall.now += 43200
    expired = await slack_error(client(sim, token=refreshed["access_token"]).auth_test())
    assert expired.response["error"] == "token_expired"
    bad_grant = await slack_error(
        exchanger.oauth_v2_access(client_id="111.222", client_secret="shh", grant_type="password")
    )
    assert bad_grant.response["error"] == "invalid_grant_type"


# Inspection API and page ------------------------------------------------------------------


async def test_inspection_api(sim: SlackSimulator) -> None:
    channel = sim.channel_id("payments")
    await client(sim).chat_postMessage(channel=channel, text="listed")
    async with aiohttp.ClientSession() as http:
        async with http.get(f"{sim.url}/_sim/api/channels") as response:
            channels = await response.json()
        async with http.get(f"{sim.url}/_sim/api/channels/{channel}/messages") as response:
            messages = await response.json()
        async with http.get(f"{sim.url}/_sim/api/channels/CNOPE/messages") as response:
            assert response.status == 404
    by_name = {c["name"]: c for c in channels}
    assert by_name["payments"]["id"] == channel and by_name["payments"]["message_count"] == 1
    assert by_name["alerts"]["message_count"] == 0
    assert messages["messages"][0]["text"] == "listed"


async def test_page_renders_blocks_and_escapes_everything(sim: SlackSimulator) -> None:
    channel = sim.channel_id("finance-gl")
    await client(sim).chat_postMessage(
        channel=channel,
        text="fallback",
        blocks=[
            {"type": "header", "text": {"type": "plain_text", "text": "GL run <b>ok</b>"}},
            section(
                "*Posted* `BATCH-7` for AT&amp;T &lt;script&gt; <https://erp.example/x?a=1&b=2|open>"
            ),
            {
                "type": "section",
                "fields": [
                    {"type": "mrkdwn", "text": "*Debits*\n1,000.00 USD"},
                    {"type": "mrkdwn", "text": "*Credits*\n1,000.00 USD"},
                ],
            },
            {"type": "context", "elements": [{"type": "mrkdwn", "text": "run 12"}]},
        ],
    )
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{sim.url}/", params={"channel": channel}) as response,
    ):
        page = await response.text()
    assert '<meta http-equiv="refresh"' in page
    assert "GL run &lt;b&gt;ok&lt;/b&gt;" in page
    assert "<b>Posted</b>" in page and "<code>BATCH-7</code>" in page
    assert "AT&amp;T &lt;script&gt;" in page and "<script>" not in page
    assert '<a href="https://erp.example/x?a=1&amp;b=2"' in page
    assert 'class="fields"' in page and 'class="context"' in page


# The command line --------------------------------------------------------------------------


async def test_cli_prints_base_url_and_token_and_stops_on_ctrl_c() -> None:
    import signal
    import sys

    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        "from ml_connector.cli.main import main; main()",
        "sim",
        "slack",
        "--port",
        "0",
        "--channel",
        "close-room",
        stdout=asyncio.subprocess.PIPE,
    )
    assert process.stdout is not None
    lines: dict[str, str] = {}
    try:
        async with asyncio.timeout(20):
            while "Ctrl-C" not in (line := (await process.stdout.readline()).decode()):
                key, _, value = line.strip().partition("  ")
                lines[key.strip()] = value.strip()
        base_url = lines["base URL"]
        token = lines["bot token"]
        channel_id = lines["channels"].split()[1]
        slack = AsyncWebClient(token=token, base_url=base_url, retry_handlers=[])
        assert (await slack.chat_postMessage(channel=channel_id, text="from the CLI test"))["ok"]
    finally:
        process.send_signal(signal.SIGINT)
        assert await asyncio.wait_for(process.wait(), 30) == 0


async def test_channel_page_shows_what_slack_would_link(sim: SlackSimulator) -> None:
    channel = sim.channel_id("alerts")

    def mrkdwn(text: str, **extra: Any) -> dict[str, Any]:
        return {"type": "section", "text": {"type": "mrkdwn", "text": text, **extra}}

    await client(sim).chat_postMessage(
        channel=channel,
        text="fallback",
        blocks=[mrkdwn("Vendor evil.com @here"), mrkdwn("Vendor safe.com", verbatim=True)],
    )
    async with aiohttp.ClientSession() as http, http.get(f"{sim.url}/?channel={channel}") as r:
        page = await r.text()
    assert '<a href="http://evil.com"' in page
    assert '<span class="mention">@here</span>' in page
    assert "Vendor safe.com" in page and 'href="http://safe.com"' not in page
