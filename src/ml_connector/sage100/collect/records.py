"""Reading the values of one agent record: money, dates and stamps, checked as they are read.

The agent sends amounts as two-decimal strings, business dates as ISO ``YYYY-MM-DD``, the
audit stamps as Sage stores them (``YYYYMMDD`` and decimal-hour strings) and a derived ISO
``stamp`` in the Sage server's local time. A value that does not parse is the agent's fault,
not a reason to post a wrong figure, so it raises :class:`Sage100RecordError` naming the
record and the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from ml_connector.amounts import AmountError, parse_amount
from ml_connector.sage100.agent_client.errors import Sage100PermanentError
from ml_connector.sage100.agent_client.wire import stamp_of

Record = Mapping[str, Any]


class Sage100RecordError(Sage100PermanentError):
    """The agent returned a record the pipeline cannot read (a malformed amount or stamp)."""

    def __init__(self, message: str) -> None:
        super().__init__(message, code="malformed_record")


def _where(record: Record) -> str:
    return f"record {record.get('record_key')!r}"


def text(record: Record, field: str) -> str:
    """The field as display text; a missing or empty field is ``""``."""
    value = record.get(field)
    return "" if value is None else str(value).strip()


def record_key(record: Record) -> str:
    key = text(record, "record_key")
    if not key:
        raise Sage100RecordError(f"the agent returned a record without a record_key: {record!r}")
    return key


def money(record: Record, field: str) -> Decimal:
    """An amount as Decimal; absent means zero (Sage leaves unused amount fields empty)."""
    value = record.get(field)
    if value is None or (isinstance(value, str) and not value.strip()):
        return Decimal("0.00")
    if isinstance(value, float):
        raise Sage100RecordError(
            f"{_where(record)}: {field} came as a binary float ({value!r}), not a decimal string"
        )
    try:
        return parse_amount(str(value))
    except AmountError as exc:
        raise Sage100RecordError(f"{_where(record)}: {field} is not an amount ({exc})") from None


# Every amount of the agent's records (its OpenAPI document), checked before a record is used.
AMOUNT_FIELDS = ("InvoiceAmt", "Balance", "order_total", "DebitAmount", "CreditAmount")
# The agent's own report of amounts it could not read from Sage 100 (field → why).
INVALID_FIELDS = "invalid_fields"


def amount_problems(record: Record) -> list[str]:
    """Why the record cannot be used, one line per bad amount naming record and field."""
    problems = [
        f"{_where(record)}, field {name}: {reason}"
        for name, reason in dict(record.get(INVALID_FIELDS) or {}).items()
    ]
    for name in AMOUNT_FIELDS:
        if name in record:
            try:
                money(record, name)
            except Sage100RecordError as exc:
                reason = str(exc).removeprefix(f"{_where(record)}: {name} ")
                problems.append(f"{_where(record)}, field {name}: {reason}")
    return problems


def business_date(record: Record, field: str) -> date | None:
    """A business date (``YYYY-MM-DD`` from the agent, or Sage's own ``YYYYMMDD``)."""
    raw = text(record, field)
    if not raw:
        return None
    digits = raw.replace("-", "")
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(raw)
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise Sage100RecordError(f"{_where(record)}: {field} is not a date: {raw!r}") from None


def parse_stamp(value: str) -> datetime:
    """An ISO local stamp (no zone: Sage 100 stamps are the server's wall-clock time)."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is not None:
        raise ValueError(f"stamp {value!r} has a time zone; Sage 100 stamps are local times")
    return moment


def format_stamp(moment: datetime) -> str:
    """The agent's stamp format: local, whole seconds."""
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def stamp(record: Record) -> str:
    """The record's change stamp, normalised so stamps compare as text in time order."""
    raw = text(record, "stamp")
    try:
        return format_stamp(parse_stamp(raw))
    except ValueError:
        raise Sage100RecordError(f"{_where(record)}: stamp is not a local time: {raw!r}") from None


def created_stamp(record: Record) -> str | None:
    """When Sage 100 created the record (DateCreated + TimeCreated), or None if unknown."""
    try:
        return stamp_of(record.get("DateCreated"), record.get("TimeCreated"))
    except ValueError:
        raise Sage100RecordError(
            f"{_where(record)}: DateCreated/TimeCreated are not a Sage 100 stamp: "
            f"{record.get('DateCreated')!r} {record.get('TimeCreated')!r}"
        ) from None
