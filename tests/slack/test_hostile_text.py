"""Hostile ERP strings through every message builder: what we post carries no mention,
broadcast, link or control character that the input did not earn.

Earned: the configured mention group of an Intacct alert, and a record link whose URL was
given as a record link and points to an allowed host. Everything else in the input, however
it is dressed (``<!channel>``, ``<@U…>``, ``<https://x|y>``, bare URLs, ``&lt;!here&gt;``, NUL,
U+202E, 5,000 characters, lone surrogates), must come out as inert text: escaped, in a
``verbatim`` mrkdwn object, without control or bidi characters.
"""

from __future__ import annotations

import dataclasses
import re
import unicodedata
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ml_connector.intacct.gateway.errors import ErrorDetail
from ml_connector.intacct.outputs import Findings, plan
from ml_connector.intacct.summaries import (
    GLSummaryBuilder,
    PaymentSummaryBuilder,
    Period,
    ReadFailure,
    Vendor,
)
from ml_connector.pipeline import RunOutcome
from ml_connector.sage100.collect.streams import AP_INVOICES, GL_ACCOUNTS, PURCHASE_ORDERS
from ml_connector.sage100.decide.plan import plan_records
from ml_connector.sage100.write.digests import digest
from ml_connector.sage100.write.messages import Style as Sage100Style
from ml_connector.sage100.write.messages import render
from ml_connector.slack import blocks
from ml_connector.slack.blocks import Message, RecordLink
from ml_connector.slack.mrkdwn import host_allowed
from ml_connector.web import replies

from ..intacct.pipeline.test_messages import (
    CHANNELS,
    STAMP,
    STYLE,
    WINDOW,
    a_payment,
    gl_batch,
    gl_line,
)
from ..sage100.pipeline.records import gl_account, invoice, purchase_order
from ..sage100.pipeline.test_messages import CURSOR

MENTION = "<!subteam^S0123ABCD>"  # STYLE's configured mention group
GOOD_URL = "https://www.intacct.com/ia/acct/ur.phtml?.r=ok"
HOSTILE = [
    "<!channel>",
    "<!here>",
    "<!everyone>",
    "<@U0123ABCD>",
    "<#C0123ABCD>",
    "<!subteam^S0EVIL0001>",
    "<https://x.example|y>",
    "https://evil.example/login",
    "http://www.intacct.com.evil.example/",
    "www.evil.example",
    "&lt;!here&gt;",
    "&amp;",
    "@channel",
    "\x00",
    "\u202e",
    "\u2066",
    "\r",
    "\x1b[31m",
    "\x85",
    "\ud800",
    "\udfff",
    "|",
    "*",
]
fragments = st.sampled_from(HOSTILE) | st.text(max_size=8)
hostile = st.one_of(
    st.lists(fragments, min_size=1, max_size=6).map("".join),
    fragments.map(lambda part: (part * 5000)[:5000] if part else "x" * 5000),
)
urls = st.sampled_from(
    [
        GOOD_URL,
        "https://evil.example/phish",
        "javascript:alert(1)",
        "https://www.intacct.com@evil.example/",
        "https://www.intacct.com/a|<!channel>",
        "https://sub.sageintacct.com/x?a=1&b=<2>",
    ]
)

# Characters no posted string may hold (tab and newline are fine).
_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069")
_LINK = re.compile(r"<(https?://[^|>]*)\|[^<>]*>")


