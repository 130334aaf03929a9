"""The pure decisions of one poll: what is news, what is remembered, where the cursor goes."""

from __future__ import annotations

from typing import Any

import pytest

from ml_connector.sage100.collect.cursor import Position, StreamCursor
from ml_connector.sage100.collect.records import Sage100RecordError
from ml_connector.sage100.collect.streams import AP_INVOICES, GL_ACCOUNTS, GL_POSTINGS
from ml_connector.sage100.decide.changes import fingerprint
from ml_connector.sage100.decide.plan import (
    RecordEvent,
    RegisterEvent,
    plan_gl_postings,
    plan_records,
)

from .records import gl_account, gl_line, invoice

START = "2026-11-25T09:00:00"
CURSOR = StreamCursor.starting_at("2026-11-25T09:02:00")


def _state(record: dict[str, Any], spec: Any = AP_INVOICES) -> dict[str, Any]:
    return {"stamp": record["stamp"], "fields": fingerprint(spec, record)}


def _plan(records: list[dict[str, Any]], states: dict[str, Any] | None = None) -> Any:
    return plan_records(
        AP_INVOICES, records, states or {}, CURSOR, window_start=START, overlap_minutes=2
    )


def test_a_new_record_is_created_and_remembered() -> None:
    record = invoice()
    plan = _plan([record])
    [event] = plan.events
    assert isinstance(event, RecordEvent) and event.kind == "created" and event.earlier_known
    assert plan.states[record["record_key"]]["fields"]["InvoiceAmt"] == "100.00"
    assert plan.cursor.position == Position("2026-11-25T09:30:00", record["record_key"])


def test_the_same_version_again_is_dropped_without_writes() -> None:
    record = invoice()
    plan = _plan([record], {record["record_key"]: _state(record)})
    assert plan.events == [] and plan.states == {}


def test_an_unshown_change_moves_the_stamp_but_posts_nothing() -> None:
    before = invoice()
    after = invoice(updated=("20261125", "10.0"), TermsCode="05")
    plan = _plan([after], {before["record_key"]: _state(before)})
    assert plan.events == []
    assert plan.states[after["record_key"]]["stamp"] == "2026-11-25T10:00:00"


def test_a_shown_change_is_an_update_naming_old_and_new() -> None:
    before = invoice(amount="100.00", hold="N")
    after = invoice(amount="120.50", hold="Y", updated=("20261125", "10.0"))
    [event] = _plan([after], {before["record_key"]: _state(before)}).events
    assert isinstance(event, RecordEvent) and event.kind == "updated"
    assert [(c.field.label, c.old, c.new) for c in event.changes] == [
        ("amount", "100.00", "120.50"),
        ("hold", "N", "Y"),
    ]


def test_amounts_compare_as_money_not_text() -> None:
    before = invoice(amount="100")
    after = invoice(amount="100.00", updated=("20261125", "10.0"))
    assert _plan([after], {before["record_key"]: _state(before)}).events == []


def test_a_record_read_twice_in_one_poll_counts_once_at_its_latest_version() -> None:
    old = invoice(amount="1.00")
    new = invoice(amount="2.00", updated=("20261125", "11.0"))
    plan = _plan([old, invoice("0000000002"), new])
    assert plan.records_read == 3
    assert [(e.record_key, e.record["InvoiceAmt"]) for e in plan.events] == [
        ("01-ACME001-0000000002", "100.00"),
        ("01-ACME001-0000000001", "2.00"),
    ]


def test_changed_before_the_stream_knew_it_is_an_update_with_unknown_changes() -> None:
    old_record = invoice(created=("20260101", "8.0"), updated=("20261125", "9.5"))
    [event] = _plan([old_record]).events
    assert isinstance(event, RecordEvent)
    assert event.kind == "updated" and not event.earlier_known and event.changes == ()


def test_gl_account_marked_d_is_deleted() -> None:
    before = gl_account()
    after = gl_account(status="D", updated=("20261125", "10.0"))
    plan = plan_records(
        GL_ACCOUNTS,
        [after],
        {"000000001": _state(before, GL_ACCOUNTS)},
        CURSOR,
        window_start=START,
        overlap_minutes=2,
    )
    [event] = plan.events
    assert event.kind == "deleted"
    assert [(c.field.label, c.old, c.new) for c in event.changes] == [("status", "A", "D")]


def test_the_cursor_never_moves_back() -> None:
    ahead = StreamCursor.starting_at("2026-11-25T12:00:00")
    plan = plan_records(AP_INVOICES, [invoice()], {}, ahead, window_start=START, overlap_minutes=2)
    assert plan.cursor is not None and plan.cursor.position == ahead.position


def test_a_malformed_amount_is_a_clear_permanent_error() -> None:
    record = invoice()
    record["InvoiceAmt"] = "12,50"
    with pytest.raises(Sage100RecordError, match="InvoiceAmt is not an amount"):
        _plan([record])


# -- GL postings ------------------------------------------------------------------------


def _gl(lines: list[dict[str, Any]], registers: dict[str, Any], cursor: StreamCursor) -> Any:
    return plan_gl_postings(GL_POSTINGS, lines, registers, cursor, overlap_minutes=2)


def test_lines_group_into_one_event_per_register() -> None:
    lines = [
        gl_line("000001", 1, account="1000-00-00", debit="300.00"),
        gl_line("000001", 2, account="6000-00-00", credit="300.00"),
        gl_line("000002", 1, account="1000-00-00", debit="10.00", journal="AP"),
        gl_line("000002", 2, account="2000-00-00", credit="9.00", journal="AP"),
    ]
    plan = _gl(lines, {}, CURSOR)
    registers = [e.register for e in plan.events if isinstance(e, RegisterEvent)]
    assert [(r.key, r.line_count, r.difference) for r in registers] == [
        ("GJ-000001", 2, 0),
        ("AP-000002", 2, 1),
    ]
    assert plan.states["AP-000002"] == {
        "stamp": "2026-11-25T09:30:00",
        "lines": 2,
        "debit": "10.00",
        "credit": "9.00",
    }
    assert set(plan.cursor.seen) == {line["record_key"] for line in lines}


def test_lines_seen_within_the_overlap_are_dropped_and_late_ones_continue_the_register() -> None:
    first = [gl_line("000001", 1, debit="5.00"), gl_line("000001", 2, credit="5.00")]
    plan = _gl(first, {}, CURSOR)
    late = gl_line("000001", 3, debit="1.00")  # same stamp, committed after the first read
    again = _gl([*first, late], plan.states, plan.cursor)
    [event] = again.events
    assert isinstance(event, RegisterEvent)
    assert event.earlier_lines == 2 and event.register.line_keys == [late["record_key"]]
    assert again.states["GJ-000001"]["lines"] == 3
    assert _gl([*first, late], again.states, again.cursor).events == []


def test_a_since_reread_before_the_overlap_recognises_posted_registers() -> None:
    lines = [gl_line("000001", 1, debit="5.00"), gl_line("000001", 2, credit="5.00")]
    plan = _gl(lines, {}, CURSOR)
    much_later = StreamCursor.starting_at("2026-11-26T09:00:00")  # seen keys long pruned
    assert _gl(lines, plan.states, much_later).events == []
