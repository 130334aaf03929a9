"""Counting for bench/chaos.py: every Slack message against every source event, by content.

The expected set comes from the source systems' own data (the Intacct simulator's records, the
demo agent's Sage 100 tables), never from the connector. A message is matched to a source
event by what it says (an invoice number, a PO number, a register key, an account number, an
Intacct batch number or payment record), not by the outbox id in its metadata, so a message
posted without metadata, twice, or never is seen as such.

Two kinds of source:

- an :class:`Event` is named in exactly one message of its channel (a Sage 100 record, an
  Intacct alert). Zero messages naming it is a loss; every message beyond the first is a
  duplicate.
- a :class:`Tally` is a count that summaries add up (an Intacct GL summary counts the batches
  of its window, a payment summary the payments). The window a summary covers is the
  connector's choice, so the check is the sum: each batch is in exactly one summary iff the
  summaries' counts add up to the number of batches. Less is a loss, more a duplicate.

Any message that matches neither an event, a tally nor a known notice (an empty window, an
error report) is *unmatched*: something was posted that no source event explains. Pure
functions only; the driver collects the inputs.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Event:
    """One source event that must be named by exactly one message in ``channel``."""

    row: str
    channel: str
    key: str
    pattern: re.Pattern[str]


@dataclass(frozen=True)
class Tally:
    """``expected`` source events that the messages matching ``pattern`` in ``channel`` count
    (the pattern's first group is the count, digits with thousands commas)."""

    row: str
    channel: str
    expected: int
    pattern: re.Pattern[str]


@dataclass
class Row:
    row: str
    expected: int = 0
    delivered: int = 0
    lost: int = 0
    duplicates: int = 0


@dataclass
class Report:
    rows: list[Row]
    #: (channel, text) of messages no source event, tally or notice explains
    unmatched: list[tuple[str, str]] = field(default_factory=list)
    #: notices (empty windows, error alerts): how many, and how many repeat an earlier one word
    #: for word (not a source event twice: empty windows shown to the minute can read alike)
    notices: int = 0
    repeated_notices: int = 0
    #: (channel, text) of messages that name more than one source event (one message, one event)
    shared: list[tuple[str, str]] = field(default_factory=list)
    #: the keys of the events lost and duplicated, for the operator to look up
    lost_keys: list[str] = field(default_factory=list)
    duplicate_keys: list[str] = field(default_factory=list)
    #: the summaries of a tally that does not add up, to see which window was counted twice
    tally_messages: dict[str, list[str]] = field(default_factory=dict)
    #: where the source systems' own tables disagree with the events the driver counted
    source_problems: list[str] = field(default_factory=list)

    @property
    def lost(self) -> int:
        return sum(r.lost for r in self.rows)

    @property
    def duplicates(self) -> int:
        return sum(r.duplicates for r in self.rows)

    @property
    def goal_met(self) -> bool:
        return (
            self.lost == 0
            and self.duplicates == 0
            and not self.unmatched
            and not self.shared
            and not self.source_problems
        )


def message_text(message: Mapping[str, Any]) -> str:
    """What a message says: its text, else its blocks (a message may carry only blocks)."""
    text = str(message.get("text") or "")
    return text if text else json.dumps(message.get("blocks") or [], ensure_ascii=False)


def count(
    events: Iterable[Event],
    tallies: Iterable[Tally],
    channels: Mapping[str, Sequence[Mapping[str, Any]]],
    notices: Sequence[re.Pattern[str]] = (),
) -> Report:
    """Match every message of every channel; one row per source stream, in first-seen order."""
    texts = {name: [message_text(m) for m in messages] for name, messages in channels.items()}
    rows: dict[str, Row] = {}
    report = Report([])
    explained: dict[str, set[int]] = {name: set() for name in texts}
    named: Counter[tuple[str, int]] = Counter()  # events each message names
    for event in events:
        row = rows.setdefault(event.row, Row(event.row))
        row.expected += 1
        hits = [
            i for i, text in enumerate(texts.get(event.channel, [])) if event.pattern.search(text)
        ]
        explained.setdefault(event.channel, set()).update(hits)
        named.update((event.channel, i) for i in hits)
        if hits:
            row.delivered += 1
        else:
            row.lost += 1
            report.lost_keys.append(f"{event.row}: {event.key}")
        if len(hits) > 1:
            row.duplicates += len(hits) - 1
            report.duplicate_keys.append(f"{event.row}: {event.key} ×{len(hits)}")
    report.shared = [(c, texts[c][i]) for (c, i), n in sorted(named.items()) if n > 1]
    for tally in tallies:
        row = rows.setdefault(tally.row, Row(tally.row))
        row.expected += tally.expected
        total = 0
        counted = []
        for i, text in enumerate(texts.get(tally.channel, [])):
            found = tally.pattern.search(text)
            if found:
                total += int(found.group(1).replace(",", ""))
                explained.setdefault(tally.channel, set()).add(i)
                blocks = json.dumps(channels[tally.channel][i].get("blocks") or [])
                window = re.search(r"WHENMODIFIED ([^\"]+)", blocks)
                counted.append(f"{text} [{window.group(1) if window else '?'}]")
        if total != tally.expected:
            report.tally_messages[tally.row] = counted
        row.delivered += min(total, tally.expected)
        row.lost += max(0, tally.expected - total)
        row.duplicates += max(0, total - tally.expected)
    for name, channel_texts in texts.items():
        seen: Counter[str] = Counter()
        for i, text in enumerate(channel_texts):
            if i in explained[name]:
                continue
            if any(p.search(text) for p in notices):
                report.notices += 1
                seen[text] += 1
            else:
                report.unmatched.append((name, text))
        report.repeated_notices += sum(n - 1 for n in seen.values())
    report.rows = list(rows.values())
    return report


def table(reports: Mapping[str, Report]) -> list[str]:
    """The figures, one line per stream and database, then the goal."""
    head = (
        f"{'stream':44} {'database':10} {'expected':>8} {'delivered':>9} {'lost':>5} {'dupes':>5}"
    )
    lines = [head, "-" * len(head)]
    for database, report in reports.items():
        for r in report.rows:
            lines.append(
                f"{r.row:44} {database:10} {r.expected:8} {r.delivered:9} {r.lost:5} "
                f"{r.duplicates:5}"
            )
        lines.append(
            f"{'notices (empty windows, error alerts)':44} {database:10} {'-':>8} "
            f"{report.notices:9} {'-':>5} {'-':>5}  ({report.repeated_notices} read alike)"
        )
        lines.append(
            f"{'messages no source event explains':44} {database:10} {0:8} "
            f"{len(report.unmatched):9} {'-':>5} {'-':>5}"
        )
        lines.append(
            f"{'messages naming more than one event':44} {database:10} {0:8} "
            f"{len(report.shared):9} {'-':>5} {'-':>5}"
        )
    return lines


def pattern(template: str, *ids: str) -> re.Pattern[str]:
    """``template`` with each ``{}`` replaced by an id (escaped), ending on a word boundary."""
    return re.compile(template.format(*(re.escape(i) for i in ids)) + r"(?![\w-])")


# -- how each source event reads in Slack (what the bench and its test share) ----------------

#: Messages that report a window or a fault rather than a source event.
NOTICES = (
    re.compile(r"No postings "),
    re.compile(r"No payments changed "),
    re.compile(r"Intacct error reading "),
)


def ap_invoice(row: str, channel: str, invoice_no: str) -> Event:
    return Event(row, channel, invoice_no, pattern(r"(?:invoice|credit memo) {}", invoice_no))


def purchase_order(row: str, channel: str, po_no: str) -> Event:
    return Event(row, channel, po_no, pattern(r"[Pp]urchase order {}", po_no))


def gl_register(row: str, channel: str, register_key: str) -> Event:
    return Event(row, channel, register_key, pattern(r"GL register {}", register_key))


def gl_account(row: str, channel: str, account: str) -> Event:
    """A new account, or a change to one (each account here is either, once)."""
    return Event(row, channel, account, pattern(r"GL account {}", account))


def unbalanced_batch(row: str, channel: str, journal: str, batchno: str) -> Event:
    return Event(
        row,
        channel,
        f"{journal} {batchno}",
        pattern(r"Unbalanced journal entry {} {}", journal, batchno),
    )


def vendor_exception(row: str, channel: str, payment_recordno: str) -> Event:
    return Event(
        row,
        channel,
        f"APPYMT {payment_recordno}",
        pattern(r"Vendor exception: .*\(record {}\)", payment_recordno),
    )


def gl_batches(row: str, channel: str, expected: int) -> Tally:
    return Tally(
        row, channel, expected, pattern(r"^GL posting summary: ([\d,]+) journal entr(?:y|ies)")
    )


def gl_lines(row: str, channel: str, expected: int) -> Tally:
    return Tally(
        row,
        channel,
        expected,
        pattern(r"^GL posting summary: [\d,]+ journal entr(?:y|ies), ([\d,]+) lines?"),
    )


def payments(row: str, channel: str, expected: int) -> Tally:
    return Tally(row, channel, expected, pattern(r"^Payment summary: ([\d,]+) payments?"))
