"""Money as finance people read it: currency shown, thousands separated, sign unmissable.

Amounts are :class:`~decimal.Decimal` end to end; a float would print 0.1 + 0.2 as
0.30000000000000004 on a payment summary. Amounts are rounded by the one rule of
:mod:`ml_connector.money` (ISO 4217 minor unit, half away from zero), in text and blocks alike.
"""

from __future__ import annotations

from decimal import Decimal

from ml_connector.money import minor_units, round_places
from ml_connector.slack.mrkdwn import clean

__all__ = ["format_amount", "format_money", "minor_units"]

# Symbols only where they are unambiguous on their own; "$" alone is left for USD.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪"}

MINUS = "-"


def format_amount(amount: Decimal, places: int = 2) -> str:
    """``-1,234,567.50``: grouped, fixed places, a leading minus for negatives.

    Non-finite values (which no ledger holds, but a broken export might) print as they are
    rather than fail a whole message.
    """
    if not amount.is_finite():
        return str(amount)
    return f"{round_places(amount, places):,.{places}f}"


def format_money(amount: Decimal, currency: str, *, symbol: bool = False) -> str:
    """``USD 1,234.50`` / ``USD -1,234.50``, or ``$1,234.50`` / ``-$1,234.50`` with ``symbol``.

    The ISO code is the default because a channel may see several currencies, and "$" alone
    does not say whose dollar.
    """
    code = clean(currency.strip().upper()) or "???"
    text = format_amount(amount, minor_units(code))
    sign = ""
    if text.startswith(MINUS):
        sign, text = MINUS, text[1:]
    if symbol and code in _SYMBOLS:
        return f"{sign}{_SYMBOLS[code]}{text}"
    return f"{code} {sign}{text}"
