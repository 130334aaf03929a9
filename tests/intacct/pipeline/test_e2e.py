"""The Intacct pipeline end to end: gateway simulator → pipeline → outbox → delivery → Slack.

Expected figures are computed here from the simulator's generated records (``DaySummary``
lists the RECORDNOs each ``add_day`` created), never from the code under test.
"""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.intacct.state import ACCOUNT_TITLES
from ml_connector.sim.intacct import DaySummary, IntacctSimulator
from ml_connector.sim.slack import SlackSimulator
from ml_connector.slack.money import format_money
from ml_connector.store.tables import cache_entries
from ml_connector.vault import Vault

from .conftest import (
    MENTION,
    Harness,
    an_hour_ago,
    intacct_simulator,
    make_harness,
    slack_simulator,
)

FAILED_STATES = {"Declined", "Voided", "Reversed"}


def block_texts(message: dict[str, Any]) -> str:
    """Every piece of text in a posted message's blocks, one per line."""
    texts: list[str] = []

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("text"), str):
                texts.append(node["text"])
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for item in node:
                walk(item)

    walk(message["blocks"])
    return "\n".join(texts)


def field_value(message: dict[str, Any], label: str) -> str:
    for block in message["blocks"]:
        for item in block.get("fields") or ():
            head, _, value = item["text"].partition("\n")
            if head == f"*{label}*":
                return str(value)
    raise AssertionError(f"no field {label!r} in {json.dumps(message['blocks'])[:500]}")


def gl_expectations(sim: IntacctSimulator, entries: Iterable[int]) -> dict[str, dict[str, Decimal]]:
    totals: dict[str, dict[str, Decimal]] = {"debits": defaultdict(Decimal)}
    totals["credits"] = defaultdict(Decimal)
    for recordno in entries:
        entry = sim.data.get("GLENTRY", recordno)
        assert entry is not None
        side = "debits" if entry["TR_TYPE"] == 1 else "credits"
        amount = entry["AMOUNT"]
        assert isinstance(amount, Decimal)
        totals[side][str(entry["BASECURR"])] += amount
    return totals


def record(sim: IntacctSimulator, object_name: str, recordno: int) -> dict[str, Any]:
    found = sim.data.get(object_name, recordno)
    assert found is not None
    return dict(found)


def money_lines(totals: dict[str, Decimal]) -> str:
    return "\n".join(format_money(totals[c], c) for c in sorted(totals))


def payments_of(sim: IntacctSimulator, recordnos: Iterable[int]) -> list[dict[str, Any]]:
    found = [sim.data.get("APPYMT", n) for n in recordnos]
    assert all(p is not None for p in found)
    return [dict(p) for p in found if p is not None]


async def sources(harness: Harness, kind: str) -> list[dict[str, Any]]:
    return [dict(row.source) for row in await harness.outbox_rows() if row.kind == kind]


def add_the_day(sim: IntacctSimulator, when: datetime | None = None) -> DaySummary:
    return sim.data.add_day(
        when or an_hour_ago(),
        batches=6,
        payments=8,
        unbalanced_batches=1,
        onhold_payments=1,
        declined_payments=1,
    )


