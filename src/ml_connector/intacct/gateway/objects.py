"""Typed values of Intacct objects: text on the wire, Python values in records.

Intacct writes every value as text in US forms (research §5, seen in real traffic): dates
``MM/DD/YYYY``, timestamps ``MM/DD/YYYY HH:MM:SS`` (24-hour, no zone: the zone is not
documented, so timestamps stay naive), amounts as plain decimals, booleans ``true``/``false``,
and an empty element for no value. Only fields listed here are converted; any other field
(custom fields, dimensions, anything a newer API adds) stays a string, because guessing a type
from the look of a value turns document numbers like ``12/01/2026`` into dates.

A value that does not fit its declared type raises ``ValueError``: a wrong amount must stop a
finance summary, not become zero.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import date, datetime
from decimal import Decimal

from ml_connector.amounts import parse_amount

Value = str | int | Decimal | date | datetime | bool | None
Converter = Callable[[str], Value]

_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_TIMESTAMP = re.compile(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}:\d{2}:\d{2})")

# Answers repeat the same dates and posting times thousands of times; parsing each text once
# keeps conversion from dominating the parse (bench/intacct_parse.py). The caches are dicts
# whose ``__missing__`` parses and validates, so a repeated text is found by ``dict`` lookup in
# C without a Python frame; the record converters use their bound ``__getitem__`` directly.
_CACHE_LIMIT = 4096


def _parse_date_text(text: str) -> date:
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a date in MM/DD/YYYY form: {text[:40]!r}")
    month, day, year = match.groups()
    return date(int(year), int(month), int(day))


def _parse_timestamp_text(text: str) -> datetime:
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not a timestamp in MM/DD/YYYY HH:MM:SS form: {text[:40]!r}")
    month, day, year, clock = match.groups()
    return datetime.fromisoformat(f"{year}-{month}-{day}T{clock}")


class _DateCache(dict[str, date]):
    def __missing__(self, text: str) -> date:
        value = _parse_date_text(text)
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[text] = value
        return value


class _TimestampCache(dict[str, datetime]):
    def __missing__(self, text: str) -> datetime:
        value = _parse_timestamp_text(text)
        if len(self) >= _CACHE_LIMIT:
            self.clear()
        self[text] = value
        return value


_date_cache = _DateCache()
_timestamp_cache = _TimestampCache()


def parse_date(text: str) -> date:
    return _date_cache[text]


def parse_timestamp(text: str) -> datetime:
    return _timestamp_cache[text]


def parse_date_or_timestamp(text: str) -> date | datetime:
    """For fields whose form the sources do not pin down: accept exactly one of the two."""
    return _timestamp_cache[text] if len(text) > 10 else _date_cache[text]


def parse_decimal(text: str) -> Decimal:
    """An amount inside the bound of :mod:`ml_connector.amounts` (finite, sane size)."""
    return parse_amount(text)


def parse_bool(text: str) -> bool:
    if text == "true":
        return True
    if text == "false":
        return False
    raise ValueError(f"not a boolean (true/false): {text[:40]!r}")


def format_date(value: date) -> str:
    return f"{value.month:02d}/{value.day:02d}/{value.year:04d}"


def format_timestamp(value: datetime) -> str:
    if value.tzinfo is not None:
        # Intacct timestamps carry no zone; silently dropping one would shift the window.
        raise ValueError("Intacct timestamps are naive: convert to the company's zone first")
    return (
        f"{value.month:02d}/{value.day:02d}/{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


def format_value(value: object) -> str:
    """Text for a filter or query value, in the forms Intacct reads."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        return format_timestamp(value)
    if isinstance(value, date):
        return format_date(value)
    if isinstance(value, int | Decimal | str):
        return str(value)
    raise TypeError(f"cannot send a {type(value).__name__} to Intacct")


DATE: Converter = _date_cache.__getitem__
TIMESTAMP: Converter = _timestamp_cache.__getitem__
DATE_OR_TIMESTAMP = parse_date_or_timestamp
AMOUNT = parse_decimal
# int() itself: a C call per field instead of a Python frame; it rejects anything but an
# optionally signed run of digits (blanks and '_' aside, which cannot change the number).
INT = int
BOOL = parse_bool

# Fields every object shares. WHENCREATED is a timestamp on GLENTRY but a date on APPYMT in
# real traffic; for objects the sources are silent on, either form is accepted (and nothing
# else).
_COMMON: dict[str, Converter] = {
    "RECORDNO": INT,
    "WHENCREATED": DATE_OR_TIMESTAMP,
    "WHENMODIFIED": TIMESTAMP,
    "CREATEDBY": INT,
    "MODIFIEDBY": INT,
    "MEGAENTITYKEY": INT,
}

_DIMENSION_KEYS: dict[str, Converter] = {
    f"{dimension}DIMKEY": INT
    for dimension in ("CLASS", "CUSTOMER", "VENDOR", "EMPLOYEE", "ITEM", "PROJECT", "WAREHOUSE")
}
_DIMENSION_KEYS["ASSETDIMKEY"] = INT

