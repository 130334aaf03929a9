"""The one rounding rule for every figure ml-connector shows.

Totals are computed exactly in :class:`~decimal.Decimal` (sums of the amounts as the ERP sent
them, never of rounded parts) and rounded once, when shown, to the currency's minor unit:
the ISO 4217 exponent (JPY 0, USD 2, BHD 3; two when the code is not listed), rounding half
away from zero (``ROUND_HALF_UP``), as invoices and bank statements do. The Slack text, the
blocks and the balance checks all use this module, so a figure reads the same everywhere and a
batch is called unbalanced exactly when the difference it would show is not zero.

The exponents are ISO 4217's "minor unit" column
(https://www.six-group.com/en/products-services/financial-information/data-standards.html).
"""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Context, Decimal

ROUNDING = ROUND_HALF_UP
DEFAULT_MINOR_UNITS = 2

# ISO 4217 minor units that differ from the usual two.
_MINOR_UNITS = {
    "BHD": 3, "BIF": 0, "CLP": 0, "DJF": 0, "GNF": 0, "IQD": 3, "ISK": 0, "JOD": 3, "JPY": 0,
    "KMF": 0, "KRW": 0, "KWD": 3, "LYD": 3, "OMR": 3, "PYG": 0, "RWF": 0, "TND": 3, "UGX": 0,
    "UYI": 0, "VND": 0, "VUV": 0, "XAF": 0, "XOF": 0, "XPF": 0,
}  # fmt: skip


def minor_units(currency: str) -> int:
    return _MINOR_UNITS.get(currency.strip().upper(), DEFAULT_MINOR_UNITS)


def round_places(amount: Decimal, places: int) -> Decimal:
    """``amount`` rounded to ``places`` decimals by the rule above; never ``-0``.

    The context's precision grows with the amount, so a large total is never rounded to
    fewer significant digits than it has. Non-finite values are returned as they are.
    """
    if not amount.is_finite():
        return amount
    exponent = Decimal(1).scaleb(-places)
    digits = max(28, amount.adjusted() + places + 2)
    rounded = amount.quantize(exponent, rounding=ROUNDING, context=Context(prec=digits))
    return abs(rounded) if rounded.is_zero() else rounded


def round_money(amount: Decimal, currency: str) -> Decimal:
    """``amount`` as it is shown in ``currency``: to the minor unit, half away from zero."""
    return round_places(amount, minor_units(currency))
