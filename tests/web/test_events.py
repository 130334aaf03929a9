"""``/slack/events`` over real HTTP: signatures, challenges, retries, uninstalls."""

from __future__ import annotations

import asyncio
import json
import time

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.outbox import OutboxMessage, enqueue
from ml_connector.slack.installations import get_installation, save_installation
from ml_connector.store.tables import outbox, slack_events
from ml_connector.web import slack_events as events_module

from .conftest import (
    SIGNING_SECRET,
    TEAM_ID,
    Server,
    database_dump,
    event_body,
    sign,
)

EVENTS = "/slack/events"


async def event_rows(engine: AsyncEngine) -> list[sa.Row[tuple[str, float | None]]]:
    async with engine.connect() as conn:
        result = await conn.execute(sa.select(slack_events.c.event_id, slack_events.c.handled_at))
        return list(result.all())


async def wait_for(predicate_coro, timeout: float = 5.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if await predicate_coro():
            return
        await asyncio.sleep(0.02)
    raise AssertionError("condition not met in time")


async def test_url_verification_answers_the_challenge(server: Server) -> None:
    body = json.dumps(
        {
            "token": "t",
            "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P",
            "type": "url_verification",
        }
    ).encode()
    status, answer, _ = await server.post_signed(EVENTS, body)
    assert status == 200
    assert json.loads(answer) == {
        "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"
    }


async def test_an_event_signed_by_slack_sdk_is_acknowledged_and_recorded(server: Server) -> None:
    status, answer, _ = await server.post_signed(EVENTS, event_body("Ev0ACCEPT01"))
    assert (status, answer) == (200, b"")

    async def handled() -> bool:
        rows = await event_rows(server.engine)
        return len(rows) == 1 and rows[0].handled_at is not None

    await wait_for(handled)
    assert (await event_rows(server.engine))[0].event_id == "Ev0ACCEPT01"


def _one_byte_changed(body: bytes) -> bytes:
    index = body.index(b"Ev0FORGED01")
    return body[:index] + b"F" + body[index + 1 :]


@pytest.mark.parametrize(
    "case",
    [
        "one byte changed",
        "wrong secret",
        "six minutes old",
        "six minutes ahead",
        "no headers",
        "signature only",
        "garbled timestamp",
    ],
)
async def test_forged_or_stale_requests_are_refused_and_change_nothing(
    server: Server, case: str
) -> None:
    body = event_body("Ev0FORGED01", "app_uninstalled")
    headers = {"Content-Type": "application/json", **sign(body)}
    sent = body
    if case == "one byte changed":
        sent = _one_byte_changed(body)
    elif case == "wrong secret":
        headers.update(sign(body, secret=SIGNING_SECRET[::-1]))
    elif case == "six minutes old":
        headers.update(sign(body, timestamp=int(time.time()) - 360))
    elif case == "six minutes ahead":
        headers.update(sign(body, timestamp=int(time.time()) + 360))
    elif case == "no headers":
        headers = {"Content-Type": "application/json"}
    elif case == "signature only":
        del headers["X-Slack-Request-Timestamp"]
    elif case == "garbled timestamp":
        headers["X-Slack-Request-Timestamp"] = "yesterday"
    before = await database_dump(server.engine)
    status, answer, _ = await server.post(EVENTS, sent, headers)
    assert status == 401
    assert json.loads(answer) == {"error": "invalid request"}
    await asyncio.sleep(0.1)  # nothing was scheduled, but give it the chance to show
    assert await database_dump(server.engine) == before


async def test_a_body_over_the_cap_is_413_before_any_parsing(server: Server) -> None:
    body = b'{"type":"event_callback","pad":"' + b"x" * (1_048_576) + b'"}'
    before = await database_dump(server.engine)
    status, _answer, _ = await server.post_signed(EVENTS, body)
    assert status == 413
    assert await database_dump(server.engine) == before


@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2, 3]",
        b"\xff\xfe",
        b'{"type": "event_callback"}',
        b'{"type": "event_callback", "event_id": 7, "event": {}}',
        b'{"type": "event_callback", "event_id": "Ev1", "event": "x"}',
        b'{"type": "url_verification"}',
    ],
)
async def test_malformed_but_signed_bodies_are_400(server: Server, body: bytes) -> None:
    status, _answer, _ = await server.post_signed(EVENTS, body)
    assert status == 400
    assert await event_rows(server.engine) == []


async def test_other_envelope_types_are_acknowledged(server: Server) -> None:
    body = json.dumps({"type": "app_rate_limited", "team_id": TEAM_ID, "minute_rate_limited": 1})
    status, _answer, _ = await server.post_signed(EVENTS, body.encode())
    assert status == 200


