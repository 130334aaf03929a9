from __future__ import annotations

import json
from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from hypothesis import given, settings
from hypothesis import strategies as st

from ml_connector.intacct import messages
from ml_connector.intacct.gateway.errors import ErrorDetail
from ml_connector.intacct.messages import Style
from ml_connector.intacct.outputs import Channels, Findings, Outgoing, plan
from ml_connector.intacct.pipeline import describe
from ml_connector.intacct.run_window import Window
from ml_connector.intacct.summaries import (
    GLBatch,
    GLLine,
    GLSummaryBuilder,
    Payment,
    PaymentSummaryBuilder,
    Period,
    ReadFailure,
    Vendor,
    VendorException,
)
from ml_connector.slack.blocks import MAX_BLOCKS, MAX_TOTAL_BLOCK_TEXT, Message

ZONE = ZoneInfo("America/Chicago")
STAMP = datetime(2026, 11, 25, 8, 49, 7)
WINDOW = Window(datetime(2026, 11, 24, 6, 30), datetime(2026, 11, 25, 6, 30))
STYLE = Style(zone=ZONE, company="northwind", mention_group="S0123ABCD", max_alert_lines=3)
CHANNELS = Channels("CGL00001", "CPAY0001", "CALERT01")


def texts(message: Message) -> str:
    return json.dumps([message.text, *message.blocks], ensure_ascii=False)


def gl_batch(
    title: str = "Payroll", *, recordno: int = 41, journal: str = "GJ", entity: str = "100"
) -> GLBatch:
    return GLBatch(
        recordno=recordno,
        batchno=7,
        journal=journal,
        title=title,
        state="Posted",
        entity=entity,
        entity_name="East",
        batch_date=date(2026, 11, 25),
        whenmodified=STAMP,
        url="https://www.intacct.com/ia/acct/ur.phtml?.r=abc",
    )


def gl_line(recordno: int, amount: str, debit: bool, memo: str = "") -> GLLine:
    return GLLine(
        recordno=recordno,
        batch=41,
        line_no=recordno,
        debit=debit,
        amount=Decimal(amount),
        currency="USD",
        account="6000",
        account_title="Salaries & Wages",
        entity="100",
        entry_date=date(2026, 11, 25),
        adjusting=False,
        description=memo,
    )


def a_payment(vendor_name: str = "AT&T <Telecom>", state: str = "Complete") -> Payment:
    return Payment(
        recordno=12,
        run="Payments 11/25/2026",
        document="ACH-10086",
        state=state,
        method="ACH",
        bank="BOA-OPER",
        bank_name="Bank of America Operating",
        vendor_id="V1001",
        vendor_name=vendor_name,
        amount=Decimal("7831.95"),
        currency="USD",
        paid_on=date(2026, 11, 25),
        whenmodified=STAMP,
        url="https://www.intacct.com/ia/acct/ur.phtml?.r=def",
    )


def test_times_are_shown_in_the_pipeline_zone_with_its_name() -> None:
    assert messages.when(STAMP, ZONE) == "2026-11-25 08:49 CST"


def test_unbalanced_alert_names_batch_journal_difference_and_lines() -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=Period(2026, 11))
    lines = [gl_line(n, "100.00", True, memo=f"line {n}") for n in range(1, 6)]
    lines.append(gl_line(6, "499.99", False))
    found = builder.add(gl_batch(), lines)
    assert found is not None
    message = messages.unbalanced_alert(found, STYLE)
    body = texts(message)
    assert "USD 0.01" in body and "GJ 7 (record 41)" in body
    assert "Salaries &amp; Wages" in body  # escaped once, shown as written
    assert "… and 3 more lines" in body  # only max_alert_lines lines, then a count
    assert message.text.startswith("<!subteam^S0123ABCD>")


@settings(max_examples=60)
@given(st.text(min_size=1, max_size=300))
def test_erp_text_never_becomes_markup(name: str) -> None:
    exception = VendorException(a_payment(name), "V1001", name, ("vendor on hold",))
    message = messages.vendor_alert(exception, STYLE)
    for block in message.blocks:
        for item in [block.get("text"), *(block.get("fields") or [])]:
            if not isinstance(item, dict) or item.get("type") != "mrkdwn":
                continue  # plain_text (the header) shows everything literally
            text = item["text"]
            # The only markup in an alert is ours: the mention and the record link.
            stripped = text.replace("<!subteam^S0123ABCD>", "").replace(
                "<https://www.intacct.com/ia/acct/ur.phtml?.r=def|Open the payment in Intacct>",
                "",
            )
            assert "<" not in stripped and ">" not in stripped
    assert len(message.blocks) <= MAX_BLOCKS