async def test_a_day_gives_two_summaries_and_three_alerts(harness: Harness) -> None:
    sim = harness.intacct
    day = add_the_day(sim)
    outcome = await harness.run()
    await harness.deliver()

    assert outcome.status == "succeeded", outcome.error
    assert outcome.summary == "1 GL summary, 1 payment summary and 3 alerts queued"
    gl, payments, alerts = (
        harness.posted("gl"),
        harness.posted("payments"),
        harness.posted("alerts"),
    )
    assert (len(gl), len(payments), len(alerts)) == (1, 1, 3)

    # GL totals per currency, from the generated lines.
    expected = gl_expectations(sim, day.glentries)
    assert field_value(gl[0], "Total debits") == money_lines(expected["debits"])
    assert field_value(gl[0], "Total credits") == money_lines(expected["credits"])
    journals = Counter(str(record(sim, "GLBATCH", n)["JOURNAL"]) for n in day.glbatches)
    by_journal = field_value(gl[0], "By journal")
    for journal, count in journals.items():
        entries_word = "entry" if count == 1 else "entries"
        assert f"{journal}: {count} {entries_word}," in by_journal
    (gl_source,) = await sources(harness, "gl_summary")
    assert sorted(gl_source["GLBATCH"]) == sorted(day.glbatches)
    assert sorted(gl_source["GLENTRY"]) == sorted(day.glentries)

    # Payment totals: failed payments are counted by state but not paid out.
    paid = payments_of(sim, day.payments)
    good = [p for p in paid if p["STATE"] not in FAILED_STATES]
    by_method: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p in good:
        by_method[p["PAYMENTMETHOD"]][p["CURRENCY"]] += p["TRX_TOTALENTERED"]
    method_text = field_value(payments[0], "By payment method")
    for method, totals in by_method.items():
        amounts = ", ".join(format_money(totals[c], c) for c in sorted(totals))
        assert f"{method}: {amounts}" in method_text.splitlines()
    bank_total: dict[str, Decimal] = defaultdict(Decimal)
    for p in good:
        bank_total[p["CURRENCY"]] += p["TRX_TOTALENTERED"]
    bank_text = field_value(payments[0], "By bank account")
    assert all(format_money(v, c) in bank_text for c, v in bank_total.items())
    assert field_value(payments[0], "Vendors paid") == str(len({p["VENDORID"] for p in good}))
    states = field_value(payments[0], "By state")
    declined = paid_state(paid, "Declined")
    assert f"Declined: 1 · {format_money(declined['TRX_TOTALENTERED'], declined['CURRENCY'])}" in (
        states.splitlines()
    )
    largest = max(good, key=lambda p: p["TRX_TOTALENTERED"])
    assert format_money(largest["TRX_TOTALENTERED"], largest["CURRENCY"]) in block_texts(
        payments[0]
    )
    (pay_source,) = await sources(harness, "payment_summary")
    assert sorted(pay_source["APPYMT"]) == sorted(day.payments)

    # The alerts: one unbalanced batch, one payment to a vendor on hold, one declined payment.
    (unbalanced,) = await sources(harness, "unbalanced_entry")
    assert unbalanced["GLBATCH"] == day.unbalanced_batches
    lines = [e for e in (sim.data.get("GLENTRY", n) for n in day.glentries) if e is not None]
    batch_lines = [e for e in lines if e["BATCHNO"] == day.unbalanced_batches[0]]
    assert sorted(unbalanced["GLENTRY"]) == sorted(e["RECORDNO"] for e in batch_lines)
    difference = sum(
        (e["AMOUNT"] if e["TR_TYPE"] == 1 else -e["AMOUNT"] for e in batch_lines), Decimal(0)
    )
    currency = str(batch_lines[0]["BASECURR"])
    unbalanced_message = next(m for m in alerts if "Unbalanced" in m["text"])
    assert format_money(difference, currency) in field_value(
        unbalanced_message, "Difference (debits − credits)"
    )
    exceptions = {
        tuple(s["APPYMT"]): s["reasons"] for s in await sources(harness, "vendor_exception")
    }
    assert exceptions == {
        tuple(day.onhold_payments): ["vendor on hold"],
        tuple(day.declined_payments): ["payment declined"],
    }
    assert all(m["text"].startswith(f"<!subteam^{MENTION}>") for m in alerts)

    # The first round was one request (besides the sign-in, which must travel alone).
    assert sim.function_calls == Counter({"query": 5, "getAPISession": 1})
    assert sim.requests == 2


def paid_state(payments: list[dict[str, Any]], state: str) -> dict[str, Any]:
    (found,) = [p for p in payments if p["STATE"] == state]
    return found


async def test_the_same_window_again_posts_nothing_new(harness: Harness) -> None:
    day = add_the_day(harness.intacct)
    first = await harness.run()
    assert first.messages_queued == 5
    again = await harness.run()
    assert again.status == "succeeded"
    assert again.messages_queued == 0 and again.summary == "nothing new to post"
    # An explicit re-read of the day's window reads everything again, and still adds nothing.
    when = day.when.replace(tzinfo=harness.zone)
    explicit = await harness.run(
        since=when - timedelta(minutes=1), until=when + timedelta(minutes=1)
    )
    assert explicit.records_read > 0
    assert explicit.messages_queued == 0
    await harness.deliver()
    assert [len(harness.posted(c)) for c in ("gl", "payments", "alerts")] == [1, 1, 3]
    # The chart of accounts was cached once, for every pipeline reading this company.
    async with harness.engine.connect() as conn:
        cached = await conn.scalar(
            sa.select(sa.func.count()).where(cache_entries.c.namespace == ACCOUNT_TITLES)
        )
    assert cached == len(harness.intacct.data.records("GLACCOUNT"))


async def test_adjusting_and_closed_period_entries_are_noted(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack_sim: SlackSimulator
) -> None:
    day = intacct_sim.data.add_day(an_hour_ago(), batches=2, payments=1, adjusting_batches=1)
    closed = day.when.date().isoformat()
    harness = await make_harness(engine, intacct_sim, slack_sim, books_closed_through=closed)
    try:
        await harness.run()
        await harness.deliver()
    finally:
        await harness.pipeline.aclose()
    (gl,) = harness.posted("gl")
    notes = block_texts(gl)
    (adjusting,) = day.adjusting_batches
    assert f"Adjusting entry: ADJ {record(intacct_sim, 'GLBATCH', adjusting)['BATCHNO']}" in notes
    assert notes.count("Dated in a closed period") == len(day.glbatches)


