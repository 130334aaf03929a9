"""Messages and digests: the facts shown, escaping, and Block Kit Slack would accept."""

from __future__ import annotations

from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.config import Sage100Stream
from ml_connector.sage100.collect.cursor import StreamCursor
from ml_connector.sage100.collect.streams import (
    AP_INVOICES,
    GL_ACCOUNTS,
    GL_POSTINGS,
    PURCHASE_ORDERS,
)
from ml_connector.sage100.decide.plan import Event, RecordEvent, plan_gl_postings, plan_records
from ml_connector.sage100.route.dispatch import plan_outgoing
from ml_connector.sage100.write.digests import digest
from ml_connector.sage100.write.messages import Style, render
from ml_connector.sim.slack.blockkit import text_length, validate_blocks

from .records import gl_account, gl_line, invoice, purchase_order
from .world import block_text

pytestmark = pytest.mark.usefixtures("erp_links")

STYLE = Style(company="ABC", currency="USD", zone=ZoneInfo("America/Chicago"))
CURSOR = StreamCursor.starting_at("2026-11-25T09:00:00")


def events(spec: Any, records: list[dict[str, Any]]) -> list[Event]:
    plan = plan_records(
        spec, records, {}, CURSOR, window_start="2000-01-01T00:00:00", overlap_minutes=2
    )
    return plan.events


def register_events(lines: list[dict[str, Any]]) -> list[Event]:
    return plan_gl_postings(GL_POSTINGS, lines, {}, CURSOR, overlap_minutes=2).events


def assert_valid(message: Any) -> None:
    payload = message.to_payload()
    assert validate_blocks(payload["blocks"]) == []
    assert text_length(payload["blocks"]) <= 12_000
    assert payload["text"].strip()


def test_stamps_are_shown_in_the_pipelines_zone_with_its_name() -> None:
    [event] = events(AP_INVOICES, [invoice(created=("20260704", "14.25"))])
    assert "Entered 2026-07-04 14:15 CDT" in block_text(render(event, STYLE).to_payload())
    [event] = events(AP_INVOICES, [invoice(created=("20261224", "14.25"))])
    assert "Entered 2026-12-24 14:15 CST" in block_text(render(event, STYLE).to_payload())


def test_gl_register_shows_the_largest_accounts_and_warns_when_out_of_balance() -> None:
    lines = [
        gl_line("000007", n, account=f"{6000 + n}-00-00", debit=f"{n * 100}.00")
        for n in range(1, 8)
    ]
    lines.append(gl_line("000007", 8, account="2000-00-00", credit="2700.00"))
    [event] = register_events(lines)
    message = render(event, STYLE)
    assert_valid(message)
    shown = block_text(message.to_payload())
    assert "*Largest accounts*" in shown
    assert "2000-00-00 Account 2000-00-00\nCr USD 2,700.00" in shown
    assert "6007-00-00" in shown and "6001-00-00" not in shown  # only the largest few
    assert ":warning: *Out of balance: debits exceed credits by USD 100.00*" in shown
    assert message.text.endswith("Out of balance: debits exceed credits by USD 100.00")


def test_register_digest_lists_unbalanced_registers_first() -> None:
    lines = []
    for n in range(1, 6):
        amount = f"{n * 1000}.00"
        lines.append(gl_line(f"{n:06d}", 1, debit=amount))
        lines.append(gl_line(f"{n:06d}", 2, credit=amount if n != 2 else "1.00"))
    message = digest(GL_POSTINGS, register_events(lines), STYLE)
    assert_valid(message)
    shown = block_text(message.to_payload())
    assert message.text.startswith("GL registers: 5 new")
    assert shown.index("GJ-000002") < shown.index("GJ-000005") < shown.index("GJ-000004")
    assert "*Out of balance*\n1 register" in shown
    assert "*Debits*\nUSD 15,000.00" in shown


def test_account_digest_and_po_digest() -> None:
    accounts = [gl_account(f"{n:09d}", account=f"{7000 + n}-00-00") for n in range(30)]
    message = digest(GL_ACCOUNTS, events(GL_ACCOUNTS, accounts), STYLE)
    assert_valid(message)
    assert "… and 20 more" in block_text(message.to_payload())
    orders = [purchase_order(f"{n:07d}", total=f"{n}.00") for n in range(1, 25)]
    message = digest(PURCHASE_ORDERS, events(PURCHASE_ORDERS, orders), STYLE)
    assert_valid(message)
    assert message.text == "Purchase orders: 24 new (24 purchase orders, USD 300.00 in total)"


def test_dispatch_digests_only_the_crowded_channel_and_keys_are_stable() -> None:
    stream = Sage100Stream.model_validate(
        {
            "channel": "CAP0000001",
            "digest_threshold": 2,
            "routes": [
                {
                    "when": [{"field": "InvoiceAmt", "op": "ge", "value": 1000}],
                    "channel": "CAPPROVAL1",
                    "also": True,
                }
            ],
        }
    )
    found = events(AP_INVOICES, [invoice(f"{n:010d}", amount=f"{n * 500}.00") for n in range(4)])
    rows = plan_outgoing("sage100", AP_INVOICES, stream, found, STYLE)
    assert [(r.channel, r.kind) for r in rows] == [
        ("CAP0000001", "sage100.ap_invoices.digest"),
        ("CAPPROVAL1", "sage100.ap_invoices.created"),
        ("CAPPROVAL1", "sage100.ap_invoices.created"),
    ]
    again = plan_outgoing("sage100", AP_INVOICES, stream, list(reversed(found)), STYLE)
    assert sorted(r.dedupe_key for r in rows) == sorted(r.dedupe_key for r in again)
    assert len({r.dedupe_key for r in rows}) == 3


hostile = st.text(
    alphabet=st.sampled_from(list("<>&*_~`|:!@#^ abcXYZ\u00e9\U0001f600\n")), max_size=60
)
amounts = st.decimals(min_value=-(10**12), max_value=10**12, places=2, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(hostile, hostile, amounts, st.booleans())
def test_any_vendor_text_and_amount_render_valid_escaped_blocks(
    vendor: str, invoice_no: str, amount: Decimal, hold: bool
) -> None:
    record = invoice(
        invoice_no or "X", vendor_name=vendor, amount=str(amount), hold="Y" if hold else "N"
    )
    [event] = events(AP_INVOICES, [record])
    assert isinstance(event, RecordEvent)
    style = Style("ABC", "USD", ZoneInfo("UTC"), record_link="https://erp/{record_key}")
    message = render(event, style)
    assert_valid(message)
    payload = message.to_payload()
    # Header text is plain_text (shown literally); every mrkdwn text and the fallback escape.
    mrkdwn = [b for b in payload["blocks"] if b["type"] != "header"]
    for text in [*block_text({"blocks": mrkdwn}).split("\n"), payload["text"]]:
        stripped = text.replace("<https://erp/", "").replace("&lt;", "").replace("&gt;", "")
        assert "<!" not in stripped and "<@" not in stripped
    assert digest(AP_INVOICES, [event] * 25, style).to_payload()["blocks"]
