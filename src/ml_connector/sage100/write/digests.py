"""One message instead of a flood: many events for one channel from one poll.

A month-end import of 500 invoices is one piece of news, not 500; posted one by one at
Slack's one message per second per channel it would also hold the channel for eight
minutes. The digest gives the counts, the totals, the largest items and "… and N more",
and its source keeps every record key so the audit trail still names each one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from decimal import Decimal

from ml_connector.sage100.collect.records import money, text
from ml_connector.sage100.collect.streams import StreamSpec
from ml_connector.sage100.decide.plan import Event, RecordEvent, RegisterEvent
from ml_connector.sage100.decide.registers import ZERO
from ml_connector.sage100.write import display
from ml_connector.sage100.write.messages import Style, imbalance_line
from ml_connector.slack.blocks import Block, Message, compose, context, fields, header, section
from ml_connector.slack.blocks import section_lines as lines_block
from ml_connector.slack.mrkdwn import Mrkdwn, bold, escape, more

LARGEST = 10
_KIND_WORDS = {"created": "new", "updated": "updated", "deleted": "deleted"}


def _counts(events: Sequence[Event]) -> list[tuple[str, int]]:
    counts = Counter(e.kind for e in events)
    return [(_KIND_WORDS[k], counts[k]) for k in ("created", "updated", "deleted") if counts[k]]


def _breakdown(events: Sequence[Event]) -> str:
    return ", ".join(f"{n:,} {word}" for word, n in _counts(events))


def _record_line(event: RecordEvent, style: Style) -> str:
    r = event.record
    kind = _KIND_WORDS[event.kind]
    if event.spec.name == "ap_invoices":
        flag = " · on hold" if text(r, "HoldPayment").upper() == "Y" else ""
        amount = money(r, "InvoiceAmt")
        doc = "credit memo" if amount < 0 else "invoice"
        return Mrkdwn(
            f"{bold(style.money(amount))} · {escape(text(r, 'VendorName'))} · "
            f"{doc} {escape(text(r, 'InvoiceNo'))} ({kind}){flag}"
        )
    if event.spec.name == "purchase_orders":
        return Mrkdwn(
            f"{bold(style.money(money(r, 'order_total')))} · {escape(text(r, 'VendorName'))} · "
            f"PO {escape(text(r, 'PurchaseOrderNo'))} · warehouse "
            f"{escape(text(r, 'WarehouseCode'))} ({kind})"
        )
    status = display.coded(text(r, "Status"), display.ACCOUNT_STATUS)
    return Mrkdwn(
        f"{bold(text(r, 'Account'))} {escape(text(r, 'AccountDesc'))} · {escape(status)} ({kind})"
    )


def _register_line(event: RegisterEvent, style: Style) -> str:
    reg = event.register
    warning = imbalance_line(event, style)
    mark = f" · :warning: {escape(warning)}" if warning else ""
    return Mrkdwn(
        f"{bold(reg.key)} · {escape(display.day(reg.posting_date))} · {reg.line_count:,} lines · "
        f"Dr {escape(style.money(reg.debit))} · Cr {escape(style.money(reg.credit))}{mark}"
    )


def _ranked(events: Sequence[Event]) -> list[Event]:
    """Largest first, sign aside (a credit memo of 5,000 is larger news than an invoice of
    50); unbalanced registers ahead of everything, GL accounts by number."""

    def order(e: Event) -> tuple[int, Decimal, str]:
        if isinstance(e, RegisterEvent):
            return (0 if e.register.difference else 1, -e.amount, e.record_key)
        amount = e.amount
        if amount is None:
            return (1, ZERO, text(e.record, "Account") or e.record_key)
        return (1, -abs(amount), e.record_key)

    return sorted(events, key=order)


def _facts(spec: StreamSpec, events: Sequence[Event], style: Style) -> list[tuple[str, str]]:
    facts = [(kind.capitalize(), f"{n:,}") for kind, n in _counts(events)]
    registers = [e for e in events if isinstance(e, RegisterEvent)]
    records = [e for e in events if isinstance(e, RecordEvent)]
    if registers:
        debit = sum((e.register.debit for e in registers), ZERO)
        credit = sum((e.register.credit for e in registers), ZERO)
        unbalanced = sum(1 for e in registers if e.register.difference)
        facts += [
            ("Lines", f"{sum(e.register.line_count for e in registers):,}"),
            ("Debits", style.money(debit)),
            ("Credits", style.money(credit)),
            (
                "Out of balance",
                f"{unbalanced:,} register{'s' if unbalanced != 1 else ''}"
                if unbalanced
                else "none",
            ),
        ]
    amounts = [e.amount for e in records if e.amount is not None]
    if amounts:
        # Signed: credit memos and negative totals reduce it.
        facts.append(("Total amount", style.money(sum(amounts, ZERO))))
        credits = [a for a in amounts if a < 0]
        if spec.name == "ap_invoices" and credits:
            memo = "credit memo" if len(credits) == 1 else "credit memos"
            facts.append(
                ("Credit memos", f"{len(credits):,} {memo}, {style.money(sum(credits, ZERO))}")
            )
        vendors = {(text(e.record, "APDivisionNo"), text(e.record, "VendorNo")) for e in records}
        facts.append(("Vendors", f"{len(vendors):,}"))
    if spec.name == "ap_invoices":
        held = sum(1 for e in records if text(e.record, "HoldPayment").upper() == "Y")
        facts.append(("On hold", f"{held:,}"))
    return facts


def digest(spec: StreamSpec, events: Sequence[Event], style: Style) -> Message:
    ranked = _ranked(events)
    shown = ranked[:LARGEST]
    item_lines = [
        _register_line(e, style) if isinstance(e, RegisterEvent) else _record_line(e, style)
        for e in shown
    ]
    if len(ranked) > len(shown):
        item_lines.append(more(len(ranked) - len(shown)))
    count = f"{len(events):,} {spec.plural if len(events) != 1 else spec.singular}"
    title = f"{spec.plural[0].upper()}{spec.plural[1:]}: {_breakdown(events)}"
    first = min(e.stamp for e in events)
    last = max(e.stamp for e in events)
    heading = (
        "Largest"
        if any(isinstance(e, RegisterEvent) or e.amount is not None for e in events)
        else "Changes"
    )
    blocks: list[Block] = [
        header(title),
        section(Mrkdwn(f"{bold(count)} in one poll, gathered into one message.")),
        *fields(_facts(spec, events, style)),
        lines_block([bold(heading), *item_lines]),
        context(
            [
                f"Sage 100 · company {style.company}",
                display.moment(first, style.zone)
                if first == last
                else f"{display.moment(first, style.zone)} – {display.moment(last, style.zone)}",
            ]
        ),
    ]
    total = _facts_total(events, style)
    fallback = f"{title} ({count}{total})"
    return compose(fallback, blocks)


def _facts_total(events: Sequence[Event], style: Style) -> str:
    amounts = [e.amount for e in events if e.amount is not None]
    if not amounts or any(isinstance(e, RegisterEvent) for e in events):
        return ""
    return f", {style.money(sum(amounts, ZERO))} in total"
