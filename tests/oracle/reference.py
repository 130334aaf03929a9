"""The oracle: every money figure a message must show, computed plainly from the source records.

Written apart from the code under test and sharing none of it (not ``summaries``, not
``registers``, not ``slack.money``): its own exponent table, its own rounding, its own sums
and rankings, straight from the field names of the source records (GLENTRY, APPYMT, VENDOR;
Sage 100's GL_DetailPosting, AP invoices, purchase orders). Each function returns the figures
in the order a reader meets them in the message: the blocks, and the fallback text apart.

The rules it encodes are the issue's (#16), read from the sources' own documents:
- a GL line's signed amount is TR_TYPE × AMOUNT (TR_TYPE 1 debit, -1 credit); side totals are
  the sums of each side's amounts as written; a batch balances per entity and currency;
- Sage 100 sides are DebitAmount and CreditAmount as written; a credit memo is a negative
  InvoiceAmt;
- one currency per figure, rankings within one currency, ties to the lower key;
- figures rounded once, half away from zero, to the ISO 4217 minor unit.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

Record = Mapping[str, Any]

# ISO 4217 minor units of the currencies the tests use (and two-place default).
EXPONENTS = {"JPY": 0, "KRW": 0, "BHD": 3, "KWD": 3, "USD": 2, "CAD": 2, "EUR": 2, "MXN": 2}
FAILED = {"declined", "voided", "reversed"}


def show(amount: Decimal, currency: str) -> str:
    """``USD -1,234.50``: the figure as a finance reader must see it."""
    places = EXPONENTS.get(currency, 2)
    step = Decimal(1) if places == 0 else Decimal("0." + "0" * (places - 1) + "1")
    value = amount.quantize(step, rounding=ROUND_HALF_UP)
    negative = value < 0
    whole, _, fraction = f"{abs(value):f}".partition(".")
    groups = []
    while len(whole) > 3:
        groups.insert(0, whole[-3:])
        whole = whole[:-3]
    groups.insert(0, whole)
    digits = ",".join(groups) + (f".{fraction}" if places else "")
    return f"{currency} {'-' if negative and value != 0 else ''}{digits}"


def figures_in(text: str, currencies: Iterable[str]) -> list[str]:
    """The money figures in a text, in order (only codes the data uses, so a journal code
    such as APJ is never taken for one)."""
    codes = "|".join(sorted(set(currencies)))
    return re.findall(rf"\b(?:{codes}) -?\d{{1,3}}(?:,\d{{3}})*(?:\.\d+)?", text)


def _sums(pairs: Iterable[tuple[str, Decimal]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = {}
    for key, amount in pairs:
        out[key] = out.get(key, Decimal(0)) + amount
    return out


def _listed(totals: Mapping[str, Decimal]) -> list[str]:
    return [show(totals[c], c) for c in sorted(totals)]


# -- Intacct GL --------------------------------------------------------------------------------


def gl_summary(
    entries: Sequence[Record], *, top: int
) -> tuple[list[str], list[str], dict[str, Any]]:
    """Blocks figures, fallback figures, and the counts, for the GL summary of ``entries``."""
    currencies = sorted({str(e["BASECURR"]) for e in entries})
    debits = {c: Decimal(0) for c in currencies}
    credits = {c: Decimal(0) for c in currencies}
    trx_currencies = sorted({str(e["CURRENCY"] or e["BASECURR"]) for e in entries})
    trx_debits = {c: Decimal(0) for c in trx_currencies}
    trx_credits = {c: Decimal(0) for c in trx_currencies}
    net: dict[tuple[str, str], Decimal] = {}
    foreign = 0
    for e in entries:
        base = str(e["BASECURR"])
        trx = str(e["CURRENCY"] or base)
        foreign += trx != base
        if e["TR_TYPE"] == 1:
            debits[base] += e["AMOUNT"]
            trx_debits[trx] += e["TRX_AMOUNT"]
        else:
            credits[base] += e["AMOUNT"]
            trx_credits[trx] += e["TRX_AMOUNT"]
        key = (base, str(e["ACCOUNTNO"]))
        net[key] = net.get(key, Decimal(0)) + e["TR_TYPE"] * e["AMOUNT"]
    blocks = _listed(debits) + _listed(credits)
    fallback = _listed(debits)
    if foreign:
        blocks += _listed(trx_debits) + _listed(trx_credits)
        fallback += _listed(trx_debits)
    for currency in currencies:
        moved = [(acct, amt) for (cur, acct), amt in net.items() if cur == currency and amt]
        moved.sort(key=lambda item: (-abs(item[1]), item[0]))
        blocks += [show(amount, currency) for _, amount in moved[:top]]
    counts = {"lines": len(entries), "foreign": foreign}
    return blocks, fallback, counts


def unbalanced(entries: Sequence[Record]) -> list[tuple[str, str, Decimal, Decimal]]:
    """(entity, currency, debits, credits) of each side pair whose difference shows."""
    sides: dict[tuple[str, str], list[Decimal]] = {}
    for e in entries:
        pair = sides.setdefault((str(e["LOCATION"]), str(e["BASECURR"])), [Decimal(0)] * 2)
        pair[0 if e["TR_TYPE"] == 1 else 1] += e["AMOUNT"]
    found = []
    for (entity, currency), (debit, credit) in sorted(sides.items()):
        if show(debit - credit, currency) not in (f"{currency} 0", show(Decimal(0), currency)):
            found.append((entity, currency, debit, credit))
    return found


def unbalanced_alert(entries: Sequence[Record], *, max_lines: int) -> tuple[list[str], list[str]]:
    """One unbalanced batch's alert: differences, sides, and the lines it shows."""
    found = unbalanced(entries)
    differences = [show(d - c, cur) for _, cur, d, c in found]
    blocks = list(differences)  # the summary sentence
    blocks += differences  # the "Difference" field
    blocks += [show(d, cur) for _, cur, d, _ in found]
    blocks += [show(c, cur) for _, cur, _, c in found]
    ordered = sorted(entries, key=lambda e: e["RECORDNO"])
    blocks += [show(e["AMOUNT"], str(e["BASECURR"])) for e in ordered[:max_lines]]
    return blocks, differences


