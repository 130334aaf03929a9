"""bench/chaos.py's counting, on messages made by the connector's own renderers.

The bench only means something if its matcher sees a lost message, a duplicate and a message
no source event explains, by content alone (no metadata), and if what it looks for is what
the pipelines actually write: these messages are rendered by the real Sage 100 and Intacct
message code, so a change of wording fails here instead of making the bench report losses
(or, worse, match nothing and miss them).
"""

from __future__ import annotations

import sys
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from ml_connector.intacct import messages as intacct_messages
from ml_connector.intacct.run_window import Window
from ml_connector.intacct.summaries import (
    GLBatch,
    GLLine,
    GLSummaryBuilder,
    Payment,
    PaymentSummaryBuilder,
    Period,
    Vendor,
    VendorException,
)
from ml_connector.sage100.collect.cursor import StreamCursor
from ml_connector.sage100.collect.streams import (
    AP_INVOICES,
    GL_ACCOUNTS,
    GL_POSTINGS,
    PURCHASE_ORDERS,
)
from ml_connector.sage100.decide.plan import Event as Sage100Event
from ml_connector.sage100.decide.plan import plan_gl_postings, plan_records
from ml_connector.sage100.write.messages import Style, render

from ..sage100.pipeline.records import gl_account, gl_line, invoice, purchase_order

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bench"))
import chaos_count as count

pytestmark = pytest.mark.usefixtures("erp_links")

ZONE = ZoneInfo("America/Chicago")
SAGE = Style(company="ABC", currency="USD", zone=ZONE)
INTACCT = intacct_messages.Style(zone=ZONE, company="northwind", mention_group="S0123ABCD")
CURSOR = StreamCursor.starting_at("2026-11-25T09:00:00")
WINDOW = Window(datetime(2026, 11, 24, 6, 30), datetime(2026, 11, 25, 6, 30))
STAMP = datetime(2026, 11, 25, 8, 49, 7)


def sage100(spec: Any, records: list[dict[str, Any]]) -> list[Sage100Event]:
    if spec is GL_POSTINGS:
        return plan_gl_postings(spec, records, {}, CURSOR, overlap_minutes=2).events
    return plan_records(
        spec, records, {}, CURSOR, window_start="2026-11-25T08:58:00", overlap_minutes=2
    ).events


def posted(*events: Sage100Event) -> list[dict[str, Any]]:
    """As the Slack simulator stores them: text and blocks, here without any metadata."""
    return [render(e, SAGE).to_payload() for e in events]


def batch(recordno: int, batchno: int) -> GLBatch:
    return GLBatch(
        recordno=recordno, batchno=batchno, journal="GJ", title="Accruals", state="Posted",
        entity="100", entity_name="East", batch_date=date(2026, 11, 25), whenmodified=STAMP,
        url="",
    )  # fmt: skip


def line(recordno: int, batch_no: int, amount: str, debit: bool) -> GLLine:
    return GLLine(
        recordno=recordno, batch=batch_no, line_no=recordno, debit=debit,
        amount=Decimal(amount), currency="USD", account="6000", account_title="Salaries",
        entity="100", entry_date=date(2026, 11, 25), adjusting=False, description="",
    )  # fmt: skip


def payment(recordno: int, state: str = "Complete") -> Payment:
    return Payment(
        recordno=recordno, run="Payments 11/25/2026", document=f"ACH-{recordno}", state=state,
        method="ACH", bank="BOA", bank_name="Bank of America", vendor_id="V1001",
        vendor_name="AT&T", amount=Decimal("78.95"), currency="USD",
        paid_on=date(2026, 11, 25), whenmodified=STAMP, url="",
    )  # fmt: skip


def world() -> tuple[list[count.Event], list[count.Tally], dict[str, list[dict[str, Any]]]]:
    """One source event of every kind the bench makes, and the messages the connector writes."""
    [inv] = sage100(AP_INVOICES, [invoice("0000000012", amount="12480.00")])
    [memo] = sage100(AP_INVOICES, [invoice("0000000013", amount="-1250.00")])
    [po] = sage100(PURCHASE_ORDERS, [purchase_order("0000042")])
    [register] = sage100(
        GL_POSTINGS,
        [gl_line("000007", 1, debit="10.00"), gl_line("000007", 2, credit="10.00")],
    )
    [new_account] = sage100(
        GL_ACCOUNTS, [gl_account("000000091", account="7001-99-00", created=("20261125", "9.5"))]
    )
    [changed] = sage100(
        GL_ACCOUNTS,
        [gl_account(account="6500-00-00", updated=("20261125", "9.5"), desc="Travel (renamed)")],
    )
    assert changed.kind == "updated"

    gl = GLSummaryBuilder(WINDOW, current_period=Period(2026, 11))
    gl.add(batch(41, 7), [line(1, 41, "10.00", True), line(2, 41, "10.00", False)])
    unbalanced = gl.add(batch(42, 8), [line(3, 42, "10.00", True), line(4, 42, "9.00", False)])
    assert unbalanced is not None
    vendors = {"V1001": Vendor("V1001", "AT&T", "active", True, "ACH")}
    pay = PaymentSummaryBuilder(WINDOW, vendors, top=3)
    pay.add(payment(12))
    declined = payment(13, "Declined")
    pay.add(declined)

    events = [
        count.ap_invoice("invoices", "ap", "0000000012"),
        count.ap_invoice("invoices", "ap", "0000000013"),
        count.ap_invoice("approvals", "approvals", "0000000012"),
        count.purchase_order("orders", "po", "0000042"),
        count.gl_register("registers", "gl", "GJ-000007"),
        count.gl_account("accounts", "gl", "7001-99-00"),
        count.gl_account("accounts", "gl", "6500-00-00"),
        count.unbalanced_batch("unbalanced", "alerts", "GJ", "8"),
        count.vendor_exception("vendor", "alerts", "13"),
    ]
    tallies = [
        count.gl_batches("gl batches", "finance", 2),
        count.gl_lines("gl lines", "finance", 4),
        count.payments("payments", "payments", 2),
    ]
    channels = {
        "ap": posted(inv, memo),
        "approvals": posted(inv),
        "po": posted(po),
        "gl": posted(register, new_account, changed),
        "finance": [
            intacct_messages.gl_summary(
                gl.summary(titles={}, top_accounts=5), INTACCT
            ).to_payload(),
            intacct_messages.gl_empty(WINDOW, INTACCT).to_payload(),
        ],
        "payments": [intacct_messages.payment_summary(pay.summary(), INTACCT).to_payload()],
        "alerts": [
            intacct_messages.unbalanced_alert(unbalanced, INTACCT).to_payload(),
            intacct_messages.vendor_alert(
                VendorException(declined, "V1001", "AT&T", ("payment declined",)), INTACCT
            ).to_payload(),
        ],
    }
    return events, tallies, channels