# Types of the fields of each object as the cassettes and SDK constants show them (research
# §5). Flags whose recordings are scrubbed to one letter (GLENTRY STATISTICAL, CLEARED, ADJ)
# and fields whose type no source shows (GLENTRY UNITS) stay text.
_OBJECT_FIELDS: dict[str, dict[str, Converter]] = {
    "GLBATCH": {
        "BATCHNO": INT,
        "BALANCE": AMOUNT,
        "JOURNAL_ENABLEEREPORTING": BOOL,
        "STATISTICAL": BOOL,
        "BATCH_DATE": DATE,
        "USERKEY": INT,
        "REVERSED": DATE,
        "REVERSEDKEY": INT,
        "REVERSEDFROM": DATE,
        "TEMPLATEKEY": INT,
        "PRBATCHKEY": INT,
        "MODIFIED": TIMESTAMP,
        "SCHOPKEY": INT,
        "GLACCTALLOCATIONRUNKEY": INT,
        "BASELOCATION": INT,
        "SUPDOCKEY": INT,
        "WHENCREATED": TIMESTAMP,
    },
    "GLENTRY": {
        "BATCHNO": INT,
        "USERNO": INT,
        "LINE_NO": INT,
        "TR_TYPE": INT,
        "ENTRY_DATE": DATE,
        "AMOUNT": AMOUNT,
        "TRX_AMOUNT": AMOUNT,
        "BATCH_NUMBER": INT,
        "BATCH_DATE": DATE,
        "ACCOUNTKEY": INT,
        "DEPARTMENTKEY": INT,
        "LOCATIONKEY": INT,
        "CLRDATE": DATE,
        "EXCH_RATE_DATE": DATE,
        "EXCHANGE_RATE": AMOUNT,
        "RECON_DATE": DATE,
        "ALLOCATIONKEY": INT,
        "WHENCREATED": TIMESTAMP,
        "BILLABLE": BOOL,
        "BILLED": BOOL,
        "SELECTFORPBE": BOOL,
        **_DIMENSION_KEYS,
    },
    "GLACCOUNT": {
        "REQUIREDEPT": BOOL,
        "REQUIRELOC": BOOL,
        "TAXABLE": BOOL,
        "WHENCREATED": TIMESTAMP,
    },
    "APPYMT": {
        "PRBATCHKEY": INT,
        "PAYMENTMETHODKEY": INT,
        "VENDORKEY": INT,
        "WHENCREATED": DATE,
        "WHENDUE": DATE,
        "WHENPAID": DATE,
        "WHENPOSTED": DATE,
        "EXCH_RATE_DATE": DATE,
        "EXCHANGE_RATE": AMOUNT,
        "TOTALENTERED": AMOUNT,
        "TOTALSELECTED": AMOUNT,
        "TOTALPAID": AMOUNT,
        "TOTALDUE": AMOUNT,
        "TRX_TOTALENTERED": AMOUNT,
        "TRX_TOTALSELECTED": AMOUNT,
        "TRX_TOTALPAID": AMOUNT,
        "TRX_TOTALDUE": AMOUNT,
        "AUWHENCREATED": TIMESTAMP,
        "CLRDATE": DATE,
        "BILLTOPAYTOKEY": INT,
        "INCLUSIVETAX": BOOL,
        "BANKFILEKEY": INT,
        "BANKTRXAMOUNT": AMOUNT,
        "BANKBASEAMOUNT": AMOUNT,
    },
    "APBILL": {
        "WHENCREATED": DATE,
        "WHENPOSTED": DATE,
        "WHENDUE": DATE,
        "WHENPAID": DATE,
        "RECPAYMENTDATE": DATE,
        "TOTALENTERED": AMOUNT,
        "TOTALSELECTED": AMOUNT,
        "TOTALPAID": AMOUNT,
        "TOTALDUE": AMOUNT,
        "ONHOLD": BOOL,
        "DUE_IN_DAYS": INT,
    },
    "VENDOR": {
        "PARENTKEY": INT,
        "ONHOLD": BOOL,
        "ONETIME": BOOL,
        "CREDITLIMIT": AMOUNT,
        "TOTALDUE": AMOUNT,
        "WHENCREATED": TIMESTAMP,
        "WHENLASTBILLED": DATE,
        "WHENLASTPAID": DATE,
    },
    "LOCATION": {"WHENCREATED": TIMESTAMP},
}

_BY_OBJECT: dict[str, Mapping[str, Converter]] = {
    name: {**_COMMON, **fields} for name, fields in _OBJECT_FIELDS.items()
}


def converters_for(object_name: str) -> Mapping[str, Converter]:
    """The typed fields of one object (by its element name, any case); unknown objects get
    only the fields every object shares."""
    return _BY_OBJECT.get(object_name.upper(), _COMMON)


def known_objects() -> frozenset[str]:
    return frozenset(_BY_OBJECT)
