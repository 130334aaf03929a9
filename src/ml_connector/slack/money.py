"""Money as finance people read it: currency shown, thousands separated, sign unmissable.

Amounts are :class:`~decimal.Decimal` end to end; a float would print 0.1 + 0.2 as
0.30000000000000004 on a payment summary. Amounts are rounded half-up to the currency's minor
unit (ISO 4217), as invoices and bank statements do.
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

from ml_connector.slack.mrkdwn import clean

# ISO 4217 minor units that differ from the usual two.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip

# Symbols only where they are unambiguous on their own; "$" alone is left for USD.
_SYMBOLS = {"USD": "$", "EUR": "€", "GBP": "£", "JPY": "¥", "INR": "₹", "KRW": "₩", "ILS": "₪"}

MINUS = "-"


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.upper(), 2)


def format_amount(amount: Decimal, places: int = 2) -> str:
    """``-1,234,567.50``: grouped, fixed places, a leading minus for negatives.

    Non-finite values (which no ledger holds, but a broken export might) print as they are
    rather than fail a whole message.
    """
    if not amount.is_finite():
        return str(amount)
    exponent = Decimal(1).scaleb(-places)
    digits = max(28, amount.adjusted() + places + 2)
    rounded = amount.quantize(exponent, rounding=ROUND_HALF_UP, context=Context(prec=digits))
    if rounded.is_zero():
        rounded = abs(rounded)  # never show "-0.00"
    return f"{rounded:,.{places}f}"


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
