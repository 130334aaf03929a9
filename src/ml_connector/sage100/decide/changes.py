"""What changed in a record, judged only by the fields its message shows.

The fingerprint of a record is its tracked fields as canonical text (amounts as two-decimal
strings, dates as ISO), stored for the last version posted. Comparing fingerprints, not
stamps, is what keeps noise out of a channel: Sage 100 moves ``DateUpdated`` for any edit,
including a comment or a terms code nobody asked to hear about.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ml_connector.sage100.collect.records import Record, business_date, money, text
from ml_connector.sage100.collect.streams import StreamSpec, TrackedField

Fingerprint = dict[str, str]

_CENT = Decimal("0.01")


@dataclass(frozen=True)
class Change:
    field: TrackedField
    old: str
    new: str


def canonical(field: TrackedField, record: Record) -> str:
    """One tracked value as text that compares equal exactly when the value is the same."""
    if field.kind == "money":
        return str(money(record, field.name).quantize(_CENT))
    if field.kind == "date":
        day = business_date(record, field.name)
        return day.isoformat() if day else ""
    if field.kind == "count":
        raw = text(record, field.name)
        return str(int(raw)) if raw.isdigit() else raw
    return text(record, field.name)


def fingerprint(spec: StreamSpec, record: Record) -> Fingerprint:
    return {field.name: canonical(field, record) for field in spec.tracked}


def digest(values: Mapping[str, Any]) -> str:
    """A short stable hash of a fingerprint (or any JSON value), for dedupe keys."""
    encoded = json.dumps(values, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(encoded.encode()).hexdigest()[:16]


def diff(spec: StreamSpec, old: Mapping[str, str], new: Mapping[str, str]) -> tuple[Change, ...]:
    """The tracked fields whose value differs, in the order messages list them.

    A field missing from ``old`` (a fingerprint stored before the field was tracked) is not
    reported as a change: the earlier value is unknown, not empty.
    """
    return tuple(
        Change(field, old[field.name], new.get(field.name, ""))
        for field in spec.tracked
        if field.name in old and old[field.name] != new.get(field.name, "")
    )