async def test_each_run_reads_in_one_request_when_it_fits_one_page(harness: Harness) -> None:
    sim = harness.intacct
    await harness.run()
    before_requests, before_calls = sim.requests, Counter(sim.function_calls)
    add_the_day(sim, datetime.now(UTC))
    outcome = await harness.run()
    assert outcome.messages_queued == 5
    assert sim.requests - before_requests == 1
    assert sim.function_calls - before_calls == Counter({"query": 5})


async def test_overlap_catches_late_records_without_repeating_earlier_ones(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack_sim: SlackSimulator
) -> None:
    clock = [datetime.now(UTC)]
    harness = await make_harness(engine, intacct_sim, slack_sim, now=lambda: clock[0])
    try:
        early = intacct_sim.data.add_day(clock[0] - timedelta(minutes=1), batches=3, payments=2)
        await harness.run()
        # Committed after the first run read, but stamped before its end (inside the overlap).
        late = intacct_sim.data.add_day(clock[0] - timedelta(minutes=2), batches=2, payments=2)
        clock[0] += timedelta(minutes=10)
        outcome = await harness.run()
    finally:
        await harness.pipeline.aclose()
    assert outcome.status == "succeeded"
    first, second = await sources(harness, "gl_summary")
    assert sorted(first["GLBATCH"]) == sorted(early.glbatches)
    assert sorted(second["GLBATCH"]) == sorted(late.glbatches)
    pay_first, pay_second = await sources(harness, "payment_summary")
    assert sorted(pay_first["APPYMT"]) == sorted(early.payments)
    assert sorted(pay_second["APPYMT"]) == sorted(late.payments)


