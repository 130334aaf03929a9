from __future__ import annotations

from collections import defaultdict
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.intacct.run_window import Window
from ml_connector.intacct.summaries import (
    GLBatch,
    GLLine,
    GLSummaryBuilder,
    Payment,
    PaymentSummaryBuilder,
    Period,
    RecordError,
    Vendor,
    gl_batch,
    gl_line,
    imbalances,
    largest_changes,
    payment,
    vendor_exception,
)

STAMP = datetime(2026, 11, 25, 8, 49, 7)
WINDOW = Window(datetime(2026, 11, 24, 8, 0), datetime(2026, 11, 25, 9, 0))
NOVEMBER = Period(2026, 11)

cents = st.integers(min_value=1, max_value=10**9).map(lambda n: Decimal(n).scaleb(-2))
currencies = st.sampled_from(["USD", "CAD", "GBP"])
accounts = st.sampled_from(["1000", "1100", "2000", "4000", "5000", "6100"])


def batch(recordno: int = 1, **changes: Any) -> GLBatch:
    values: dict[str, Any] = {
        "recordno": recordno,
        "batchno": recordno * 10,
        "journal": "GJ",
        "title": "Payroll November 2026",
        "state": "Posted",
        "entity": "100",
        "entity_name": "Northwind East",
        "batch_date": date(2026, 11, 25),
        "whenmodified": STAMP,
    }
    values.update(changes)
    return GLBatch(**values)


def line(
    recordno: int,
    amount: Decimal,
    *,
    debit: bool,
    account: str = "1000",
    currency: str = "USD",
    entity: str = "100",
    batch_no: int = 1,
    entry_date: date | None = date(2026, 11, 25),
    adjusting: bool = False,
) -> GLLine:
    return GLLine(
        recordno=recordno,
        batch=batch_no,
        line_no=recordno,
        debit=debit,
        amount=amount,
        currency=currency,
        account=account,
        account_title=f"Account {account}",
        entity=entity,
        entry_date=entry_date,
        adjusting=adjusting,
        description="",
    )


def balanced(amounts: list[Decimal], currency: str = "USD") -> list[GLLine]:
    """Debits of ``amounts`` and one credit of their sum."""
    lines = [line(i + 1, a, debit=True, currency=currency) for i, a in enumerate(amounts)]
    lines.append(line(len(amounts) + 1, sum(amounts, Decimal(0)), debit=False, currency=currency))
    return lines


# -- records ----------------------------------------------------------------------------------


def test_gl_line_reads_tr_type_as_the_side() -> None:
    record: dict[str, Any] = {
        "RECORDNO": 5,
        "BATCHNO": 2,
        "LINE_NO": 1,
        "TR_TYPE": -1,
        "AMOUNT": Decimal("12.50"),
        "BASECURR": "CAD",
        "ACCOUNTNO": "2000",
        "ADJ": "T",
    }
    parsed = gl_line(record)
    assert not parsed.debit and parsed.signed == Decimal("-12.50")
    assert parsed.currency == "CAD" and parsed.adjusting
    with pytest.raises(RecordError, match="TR_TYPE"):
        gl_line({**record, "TR_TYPE": 0})
    with pytest.raises(RecordError, match="amount"):
        gl_line({**record, "AMOUNT": None})


def test_payment_prefers_the_transaction_amount_and_currency() -> None:
    record: dict[str, Any] = {
        "RECORDNO": 9,
        "STATE": "Complete",
        "TOTALENTERED": Decimal("136.50"),
        "BASECURR": "CAD",
        "TRX_TOTALENTERED": Decimal("100.00"),
        "CURRENCY": "USD",
        "WHENMODIFIED": STAMP,
    }
    parsed = payment(record)
    assert (parsed.amount, parsed.currency) == (Decimal("100.00"), "USD")
    base_only = payment({**record, "TRX_TOTALENTERED": None})
    assert (base_only.amount, base_only.currency) == (Decimal("136.50"), "CAD")
    with pytest.raises(RecordError, match="WHENMODIFIED"):
        payment({**record, "WHENMODIFIED": None})


def test_gl_batch_needs_its_stamp() -> None:
    parsed = gl_batch({"RECORDNO": 3, "JOURNAL": "APJ", "STATE": "Posted", "WHENMODIFIED": STAMP})
    assert parsed.posted and parsed.key == "3@2026-11-25T08:49:07"
    with pytest.raises(RecordError):
        gl_batch({"RECORDNO": 3})


# -- balance ----------------------------------------------------------------------------------


@given(st.lists(cents, min_size=1, max_size=8), currencies)
def test_balanced_lines_have_no_imbalance(amounts: list[Decimal], currency: str) -> None:
    assert imbalances(balanced(amounts, currency)) == []


