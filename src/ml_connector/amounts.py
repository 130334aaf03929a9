"""The bound every amount from a source must fit, checked where the text is parsed.

``Decimal`` takes ``1e999``, ``1e1000000`` or a thousand digits without complaint; the harm
comes later, when a total of such values is quantized (``decimal.Overflow`` kills the run) or
rendered (an alert with a 1,340-digit figure). No ledger amount comes near the bound below,
so a value outside it is bad source data: the record is reported (naming it and the field)
and left out, and the rest of the run goes on.

The bound: finite; at most 40 characters of text; at most 24 significant digits; less than
10^16 in magnitude; at most 12 decimal places (trailing zeros do not count).

The agent keeps a copy on purpose (agent/src/ml_connector_agent/amounts.py): it is another
distribution, installed alone on the Sage 100 server, and the two share no dependency. Change
both together; tests/sage100/pipeline/test_amount_bounds.py holds them to the same answers.
"""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

MAX_TEXT = 40
MAX_DIGITS = 24
MAX_INTEGER_DIGITS = 16
MAX_PLACES = 12
BOUND = f"at most {MAX_INTEGER_DIGITS} digits before the decimal point and {MAX_PLACES} after it"


class AmountError(ValueError):
    """An amount's text is not a number, or is a number outside the bound."""


def _shown(text: str) -> str:
    return repr(text if len(text) <= 24 else f"{text[:20]}… ({len(text)} characters)")


def parse_amount(text: str) -> Decimal:
    """``text`` as a Decimal inside the bound, or :class:`AmountError` saying why not."""
    if len(text) > MAX_TEXT:
        stripped = text.strip()
        if len(stripped) > MAX_TEXT:
            raise AmountError(f"{_shown(stripped)} is outside the amounts accepted ({BOUND})")
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise AmountError(f"not a decimal amount: {_shown(text.strip())}") from None
    return check_amount(value, text)


def check_amount(value: Decimal, text: str | None = None) -> Decimal:
    """``value`` itself when it is inside the bound (see the module's docstring)."""
    _, digits, exponent = value.as_tuple()
    if isinstance(exponent, int):
        count = len(digits)
        # The common case in one comparison chain: few digits, few places.
        if (
            count <= MAX_DIGITS
            and exponent >= -MAX_PLACES
            and count + exponent <= MAX_INTEGER_DIGITS
        ):
            return value
        if value.is_zero():
            return Decimal(0)  # 0E+999 is zero; keep no absurd exponent around
        trailing = count - len("".join(map(str, digits)).rstrip("0"))
        if (
            count - trailing <= MAX_DIGITS
            and exponent + count <= MAX_INTEGER_DIGITS
            and exponent + trailing >= -MAX_PLACES
        ):
            return value
    shown = _shown((text if text is not None else str(value)).strip())
    if not value.is_finite():
        # NaN or Infinity would poison every total it is added to.
        raise AmountError(f"not a finite amount: {shown}")
    raise AmountError(f"{shown} is outside the amounts accepted ({BOUND})")
