"""One Slack message per Sage 100 event, built with :mod:`ml_connector.slack.blocks`.

Each message leads with what happened (a header a reader can scan), then the few facts a
finance or operations person acts on, then where it came from: the record key, linked to
the ERP when the stream has a ``record_link``, and the Sage 100 stamp in the pipeline's
time zone. The fallback text says the same in one line, for notifications.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from ml_connector.sage100.collect.records import Record, business_date, money, text
from ml_connector.sage100.decide.changes import Change
from ml_connector.sage100.decide.plan import Event, RecordEvent, RegisterEvent
from ml_connector.sage100.decide.registers import AccountTotal
from ml_connector.sage100.write import display
from ml_connector.sage100.write.record_links import build
from ml_connector.slack.blocks import (
    Block,
    Message,
    compose,
    context,
    fields,
    header,
    section,
    section_lines,
    summary_table,
)
from ml_connector.slack.mrkdwn import Mrkdwn, bold, escape, link

#: Four rows fill one two-column section (Slack allows ten fields; two are the heading).
TOP_ACCOUNTS = 4


@dataclass(frozen=True)
class Style:
    """What a message needs beyond the record: whose data, in which currency and zone."""

    company: str
    currency: str
    zone: ZoneInfo
    record_link: str | None = None

    def money(self, amount: object) -> str:
        return display.money_text(str(amount), self.currency)

    def key_field(self, event: Event) -> tuple[str, str]:
        key = event.record_key
        if self.record_link:
            return "Record key", link(build(self.record_link, event.fields(), self.company), key)
        return "Record key", key

    def footer(self, event: Event, verb: str) -> Block:
        return context(
            [
                f"Sage 100 · company {self.company}",
                f"{verb} {display.moment(event.stamp, self.zone)}",
            ]
        )


def change_lines(changes: Sequence[Change], style: Style) -> list[str]:
    return [
        Mrkdwn(
            f"• {bold(change.field.label.capitalize())}: "
            f"{escape(display.tracked_value(change.field, change.old, style.currency))} → "
            f"{escape(display.tracked_value(change.field, change.new, style.currency))}"
        )
        for change in changes
    ]


def change_summary(changes: Sequence[Change], style: Style) -> str:
    """``amount USD 1,000.00 → USD 1,250.00; hold No → On hold`` for the fallback text."""
    return "; ".join(
        f"{c.field.label} {display.tracked_value(c.field, c.old, style.currency)} → "
        f"{display.tracked_value(c.field, c.new, style.currency)}"
        for c in changes
    )


_UNKNOWN_EARLIER = (
    "Changed in Sage 100. Its earlier version was never posted here (it predates this "
    "stream's first poll), so what changed cannot be shown."
)


def _lead(event: RecordEvent, style: Style, summary: str) -> list[Block]:
    """A created record's summary line, or what changed in an updated one."""
    if event.kind == "created":
        return [section(Mrkdwn(summary))]
    if not event.earlier_known:
        return [section(_UNKNOWN_EARLIER)]
    return [changes_block(event, style)]


def changes_block(event: RecordEvent, style: Style) -> Block:
    return section_lines([bold("What changed"), *change_lines(event.changes, style)])


def _verb(event: RecordEvent) -> str:
    return "Entered" if event.kind == "created" else "Changed"


def _fallback(event: RecordEvent, style: Style, created: str, subject: str) -> str:
    if event.kind == "created":
        return created
    if event.earlier_known and event.changes:
        return f"{subject} {event.kind}: {change_summary(event.changes, style)}"
    return f"{subject} {event.kind} in Sage 100"


def document_name(record: Record) -> str:
    """Sage 100 enters a credit memo as an invoice with a negative amount ("type a negative
    amount for credit memos", https://help-sage100.na.sage.com/2023/Subsystems/AP/APMainProced/
    Enter_Debit_Credit_Memos.htm); it is named for what it is, and its amount keeps its sign."""
    return "AP credit memo" if money(record, "InvoiceAmt") < 0 else "AP invoice"