@given(
    st.lists(cents, min_size=1, max_size=8),
    st.integers(min_value=-(10**6), max_value=10**6).map(lambda n: Decimal(n).scaleb(-3)),
)
def test_an_imbalance_is_reported_only_when_it_shows_as_a_cent_or_more(
    amounts: list[Decimal], delta: Decimal
) -> None:
    # The difference is shown rounded half away from zero, so from half a cent up it would
    # read "differ by USD 0.01": that is the first difference reported.
    lines = balanced(amounts)
    lines[0] = line(1, lines[0].amount + delta, debit=True)
    found = imbalances(lines)
    if abs(delta) < Decimal("0.005"):
        assert found == []
    else:
        (only,) = found
        assert only.difference == delta and (only.entity, only.currency) == ("100", "USD")


def test_balance_is_per_entity_and_currency() -> None:
    # Balanced in total, but entity 200 owes entity 100: each entity must balance on its own.
    lines = [
        line(1, Decimal("100"), debit=True, entity="100"),
        line(2, Decimal("100"), debit=False, entity="200"),
    ]
    assert [(i.entity, i.difference) for i in imbalances(lines)] == [
        ("100", Decimal("100")),
        ("200", Decimal("-100")),
    ]


# -- GL summary -------------------------------------------------------------------------------


@given(
    st.lists(
        st.lists(st.tuples(cents, accounts), min_size=1, max_size=5).map(list),
        min_size=1,
        max_size=6,
    ),
    st.lists(currencies, min_size=6, max_size=6),
)
def test_gl_totals_and_net_changes_add_up_per_currency(
    batches: list[list[tuple[Decimal, str]]], batch_currencies: list[str]
) -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=NOVEMBER)
    debits: dict[str, Decimal] = defaultdict(Decimal)
    net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    recordno = 0
    for number, (items, currency) in enumerate(zip(batches, batch_currencies, strict=False)):
        lines = []
        for amount, account in items:
            recordno += 1
            lines.append(line(recordno, amount, debit=True, account=account, currency=currency))
            debits[currency] += amount
            net[(currency, account)] += amount
        total = sum((a for a, _ in items), Decimal(0))
        recordno += 1
        lines.append(line(recordno, total, debit=False, account="2000", currency=currency))
        net[(currency, "2000")] -= total
        assert builder.add(batch(number + 1), lines) is None
    summary = builder.summary(titles={}, top_accounts=20)
    assert summary.debits == dict(debits)
    assert summary.credits == dict(debits)
    assert {(c.currency, c.account): c.net for c in summary.top_accounts} == {
        key: value for key, value in net.items() if value
    }
    assert summary.batches == len(batches) and summary.lines == recordno


def test_largest_changes_are_ranked_by_size_per_currency() -> None:
    net = {
        ("USD", "1000"): Decimal("-500"),
        ("USD", "2000"): Decimal("900"),
        ("USD", "3000"): Decimal("20"),
        ("USD", "4000"): Decimal("0"),
        ("CAD", "1000"): Decimal("5"),
    }
    changes = largest_changes(net, {"2000": "Accounts Payable"}, per_currency=2)
    assert [(c.currency, c.account, c.title) for c in changes] == [
        ("CAD", "1000", ""),
        ("USD", "2000", "Accounts Payable"),
        ("USD", "1000", ""),
    ]


def test_cached_titles_win_over_line_titles() -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=NOVEMBER)
    lines = [
        line(1, Decimal("10"), debit=True, account="1000"),
        line(2, Decimal("10"), debit=False, account="2000"),
    ]
    builder.add(batch(), lines)
    summary = builder.summary(titles={"1000": "Operating Cash"}, top_accounts=5)
    assert {c.account: c.title for c in summary.top_accounts} == {
        "1000": "Operating Cash",
        "2000": "Account 2000",
    }


def test_notable_items() -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=NOVEMBER, closed_through=date(2026, 10, 31))
    adjusting = [
        line(1, Decimal("5"), debit=True, adjusting=True),
        line(2, Decimal("5"), debit=False, adjusting=True),
    ]
    builder.add(batch(1), adjusting)
    back_dated = [
        line(3, Decimal("5"), debit=True, entry_date=date(2026, 10, 31)),
        line(4, Decimal("5"), debit=False, entry_date=date(2026, 10, 31)),
    ]
    builder.add(batch(2), back_dated)
    forward = [
        line(5, Decimal("5"), debit=True, entry_date=date(2026, 12, 1)),
        line(6, Decimal("5"), debit=False, entry_date=date(2026, 12, 1)),
    ]
    builder.add(batch(3), forward)
    builder.add(batch(4), balanced([Decimal("7")]))
    notable = builder.summary(titles={}, top_accounts=3).notable
    assert [(n.kind, n.batch.recordno, n.dates) for n in notable] == [
        ("adjusting", 1, ()),
        ("closed_period", 2, (date(2026, 10, 31),)),
        ("future_period", 3, (date(2026, 12, 1),)),
    ]