# -- Intacct payments ----------------------------------------------------------------------------


def _amount(p: Record) -> tuple[str, Decimal]:
    if isinstance(p.get("TRX_TOTALENTERED"), Decimal) and p.get("CURRENCY"):
        return str(p["CURRENCY"]), p["TRX_TOTALENTERED"]
    return str(p["BASECURR"] or p["CURRENCY"]), p["TOTALENTERED"]


def payment_summary(
    payments: Sequence[Record], *, top: int, max_runs: int
) -> tuple[list[str], list[str]]:
    good = [p for p in payments if str(p["STATE"]).lower() not in FAILED]
    blocks: list[str] = []
    runs: dict[str, list[Record]] = {}
    for p in payments:
        key = str(p["PRBATCHKEY"] if p["PRBATCHKEY"] is not None else p["PRBATCH"] or "")
        runs.setdefault(key, []).append(p)
    order = sorted(runs, key=lambda k: (str(runs[k][0]["PRBATCH"] or ""), k))
    for key in order[:max_runs]:
        members = runs[key]
        paid = [p for p in members if str(p["STATE"]).lower() not in FAILED]
        blocks += _listed(_sums(_amount(p) for p in paid))
        for state in sorted({str(p["STATE"]) for p in members if p not in paid}):
            blocks += _listed(_sums(_amount(p) for p in members if p["STATE"] == state))
    paid_totals = _sums(_amount(p) for p in good)
    blocks += _listed(paid_totals)
    for state in sorted({str(p["STATE"]) for p in payments}):
        blocks += _listed(_sums(_amount(p) for p in payments if p["STATE"] == state))
    for field in ("PAYMENTMETHOD", "FINANCIALENTITY"):
        for group in sorted({str(p[field]) for p in good}):
            blocks += _listed(_sums(_amount(p) for p in good if str(p[field]) == group))
    for currency in sorted({_amount(p)[0] for p in good}):
        mine = [p for p in good if _amount(p)[0] == currency]
        mine.sort(key=lambda p: (-abs(_amount(p)[1]), p["RECORDNO"]))
        blocks += [show(_amount(p)[1], currency) for p in mine[:top]]
    return blocks, _listed(paid_totals)


def vendor_alerts(payments: Sequence[Record], vendors: Sequence[Record]) -> dict[int, str]:
    """RECORDNO → the amount its vendor-exception alert shows, for each payment needing one."""
    problem = {
        v["VENDORID"]
        for v in vendors
        if v["ONHOLD"] or str(v["STATUS"]).lower() != "active" or not v["PAYMETHODKEY"]
    }
    return {
        p["RECORDNO"]: show(_amount(p)[1], _amount(p)[0])
        for p in payments
        if str(p["STATE"]).lower() in FAILED or p["VENDORID"] in problem
    }


# -- Sage 100 --------------------------------------------------------------------------------------


def register(lines: Sequence[Record], currency: str, *, top: int) -> tuple[list[str], list[str]]:
    """A GL register message: sides, difference, the largest accounts by |net|."""
    debit = sum((Decimal(str(x["DebitAmount"])) for x in lines), Decimal(0))
    credit = sum((Decimal(str(x["CreditAmount"])) for x in lines), Decimal(0))
    blocks = [show(debit, currency), show(credit, currency)]
    warning = []
    if debit != credit:
        warning = [show(abs(debit - credit), currency)]
    blocks += [*warning, show(debit, currency), show(credit, currency)]
    accounts: dict[str, list[Decimal]] = {}
    for x in lines:
        pair = accounts.setdefault(str(x["Account"]), [Decimal(0), Decimal(0)])
        pair[0] += Decimal(str(x["DebitAmount"]))
        pair[1] += Decimal(str(x["CreditAmount"]))
    ranked = sorted(accounts.items(), key=lambda item: (-abs(item[1][0] - item[1][1]), item[0]))
    for _, (d, c) in ranked[:top]:
        shown = [show(v, currency) for v in (d, c) if v]
        blocks += shown or [show(Decimal(0), currency)]
    fallback = [show(debit, currency), show(credit, currency), *warning]
    return blocks, fallback


def invoice_title(amount: Decimal) -> str:
    return "credit memo" if amount < 0 else "invoice"


def record_digest(
    amounts: Sequence[tuple[str, Decimal]], currency: str, *, ap: bool, shown: int
) -> tuple[list[str], list[str]]:
    """A digest of AP invoices or POs: the net total, credit memos apart, the largest items by
    size sign aside (ties to the lower record key)."""
    total = sum((a for _, a in amounts), Decimal(0))
    blocks = [show(total, currency)]
    negative = [a for _, a in amounts if a < 0]
    if ap and negative:
        blocks.append(show(sum(negative, Decimal(0)), currency))
    ranked = sorted(amounts, key=lambda item: (-abs(item[1]), item[0]))
    blocks += [show(a, currency) for _, a in ranked[:shown]]
    return blocks, [show(total, currency)]