def comparable(messages: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """Text and blocks without the ids Slack assigns."""

    def strip(node: Any) -> Any:
        if isinstance(node, dict):
            return {k: strip(v) for k, v in node.items() if k != "block_id"}
        if isinstance(node, list):
            return [strip(v) for v in node]
        return node

    return [(m["text"], json.dumps(strip(m["blocks"]), sort_keys=True)) for m in messages]


async def test_expired_session_and_gw_0010_mid_run_post_the_same_messages(
    engine: AsyncEngine,
) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    when = now - timedelta(hours=1)
    posted: dict[str, list[list[tuple[str, str]]]] = {}
    vault = Vault.ephemeral(engine)
    for name, faulty in (("calm", False), ("stormy", True)):
        async with intacct_simulator(seed=5) as intacct, slack_simulator() as slack:
            add_the_day(intacct, when)
            harness = await make_harness(
                engine,
                intacct,
                slack,
                name=name,
                now=lambda: now,
                vault=vault,
                thresholds={"page_size": 4},
            )

            async def storm(sim: IntacctSimulator = intacct) -> None:
                # Between streams: the session dies and the gateway turns the next calls away.
                sim.expire_sessions()
                sim.faults.add("gw_0010", count=2)

            try:
                outcome = await harness.run(heartbeat=storm if faulty else None)
                await harness.deliver()
            finally:
                await harness.pipeline.aclose()
            assert outcome.status == "succeeded", outcome.error
            if faulty:
                assert intacct.faults.injected["gw_0010"] == 4
                # One sign-in to start and one after each of the two expiries.
                assert intacct.function_calls["getAPISession"] == 3
            posted[name] = [comparable(harness.posted(c)) for c in ("gl", "payments", "alerts")]
    assert [len(p) for p in posted["calm"]] == [1, 1, 3]
    assert posted["stormy"] == posted["calm"]


async def test_a_failing_object_is_reported_and_caught_up_after_it_heals(
    harness: Harness,
) -> None:
    sim = harness.intacct
    first_day = add_the_day(sim, datetime.now(UTC) - timedelta(hours=3))
    sim.faults.add("function_error", object="APPYMT")

    broken = await harness.run()
    assert broken.status == "partial"
    assert broken.details["failed_streams"] == ["payments"]
    assert broken.summary == "1 GL summary and 2 alerts queued"  # unbalanced + Intacct error
    still_broken = await harness.run()
    assert still_broken.status == "partial"
    assert still_broken.messages_queued == 0  # the same error at the same place: told once

    second_day = add_the_day(sim, datetime.now(UTC))
    sim.faults.clear("function_error")
    healed = await harness.run()
    assert healed.status == "succeeded", healed.error
    await harness.deliver()

    (error,) = await sources(harness, "intacct_error")
    assert error["stream"] == "payments"
    assert [e["errorno"] for e in error["errors"]] == ["BL01001973"]
    error_message = next(m for m in harness.posted("alerts") if "Intacct error" in m["text"])
    assert field_value(error_message, "errorno") == "BL01001973"
    assert "Try the request again later" in field_value(error_message, "Correction")

    # Nothing missing, nothing twice.
    gl_batches = [n for s in await sources(harness, "gl_summary") for n in s["GLBATCH"]]
    assert sorted(gl_batches) == sorted(first_day.glbatches + second_day.glbatches)
    (payment_summary,) = await sources(harness, "payment_summary")
    assert sorted(payment_summary["APPYMT"]) == sorted(first_day.payments + second_day.payments)
    vendor_alerts = sorted(
        n for s in await sources(harness, "vendor_exception") for n in s["APPYMT"]
    )
    assert vendor_alerts == sorted(
        first_day.onhold_payments
        + first_day.declined_payments
        + second_day.onhold_payments
        + second_day.declined_payments
    )
    unbalanced = sorted(n for s in await sources(harness, "unbalanced_entry") for n in s["GLBATCH"])
    assert unbalanced == sorted(first_day.unbalanced_batches + second_day.unbalanced_batches)
    assert len(harness.posted("payments")) == 1
    assert len(harness.posted("gl")) == 2


async def test_an_empty_window_posts_a_short_line_only_when_asked(
    engine: AsyncEngine, intacct_sim: IntacctSimulator, slack_sim: SlackSimulator
) -> None:
    quiet = await make_harness(engine, intacct_sim, slack_sim, name="quiet")
    chatty = await make_harness(
        engine, intacct_sim, slack_sim, name="chatty", vault=quiet.vault, post_empty=True
    )
    try:
        assert (await quiet.run()).messages_queued == 0
        assert (await chatty.run()).messages_queued == 2
        await chatty.deliver()
    finally:
        await quiet.pipeline.aclose()
        await chatty.pipeline.aclose()
    (gl,) = chatty.posted("gl")
    (payments,) = chatty.posted("payments")
    assert "No postings" in gl["text"] and "No payments" in payments["text"]
    assert chatty.posted("alerts") == []


async def test_a_whole_request_failure_is_one_alert_and_moves_no_cursor(harness: Harness) -> None:
    sim = harness.intacct
    add_the_day(sim)
    sim.faults.add("http_500")  # every request, past all retries
    failed = await harness.run()
    assert failed.status == "failed"
    assert failed.messages_queued == 1
    (error,) = await sources(harness, "intacct_error")
    assert error["stream"] == "all"
    sim.faults.clear()
    recovered = await harness.run()
    assert recovered.status == "succeeded"
    assert recovered.summary == "1 GL summary, 1 payment summary and 3 alerts queued"


async def test_hostile_amounts_are_one_alert_and_the_run_goes_on(harness: Harness) -> None:
    """NaN, ±Infinity, huge exponents and 1,000-digit values: each record named, left out."""
    sim = harness.intacct
    day = add_the_day(sim)
    balanced = [n for n in day.glbatches if n not in day.unbalanced_batches]
    hostile = ["NaN", "-Infinity", "1E+999", "1E+1000000", "9" * 1000]
    assert len(balanced) >= len(hostile) - 1
    planted: dict[int, int] = {}  # GLENTRY → its batch
    for batchno, value in zip(balanced, hostile, strict=False):
        entry = next(
            e
            for n in day.glentries
            if (e := sim.data.get("GLENTRY", n)) and e["BATCHNO"] == batchno
        )
        entry["AMOUNT"] = Decimal(value)
        planted[int(str(entry["RECORDNO"]))] = batchno

    outcome = await harness.run()
    await harness.deliver()

    assert outcome.status == "partial"
    assert outcome.error is not None and "source data error" in outcome.error
    (rejected,) = await sources(harness, "source_data_error")
    assert sorted(r["RECORDNO"] for r in rejected["records"]) == sorted(planted)
    assert {r["field"] for r in rejected["records"]} == {"AMOUNT"}
    text = "\n".join(block_texts(m) for m in harness.posted("alerts"))
    for recordno in planted:
        assert f"GLENTRY {recordno}, field AMOUNT" in text
    assert max(len(line) for line in text.splitlines()) < 400
    # The batches with a bad line are left out whole: no bogus unbalanced alert for them, and
    # the rest of the window is summarised as usual.
    (unbalanced,) = await sources(harness, "unbalanced_entry")
    assert unbalanced["GLBATCH"] == day.unbalanced_batches
    (gl_source,) = await sources(harness, "gl_summary")
    assert sorted(gl_source["GLBATCH"]) == sorted(set(day.glbatches) - set(planted.values()))
    assert len(await sources(harness, "payment_summary")) == 1