def strings(value: Any) -> Iterator[str]:
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from strings(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from strings(item)


def mrkdwn_objects(value: Any) -> Iterator[dict[str, Any]]:
    if isinstance(value, dict):
        if value.get("type") == "mrkdwn":
            yield value
        for item in value.values():
            yield from mrkdwn_objects(item)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from mrkdwn_objects(item)


def assert_inert(message: Message | dict[str, Any], *, earned_urls: set[str]) -> None:
    payload = message.to_payload() if isinstance(message, Message) else message
    for text in strings(payload):
        for ch in set(text):
            category = unicodedata.category(ch)
            assert ch in "\n\t" or category not in ("Cc", "Cs"), repr(ch)
            assert ch not in _BIDI, repr(ch)
    marked = [str(payload["text"])]
    for obj in mrkdwn_objects(payload.get("blocks", [])):
        assert obj.get("verbatim") is True, obj
        marked.append(obj["text"])
    for text in marked:
        rest = text.replace(MENTION, "")
        for match in _LINK.finditer(rest):
            url = match.group(1).replace("&amp;", "&")
            assert url in earned_urls, (url, earned_urls)
            assert host_allowed(url)
        rest = _LINK.sub("", rest)
        assert "<" not in rest and ">" not in rest, rest[:300]


SETTINGS = settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(text=hostile, other=hostile, url=urls)
def test_generic_builders(text: str, other: str, url: str) -> None:
    earned = {url} if host_allowed(url) else set()
    links = [RecordLink(text, url), RecordLink(other)]
    footer = [text, other]
    for message in (
        blocks.summary_message(
            text,
            summary=other,
            facts=[(text, other)],
            table=[(other, text)],
            table_heading=(text, other),
            links=links,
            footer=footer,
        ),
        blocks.alert_message(
            text, summary=other, facts=[(other, text)], lines=[text, other], links=links
        ),
        blocks.digest_message(text, [other, text], summary=other, facts=[(text, other)]),
    ):
        assert_inert(message, earned_urls=earned)


@SETTINGS
@given(text=hostile, other=hostile, url=urls)
def test_intacct_builders(text: str, other: str, url: str) -> None:
    earned = {url} if host_allowed(url) else set()
    builder = GLSummaryBuilder(WINDOW, current_period=Period(2026, 11))
    batch = dataclasses.replace(
        gl_batch(text, journal=other[:20] or "GJ"), url=url, entity_name=other
    )
    lines = [
        dataclasses.replace(gl_line(1, "100.00", True, memo=text), account_title=other),
        dataclasses.replace(gl_line(2, "99.99", False, memo=other), account=text[:40] or "1"),
    ]
    builder.add(batch, lines)
    vendors = {"V1001": Vendor("V1001", text, "inactive", True, other)}
    payments = PaymentSummaryBuilder(WINDOW, vendors, top=3)
    payments.add(
        dataclasses.replace(a_payment(text), url=url, document=other, bank_name=text, run=other)
    )
    failure = ReadFailure(
        "payments",
        "AP payments and vendors",
        WINDOW,
        text,
        (ErrorDetail("BL01001973", other, text, other),),
        code="BL01001973",
    )
    findings = Findings(
        gl=builder.summary(titles={"6000": text}, top_accounts=5),
        unbalanced=builder.unbalanced,
        payments=payments.summary(),
        exceptions=payments.exceptions,
        failures=[(failure, STAMP)],
    )
    out = plan(
        findings,
        pipeline="books",
        company="northwind",
        channels=CHANNELS,
        style=STYLE,
        post_empty=True,
    )
    assert {o.kind for o in out} >= {"gl_summary", "unbalanced_entry", "intacct_error"}
    for outgoing in out:
        assert_inert(outgoing.message, earned_urls=earned)


@SETTINGS
@given(text=hostile, other=hostile)
def test_sage100_builders(text: str, other: str) -> None:
    style = Sage100Style(
        "ABC", "USD", ZoneInfo("UTC"), record_link="https://www.intacct.com/r/{record_key}"
    )
    records = {
        AP_INVOICES: [
            invoice("INV" + other[:20], vendor_name=text, vendor="V" + other[:10], TermsCode=other)
        ],
        PURCHASE_ORDERS: [purchase_order("PO" + text[:30], warehouse="W" + other[:10])],
        GL_ACCOUNTS: [gl_account(desc=text, account="1" + other[:40])],
    }
    for spec, rows in records.items():
        events = plan_records(
            spec, rows, {}, CURSOR, window_start="2000-01-01T00:00:00", overlap_minutes=2
        ).events
        for event in events:
            message = render(event, style)
            earned = set(_urls(message))
            assert all(url.startswith("https://www.intacct.com/r/") for url in earned)
            assert_inert(message, earned_urls=earned)
        if events:
            assert_inert(digest(spec, events, style), earned_urls=set())


def _urls(message: Message) -> Iterator[str]:
    payload = message.to_payload()
    texts = [payload["text"], *(obj["text"] for obj in mrkdwn_objects(payload["blocks"]))]
    for text in texts:
        for match in _LINK.finditer(text):
            yield match.group(1).replace("&amp;", "&")


@SETTINGS
@given(text=hostile, other=hostile)
def test_slash_command_replies(text: str, other: str) -> None:
    outcome = RunOutcome(status="failed", summary=text, error=other)
    for reply in (
        replies.unknown_command(text),
        replies.unknown_pipeline(text, [other]),
        replies.queued(text),
        replies.other_workspace(text),
        replies.run_result(text, outcome, 3.0),
        replies.run_crashed(text),
    ):
        assert_inert(reply, earned_urls=set())


def test_the_checker_catches_what_it_should() -> None:
    """The property above could pass by checking nothing; these must fail it."""
    bad = [
        {"text": "<!channel> hi", "blocks": []},
        {"text": "ok", "blocks": [{"type": "section", "text": {"type": "mrkdwn", "text": "x"}}]},
        {"text": "pay\u202epal", "blocks": []},
        {"text": "<https://evil.example|Open>", "blocks": []},
        {"text": "a\x00b", "blocks": []},
    ]
    for payload in bad:
        try:
            assert_inert(payload, earned_urls=set())
        except AssertionError:
            continue
        raise AssertionError(f"not caught: {payload!r}")
