"""Audit stamps, company codes and keyset page tokens: the pure rules of every read.

Sage 100 stamps a record with a local date (``YYYYMMDD``) and a time of day stored as a
decimal-hours string (``"14.50833"``; 5 decimals, about 18 ms). Neither carries a zone and
several records share a second, so pages are ordered by ``(stamp, record_key)`` and the
``next`` token carries both: a record edited while a client pages through moves to a later
stamp and is met again by the next ``changed_since`` read instead of being skipped.
"""

from __future__ import annotations

import base64
import binascii
import heapq
import json
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

#: Sage 100 company codes: "must contain three characters" (Sage 100 Help 2017, Company
#: Maintenance). Letters and digits only, because the code is part of data paths (MAS_ABC).
_COMPANY_RE = re.compile(r"[A-Za-z0-9]{3}")
_STAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$")

#: Stamp given to rows that have neither an update nor a creation stamp (converted data).
NO_STAMP = "1900-01-01T00:00:00"

MAX_LIMIT = 5000
#: Longer than any Sage 100 record key we build (division + vendor + invoice number).
MAX_RECORD_KEY = 200
DEFAULT_LIMIT = 500


class InvalidRequest(ValueError):
    """A query parameter is malformed; the message is meant for the caller."""


def parse_company_code(raw: str) -> str:
    """Accept ``raw`` only if it is three ASCII letters or digits, and upper-case it.

    The check comes first: ``str.upper`` can change the length (``"aß"`` becomes ``"ASS"``),
    so checking the upper-cased text would let a two-character code through.
    """
    if not _COMPANY_RE.fullmatch(raw):
        raise InvalidRequest(
            f"company code {raw!r} is invalid: a Sage 100 company code is exactly three "
            "letters or digits, for example ABC"
        )
    return raw.upper()


def sage_date(value: object) -> str | None:
    """Normalise a stored date (``YYYYMMDD`` text, an ODBC ``date``) to ``YYYYMMDD``."""
    if value is None:
        return None
    if isinstance(value, datetime):
        return value.strftime("%Y%m%d")
    if isinstance(value, date):
        return value.strftime("%Y%m%d")
    text = str(value).strip().replace("-", "")
    if not text or text == "00000000":
        return None
    if len(text) != 8 or not text.isdigit():
        raise ValueError(f"not a Sage 100 date: {value!r}")
    return text


def iso_date(value: object) -> str | None:
    """A stored business date as ISO ``YYYY-MM-DD`` (what the API returns)."""
    text = sage_date(value)
    if text is None:
        return None
    return f"{text[:4]}-{text[4:6]}-{text[6:]}"


def seconds_of_day(decimal_hours: object) -> int:
    """Decimal hours (``"14.50833"``) to whole seconds, rounded half up, at most 86399.

    Decimal arithmetic keeps the rounding exact; empty means midnight, as Sage leaves the
    time blank on some converted rows.
    """
    text = "" if decimal_hours is None else str(decimal_hours).strip()
    if not text:
        return 0
    try:
        hours = Decimal(text)
    except InvalidOperation as exc:
        raise ValueError(f"not a Sage 100 time: {decimal_hours!r}") from exc
    if hours < 0 or hours >= 24:
        raise ValueError(f"not a Sage 100 time: {decimal_hours!r}")
    return min(int(hours * 3600 + Decimal("0.5")), 86399)


def decimal_hours(moment: datetime) -> str:
    """The inverse of :func:`seconds_of_day`: how Sage 100 stores a time of day."""
    hours = moment.hour + moment.minute / 60 + moment.second / 3600
    return f"{hours:.5f}"


