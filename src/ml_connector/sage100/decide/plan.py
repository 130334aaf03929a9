"""What one poll of a stream means: the events to post, the state to keep, the new cursor.

Pure: given the records the agent returned, the stored fingerprints and the cursor, decide.
Everything here is redone identically if the process dies before the transaction commits,
which is what makes "posted exactly once" hold across a crash.

Within one read the same record can come back twice (edited while the read paged through,
it moves to a later stamp and is met again); only its latest version counts, so it is
posted once, with the values it has now. (A read too large for one part, see
:mod:`..pipeline`, can meet it in two parts: then it is posted, then posted as updated.)
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from ml_connector.sage100.collect.cursor import Position, StreamCursor
from ml_connector.sage100.collect.records import (
    Record,
    created_stamp,
    money,
    record_key,
    stamp,
)
from ml_connector.sage100.collect.streams import EVENT_FIELD, GL_ACCOUNTS, StreamSpec
from ml_connector.sage100.decide.changes import Change, Fingerprint, diff, digest, fingerprint
from ml_connector.sage100.decide.registers import ZERO, Register, group, line_register_key

EventKind = Literal["created", "updated", "deleted"]

#: The field whose value ranks records in a digest ("the largest items").
AMOUNT_FIELD = {"ap_invoices": "InvoiceAmt", "purchase_orders": "order_total"}


@dataclass(frozen=True)
class RecordEvent:
    """A new or changed AP invoice, purchase order or GL account."""

    spec: StreamSpec
    kind: EventKind
    record: Record
    record_key: str
    stamp: str
    version: str
    changes: tuple[Change, ...] = ()
    # False when the record changed but its earlier version was never posted here
    # (it predates the stream's first poll), so what changed cannot be said.
    earlier_known: bool = True

    def fields(self) -> dict[str, Any]:
        return {**self.record, EVENT_FIELD: self.kind}

    @property
    def amount(self) -> Decimal | None:
        name = AMOUNT_FIELD.get(self.spec.name)
        return money(self.record, name) if name else None

    @property
    def source_keys(self) -> list[str]:
        return [self.record_key]


@dataclass(frozen=True)
class RegisterEvent:
    """Lines of one GL journal register, posted since the last poll."""

    spec: StreamSpec
    register: Register
    earlier_lines: int
    version: str
    kind: EventKind = "created"

    @property
    def record_key(self) -> str:
        return self.register.key

    @property
    def stamp(self) -> str:
        return self.register.stamp

    def fields(self) -> dict[str, Any]:
        return {**self.register.fields(), EVENT_FIELD: self.kind}

    @property
    def amount(self) -> Decimal:
        return self.register.size

    @property
    def source_keys(self) -> list[str]:
        return list(self.register.line_keys)


Event = RecordEvent | RegisterEvent


@dataclass
class Plan:
    events: list[Event] = field(default_factory=list)
    # record_states rows to write: record key → fingerprint JSON
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    cursor: StreamCursor | None = None
    records_read: int = 0


def latest_versions(records: Iterable[Record]) -> dict[str, Record]:
    """One record per key, the last one read (pages come in stamp order)."""
    latest: dict[str, Record] = {}
    for record in records:
        key = record_key(record)
        latest.pop(key, None)
        latest[key] = record
    return latest


def _state(stamp_: str, fields: Fingerprint) -> dict[str, Any]:
    return {"stamp": stamp_, "fields": fields}


def _kind(
    spec: StreamSpec, new: Fingerprint, old: Mapping[str, str] | None, *, is_new: bool = True
) -> EventKind:
    """Status D is how Sage 100 shows a deleted GL account, so that is what we call it."""
    was_deleted = old is not None and old.get("Status") == "D"
    if spec is GL_ACCOUNTS and new.get("Status") == "D" and not was_deleted:
        return "deleted"
    return "created" if old is None and is_new else "updated"


def plan_records(
    spec: StreamSpec,
    records: Iterable[Record],
    states: Mapping[str, Mapping[str, Any]],
    cursor: StreamCursor,
    *,
    window_start: str,
    overlap_minutes: float,
) -> Plan:
    """Events for records that are new, or changed in a field their message shows.

    ``states`` holds the stored fingerprint of the records read that were posted before.
    A record seen again with the same fingerprint posts nothing (only its stamp is noted);
    a record without one is "created" if Sage 100 created it within the window, otherwise
    it changed before this stream knew it and is "updated" with the earlier values unknown.
    """
    read = list(records)
    plan = Plan(records_read=len(read))
    handled: list[Position] = []
    for key, record in latest_versions(read).items():
        at = stamp(record)
        handled.append(Position(at, key))
        new = fingerprint(spec, record)
        state = states.get(key)
        old = state.get("fields") if state is not None else None
        if isinstance(old, Mapping):
            if dict(old) == new:
                if state is not None and state.get("stamp") != at:
                    plan.states[key] = _state(at, new)
                continue
            changes = diff(spec, old, new)
            plan.states[key] = _state(at, new)
            if not changes:
                continue
            plan.events.append(
                RecordEvent(spec, _kind(spec, new, old), record, key, at, digest(new), changes)
            )
            continue
        created = created_stamp(record)
        is_new = created is None or created >= window_start
        plan.states[key] = _state(at, new)
        kind = _kind(spec, new, None, is_new=is_new)
        plan.events.append(
            RecordEvent(spec, kind, record, key, at, digest(new), earlier_known=is_new)
        )
    plan.cursor = cursor.advance(handled, overlap_minutes)
    return plan


def plan_gl_postings(
    spec: StreamSpec,
    lines: Iterable[Record],
    registers: Mapping[str, Mapping[str, Any]],
    cursor: StreamCursor,
    *,
    overlap_minutes: float,
) -> Plan:
    """Register events for GL lines not posted before.

    Lines are insert-only, so a line is known by its key alone: within the cursor's overlap
    window by ``cursor.seen``; before it (a ``run --since`` re-read) by its register having
    been posted at or after the line's stamp. ``registers`` holds the stored state of the
    registers the lines belong to.
    """
    horizon = cursor.window_start(overlap_minutes)
    handled: list[Position] = []
    fresh: list[Record] = []
    read = 0
    for line in lines:
        read += 1
        key = record_key(line)
        at = stamp(line)
        handled.append(Position(at, key))
        if cursor.seen.get(key) == at:
            continue
        known = registers.get(line_register_key(line))
        if at < horizon and known is not None and at <= str(known.get("stamp", "")):
            continue
        fresh.append(line)
    plan = Plan(records_read=read)
    for register in group(fresh):
        known = registers.get(register.key) or {}
        earlier = int(known.get("lines", 0))
        plan.events.append(
            RegisterEvent(spec, register, earlier, digest({"lines": sorted(register.line_keys)}))
        )
        plan.states[register.key] = {
            "stamp": max(register.stamp, str(known.get("stamp", ""))),
            "lines": earlier + register.line_count,
            "debit": str(Decimal(str(known.get("debit", ZERO))) + register.debit),
            "credit": str(Decimal(str(known.get("credit", ZERO))) + register.credit),
        }
    plan.cursor = cursor.advance(handled, overlap_minutes, remember=True)
    return plan


def register_keys(lines: Iterable[Record]) -> set[str]:
    return {line_register_key(line) for line in lines}