def test_every_source_event_is_found_once_by_what_its_message_says() -> None:
    events, tallies, channels = world()
    report = count.count(events, tallies, channels, count.NOTICES)
    assert report.unmatched == []
    assert [(r.row, r.expected, r.delivered, r.lost, r.duplicates) for r in report.rows] == [
        ("invoices", 2, 2, 0, 0),
        ("approvals", 1, 1, 0, 0),
        ("orders", 1, 1, 0, 0),
        ("registers", 1, 1, 0, 0),
        ("accounts", 2, 2, 0, 0),
        ("unbalanced", 1, 1, 0, 0),
        ("vendor", 1, 1, 0, 0),
        ("gl batches", 2, 2, 0, 0),
        ("gl lines", 4, 4, 0, 0),
        ("payments", 2, 2, 0, 0),
    ]
    assert report.notices == 1  # the empty window
    assert report.goal_met


def test_a_planted_duplicate_and_a_planted_loss_are_both_seen() -> None:
    events, tallies, channels = world()
    channels["ap"].append(channels["ap"][0])  # invoice 12 posted twice
    channels["po"].clear()  # the purchase order never arrived
    channels["alerts"].pop()  # nor the declined payment's alert
    channels["payments"] *= 2  # a summary posted twice counts its payments twice
    report = count.count(events, tallies, channels, count.NOTICES)
    rows = {r.row: r for r in report.rows}
    assert (rows["invoices"].delivered, rows["invoices"].duplicates) == (2, 1)
    assert (rows["orders"].lost, rows["vendor"].lost) == (1, 1)
    assert (rows["payments"].duplicates, rows["payments"].lost) == (2, 0)
    assert report.lost == 2 and report.duplicates == 3
    assert report.lost_keys == ["orders: 0000042", "vendor: APPYMT 13"]
    assert report.duplicate_keys == ["invoices: 0000000012 ×2"]
    assert not report.goal_met


def test_a_missing_summary_is_a_loss_of_the_events_it_counts() -> None:
    events, tallies, channels = world()
    channels["finance"] = channels["finance"][1:]  # only the empty-window line is left
    report = count.count(events, tallies, channels, count.NOTICES)
    rows = {r.row: r for r in report.rows}
    assert (rows["gl batches"].lost, rows["gl lines"].lost) == (2, 4)
    assert not report.goal_met


def test_a_message_no_source_event_explains_is_reported() -> None:
    events, tallies, channels = world()
    stray = sage100(PURCHASE_ORDERS, [purchase_order("0000099")])
    channels["po"] += posted(*stray)
    # A message posted where its event is not expected is no delivery of it either.
    channels["approvals"] += posted(*sage100(AP_INVOICES, [invoice("0000000013")]))
    report = count.count(events, tallies, channels, count.NOTICES)
    assert [channel for channel, _ in report.unmatched] == ["approvals", "po"]
    assert report.lost == 0 and report.duplicates == 0
    assert not report.goal_met


def test_ids_match_whole_not_as_a_prefix() -> None:
    [longer] = sage100(PURCHASE_ORDERS, [purchase_order("00000421")])
    report = count.count(
        [count.purchase_order("orders", "po", "0000042")], [], {"po": posted(longer)}
    )
    assert report.lost == 1 and len(report.unmatched) == 1


def test_one_message_naming_two_events_is_not_two_deliveries() -> None:
    events = [count.ap_invoice("invoices", "ap", "0000000012")]
    events.append(count.ap_invoice("invoices", "ap", "0000000013"))
    merged = {"text": "New AP invoice 0000000012 and credit memo 0000000013 from Acme"}
    report = count.count(events, [], {"ap": [merged]})
    assert report.lost == 0 and report.shared == [("ap", merged["text"])]
    assert not report.goal_met