def stamp_of(date_value: object, time_value: object) -> str | None:
    """ISO local date-time of one stored (date, time) pair, or None when the date is blank."""
    day = sage_date(date_value)
    if day is None:
        return None
    secs = seconds_of_day(time_value)
    return (
        f"{day[:4]}-{day[4:6]}-{day[6:]}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    )


def record_stamp(row: dict[str, Any]) -> str:
    """A record's change stamp: its update stamp if it has one, else its creation stamp."""
    return (
        stamp_of(row.get("DateUpdated"), row.get("TimeUpdated"))
        or stamp_of(row.get("DateCreated"), row.get("TimeCreated"))
        or NO_STAMP
    )


def parse_changed_since(raw: str) -> str:
    """Accept a zone-less local date-time (seconds optional) or a date; return an ISO stamp."""
    text = raw.strip()
    try:
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        raise InvalidRequest(
            f"changed_since {raw!r} is not a local date-time like 2024-05-01T14:30:00"
        ) from exc
    if moment.tzinfo is not None:
        raise InvalidRequest(
            f"changed_since {raw!r} has a time zone; Sage 100 stamps are local times of the "
            "agent's server, so give the local time without an offset"
        )
    return moment.replace(microsecond=0).isoformat(timespec="seconds")


def parse_limit(raw: str | None) -> int:
    if raw is None or raw == "":
        return DEFAULT_LIMIT
    try:
        limit = int(raw)
    except ValueError as exc:
        raise InvalidRequest(f"limit {raw!r} is not a whole number") from exc
    if not 1 <= limit <= MAX_LIMIT:
        raise InvalidRequest(f"limit must be between 1 and {MAX_LIMIT}, got {limit}")
    return limit


@dataclass(frozen=True, order=True)
class Position:
    """Where a page ended: the last record's stamp and key."""

    stamp: str
    record_key: str


def encode_after(resource: str, position: Position) -> str:
    """Opaque ``next`` token; it names the resource so it cannot be replayed against another."""
    payload = json.dumps(
        {"r": resource, "s": position.stamp, "k": position.record_key}, separators=(",", ":")
    )
    return base64.urlsafe_b64encode(payload.encode()).decode().rstrip("=")


def decode_after(resource: str, token: str) -> Position:
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        stamp, key, owner = data["s"], data["k"], data["r"]
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidRequest("after is not a token this agent issued (use `next` as is)") from exc
    if not (
        isinstance(stamp, str)
        and isinstance(key, str)
        and _STAMP_RE.match(stamp)
        and _is_text(key)
        and len(key) <= MAX_RECORD_KEY
    ):
        raise InvalidRequest("after is not a token this agent issued (use `next` as is)")
    if owner != resource:
        shown = repr(owner)[:60].encode("ascii", "backslashreplace").decode()
        raise InvalidRequest(f"after token belongs to {shown}, not {resource!r}")
    return Position(stamp, key)


def _is_text(value: str) -> bool:
    """True unless ``value`` holds a lone surrogate (JSON's ``"\\ud800"`` decodes to one).

    Such a string cannot be encoded as UTF-8, so it would fail inside the back end's query
    (a 500) instead of here (a 400).
    """
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


@dataclass(frozen=True)
class Candidate:
    """A raw row with its computed order: what back ends that cannot sort in SQL yield."""

    stamp: str
    record_key: str
    row: dict[str, Any]

    @property
    def position(self) -> Position:
        return Position(self.stamp, self.record_key)


def select_page(
    candidates: Iterable[Candidate],
    *,
    since: str | None,
    after: Position | None,
    limit: int,
) -> tuple[list[Candidate], bool]:
    """The next ``limit`` candidates in ``(stamp, record_key)`` order, and whether more follow.

    Streams its input and keeps only ``limit + 1`` rows, so a back end can walk a large
    table (BOI browse, an ODBC day range) without holding it.
    """
    wanted = (
        c
        for c in candidates
        if (since is None or c.stamp >= since) and (after is None or c.position > after)
    )
    best = heapq.nsmallest(limit + 1, wanted, key=lambda c: (c.stamp, c.record_key))
    return best[:limit], len(best) > limit
