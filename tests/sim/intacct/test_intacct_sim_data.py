"""The generated company: deterministic, internally consistent, and ``add_day`` plants exactly
the exceptions asked for."""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, datetime
from decimal import Decimal
from typing import TYPE_CHECKING

import pytest

from ml_connector.sim.intacct import Dataset, IntacctSimulator, Record

if TYPE_CHECKING:
    from conftest import Caller

AS_OF = datetime(2026, 9, 21, 8, 0, 0)
HALF_CENT = Decimal("0.005")


def imbalances(entries: list[Record]) -> dict[object, tuple[Decimal, Decimal]]:
    """Per batch: (base debits - credits, transaction debits - credits)."""
    sums: dict[object, list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])
    for e in entries:
        sign = Decimal(e["TR_TYPE"])  # type: ignore[arg-type]
        sums[e["BATCHNO"]][0] += sign * e["AMOUNT"]  # type: ignore[operator]
        sums[e["BATCHNO"]][1] += sign * e["TRX_AMOUNT"]  # type: ignore[operator]
    return {k: (v[0], v[1]) for k, v in sums.items()}


@pytest.fixture(scope="module")
def data() -> Dataset:
    return Dataset(seed=11, gl_entries=3000, vendors=120, payments=200, bills=100, as_of=AS_OF)


def test_same_seed_same_company_other_seed_other_company() -> None:
    first = Dataset(seed=4, gl_entries=200, vendors=20, payments=20, bills=10, as_of=AS_OF)
    again = Dataset(seed=4, gl_entries=200, vendors=20, payments=20, bills=10, as_of=AS_OF)
    other = Dataset(seed=5, gl_entries=200, vendors=20, payments=20, bills=10, as_of=AS_OF)
    for name in ("GLENTRY", "VENDOR", "APPYMT"):
        assert first.records(name) == again.records(name)
        assert first.records(name) != other.records(name)


def test_gl_history_has_the_asked_size_and_balances_per_batch(data: Dataset) -> None:
    entries = data.records("GLENTRY")
    assert len(entries) == 3000
    batches = {b["RECORDNO"]: b for b in data.records("GLBATCH")}
    for batchno, (base, trx) in imbalances(entries).items():
        assert abs(base) < HALF_CENT and abs(trx) < HALF_CENT, batchno
        assert batchno in batches


def test_gl_lines_are_consistent_with_their_batch_and_account(data: Dataset) -> None:
    batches = {b["RECORDNO"]: b for b in data.records("GLBATCH")}
    accounts = {a["ACCOUNTNO"]: a for a in data.records("GLACCOUNT")}
    entities = set(data.entity_ids())
    assert len(entities) == 3
    for e in data.records("GLENTRY"):
        batch = batches[e["BATCHNO"]]
        assert e["TR_TYPE"] in (1, -1)
        assert e["AMOUNT"] > 0  # type: ignore[operator]
        assert e["BATCH_NUMBER"] == batch["BATCHNO"]
        assert e["LOCATION"] == batch["MEGAENTITYID"] in entities
        assert e["ENTRY_DATE"] == batch["BATCH_DATE"]
        assert accounts[e["ACCOUNTNO"]]["TITLE"] == e["ACCOUNTTITLE"]
        assert e["ADJ"] == ("T" if batch["JOURNAL"] == "ADJ" else "F")
    # Some foreign-currency lines in the non-USD entity.
    assert any(e["CURRENCY"] != e["BASECURR"] for e in data.records("GLENTRY"))


def test_vendors_include_every_kind_of_exception(data: Dataset) -> None:
    vendors = data.records("VENDOR")
    assert any(v["ONHOLD"] is True for v in vendors)
    assert any(v["STATUS"] == "inactive" for v in vendors)
    assert any(v["PAYMETHODKEY"] is None for v in vendors)
    assert sum(v["STATUS"] == "active" for v in vendors) > len(vendors) * 0.8
    assert len({v["VENDORID"] for v in vendors}) == len(vendors)


def test_payments_fall_in_runs_per_bank_account(data: Dataset) -> None:
    payments = data.records("APPYMT")
    assert len(payments) == 200
    runs: dict[object, set[object]] = defaultdict(set)
    for p in payments:
        runs[p["PRBATCHKEY"]].add(p["FINANCIALENTITY"])
        assert p["WHENPAID"] is None or p["WHENPAID"] <= AS_OF.date()  # type: ignore[operator]
    assert all(len(banks) == 1 for banks in runs.values())
    assert {p["STATE"] for p in payments} >= {"Complete", "Voided"}


