"""The client against the simulator: calls work, and every failure lands in the right class."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from aiohttp import web

from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.blocks import section
from ml_connector.slack.client import SlackClient
from ml_connector.slack.errors import (
    SlackAmbiguousError,
    SlackCredentialsError,
    SlackPermanentError,
    SlackRateLimitedError,
    SlackTransientError,
)

METADATA = {"event_type": "mlc_outbox", "event_payload": {"outbox_id": 42}}


@pytest.fixture
async def client(sim: SlackSimulator) -> AsyncIterator[SlackClient]:
    async with SlackClient(sim.bot_token, base_url=sim.base_url, timeout=2.0) as slack:
        yield slack


async def test_post_message_with_blocks_and_metadata(
    sim: SlackSimulator, client: SlackClient
) -> None:
    channel = sim.channel_id("payments")
    result = await client.post_message(channel, "Payments run", [section("*3* payments")], METADATA)
    assert result.channel == channel
    [stored] = sim.messages(channel)
    assert stored["ts"] == result.ts
    assert stored["metadata"] == METADATA
    assert stored["blocks"][0]["text"]["text"] == "*3* payments"


async def test_history_returns_our_metadata_and_pages(
    sim: SlackSimulator, client: SlackClient
) -> None:
    channel = sim.channel_id("finance-gl")
    posted = []
    for i in range(5):
        meta = {"event_type": "mlc_outbox", "event_payload": {"outbox_id": i}}
        posted.append((await client.post_message(channel, f"m{i}", None, meta)).ts)
    page = await client.history(channel, oldest="0", limit=2)
    assert len(page.messages) == 2 and page.has_more and page.next_cursor
    everything = [m async for m in client.iter_history(channel, oldest="0", limit=2)]
    assert sorted(m.ts for m in everything) == sorted(posted)
    ids = {m.metadata["event_payload"]["outbox_id"] for m in everything if m.metadata}
    assert ids == set(range(5))
    later = [m async for m in client.iter_history(channel, oldest=posted[2])]
    assert {m.ts for m in later} <= set(posted[2:])


async def test_auth_test_and_conversation_info(sim: SlackSimulator, client: SlackClient) -> None:
    auth = await client.auth_test()
    assert auth.team_id == sim.team_id
    assert auth.user_id == sim.bot_user_id
    assert auth.bot_id == sim.bot_id
    info = await client.conversation_info(sim.channel_id("alerts"))
    assert info.name == "alerts" and info.is_member and not info.is_archived


# Faults --------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["http_500", "http_503"])
async def test_5xx_html_pages_are_transient(
    sim: SlackSimulator, client: SlackClient, kind: str
) -> None:
    sim.faults.add(kind=kind, method="chat.postMessage", count=1)  # type: ignore[arg-type]
    with pytest.raises(SlackTransientError) as caught:
        await client.post_message(sim.channel_id("alerts"), "hi")
    assert caught.value.http_status in (500, 503)
    assert not isinstance(caught.value, SlackAmbiguousError)
    assert sim.messages(sim.channel_id("alerts")) == []


@pytest.mark.parametrize("kind", ["internal_error", "fatal_error"])
async def test_internal_and_fatal_errors_are_ambiguous_for_posts(
    sim: SlackSimulator, client: SlackClient, kind: str
) -> None:
    sim.faults.add(kind=kind, method="chat.postMessage", count=1)  # type: ignore[arg-type]
    with pytest.raises(SlackAmbiguousError) as caught:
        await client.post_message(sim.channel_id("alerts"), "hi")
    assert caught.value.code == kind


async def test_internal_error_on_a_read_is_only_transient(
    sim: SlackSimulator, client: SlackClient
) -> None:
    sim.faults.add(kind="internal_error", method="auth.test", count=1)
    with pytest.raises(SlackTransientError) as caught:
        await client.auth_test()
    assert not isinstance(caught.value, SlackAmbiguousError)


async def test_dropped_connection_after_sending_is_ambiguous(
    sim: SlackSimulator, client: SlackClient
) -> None:
    sim.faults.add(kind="drop", method="chat.postMessage", count=1)
    with pytest.raises(SlackAmbiguousError):
        await client.post_message(sim.channel_id("alerts"), "hi")


async def test_posted_but_answer_lost_is_ambiguous_and_the_message_is_there(
    sim: SlackSimulator, client: SlackClient
) -> None:
    sim.faults.add(kind="lost_answer", method="chat.postMessage", count=1)
    channel = sim.channel_id("alerts")
    with pytest.raises(SlackAmbiguousError):
        await client.post_message(channel, "hi", None, METADATA)
    assert [m["metadata"] for m in sim.messages(channel)] == [METADATA]


async def test_read_timeout_after_posting_is_ambiguous(sim: SlackSimulator) -> None:
    sim.faults.add(kind="slow", method="chat.postMessage", count=1, delay=1.0)
    channel = sim.channel_id("alerts")
    async with SlackClient(sim.bot_token, base_url=sim.base_url, timeout=0.3) as client:
        with pytest.raises(SlackAmbiguousError, match="timed out"):
            await client.post_message(channel, "hi")
    assert len(sim.messages(channel)) == 1


async def test_injected_ratelimit_carries_retry_after(
    sim: SlackSimulator, client: SlackClient
) -> None:
    sim.faults.add(kind="ratelimited", method="chat.postMessage", count=1, retry_after=7)
    with pytest.raises(SlackRateLimitedError) as caught:
        await client.post_message(sim.channel_id("alerts"), "hi")
    assert caught.value.retry_after == 7.0
    assert caught.value.http_status == 429


async def test_second_post_inside_the_interval_is_rate_limited() -> None:
    async with (
        SlackSimulator(channels=["alerts"], post_interval=30.0) as sim,
        SlackClient(sim.bot_token, base_url=sim.base_url) as client,
    ):
        channel = sim.channel_id("alerts")
        await client.post_message(channel, "one")
        with pytest.raises(SlackRateLimitedError) as caught:
            await client.post_message(channel, "two")
    assert caught.value.retry_after is not None and caught.value.retry_after >= 1


async def test_connection_refused_is_transient() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    async with SlackClient("xoxb-1", base_url=f"http://127.0.0.1:{port}/api/") as client:
        with pytest.raises(SlackTransientError, match="could not connect") as caught:
            await client.post_message("C0123456", "hi")
    assert not isinstance(caught.value, SlackAmbiguousError)


@pytest.mark.parametrize(
    ("status", "content_type", "expected"),
    [
        (200, "text/html", SlackAmbiguousError),
        (502, "text/html", SlackTransientError),
        (404, "text/html", SlackPermanentError),
        (200, "application/json", SlackAmbiguousError),  # "JSON" that does not parse
        (503, "text/plain", SlackTransientError),
    ],
)
async def test_answers_that_are_not_slack_json_map_cleanly(
    status: int, content_type: str, expected: type
) -> None:
    async def handler(_request: web.Request) -> web.Response:
        return web.Response(status=status, body=b"<html>oops</html>", content_type=content_type)

    app = web.Application()
    app.router.add_route("*", "/api/{method}", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    try:
        async with SlackClient("xoxb-1", base_url=f"http://127.0.0.1:{port}/api/") as client:
            with pytest.raises(expected) as caught:
                await client.post_message("C0123456", "hi")
        assert type(caught.value) is expected
    finally:
        await runner.cleanup()


async def test_unknown_channel_and_channel_without_the_bot_are_permanent(
    sim: SlackSimulator, client: SlackClient
) -> None:
    with pytest.raises(SlackPermanentError) as unknown:
        await client.post_message("C0NOSUCH00", "hi")
    assert unknown.value.code == "channel_not_found"
    outside = sim.create_channel("no-bot-here", bot_member=False)
    with pytest.raises(SlackPermanentError) as not_member:
        await client.post_message(outside, "hi")
    assert not_member.value.code == "not_in_channel"
    sim.archive_channel(sim.channel_id("payments"))
    with pytest.raises(SlackPermanentError, match="is_archived"):
        await client.post_message(sim.channel_id("payments"), "hi")


async def test_invalid_blocks_are_permanent(sim: SlackSimulator, client: SlackClient) -> None:
    too_many = [{"type": "divider"}] * 51
    with pytest.raises(SlackPermanentError) as caught:
        await client.post_message(sim.channel_id("alerts"), "hi", too_many)
    assert caught.value.code == "invalid_blocks"


async def test_missing_scope_names_what_is_needed(sim: SlackSimulator, client: SlackClient) -> None:
    sim.faults.add(kind="api_error", error="missing_scope", method="chat.postMessage", count=1)
    with pytest.raises(SlackPermanentError, match="missing_scope"):
        await client.post_message(sim.channel_id("alerts"), "hi")


@pytest.mark.parametrize("code", ["account_inactive", "invalid_auth", "not_authed"])
async def test_credential_codes_are_credentials_errors(
    sim: SlackSimulator, client: SlackClient, code: str
) -> None:
    sim.faults.add(kind="api_error", error=code, method="auth.test", count=1)
    with pytest.raises(SlackCredentialsError) as caught:
        await client.auth_test()
    assert caught.value.code == code


async def test_revoked_and_unknown_tokens_are_credentials_errors(sim: SlackSimulator) -> None:
    sim.revoke_token(sim.bot_token)
    async with SlackClient(sim.bot_token, base_url=sim.base_url) as client:
        with pytest.raises(SlackCredentialsError, match="token_revoked"):
            await client.post_message(sim.channel_id("alerts"), "hi")
    async with SlackClient("xoxb-0-wrong", base_url=sim.base_url) as client:
        with pytest.raises(SlackCredentialsError, match="invalid_auth") as caught:
            await client.auth_test()
    assert "xoxb" not in str(caught.value)


async def test_posts_ask_slack_not_to_parse_the_text() -> None:
    """``parse=none`` on the wire: Slack leaves the fallback text as written."""
    seen: list[dict[str, object]] = []

    async def post_message(request: web.Request) -> web.Response:
        seen.append(await request.json())
        return web.json_response({"ok": True, "channel": "C0PAY00001", "ts": "1.2"})

    app = web.Application()
    app.router.add_post("/api/chat.postMessage", post_message)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    port = runner.addresses[0][1]
    try:
        async with SlackClient("xoxb-test", base_url=f"http://127.0.0.1:{port}/api/") as client:
            await client.post_message("C0PAY00001", "https://evil.example @channel", None)
    finally:
        await runner.cleanup()
    assert seen[0]["parse"] == "none"
    assert seen[0]["unfurl_links"] is False
