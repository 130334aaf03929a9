"""Hostile amounts from Sage 100: every back end's rows, the agent's answer, the connector.

NaN, ±Infinity, huge exponents and 1,000-digit values must neither crash the agent (a
``decimal.Overflow`` while quantizing used to fail the whole page) nor reach a message: the
record is named, with its field, in one alert, and the rest of the poll is posted.
"""

from __future__ import annotations

from decimal import Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector import amounts as connector_amounts
from ml_connector.sage100.collect.records import Sage100RecordError, amount_problems, money
from ml_connector_agent import amounts as agent_amounts
from ml_connector_agent.resources import SHAPERS, Resource

from .world import World, block_text

HOSTILE = [
    "NaN",
    "-NaN",
    "sNaN",
    "Infinity",
    "-Infinity",
    "inf",
    "1e999",
    "1E+1000000",
    "-1e400",
    "1e-999999",
    "9" * 1000,
    "0." + "1" * 1000,
]
FINE = ["0", "-0.00", "12.50", "9999999999999999.99", "0E+999", " 7 "]


@pytest.mark.parametrize("text", HOSTILE + FINE + ["12,50", "", "1e16"])
def test_agent_and_connector_hold_the_same_bound(text: str) -> None:
    def outcome(module: object) -> str:
        try:
            return str(module.parse_amount(text))  # type: ignore[attr-defined]
        except ValueError as exc:
            return f"refused: {exc}"

    assert outcome(agent_amounts) == outcome(connector_amounts)
    if text in HOSTILE:
        assert outcome(connector_amounts).startswith("refused")


amount_texts = st.one_of(
    st.decimals(allow_nan=True, allow_infinity=True).map(str),
    st.builds(
        lambda digits, exponent: f"{digits}E{exponent}",
        st.integers(-(10**30), 10**30),
        st.integers(-40, 40),
    ),
    st.text(alphabet="0123456789.-+eE naNiIfty,", max_size=48),
)


@settings(max_examples=300, deadline=None)
@given(amount_texts)
def test_the_two_copies_give_the_same_answers(text: str) -> None:
    """The copies (one per distribution, on purpose) parse and bound any text alike."""

    def outcome(parse: object) -> str:
        try:
            return repr(parse(text))  # type: ignore[operator]
        except ValueError as exc:
            return f"refused: {type(exc).__name__}: {exc}"

    assert outcome(agent_amounts.parse_amount) == outcome(connector_amounts.parse_amount)
    try:
        value = Decimal(text)
    except ArithmeticError:
        return
    assert outcome(lambda _t: agent_amounts.check_amount(value)) == outcome(
        lambda _t: connector_amounts.check_amount(value)
    )


def _ap_row(amount: object) -> dict[str, object]:
    return {
        "APDivisionNo": "01",
        "VendorNo": "ACME",
        "InvoiceNo": "INV-9",
        "posting_stage": "entry",
        "InvoiceAmt": amount,
        "Balance": amount,
        "DateUpdated": "20261120",
        "TimeUpdated": "10.5",
        "DateCreated": "20261120",
        "TimeCreated": "10.5",
    }


@pytest.mark.parametrize("text", HOSTILE)
def test_every_back_end_shaper_reports_instead_of_failing(text: str) -> None:
    """The demo, ODBC and BOI back ends all shape rows with SHAPERS."""
    record = SHAPERS[Resource.AP_INVOICES](_ap_row(text))
    assert record["record_key"] == "01-ACME-INV-9"
    assert "InvoiceAmt" not in record
    assert set(record["invalid_fields"]) == {"InvoiceAmt", "Balance"}
    assert all(len(reason) < 200 for reason in record["invalid_fields"].values())
    first, _ = amount_problems(record)
    assert first.startswith("record '01-ACME-INV-9', field InvoiceAmt: ")


@pytest.mark.parametrize("text", HOSTILE)
def test_the_connector_refuses_a_hostile_amount_the_agent_did_send(text: str) -> None:
    record = {"record_key": "01-ACME-INV-9", "InvoiceAmt": text}
    [problem] = amount_problems(record)
    assert problem.startswith("record '01-ACME-INV-9', field InvoiceAmt: is not an amount")
    with pytest.raises(Sage100RecordError, match="InvoiceAmt is not an amount"):
        money(record, "InvoiceAmt")


async def test_a_hostile_invoice_is_one_alert_and_the_poll_goes_on(world: World) -> None:
    backend = world.agent.backend
    await backend.add_ap_invoice(amount=Decimal("318.40"), invoice_no="GOOD-1")
    bad = await backend.add_ap_invoice(amount=Decimal("10.00"), invoice_no="BAD-1")
    worse = await backend.add_ap_invoice(amount=Decimal("10.00"), invoice_no="BAD-2")
    # SQLite's REAL column turns these texts into ±infinity, as a damaged Sage file might.
    await backend.update_ap_invoice(bad, InvoiceAmt="1e1000000")
    await backend.update_ap_invoice(worse, InvoiceAmt="-" + "9" * 1000)

    outcome = await world.poll("ap_invoices")
    await world.deliver()

    assert outcome.status == "partial"
    assert outcome.error is not None and "source data error" in outcome.error
    texts = [block_text(m) for m in world.messages("ap")]
    [alert] = [t for t in texts if "source data error" in t]
    assert f"record '{bad}', field InvoiceAmt" in alert
    assert f"record '{worse}', field InvoiceAmt" in alert
    [posted] = [t for t in texts if "source data error" not in t]
    assert "GOOD-1" in posted and "USD 318.40" in posted
    # Polling again posts neither the alert nor the invoice a second time.
    await world.poll("ap_invoices")
    await world.deliver()
    assert len(world.messages("ap")) == 2