def test_digest_follows_the_content() -> None:
    def digest(stamp: datetime) -> str:
        builder = GLSummaryBuilder(WINDOW, current_period=NOVEMBER)
        builder.add(batch(whenmodified=stamp), balanced([Decimal("1")]))
        return builder.summary(titles={}, top_accounts=1).digest

    assert digest(STAMP) == digest(STAMP)
    assert digest(STAMP) != digest(STAMP.replace(second=8))


def test_unbalanced_batches_keep_their_lines() -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=NOVEMBER)
    lines = [line(1, Decimal("10.00"), debit=True), line(2, Decimal("9.99"), debit=False)]
    found = builder.add(batch(), lines)
    assert found is not None and found.lines == tuple(lines)
    assert builder.unbalanced == [found]


# -- payments ---------------------------------------------------------------------------------


def pay(
    recordno: int,
    amount: Decimal,
    *,
    state: str = "Complete",
    method: str = "ACH",
    currency: str = "USD",
    vendor_id: str = "V1",
) -> Payment:
    return Payment(
        recordno=recordno,
        run="Payments 11/25/2026",
        document=f"ACH-{recordno}",
        state=state,
        method=method,
        bank="BOA-OPER",
        bank_name="Bank of America",
        vendor_id=vendor_id,
        vendor_name=f"Vendor {vendor_id}",
        amount=amount,
        currency=currency,
        paid_on=date(2026, 11, 25),
        whenmodified=STAMP,
    )


payments_strategy = st.lists(
    st.tuples(
        cents,
        st.sampled_from(["Complete", "Submitted", "Declined", "Voided"]),
        st.sampled_from(["ACH", "Printed Check", "EFT"]),
        currencies,
        st.sampled_from(["V1", "V2", "V3", "V4"]),
    ),
    max_size=25,
)


@given(payments_strategy, st.integers(min_value=1, max_value=5))
def test_payment_summary_totals(items: list[tuple[Decimal, str, str, str, str]], top: int) -> None:
    builder = PaymentSummaryBuilder(WINDOW, {}, top=top)
    made = [
        pay(n + 1, amount, state=state, method=method, currency=currency, vendor_id=vendor_id)
        for n, (amount, state, method, currency, vendor_id) in enumerate(items)
    ]
    for item in made:
        builder.add(item)
    summary = builder.summary()
    good = [p for p in made if p.state not in ("Declined", "Voided")]
    by_method: dict[str, dict[str, Decimal]] = defaultdict(lambda: defaultdict(Decimal))
    for p in good:
        by_method[p.method][p.currency] += p.amount
    assert summary.by_method == {k: dict(v) for k, v in by_method.items()}
    assert summary.count == len(made)
    assert sum(t.count for t in summary.by_state.values()) == len(made)
    assert summary.vendors_paid == len({p.vendor_id for p in good})
    # The largest of each currency, never ranked across currencies.
    expected = [
        p
        for currency in sorted({p.currency for p in good})
        for p in sorted(
            (p for p in good if p.currency == currency),
            key=lambda p: (p.amount, -p.recordno),
            reverse=True,
        )[:top]
    ]
    assert summary.largest == expected


def test_vendor_exception_reasons() -> None:
    vendors = {
        "V1": Vendor("V1", "Held Co", "active", True, "ACH"),
        "V2": Vendor("V2", "Gone Co", "inactive", False, "ACH"),
        "V3": Vendor("V3", "No Method Co", "active", False, ""),
    }
    held = vendor_exception(pay(1, Decimal(1), vendor_id="V1"), vendors)
    assert held is not None and held.reasons == ("vendor on hold",)
    found = vendor_exception(pay(2, Decimal(1), state="Declined", vendor_id="V2"), vendors)
    assert found is not None and found.reasons == ("payment declined", "vendor inactive")
    no_method = vendor_exception(pay(3, Decimal(1), vendor_id="V3"), vendors)
    assert no_method is not None and no_method.reasons == ("vendor has no payment method",)
    assert vendor_exception(pay(4, Decimal(1), vendor_id="V9"), vendors) is None
    reversed_ = vendor_exception(pay(5, Decimal(1), state="Reversed", vendor_id="V9"), vendors)
    assert reversed_ is not None and reversed_.reasons == ("payment reversed",)
