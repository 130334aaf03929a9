"""The Slack messages of the Intacct pipeline, rendered with :mod:`ml_connector.slack.blocks`.

Pure: summaries and failures in, Block Kit out. Every ERP string goes through the builders'
escaping; money is shown with its currency code (a channel may see USD and CAD side by side);
moments are shown in the pipeline's time zone with the zone named. Debit/credit nets are shown
signed from the debit side (a positive net change is a net debit), and the footer says so.

One currency per figure: totals are listed per currency, and every ranked list ("largest net
changes", "largest payments") is one list per currency, headed by its code. GL totals are in
base currency; when the window holds lines entered in another currency the message says so and
shows the transaction-currency totals beside them. Every amount goes through
:func:`~ml_connector.slack.money.format_money` (one rounding rule, :mod:`ml_connector.money`),
in the blocks and the fallback text alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from zoneinfo import ZoneInfo

from ml_connector.intacct.run_window import Window
from ml_connector.intacct.summaries import (
    AccountChange,
    Counts,
    GLSummary,
    Notable,
    Payment,
    PaymentSummary,
    ReadFailure,
    RunTally,
    Totals,
    UnbalancedBatch,
    VendorException,
)
from ml_connector.slack.blocks import (
    Block,
    Message,
    RecordLink,
    alert_message,
    compose,
    context,
    fields,
    header,
    record_links,
    section,
    section_lines,
    summary_message,
)
from ml_connector.slack.dates import format_date, format_datetime
from ml_connector.slack.money import format_money
from ml_connector.slack.mrkdwn import Mrkdwn, bold, join, more

_NOTABLE_TEXT = {
    "adjusting": "Adjusting entry",
    "closed_period": "Dated in a closed period",
    "future_period": "Dated in a future period",
}


@dataclass(frozen=True)
class Style:
    """What every message of one pipeline shares."""

    zone: ZoneInfo
    company: str
    mention_group: str | None = None
    max_alert_lines: int = 10

    @property
    def mention(self) -> Mrkdwn | None:
        # The id is validated by the config (S followed by capitals and digits), so it is safe
        # inside the special-mention syntax https://docs.slack.dev/messaging/formatting-message-text
        return Mrkdwn(f"<!subteam^{self.mention_group}>") if self.mention_group else None


def when(value: datetime, zone: ZoneInfo) -> str:
    """A naive company-local moment, shown with its zone."""
    return format_datetime(value.replace(tzinfo=zone), zone)


def window_text(window: Window, zone: ZoneInfo) -> str:
    return f"{when(window.start, zone)} – {when(window.end, zone)}"


def money_lines(totals: Totals) -> str:
    return "\n".join(format_money(amount, currency) for currency, amount in totals.items())


def money_list(totals: Totals) -> str:
    """``CAD 1,365.00, USD 500.00`` (currencies in code order), or ``none``."""
    return ", ".join(format_money(totals[c], c) for c in sorted(totals)) or "none"


def _per_currency(title: str, rows: Sequence[tuple[str, str, str]]) -> list[Block]:
    """(currency, label, amount) rows as one list per currency, headed "title · CUR".

    Amounts in different currencies are never ranked against each other, and the heading is
    said once per list (a two-column field table would repeat it every four rows).
    """
    blocks: list[Block] = []
    currencies = sorted({currency for currency, _, _ in rows})
    for currency in currencies:
        lines = [f"{label} · {amount}" for cur, label, amount in rows if cur == currency]
        blocks.append(section_lines([bold(f"{title} · {currency}"), *lines]))
    return blocks


def _count(n: int, noun: str, plural: str | None = None) -> str:
    return f"{n:,} {noun if n == 1 else plural or noun + 's'}"


def _footer(style: Style, window: Window) -> list[str]:
    return [f"Sage Intacct {style.company}", f"WHENMODIFIED {window_text(window, style.zone)}"]


def _record_footer(style: Style, whenmodified: datetime) -> list[str]:
    return [f"Sage Intacct {style.company}", f"modified {when(whenmodified, style.zone)}"]


# -- GL -----------------------------------------------------------------------------------------


def _notable_line(item: Notable, zone: ZoneInfo) -> RecordLink:
    batch = item.batch
    text = f"{_NOTABLE_TEXT[item.kind]}: {batch.label}"
    if batch.title:
        text += f" · {batch.title}"
    if item.dates:
        text += " · dated " + ", ".join(format_date(d, zone) for d in item.dates[:3])
        if len(item.dates) > 3:
            text += f" {more(len(item.dates) - 3)}"
    return RecordLink(text, batch.url or None)


def _counts_text(counts: Mapping[str, Counts], names: Mapping[str, str] | None = None) -> str:
    lines = []
    for key, value in counts.items():
        label = f"{key} {names[key]}" if names and names.get(key) else key
        lines.append(
            f"{label}: {_count(value.batches, 'entry', 'entries')}, {_count(value.lines, 'line')}"
        )
    return "\n".join(lines)


def gl_summary(summary: GLSummary, style: Style, *, notable_dropped: int = 0) -> Message:
    zone = style.zone
    lead = join(
        [
            bold(_count(summary.batches, "journal entry", "journal entries")),
            f"({_count(summary.lines, 'line')}) posted {window_text(summary.window, zone)}",
        ],
        " ",
    )
    blocks: list[Block] = [header("GL posting summary"), section(lead)]
    totals = [
        ("Total debits", money_lines(summary.debits)),
        ("Total credits", money_lines(summary.credits)),
    ]
    if summary.foreign_lines:
        blocks.append(section(foreign_note(summary)))
        totals += [
            ("Debits in transaction currency", money_lines(summary.trx_debits)),
            ("Credits in transaction currency", money_lines(summary.trx_credits)),
        ]
    blocks.extend(
        fields(
            [
                *totals,
                ("By journal", _counts_text(summary.by_journal)),
                ("By entity", _counts_text(summary.by_entity, summary.entity_names)),
            ]
        )
    )
    if summary.top_accounts:
        blocks.extend(_per_currency("Largest net changes", _change_rows(summary.top_accounts)))
    if summary.notable:
        blocks.append(section(bold("Notable")))
        links = [_notable_line(item, zone) for item in summary.notable]
        if notable_dropped:
            links.append(RecordLink(more(notable_dropped)))
        blocks.append(record_links(links))
    blocks.append(context([*_footer(style, summary.window), "net change: debit +, credit −"]))
    fallback = (
        f"GL posting summary: {_count(summary.batches, 'journal entry', 'journal entries')}, "
        f"{_count(summary.lines, 'line')}, debits {money_list(summary.debits)}"
    )
    if summary.foreign_lines:
        fallback += (
            f" in base currency (in transaction currency: debits {money_list(summary.trx_debits)})"
        )
    return compose(fallback, blocks)


def foreign_note(summary: GLSummary) -> str:
    lines = _count(summary.foreign_lines, "line")
    return (
        f"Totals are in each entity's base currency. {lines} entered in another currency; "
        "the transaction-currency totals are beside them."
    )


def _change_rows(changes: Sequence[AccountChange]) -> list[tuple[str, str, str]]:
    return [
        (c.currency, f"{c.account} {c.title}".strip(), format_money(c.net, c.currency))
        for c in changes
    ]


def gl_empty(window: Window, style: Style) -> Message:
    return summary_message(
        "GL posting summary",
        summary=f"No postings {window_text(window, style.zone)}.",
        footer=_footer(style, window),
    )


# -- payments ---------------------------------------------------------------------------------


def _state_lines(summary: PaymentSummary) -> str:
    return "\n".join(
        f"{state}: {tally.count:,} · {money_list(tally.totals)}"
        for state, tally in summary.by_state.items()
    )


def _totals_lines(groups: Mapping[str, Totals], names: Mapping[str, str] | None = None) -> str:
    lines = []
    for key, totals in groups.items():
        label = f"{key} {names[key]}" if names and names.get(key) else key
        lines.append(f"{label}: {money_list(totals)}")
    return "\n".join(lines) or "none"


#: Payment runs listed one by one before the rest fold into "… and N more".
MAX_RUNS_SHOWN = 10


def run_line(run: RunTally) -> str:
    """``Payments 12/01 BOA (run 9): 3 payments · 2 vendors · ACH 2 · paid USD 1,200.00 ·
    Declined 1, USD 999.00``: what the run paid, then what failed in it, apart."""
    parts = [
        run.label + ": " + _count(run.count, "payment"),
        _count(len(run.vendors), "vendor"),
    ]
    if run.methods:
        parts.append(", ".join(f"{m} {n:,}" for m, n in sorted(run.methods.items())))
    parts.append(f"paid {money_list(run.totals)}" if run.totals else "paid nothing")
    parts.extend(
        f"{state} {tally.count:,}, {money_list(tally.totals)}"
        for state, tally in run.failed.items()
    )
    return " · ".join(parts)


def _runs_block(runs: Sequence[RunTally]) -> Block:
    lines = [run_line(run) for run in runs[:MAX_RUNS_SHOWN]]
    if len(runs) > MAX_RUNS_SHOWN:
        lines.append(f"{more(len(runs) - MAX_RUNS_SHOWN)} payment runs")
    return section_lines([bold("Payment runs"), *lines])


def _payment_rows(payments: Sequence[Payment]) -> list[tuple[str, str, str]]:
    return [
        (
            p.currency,
            f"{p.vendor_name or p.vendor_id} · {p.document or p.recordno}",
            format_money(p.amount, p.currency),
        )
        for p in payments
    ]


def payment_summary(summary: PaymentSummary, style: Style) -> Message:
    zone = style.zone
    named = [run for run in summary.runs if run.key]
    runs = f" in {_count(len(named), 'payment run')}" if named else ""
    lead = join(
        [
            bold(_count(summary.count, "payment")),
            f"changed{runs}, {_count(summary.vendors_paid, 'vendor')} paid, "
            f"{window_text(summary.window, zone)}",
        ],
        " ",
    )
    blocks: list[Block] = [header("Payment summary"), section(lead)]
    if summary.runs:
        blocks.append(_runs_block(summary.runs))
    blocks.extend(
        fields(
            [
                ("Paid", money_lines(summary.paid) or "nothing"),
                ("By state", _state_lines(summary)),
                ("Vendors paid", f"{summary.vendors_paid:,}"),
                ("By payment method", _totals_lines(summary.by_method)),
                ("By bank account", _totals_lines(summary.by_bank, summary.bank_names)),
            ]
        )
    )
    if summary.largest:
        blocks.extend(_per_currency("Largest payments", _payment_rows(summary.largest)))
    footer = [*_footer(style, summary.window), "totals leave out declined, voided and reversed"]
    blocks.append(context(footer))
    return compose(
        f"Payment summary: {_count(summary.count, 'payment')}{runs}, "
        f"{_count(summary.vendors_paid, 'vendor')} paid, paid {money_list(summary.paid)}",
        blocks,
    )


def payments_empty(window: Window, style: Style) -> Message:
    return summary_message(
        "Payment summary",
        summary=f"No payments changed {window_text(window, style.zone)}.",
        footer=_footer(style, window),
    )


# -- alerts -----------------------------------------------------------------------------------


def _line_text(line_no: int, account: str, title: str, debit: bool, amount: str, memo: str) -> str:
    side = "Dr" if debit else "Cr"
    text = f"{line_no}. {account} {title}".rstrip() + f" · {side} {amount}"
    return f"{text} · {memo}" if memo else text


def unbalanced_alert(item: UnbalancedBatch, style: Style) -> Message:
    batch = item.batch
    differences = ", ".join(
        format_money(i.difference, i.currency) + (f" (entity {i.entity})" if i.entity else "")
        for i in item.imbalances
    )
    limit = style.max_alert_lines
    lines = [
        _line_text(
            line.line_no,
            line.account,
            line.account_title,
            line.debit,
            format_money(line.amount, line.currency),
            line.description,
        )
        for line in item.lines[:limit]
    ]
    if len(item.lines) > limit:
        lines.append(f"{more(len(item.lines) - limit)} lines")
    facts: list[tuple[str, str]] = [
        ("Batch", f"{batch.label}" + (f"\n{batch.title}" if batch.title else "")),
        ("Journal", batch.journal or "—"),
        ("Difference (debits − credits)", differences),
        ("Entity", batch.entity_name or batch.entity or "—"),
        ("Debits", "\n".join(format_money(i.debits, i.currency) for i in item.imbalances)),
        ("Credits", "\n".join(format_money(i.credits, i.currency) for i in item.imbalances)),
    ]
    if batch.batch_date is not None:
        facts.append(("Batch date", format_date(batch.batch_date, style.zone)))
    return alert_message(
        f"Unbalanced journal entry {batch.journal} {batch.batchno or batch.recordno}".strip(),
        severity="critical",
        summary=f"Debits and credits differ by {differences}.",
        facts=facts,
        lines=lines,
        links=[RecordLink("Open the batch in Intacct", batch.url)] if batch.url else (),
        footer=[
            f"Sage Intacct {style.company}",
            f"modified {when(batch.whenmodified, style.zone)}",
        ],
        mention=style.mention,
    )


def vendor_alert(item: VendorException, style: Style) -> Message:
    pay = item.payment
    vendor_problem = any(reason.startswith("vendor") for reason in item.reasons)
    reasons = "; ".join(item.reasons)
    vendor_text = f"{item.vendor_name} ({item.vendor_id})" if item.vendor_id else item.vendor_name
    facts: list[tuple[str, str]] = [
        ("Vendor", vendor_text or "—"),
        ("Payment", pay.label),
        ("Reason", reasons),
        ("Amount", format_money(pay.amount, pay.currency)),
        ("State", pay.state),
        ("Method", pay.method),
        ("Bank account", f"{pay.bank} {pay.bank_name}".strip()),
    ]
    if pay.run:
        facts.append(("Payment run", pay.run))
    if pay.paid_on is not None:
        facts.append(("Date", format_date(pay.paid_on, style.zone)))
    return alert_message(
        f"Vendor exception: {item.vendor_name or item.vendor_id}",
        severity="critical" if vendor_problem else "warning",
        summary=f"{reasons[:1].upper()}{reasons[1:]}: {pay.label}, "
        f"{format_money(pay.amount, pay.currency)}.",
        facts=facts,
        links=[RecordLink("Open the payment in Intacct", pay.url)] if pay.url else (),
        footer=_record_footer(style, pay.whenmodified),
        mention=style.mention,
    )


def source_data_alert(problems: Sequence[str], style: Style) -> Message:
    """Records left out because an amount in them is outside the bound (ml_connector.amounts)."""
    count = len(problems)
    return alert_message(
        f"Intacct source data error: {count} record{'s' if count != 1 else ''} left out",
        severity="critical",
        summary=(
            "An amount in these records is not a number ml-connector accepts (NaN, infinite, "
            "or absurdly large or precise), so they were left out of the summaries; everything "
            "else was posted. Correct the records in Intacct."
        ),
        lines=problems,
        footer=[f"Sage Intacct {style.company}"],
        mention=style.mention,
    )


def error_alert(failure: ReadFailure, style: Style, *, resumes_from: datetime | None) -> Message:
    first = failure.errors[0] if failure.errors else None
    facts: list[tuple[str, str]] = [("Read", failure.what)]
    if first is not None:
        description = " — ".join(p for p in (first.description, first.description2) if p)
        facts += [
            ("errorno", first.errorno or "—"),
            ("Description", description or "—"),
            ("Correction", first.correction or "—"),
        ]
    else:
        facts.append(("Error", failure.message))
    lines: Sequence[str] = [str(e) for e in failure.errors[1:]]
    resume = (
        f" It will be read again from {when(resumes_from, style.zone)} on the next run."
        if resumes_from is not None
        else " It will be read again on the next run."
    )
    kind = "a temporary" if failure.transient else "an"
    return alert_message(
        f"Intacct error reading {failure.what}",
        severity="critical",
        summary=f"Intacct answered with {kind} error; what was read completely has been posted."
        + resume,
        facts=facts,
        lines=lines,
        footer=_footer(style, failure.window),
        mention=style.mention,
    )