def ap_invoice(event: RecordEvent, style: Style) -> Message:
    r = event.record
    invoice_no = text(r, "InvoiceNo")
    vendor = text(r, "VendorName") or "Unknown vendor"
    vendor_no = f"{text(r, 'APDivisionNo')}-{text(r, 'VendorNo')}"
    amount = style.money(money(r, "InvoiceAmt"))
    doc = document_name(r)
    due = display.day(business_date(r, "InvoiceDueDate"))
    stage = display.STAGE.get(text(r, "posting_stage"), text(r, "posting_stage"))
    if text(r, "posting_stage") == "entry" and text(r, "BatchNo"):
        stage = f"{stage}, batch {text(r, 'BatchNo')}"
    title = {
        "created": f"New {doc} {invoice_no}",
        "updated": f"{doc} {invoice_no} updated",
        "deleted": f"{doc} {invoice_no} removed",
    }[event.kind]
    summary = f"{bold(vendor)} ({escape(vendor_no)}) · {escape(amount)} · due {escape(due)}"
    blocks: list[Block] = [header(title), *_lead(event, style, summary)]
    blocks += fields(
        [
            ("Vendor", f"{vendor} ({vendor_no})"),
            ("Invoice no.", invoice_no),
            ("Amount", amount),
            ("Invoice date", display.day(business_date(r, "InvoiceDate"))),
            ("Due date", due),
            ("Hold", display.hold(text(r, "HoldPayment"))),
            ("Posting stage", stage),
            style.key_field(event),
        ]
    )
    blocks.append(style.footer(event, _verb(event)))
    subject = f"{doc} {invoice_no} from {vendor}"
    created = f"New {doc} {invoice_no} from {vendor} ({vendor_no}) for {amount}, due {due}"
    return compose(_fallback(event, style, created, subject), blocks)


def purchase_order(event: RecordEvent, style: Style) -> Message:
    r = event.record
    po_no = text(r, "PurchaseOrderNo")
    vendor = text(r, "VendorName") or "Unknown vendor"
    vendor_no = f"{text(r, 'APDivisionNo')}-{text(r, 'VendorNo')}"
    total = style.money(money(r, "order_total"))
    lines = text(r, "line_count") or "0"
    warehouse = text(r, "WarehouseCode")
    title = {
        "created": f"New purchase order {po_no}",
        "updated": f"Purchase order {po_no} updated",
        "deleted": f"Purchase order {po_no} removed",
    }[event.kind]
    summary = (
        f"{bold(vendor)} ({escape(vendor_no)}) · {escape(total)} · "
        f"{escape(lines)} line{'s' if lines != '1' else ''} · warehouse {escape(warehouse)}"
    )
    blocks: list[Block] = [header(title), *_lead(event, style, summary)]
    blocks += fields(
        [
            ("PO number", po_no),
            ("Vendor", f"{vendor} ({vendor_no})"),
            ("Order date", display.day(business_date(r, "PurchaseOrderDate"))),
            ("Lines", lines),
            ("Total", total),
            ("Status", display.coded(text(r, "OrderStatus"), display.PO_STATUS)),
            ("Warehouse", warehouse),
            ("Order type", display.coded(text(r, "OrderType"), display.PO_TYPE)),
            style.key_field(event),
        ]
    )
    blocks.append(style.footer(event, _verb(event)))
    subject = f"Purchase order {po_no} ({vendor})"
    created = (
        f"New purchase order {po_no} to {vendor} ({vendor_no}) for {total}, "
        f"{lines} lines, warehouse {warehouse}"
    )
    return compose(_fallback(event, style, created, subject), blocks)