def test_add_day_plants_exactly_what_was_asked() -> None:
    data = Dataset(seed=2, gl_entries=300, vendors=30, payments=30, bills=10, as_of=AS_OF)
    vendors = {v["VENDORID"]: v for v in data.records("VENDOR")}
    when = datetime(2026, 9, 22, 6, 15, 0)
    summary = data.add_day(
        when, batches=6, payments=9, unbalanced_batches=1, onhold_payments=1,
        inactive_payments=1, no_method_payments=1, declined_payments=1, voided_payments=1,
        adjusting_batches=1,
    )  # fmt: skip
    assert len(summary.glbatches) == 8
    assert len(summary.payments) == 14
    assert len(summary.payment_runs) == 1

    new_entries = [data.get("GLENTRY", n) for n in summary.glentries]
    assert all(e is not None and e["WHENMODIFIED"] == when for e in new_entries)
    unbalanced = {
        batch
        for batch, (base, trx) in imbalances([e for e in new_entries if e]).items()
        if abs(base) >= HALF_CENT or abs(trx) >= HALF_CENT
    }
    assert unbalanced == set(summary.unbalanced_batches)
    adjusting = data.get("GLBATCH", summary.adjusting_batches[0])
    assert adjusting is not None and adjusting["JOURNAL"] == "ADJ"

    def vendor_of(recordno: int) -> Record:
        payment = data.get("APPYMT", recordno)
        assert payment is not None and payment["WHENMODIFIED"] == when
        assert payment["PRBATCHKEY"] == summary.payment_runs[0]
        return vendors[payment["VENDORID"]]

    assert all(vendor_of(n)["ONHOLD"] is True for n in summary.onhold_payments)
    assert all(vendor_of(n)["STATUS"] == "inactive" for n in summary.inactive_payments)
    assert all(vendor_of(n)["PAYMETHODKEY"] is None for n in summary.no_method_payments)
    states = {n: data.get("APPYMT", n)["STATE"] for n in summary.payments}  # type: ignore[index]
    assert [states[n] for n in summary.declined_payments] == ["Declined"]
    assert [states[n] for n in summary.voided_payments] == ["Voided"]
    exceptional = set(
        summary.onhold_payments + summary.inactive_payments + summary.no_method_payments
        + summary.declined_payments + summary.voided_payments
    )  # fmt: skip
    for n in set(summary.payments) - exceptional:
        vendor = vendor_of(n)
        assert states[n] == "Complete"
        assert vendor["STATUS"] == "active" and vendor["ONHOLD"] is False
        assert vendor["PAYMETHODKEY"] is not None


def test_add_day_converts_an_aware_time_to_company_time() -> None:
    data = Dataset(seed=2, gl_entries=10, vendors=12, payments=0, bills=0, as_of=AS_OF)
    summary = data.add_day(datetime(2026, 9, 22, 13, 0, tzinfo=UTC), batches=1, payments=0)
    batch = data.get("GLBATCH", summary.glbatches[0])
    assert batch is not None and batch["WHENMODIFIED"] == datetime(2026, 9, 22, 6, 0)


def test_25k_entries_for_paging_tests() -> None:
    data = Dataset(seed=1, gl_entries=25_000, vendors=12, payments=0, bills=0, as_of=AS_OF)
    entries = data.records("GLENTRY")
    assert len(entries) == 25_000
    assert [e["RECORDNO"] for e in entries] == list(range(1, 25_001))


async def test_a_new_day_is_visible_through_the_gateway(
    caller: Caller, sim: IntacctSimulator
) -> None:
    when = sim.data.as_of.replace(microsecond=0)
    summary = sim.data.add_day(when, batches=3, payments=4, unbalanced_batches=1)
    query = f"WHENMODIFIED &gt;= '{when:%m/%d/%Y %H:%M:%S}'"
    answer = await caller.call(
        '<function controlid="b"><readByQuery><object>GLBATCH</object><fields>RECORDNO</fields>'
        f"<query>{query}</query><pagesize>1000</pagesize></readByQuery></function>"
    )
    got = sorted(int(e.text or "") for e in answer.root.iter("RECORDNO"))
    assert got == sorted(summary.glbatches)
