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
from decimal import Decimal, InvalidOperation

Value = str | int | Decimal | date | datetime | bool | None
Converter = Callable[[str], Value]

_DATE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_TIMESTAMP = re.compile(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})")
_DECIMAL = re.compile(r"-?(\d+(\.\d*)?|\.\d+)")
_INT = re.compile(r"-?\d+")

# Answers repeat the same few hundred dates thousands of times; parsing each once is the
# difference between the converter and libxml2 dominating the parse time.
_CACHE_LIMIT = 4096
_date_cache: dict[str, date] = {}


def parse_date(text: str) -> date:
    cached = _date_cache.get(text)
    if cached is not None:
        return cached
    match = _DATE.fullmatch(text)
    if match is None:
        raise ValueError(f"not a date in MM/DD/YYYY form: {text[:40]!r}")
    month, day, year = match.groups()
    value = date(int(year), int(month), int(day))
    if len(_date_cache) >= _CACHE_LIMIT:
        _date_cache.clear()
    _date_cache[text] = value
    return value


def parse_timestamp(text: str) -> datetime:
    match = _TIMESTAMP.fullmatch(text)
    if match is None:
        raise ValueError(f"not a timestamp in MM/DD/YYYY HH:MM:SS form: {text[:40]!r}")
    month, day, year, hour, minute, second = match.groups()
    return datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))


def parse_date_or_timestamp(text: str) -> date | datetime:
    """For fields whose form the sources do not pin down: accept exactly one of the two."""
    return parse_timestamp(text) if len(text) > 10 else parse_date(text)


def parse_decimal(text: str) -> Decimal:
    # Decimal() alone would also accept "NaN", "Infinity", "1e5" and surrounding blanks.
    if _DECIMAL.fullmatch(text) is None:
        raise ValueError(f"not a decimal amount: {text[:40]!r}")
    try:
        return Decimal(text)
    except InvalidOperation as exc:  # pragma: no cover - the pattern admits only valid text
        raise ValueError(f"not a decimal amount: {text[:40]!r}") from exc


def parse_int(text: str) -> int:
    if _INT.fullmatch(text) is None:
        raise ValueError(f"not an integer: {text[:40]!r}")
    return int(text)


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


DATE = parse_date
TIMESTAMP = parse_timestamp
DATE_OR_TIMESTAMP = parse_date_or_timestamp
AMOUNT = parse_decimal
INT = parse_int
BOOL = parse_bool

# Fields every object shares. WHENCREATED is a timestamp on GLENTRY but a date on APPYMT in
# real traffic; for the others the sources are silent, so either form is accepted (and
# nothing else).
_COMMON: dict[str, Converter] = {
    "RECORDNO": INT,
    "WHENCREATED": DATE_OR_TIMESTAMP,
    "WHENMODIFIED": TIMESTAMP,
}

_OBJECT_FIELDS: dict[str, dict[str, Converter]] = {
    "GLBATCH": {
        "BATCHNO": INT,
        "BATCH_DATE": DATE,
        "REVERSEDATE": DATE,
        "BASELOCATION_NO": INT,
    },
    "GLENTRY": {
        "BATCHNO": INT,
        "LINE_NO": INT,
        "TR_TYPE": INT,
        "ENTRY_DATE": DATE,
        "AMOUNT": AMOUNT,
        "TRX_AMOUNT": AMOUNT,
        "BATCH_NUMBER": INT,
        "BATCH_DATE": DATE,
        "ACCOUNTKEY": INT,
        "EXCH_RATE_DATE": DATE,
        "EXCHANGE_RATE": AMOUNT,
        "CLRDATE": DATE,
        "RECON_DATE": DATE,
        "UNITS": AMOUNT,
        "WHENCREATED": TIMESTAMP,
    },
    "GLACCOUNT": {},
    "APPYMT": {
        "PRBATCHKEY": INT,
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
        "BANKTRXAMOUNT": AMOUNT,
        "BANKBASEAMOUNT": AMOUNT,
        "AUWHENCREATED": TIMESTAMP,
        "CLRDATE": DATE,
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
        "ONHOLD": BOOL,
        "ONETIME": BOOL,
        "CREDITLIMIT": AMOUNT,
        "TOTALDUE": AMOUNT,
        "WHENLASTBILLED": DATE,
        "WHENLASTPAID": DATE,
    },
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