def test_summaries_of_a_big_window_stay_within_slack_limits() -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=Period(2026, 11))
    for n in range(400):
        journal = f"J{n % 60:02d}"
        batch = gl_batch(f"Batch {n} " + "x" * 80, recordno=n, journal=journal, entity=str(n))
        builder.add(batch, [gl_line(2 * n, "12.34", True), gl_line(2 * n + 1, "12.34", False)])
    message = messages.gl_summary(builder.summary(titles={}, top_accounts=20), STYLE)
    assert len(message.blocks) <= MAX_BLOCKS
    assert sum(len(json.dumps(b)) for b in message.blocks) < 3 * MAX_TOTAL_BLOCK_TEXT


def test_plan_keys_summaries_by_content_and_alerts_by_record_version() -> None:
    builder = GLSummaryBuilder(WINDOW, current_period=Period(2026, 11))
    builder.add(gl_batch(), [gl_line(1, "10", True), gl_line(2, "9", False)])
    vendors = {"V1001": Vendor("V1001", "AT&T", "active", True, "ACH")}
    payments = PaymentSummaryBuilder(WINDOW, vendors, top=3)
    payments.add(a_payment())
    failure = ReadFailure(
        "payments",
        "AP payments and vendors",
        WINDOW,
        "failed",
        (ErrorDetail("BL01001973", "Could not read records", "", "Try again later."),),
        code="BL01001973",
    )
    findings = Findings(
        gl=builder.summary(titles={}, top_accounts=5),
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
        post_empty=False,
    )
    kinds = [(o.kind, o.channel) for o in out]
    assert kinds == [
        ("gl_summary", "CGL00001"),
        ("payment_summary", "CPAY0001"),
        ("unbalanced_entry", "CALERT01"),
        ("vendor_exception", "CALERT01"),
        ("intacct_error", "CALERT01"),
    ]
    keys = [o.dedupe_key for o in out]
    assert keys[2] == "intacct:books:unbalanced:GLBATCH:41@2026-11-25T08:49:07"
    assert keys[3] == "intacct:books:vendor-exception:APPYMT:12@2026-11-25T08:49:07"
    assert keys[4] == "intacct:books:error:payments:2026-11-25T08:49:07:BL01001973"
    assert out[0].source["GLBATCH"] == [41] and out[0].source["GLENTRY"] == [1, 2]
    assert out[1].source["APPYMT"] == [12]
    again = plan(
        findings,
        pipeline="books",
        company="northwind",
        channels=CHANNELS,
        style=STYLE,
        post_empty=False,
    )
    assert [o.dedupe_key for o in again] == keys
    never_read = plan(
        Findings(failures=[(failure, None)]),
        pipeline="books",
        company="northwind",
        channels=CHANNELS,
        style=STYLE,
        post_empty=True,
    )
    # No cursor yet: the window slides with the clock, the key must not.
    assert [o.dedupe_key for o in never_read] == [
        "intacct:books:error:payments:first-read:BL01001973"
    ]


def test_empty_windows_post_only_when_asked() -> None:
    findings = Findings(
        gl=GLSummaryBuilder(WINDOW, current_period=Period(2026, 11)).summary(
            titles={}, top_accounts=5
        ),
        payments=PaymentSummaryBuilder(WINDOW, {}, top=3).summary(),
    )

    def planned(post_empty: bool) -> list[Outgoing]:
        return plan(
            findings,
            pipeline="books",
            company="northwind",
            channels=CHANNELS,
            style=STYLE,
            post_empty=post_empty,
        )

    assert planned(False) == []
    quiet = planned(True)
    assert [o.message.text for o in quiet] == [
        "GL posting summary: No postings 2026-11-24 06:30 CST – 2026-11-25 06:30 CST.",
        "Payment summary: No payments changed 2026-11-24 06:30 CST – 2026-11-25 06:30 CST.",
    ]
    assert quiet[0].dedupe_key.endswith(":gl-empty:2026-11-24T06:30:00:2026-11-25T06:30:00")


def test_describe() -> None:
    assert describe({}) == "nothing new to post"
    assert describe({"gl_summary": 1}) == "1 GL summary queued"
    assert (
        describe({"gl_summary": 1, "payment_summary": 1, "vendor_exception": 2, "intacct_error": 1})
        == "1 GL summary, 1 payment summary and 3 alerts queued"
    )
