"""Block Kit messages: any ERP strings and amounts give a message Slack (the simulator) takes."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from slack_sdk.models.blocks import Block

from ml_connector.sim.slack import SlackSimulator
from ml_connector.sim.slack.blockkit import validate_blocks
from ml_connector.slack.blocks import (
    MAX_BLOCKS,
    MAX_FALLBACK_TEXT,
    Message,
    RecordLink,
    alert_message,
    compose,
    digest_message,
    section,
    summary_message,
)
from ml_connector.slack.client import SlackClient
from ml_connector.slack.money import format_money
from ml_connector.slack.mrkdwn import slack_len

pytestmark = pytest.mark.usefixtures("erp_links")

amounts = st.decimals(allow_nan=False, allow_infinity=False, places=None)
currencies = st.text(min_size=0, max_size=4)
texts = st.text(max_size=400)
long_texts = st.text(max_size=5000)
facts = st.lists(st.tuples(texts, texts), max_size=25)
money_rows = st.lists(st.tuples(texts, amounts, currencies), max_size=60)
links = st.lists(
    st.builds(
        RecordLink, texts, st.one_of(st.none(), st.text(max_size=80).map("https://erp/".__add__))
    ),
    max_size=40,
)
items = st.lists(texts, max_size=300)


def local_problems(message: Message) -> list[str]:
    """What Slack's limits (as the simulator and slack_sdk's models see them) say."""
    blocks = list(message.blocks)
    problems = [str(p) for p in validate_blocks(blocks)]
    for block in blocks:
        try:
            Block.parse(block).validate_json()  # type: ignore[union-attr]
        except Exception as exc:  # slack_sdk raises SlackObjectFormationError
            problems.append(f"slack_sdk: {exc}")
    if not message.text.strip() or slack_len(message.text) > MAX_FALLBACK_TEXT:
        problems.append("fallback text empty or too long")
    if len(blocks) > MAX_BLOCKS:
        problems.append("too many blocks")
    return problems


def post_all(sim: SlackSimulator, messages: list[Message]) -> list[str]:
    async def run() -> list[str]:
        async with SlackClient(sim.bot_token, base_url=sim.base_url) as client:
            posted = []
            for message in messages:
                payload = message.to_payload()
                result = await client.post_message(
                    sim.channel_id("alerts"), payload["text"], payload["blocks"]
                )
                posted.append(result.ts)
            return posted

    return asyncio.run(run())


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    title=texts,
    summary=st.one_of(st.none(), long_texts),
    pairs=facts,
    rows=money_rows,
    record_links=links,
    lines=items,
    footer=st.lists(texts, max_size=14),
)
def test_any_strings_and_amounts_give_messages_slack_accepts(
    threaded_sim: SlackSimulator,
    title: str,
    summary: str | None,
    pairs: list[tuple[str, str]],
    rows: list[tuple[str, Decimal, str]],
    record_links: list[RecordLink],
    lines: list[str],
    footer: list[str],
) -> None:
    table = [(name, format_money(amount, currency)) for name, amount, currency in rows]
    messages = [
        summary_message(
            title,
            summary=summary,
            facts=pairs,
            table=table,
            table_heading=("Account", "Amount"),
            links=record_links,
            footer=footer,
        ),
        alert_message(
            title,
            summary=summary,
            facts=pairs,
            lines=lines,
            links=record_links,
            footer=footer,
            severity="warning",
        ),
        digest_message(title, lines, summary=summary, facts=pairs, footer=footer),
    ]
    for message in messages:
        assert local_problems(message) == []
    before = len(threaded_sim.messages(threaded_sim.channel_id("alerts")))
    assert len(post_all(threaded_sim, messages)) == 3
    assert len(threaded_sim.messages(threaded_sim.channel_id("alerts"))) == before + 3


def texts_of(message: Message) -> str:
    out: list[str] = []

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                if key == "text" and isinstance(item, str):
                    out.append(item)
                else:
                    walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(list(message.blocks))
    return "\n".join(out)


def test_erp_text_is_escaped_everywhere_but_plain_text_headers() -> None:
    message = alert_message(
        "Vendor <!channel> & co",
        summary="AT&T <b>",
        facts=[("Vendor", "<@U123>")],
        lines=["<!here> line"],
        links=[RecordLink("Bill <1>", "https://erp.example/b?id=1&x=2")],
        footer=["<!everyone>"],
    )
    body = texts_of(message)
    header = message.blocks[0]["text"]["text"]
    assert header == ":rotating_light: Vendor <!channel> & co"  # plain_text: shown literally
    rest = body.replace(header, "")
    assert "<!" not in rest and "<@" not in rest and "<b>" not in rest
    assert "AT&amp;T &lt;b&gt;" in rest
    assert "<https://erp.example/b?id=1&amp;x=2|Bill &lt;1&gt;>" in rest
    assert "<!" not in message.text


def test_money_table_shows_currency_and_separators() -> None:
    message = summary_message(
        "GL posting run",
        table=[("4000 Revenue", format_money(Decimal("-1234567.5"), "USD"))],
        table_heading=("Account", "Net"),
    )
    fields = [f["text"] for f in message.blocks[1]["fields"]]
    assert fields == ["*Account*", "*Net*", "4000 Revenue", "USD -1,234,567.50"]


def test_every_message_has_a_fallback_and_unfurls_off() -> None:
    payload = digest_message("AP invoices", ["a", "b"], noun="invoices").to_payload()
    assert payload["text"] == "AP invoices: 2 invoices"
    assert payload["unfurl_links"] is False and payload["unfurl_media"] is False
    assert Message.from_payload(payload).to_payload() == payload


def test_a_long_digest_folds_into_and_n_more() -> None:
    items = [f"Invoice {i:05d} · ACME & Sons · USD 1,000.00" for i in range(2000)]
    message = digest_message("AP invoices", items, noun="invoices")
    assert local_problems(message) == []
    body = message.blocks[2]["text"]["text"]
    shown = body.count("\n")
    assert body.endswith(f"… and {2000 - shown:,} more")
    assert "2,000 invoices" in message.blocks[1]["text"]["text"]


def test_many_facts_fold_at_fifty_blocks() -> None:
    pairs = [(f"Account {i}", "USD 1.00") for i in range(1000)]
    message = summary_message("Trial balance", facts=pairs)
    assert len(message.blocks) == MAX_BLOCKS
    assert local_problems(message) == []
    last = message.blocks[-1]
    assert last["type"] == "context"
    assert "more blocks not shown" in last["elements"][0]["text"]


def test_many_context_parts_fold_into_the_tenth() -> None:
    message = summary_message("Run", footer=[f"part {i}" for i in range(25)])
    elements = message.blocks[-1]["elements"]
    assert len(elements) == 10
    assert elements[-1]["text"] == "… and 16 more"


def test_compose_keeps_the_total_text_under_slacks_ceiling() -> None:
    blocks = [section("x" * 2900) for _ in range(10)]
    message = compose("big", blocks)
    assert local_problems(message) == []
    assert sum(len(b.get("text", {}).get("text", "")) for b in message.blocks) < 12_000
    assert "more blocks not shown" in texts_of(message)


def test_blank_erp_values_become_a_dash() -> None:
    message = summary_message("", summary="   ", facts=[("", "")])
    assert local_problems(message) == []
    assert message.blocks[0]["text"]["text"] == "—"
