"""The agent's wire contract as the connector reads it (the agent's ``openapi.json``).

The connector never imports the agent (it is another distribution, installed on another
machine); the few wire facts it needs are restated here and a test holds them to the agent's
OpenAPI document: the resource paths, and the audit stamps Sage 100 stores (``DateCreated``
as ``YYYYMMDD``, ``TimeCreated`` as decimal hours such as ``"14.50833"``), which the agent
returns unchanged beside its derived ISO ``stamp``.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation
from enum import StrEnum


class Resource(StrEnum):
    """The path segment of each readable resource: ``/v1/companies/{code}/{resource}``."""

    AP_INVOICES = "ap-invoices"
    PURCHASE_ORDERS = "purchase-orders"
    GL_POSTINGS = "gl-postings"
    GL_ACCOUNTS = "gl-accounts"


def stamp_of(date_value: object, time_value: object) -> str | None:
    """ISO local date-time of a Sage (``YYYYMMDD``, decimal hours) pair; None if no date.

    Raises ValueError on anything else, so a malformed record is reported, not guessed at.
    Decimal hours round half up to the second and never past 23:59:59, as the agent does.
    """
    day = "" if date_value is None else str(date_value).strip().replace("-", "")
    if not day or day == "00000000":
        return None
    if len(day) != 8 or not day.isdigit():
        raise ValueError(f"not a Sage 100 date: {date_value!r}")
    text = "" if time_value is None else str(time_value).strip()
    try:
        hours = Decimal(text) if text else Decimal(0)
    except InvalidOperation as exc:
        raise ValueError(f"not a Sage 100 time: {time_value!r}") from exc
    if not 0 <= hours < 24:
        raise ValueError(f"not a Sage 100 time: {time_value!r}")
    secs = min(int(hours * 3600 + Decimal("0.5")), 86399)
    return (
        f"{day[:4]}-{day[4:6]}-{day[6:]}T{secs // 3600:02d}:{secs // 60 % 60:02d}:{secs % 60:02d}"
    )