async def test_slack_retries_of_one_event_are_handled_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[str] = []
    original = events_module.handle_event

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        handled.append(args[2].event_id)
        await original(*args, **kwargs)

    monkeypatch.setattr(events_module, "handle_event", counting)
    body = event_body("Ev0RETRY001")
    first = await server.post_signed(EVENTS, body)
    retries = await asyncio.gather(
        server.post_signed(
            EVENTS, body, {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
        ),
        server.post_signed(
            EVENTS, body, {"X-Slack-Retry-Num": "2", "X-Slack-Retry-Reason": "http_error"}
        ),
    )
    assert [r[0] for r in (first, *retries)] == [200, 200, 200]
    await asyncio.sleep(0.2)
    assert handled == ["Ev0RETRY001"]
    assert [r.event_id for r in await event_rows(server.engine)] == ["Ev0RETRY001"]


async def test_simultaneous_deliveries_of_one_event_are_handled_once(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    handled: list[str] = []

    async def counting(*args, **kwargs):  # type: ignore[no-untyped-def]
        handled.append(args[2].event_id)

    monkeypatch.setattr(events_module, "handle_event", counting)
    body = event_body("Ev0BURST001")
    answers = await asyncio.gather(*(server.post_signed(EVENTS, body) for _ in range(10)))
    assert {a[0] for a in answers} == {200}
    await asyncio.sleep(0.1)
    assert handled == ["Ev0BURST001"]


async def install(engine: AsyncEngine, team_id: str = TEAM_ID) -> None:
    async with engine.begin() as conn:
        await save_installation(
            conn,
            workspace="default",
            team_id=team_id,
            team_name="Acme",
            bot_token_secret="slack.default.bot_token",
        )


async def queue_messages(engine: AsyncEngine, count: int) -> None:
    async with engine.begin() as conn:
        for n in range(count):
            await enqueue(
                conn,
                workspace="default",
                channel="C0GL000001",
                message=OutboxMessage(text=f"message {n}", blocks=[]),
                dedupe_key=f"test:{n}",
                source={},
            )


async def outbox_states(engine: AsyncEngine) -> list[tuple[str, str | None]]:
    async with engine.connect() as conn:
        rows = await conn.execute(
            sa.select(outbox.c.status, outbox.c.held_reason).order_by(outbox.c.id)
        )
        return [(r[0], r[1]) for r in rows]


async def test_app_uninstalled_makes_the_installation_unusable_and_holds_messages(
    server: Server,
) -> None:
    await install(server.engine)
    await queue_messages(server.engine, 3)
    status, _answer, _ = await server.post_signed(
        EVENTS, event_body("Ev0UNINST01", "app_uninstalled")
    )
    assert status == 200

    async def held() -> bool:
        return {s for s, _r in await outbox_states(server.engine)} == {"held"}

    await wait_for(held)
    reasons = {r for _s, r in await outbox_states(server.engine)}
    assert reasons == {"the Slack app was uninstalled from the workspace"}
    installation = await get_installation(server.engine, "default")
    assert installation is not None
    assert installation.status == "unusable"
    assert installation.unusable_reason == "the Slack app was uninstalled from the workspace"


async def test_tokens_revoked_acts_only_on_bot_tokens(server: Server) -> None:
    await install(server.engine)
    await queue_messages(server.engine, 2)
    user_only = event_body("Ev0REVOKE01", "tokens_revoked", tokens={"oauth": ["U0USER0001"]})
    assert (await server.post_signed(EVENTS, user_only))[0] == 200

    async def handled() -> bool:
        rows = await event_rows(server.engine)
        return bool(rows) and all(r.handled_at is not None for r in rows)

    await wait_for(handled)
    assert {s for s, _r in await outbox_states(server.engine)} == {"pending"}

    bot = event_body("Ev0REVOKE02", "tokens_revoked", tokens={"bot": ["U0BOT00001"]})
    assert (await server.post_signed(EVENTS, bot))[0] == 200

    async def held() -> bool:
        return {s for s, _r in await outbox_states(server.engine)} == {"held"}

    await wait_for(held)
    installation = await get_installation(server.engine, "default")
    assert installation is not None and installation.status == "unusable"


async def test_an_uninstall_from_a_team_we_are_not_installed_in_changes_nothing(
    server: Server,
) -> None:
    await install(server.engine, team_id="T0SOMEONE1")
    await queue_messages(server.engine, 1)
    assert (await server.post_signed(EVENTS, event_body("Ev0OTHER01", "app_uninstalled")))[0] == 200
    await asyncio.sleep(0.3)
    assert await outbox_states(server.engine) == [("pending", None)]
    installation = await get_installation(server.engine, "default")
    assert installation is not None and installation.status == "active"


async def test_a_database_blip_while_handling_an_uninstall_is_retried(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The event id is recorded after the 200, so Slack will not send the event again: a
    failure while handling it must be retried here, not dropped."""
    await install(server.engine)
    await queue_messages(server.engine, 2)
    monkeypatch.setattr(events_module, "HANDLE_RETRY_BASE", 0.01)
    real_hold = events_module.hold_workspace
    failures = [sa.exc.OperationalError("UPDATE outbox", {}, Exception("database is locked"))] * 2

    async def flaky_hold(*args, **kwargs):  # type: ignore[no-untyped-def]
        if failures:
            raise failures.pop()
        return await real_hold(*args, **kwargs)

    monkeypatch.setattr(events_module, "hold_workspace", flaky_hold)
    status, _answer, _ = await server.post_signed(
        EVENTS, event_body("Ev0BLIP0001", "app_uninstalled")
    )
    assert status == 200

    async def held() -> bool:
        return {s for s, _r in await outbox_states(server.engine)} == {"held"}

    await wait_for(held)
    assert failures == []
    installation = await get_installation(server.engine, "default")
    assert installation is not None and installation.status == "unusable"

    async def marked_handled() -> bool:
        return [r.handled_at is not None for r in await event_rows(server.engine)] == [True]

    await wait_for(marked_handled)