def gl_account(event: RecordEvent, style: Style) -> Message:
    r = event.record
    account = text(r, "Account")
    description = text(r, "AccountDesc")
    title = {
        "created": f"New GL account {account}",
        "updated": f"GL account {account} updated",
        "deleted": f"GL account {account} deleted",
    }[event.kind]
    summary = f"{bold(account)} {escape(description)}"
    if event.kind == "deleted" and event.earlier_known and event.changes:
        lead = [changes_block(event, style)]
    elif event.kind == "deleted":
        lead = [section(Mrkdwn(f"{summary} is now marked deleted (status D) in Sage 100."))]
    else:
        lead = _lead(event, style, summary)
    blocks: list[Block] = [header(title), *lead]
    blocks += fields(
        [
            ("Account", account),
            ("Description", description),
            ("Type", display.coded(text(r, "AccountType"), display.ACCOUNT_TYPE)),
            ("Status", display.coded(text(r, "Status"), display.ACCOUNT_STATUS)),
            style.key_field(event),
        ]
    )
    blocks.append(style.footer(event, _verb(event)))
    subject = f"GL account {account} {description}".rstrip()
    created = f"New GL account {account} {description}".rstrip()
    return compose(_fallback(event, style, created, subject), blocks)


def _account_amount(total: AccountTotal, style: Style) -> str:
    """``Dr USD 100.00 · Cr USD 40.00``: each side as written, a side with nothing left out."""
    parts = []
    if total.debit:
        parts.append(f"Dr {style.money(total.debit)}")
    if total.credit:
        parts.append(f"Cr {style.money(total.credit)}")
    return " · ".join(parts) or style.money(0)


def imbalance_line(event: RegisterEvent, style: Style) -> str | None:
    difference = event.register.difference
    if not difference:
        return None
    side = "debits exceed credits" if difference > 0 else "credits exceed debits"
    return f"Out of balance: {side} by {style.money(abs(difference))}"


def gl_register(event: RegisterEvent, style: Style) -> Message:
    reg = event.register
    lines = reg.line_count
    plural = "s" if lines != 1 else ""
    if event.earlier_lines:
        title = f"GL register {reg.key}: {lines} more line{plural} posted"
        summary = (
            f"{bold(f'{lines} more line{plural}')} posted to journal register {escape(reg.key)} "
            f"after {event.earlier_lines} posted earlier ({event.earlier_lines + lines} in all)."
        )
    else:
        title = f"GL register {reg.key} posted"
        summary = (
            f"{bold(f'{lines} line{plural}')} posted on {escape(display.day(reg.posting_date))} · "
            f"debits {escape(style.money(reg.debit))} · credits {escape(style.money(reg.credit))}"
        )
    blocks: list[Block] = [header(title), section(Mrkdwn(summary))]
    warning = imbalance_line(event, style)
    if warning:
        blocks.append(section(Mrkdwn(f":warning: {bold(warning)}")))
    blocks += fields(
        [
            ("Posting date", display.day(reg.posting_date)),
            ("Lines", str(lines)),
            ("Debits", style.money(reg.debit)),
            ("Credits", style.money(reg.credit)),
            (
                "Journal",
                f"{reg.source_journal} ({reg.source_module})"
                if reg.source_module
                else reg.source_journal,
            ),
            ("Register", reg.register_no),
            style.key_field(event),
        ]
    )
    top = reg.largest_accounts(TOP_ACCOUNTS)
    if top:
        heading = "Largest accounts" if len(reg.accounts) > len(top) else "Accounts"
        blocks += summary_table(
            [(f"{a.account} {a.description}".strip(), _account_amount(a, style)) for a in top],
            heading=(heading, "Amount"),
        )
    blocks.append(style.footer(event, "Posted"))
    text_ = (
        f"GL register {reg.key}: {lines} line{plural} posted on {display.day(reg.posting_date)}, "
        f"debits {style.money(reg.debit)}, credits {style.money(reg.credit)}"
    )
    if warning:
        text_ = f"{text_}. {warning}"
    return compose(text_, blocks)


def render(event: Event, style: Style) -> Message:
    if isinstance(event, RegisterEvent):
        return gl_register(event, style)
    renderer = {
        "ap_invoices": ap_invoice,
        "purchase_orders": purchase_order,
        "gl_accounts": gl_account,
    }[event.spec.name]
    return renderer(event, style)
