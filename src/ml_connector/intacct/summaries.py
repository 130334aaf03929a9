"""What the finance team is told about a window: GL and payment summaries and their alerts.

Pure computation over typed records (``Decimal`` money, ``date`` periods), so the figures can be
checked against hand-computed ones without a gateway. Records arrive one GL batch (or one
payment) at a time and are folded into builders that keep totals and only the few records a
message will name, so a month-end window with tens of thousands of lines needs no more memory
than its largest batch.

Amounts are kept per currency and never added across currencies: an entity booking in CAD and
one booking in USD have two debit totals, not one, and every ranking ("largest net changes",
"largest payments") is made within one currency. GL totals are in each entity's base currency
(GLENTRY.AMOUNT in BASECURR); the transaction-currency totals (TRX_AMOUNT in CURRENCY) are kept
beside them so a message can show both when a window holds foreign-currency lines.

Signs: a GL line's signed amount is ``TR_TYPE × AMOUNT`` (TR_TYPE 1 is a debit and -1 a credit,
realisable.co.uk's Intacct connector docs, research/intacct.md §5). Intacct's journal-entry API
"can add, edit, or reverse a transaction" (https://developer.intacct.com/api/general-ledger/
journal-entries/) but documents no sign for AMOUNT, so a negative amount is taken as written: a
negative debit reduces the debit side (a reversal or correcting entry written in red, as it
were), it is never counted as a positive one. Side totals are the sums of each side's amounts
as written, the net change of an account is the sum of its signed amounts, and a batch balances
when its signed amounts sum to zero per entity and currency. For positive amounts this is the
same answer as reading AMOUNT as unsigned; for negative ones it is the right one.

Rounding: figures are summed exactly and rounded once, when shown, by :mod:`ml_connector.money`.
"""

from __future__ import annotations

import hashlib
import heapq
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Literal

from ml_connector.intacct.gateway import ErrorDetail, Record
from ml_connector.intacct.run_window import Window, version_key
from ml_connector.money import round_money

ZERO = Decimal(0)
# Payment states after which no money leaves (or it came back); reported, never totalled.
FAILED_PAYMENT_STATES = frozenset({"declined", "voided", "reversed"})
UNKNOWN = "(none)"


class RecordError(ValueError):
    """A record lacks a field the summary cannot do without (an amount, a key, a stamp)."""


# -- typed views of the records -------------------------------------------------------------


def _text(record: Record, name: str) -> str:
    value = record.get(name)
    return "" if value is None else str(value).strip()


def _int(record: Record, object_name: str, name: str) -> int:
    value = record.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        raise RecordError(f"{object_name} {_text(record, 'RECORDNO') or '?'} has no {name}")
    return value


def _amount(record: Record, object_name: str, *names: str) -> Decimal:
    for name in names:
        value = record.get(name)
        if isinstance(value, Decimal):
            return value
    raise RecordError(
        f"{object_name} {_text(record, 'RECORDNO') or '?'} has no amount ({' or '.join(names)})"
    )


def _stamp(record: Record, object_name: str) -> datetime:
    value = record.get("WHENMODIFIED")
    if not isinstance(value, datetime):
        raise RecordError(f"{object_name} {_text(record, 'RECORDNO') or '?'} has no WHENMODIFIED")
    return value


def _date(record: Record, name: str) -> date | None:
    value = record.get(name)
    if isinstance(value, datetime):
        return value.date()
    return value if isinstance(value, date) else None


def _flag(record: Record, name: str) -> bool:
    """Intacct writes some flags as true/false and others as one letter (T/F)."""
    value = record.get(name)
    if isinstance(value, bool):
        return value
    return _text(record, name).lower() in ("t", "true", "y", "yes")


@dataclass(frozen=True)
class GLBatch:
    recordno: int
    batchno: int | None
    journal: str
    title: str
    state: str
    entity: str
    entity_name: str
    batch_date: date | None
    whenmodified: datetime
    url: str = ""

    @property
    def key(self) -> str:
        return version_key(self.recordno, self.whenmodified)

    @property
    def posted(self) -> bool:
        return self.state.lower() == "posted"

    @property
    def label(self) -> str:
        number = f" {self.batchno}" if self.batchno is not None else ""
        return f"{self.journal or 'GL'}{number} (record {self.recordno})"


def gl_batch(record: Record) -> GLBatch:
    batchno = record.get("BATCHNO")
    return GLBatch(
        recordno=_int(record, "GLBATCH", "RECORDNO"),
        batchno=batchno if isinstance(batchno, int) and not isinstance(batchno, bool) else None,
        journal=_text(record, "JOURNAL"),
        title=_text(record, "BATCH_TITLE"),
        state=_text(record, "STATE"),
        entity=_text(record, "MEGAENTITYID") or _text(record, "BASELOCATION_NO"),
        entity_name=_text(record, "MEGAENTITYNAME"),
        batch_date=_date(record, "BATCH_DATE"),
        whenmodified=_stamp(record, "GLBATCH"),
        url=_text(record, "RECORD_URL"),
    )


@dataclass(frozen=True)
class GLLine:
    recordno: int
    batch: int  # the GLBATCH RECORDNO (GLENTRY.BATCHNO)
    line_no: int
    debit: bool  # TR_TYPE 1 (the side the line was written on; -1 is a credit)
    amount: Decimal  # AMOUNT as written (may be negative), in the entity's base currency
    currency: str  # BASECURR
    account: str
    account_title: str
    entity: str
    entry_date: date | None
    adjusting: bool
    description: str
    trx_amount: Decimal | None = None  # TRX_AMOUNT as written, in trx_currency
    trx_currency: str = ""  # CURRENCY, the transaction currency

    @property
    def signed(self) -> Decimal:
        """``TR_TYPE × AMOUNT``: positive is a net debit, negative a net credit."""
        return self.amount if self.debit else -self.amount

    @property
    def foreign(self) -> bool:
        """Entered in a currency other than its entity's base currency."""
        return bool(self.trx_currency) and self.trx_currency != self.currency

    @property
    def transaction(self) -> tuple[str, Decimal]:
        """(currency, amount as written) in the transaction currency; a line without
        TRX_AMOUNT was entered in its base currency."""
        if self.trx_amount is None or not self.trx_currency:
            return self.currency, self.amount
        return self.trx_currency, self.trx_amount


def gl_line(record: Record) -> GLLine:
    """GLENTRY: TR_TYPE 1 is a debit and -1 a credit; AMOUNT is kept with its sign (see the
    module docstring)."""
    tr_type = _int(record, "GLENTRY", "TR_TYPE")
    if tr_type not in (1, -1):
        raise RecordError(f"GLENTRY {_text(record, 'RECORDNO')} has TR_TYPE {tr_type}, not 1/-1")
    line_no = record.get("LINE_NO")
    trx_amount = record.get("TRX_AMOUNT")
    return GLLine(
        recordno=_int(record, "GLENTRY", "RECORDNO"),
        batch=_int(record, "GLENTRY", "BATCHNO"),
        line_no=line_no if isinstance(line_no, int) and not isinstance(line_no, bool) else 0,
        debit=tr_type == 1,
        amount=_amount(record, "GLENTRY", "AMOUNT"),
        currency=_text(record, "BASECURR") or _text(record, "CURRENCY"),
        account=_text(record, "ACCOUNTNO"),
        account_title=_text(record, "ACCOUNTTITLE"),
        entity=_text(record, "LOCATION"),
        entry_date=_date(record, "ENTRY_DATE"),
        adjusting=_flag(record, "ADJ"),
        description=_text(record, "DESCRIPTION"),
        trx_amount=trx_amount if isinstance(trx_amount, Decimal) else None,
        trx_currency=_text(record, "CURRENCY") if isinstance(trx_amount, Decimal) else "",
    )


@dataclass(frozen=True)
class Vendor:
    vendor_id: str
    name: str
    status: str
    on_hold: bool
    pay_method: str

    @property
    def problems(self) -> list[str]:
        reasons = []
        if self.on_hold:
            reasons.append("vendor on hold")
        if self.status and self.status.lower() != "active":
            reasons.append(f"vendor {self.status.lower()}")
        if not self.pay_method:
            reasons.append("vendor has no payment method")
        return reasons


def vendor(record: Record) -> Vendor:
    vendor_id = _text(record, "VENDORID")
    if not vendor_id:
        raise RecordError(f"VENDOR {_text(record, 'RECORDNO') or '?'} has no VENDORID")
    return Vendor(
        vendor_id=vendor_id,
        name=_text(record, "NAME"),
        status=_text(record, "STATUS"),
        on_hold=_flag(record, "ONHOLD"),
        pay_method=_text(record, "PAYMETHODKEY"),
    )


@dataclass(frozen=True)
class Payment:
    recordno: int
    run: str  # PRBATCH, the payment run's name
    document: str
    state: str
    method: str
    bank: str
    bank_name: str
    vendor_id: str
    vendor_name: str
    amount: Decimal
    currency: str
    paid_on: date | None
    whenmodified: datetime
    url: str = ""
    # PRBATCHKEY, the run's record: two runs may share a name (PRBATCH), never a key.
    run_key: str = ""
    # MEGAENTITYID: the entity the payment belongs to ("" at the top level).
    entity: str = ""

    @property
    def key(self) -> str:
        return version_key(self.recordno, self.whenmodified)

    @property
    def failed(self) -> bool:
        return self.state.lower() in FAILED_PAYMENT_STATES

    @property
    def label(self) -> str:
        return f"{self.document or 'payment'} (record {self.recordno})"


def payment(record: Record) -> Payment:
    """APPYMT: the amount in the transaction currency (TRX_TOTALENTERED in CURRENCY), else
    the base amount (TOTALENTERED in BASECURR)."""
    if isinstance(record.get("TRX_TOTALENTERED"), Decimal) and _text(record, "CURRENCY"):
        amount = _amount(record, "APPYMT", "TRX_TOTALENTERED")
        currency = _text(record, "CURRENCY")
    else:
        amount = _amount(record, "APPYMT", "TOTALENTERED")
        currency = _text(record, "BASECURR") or _text(record, "CURRENCY")
    return Payment(
        recordno=_int(record, "APPYMT", "RECORDNO"),
        run=_text(record, "PRBATCH"),
        run_key=_text(record, "PRBATCHKEY") or _text(record, "PRBATCH"),
        document=_text(record, "DOCNUMBER") or _text(record, "RECORDID"),
        state=_text(record, "STATE") or UNKNOWN,
        method=_text(record, "PAYMENTMETHOD") or UNKNOWN,
        bank=_text(record, "FINANCIALENTITY") or UNKNOWN,
        bank_name=_text(record, "FINANCIALACCOUNTNAME"),
        vendor_id=_text(record, "VENDORID"),
        vendor_name=_text(record, "VENDORNAME"),
        amount=amount,
        currency=currency,
        paid_on=_date(record, "WHENPAID") or _date(record, "WHENCREATED"),
        whenmodified=_stamp(record, "APPYMT"),
        url=_text(record, "RECORD_URL"),
        entity=_text(record, "MEGAENTITYID"),
    )


# -- GL ---------------------------------------------------------------------------------------


Totals = dict[str, Decimal]  # currency -> amount


@dataclass(frozen=True)
class Imbalance:
    entity: str
    currency: str
    debits: Decimal
    credits: Decimal

    @property
    def difference(self) -> Decimal:
        return self.debits - self.credits


@dataclass(frozen=True)
class UnbalancedBatch:
    batch: GLBatch
    imbalances: tuple[Imbalance, ...]
    lines: tuple[GLLine, ...]


def imbalances(lines: Iterable[GLLine]) -> list[Imbalance]:
    """Debits against credits per entity and currency, each side the sum of its amounts as
    written; those whose difference, rounded to the currency's minor unit, is not zero (a
    sub-unit residue is rounding, and the alert would have to say "differ by USD 0.00")."""
    debits: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    credits: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
    for line in lines:
        side = debits if line.debit else credits
        side[(line.entity, line.currency)] += line.amount
    found = []
    for key in sorted(set(debits) | set(credits)):
        debit, credit = debits.get(key, ZERO), credits.get(key, ZERO)
        if round_money(debit - credit, key[1]):
            found.append(Imbalance(key[0], key[1], debit, credit))
    return found


NotableKind = Literal["adjusting", "closed_period", "future_period"]


@dataclass(frozen=True)
class Notable:
    kind: NotableKind
    batch: GLBatch
    dates: tuple[date, ...] = ()


@dataclass(frozen=True)
class Period:
    """A fiscal month; Intacct's default reporting periods are calendar months."""

    year: int
    month: int

    @classmethod
    def of(cls, day: date) -> Period:
        return cls(day.year, day.month)

    def __lt__(self, other: Period) -> bool:
        return (self.year, self.month) < (other.year, other.month)


@dataclass
class Counts:
    batches: int = 0
    lines: int = 0


@dataclass(frozen=True)
class AccountChange:
    account: str
    title: str
    currency: str
    net: Decimal


@dataclass(frozen=True)
class GLSummary:
    window: Window
    batches: int
    lines: int
    by_journal: dict[str, Counts]
    by_entity: dict[str, Counts]
    entity_names: dict[str, str]
    debits: Totals  # base currency (BASECURR) -> sum of debit amounts as written
    credits: Totals
    top_accounts: list[AccountChange]
    notable: list[Notable]
    batch_recordnos: list[int]
    entry_recordnos: list[int]
    digest: str
    # Transaction currency (CURRENCY) -> sums of TRX_AMOUNT, and how many lines were entered
    # in a currency other than their entity's base currency.
    trx_debits: Totals = field(default_factory=dict)
    trx_credits: Totals = field(default_factory=dict)
    foreign_lines: int = 0

    @property
    def empty(self) -> bool:
        return self.batches == 0


class GLSummaryBuilder:
    """Folds posted batches (each with all its lines) into one summary and its alerts."""

    def __init__(
        self,
        window: Window,
        *,
        current_period: Period,
        closed_through: date | None = None,
        max_notable: int = 50,
    ) -> None:
        self._window = window
        self._current = current_period
        self._closed_through = closed_through
        self._max_notable = max_notable
        self._by_journal: dict[str, Counts] = defaultdict(Counts)
        self._by_entity: dict[str, Counts] = defaultdict(Counts)
        self._entity_names: dict[str, str] = {}
        self._debits: Totals = defaultdict(Decimal)
        self._credits: Totals = defaultdict(Decimal)
        self._trx_debits: Totals = defaultdict(Decimal)
        self._trx_credits: Totals = defaultdict(Decimal)
        self._foreign = 0
        self._net: dict[tuple[str, str], Decimal] = defaultdict(Decimal)
        self._titles: dict[str, str] = {}
        self._notable: list[Notable] = []
        self._notable_dropped = 0
        self._batches: list[int] = []
        self._entries: list[int] = []
        self._hash = hashlib.sha256()
        self.unbalanced: list[UnbalancedBatch] = []

    def add(self, batch: GLBatch, lines: Sequence[GLLine]) -> UnbalancedBatch | None:
        """One batch version with all its lines; returns the batch if it does not balance."""
        self._batches.append(batch.recordno)
        self._hash.update(f"B{batch.key};".encode())
        entity = batch.entity or (lines[0].entity if lines else "") or UNKNOWN
        if batch.entity_name:
            self._entity_names.setdefault(entity, batch.entity_name)
        journal = batch.journal or UNKNOWN
        self._by_journal[journal].batches += 1
        self._by_entity[entity].batches += 1
        for line in lines:
            self._entries.append(line.recordno)
            self._hash.update(f"E{line.recordno};".encode())
            self._by_journal[journal].lines += 1
            self._by_entity[entity].lines += 1
            (self._debits if line.debit else self._credits)[line.currency] += line.amount
            trx_currency, trx_amount = line.transaction
            (self._trx_debits if line.debit else self._trx_credits)[trx_currency] += trx_amount
            self._foreign += line.foreign
            self._net[(line.currency, line.account)] += line.signed
            if line.account_title:
                self._titles.setdefault(line.account, line.account_title)
        self._note(batch, lines)
        found = imbalances(lines)
        if not found:
            return None
        unbalanced = UnbalancedBatch(batch, tuple(found), tuple(lines))
        self.unbalanced.append(unbalanced)
        return unbalanced

    def _note(self, batch: GLBatch, lines: Sequence[GLLine]) -> None:
        dates = sorted({line.entry_date for line in lines if line.entry_date is not None})
        if batch.batch_date is not None and not dates:
            dates = [batch.batch_date]
        found: list[Notable] = []
        if any(line.adjusting for line in lines):
            found.append(Notable("adjusting", batch))
        closed = self._closed_through
        if closed is not None and any(day <= closed for day in dates):
            found.append(Notable("closed_period", batch, tuple(d for d in dates if d <= closed)))
        future = tuple(d for d in dates if self._current < Period.of(d))
        if future:
            found.append(Notable("future_period", batch, future))
        for item in found:
            if len(self._notable) < self._max_notable:
                self._notable.append(item)
            else:
                self._notable_dropped += 1

    @property
    def notable_dropped(self) -> int:
        return self._notable_dropped

    def summary(self, *, titles: Mapping[str, str], top_accounts: int) -> GLSummary:
        """``titles`` (account number → title, from the GLACCOUNT cache) win over the titles
        the lines carried."""
        return GLSummary(
            window=self._window,
            batches=len(self._batches),
            lines=len(self._entries),
            by_journal=dict(sorted(self._by_journal.items())),
            by_entity=dict(sorted(self._by_entity.items())),
            entity_names=dict(self._entity_names),
            debits=_every(self._debits, self._credits),
            credits=_every(self._credits, self._debits),
            top_accounts=largest_changes(
                self._net, {**self._titles, **titles}, per_currency=top_accounts
            ),
            notable=list(self._notable),
            batch_recordnos=list(self._batches),
            entry_recordnos=list(self._entries),
            digest=self._hash.hexdigest()[:32],
            trx_debits=_every(self._trx_debits, self._trx_credits),
            trx_credits=_every(self._trx_credits, self._trx_debits),
            foreign_lines=self._foreign,
        )


def _every(side: Totals, other: Totals) -> Totals:
    """One side's totals for every currency either side has (zero where this side has none),
    so a currency with credits only still shows its debits as zero."""
    return {c: side.get(c, ZERO) for c in sorted(set(side) | set(other))}


def largest_changes(
    net: Mapping[tuple[str, str], Decimal], titles: Mapping[str, str], *, per_currency: int
) -> list[AccountChange]:
    """The accounts with the largest absolute net change, ``per_currency`` for each currency
    (amounts in different currencies are not comparable); accounts that net to zero are left
    out. Ties go to the lower account number, so the list is stable."""
    by_currency: dict[str, list[tuple[str, Decimal]]] = defaultdict(list)
    for (currency, account), amount in net.items():
        if amount != ZERO:
            by_currency[currency].append((account, amount))
    changes: list[AccountChange] = []
    for currency in sorted(by_currency):
        ranked = heapq.nsmallest(
            per_currency, by_currency[currency], key=lambda item: (-abs(item[1]), item[0])
        )
        changes.extend(
            AccountChange(account, titles.get(account, ""), currency, amount)
            for account, amount in ranked
        )
    return changes


# -- payments ---------------------------------------------------------------------------------


@dataclass
class StateTally:
    count: int = 0
    totals: Totals = field(default_factory=lambda: defaultdict(Decimal))


@dataclass
class RunTally:
    """One payment run (PRBATCHKEY): what it paid, and what failed in it, kept apart."""

    key: str
    name: str
    count: int = 0  # every payment of the run in the window, failed ones included
    vendors: set[str] = field(default_factory=set)  # vendors paid (failed payments left out)
    methods: Counter[str] = field(default_factory=Counter)  # payments paid, by method
    totals: Totals = field(default_factory=lambda: defaultdict(Decimal))  # paid, per currency
    failed: dict[str, StateTally] = field(default_factory=dict)  # state -> count and totals

    @property
    def label(self) -> str:
        name = self.name or "(no payment run)"
        return f"{name} (run {self.key})" if self.key and self.key != self.name else name


@dataclass(frozen=True)
class VendorException:
    payment: Payment
    vendor_id: str
    vendor_name: str
    reasons: tuple[str, ...]


@dataclass(frozen=True)
class PaymentSummary:
    window: Window
    count: int
    runs: list[RunTally]  # by name, then key; never merged by bank or name
    by_state: dict[str, StateTally]
    by_method: dict[str, Totals]
    by_bank: dict[str, Totals]
    bank_names: dict[str, str]
    vendors_paid: int
    largest: list[Payment]  # the ``top`` largest of each currency, currencies in code order
    payment_recordnos: list[int]
    digest: str
    paid: Totals = field(default_factory=dict)  # currency -> total of the payments not failed

    @property
    def empty(self) -> bool:
        return self.count == 0


def vendor_exception(item: Payment, vendors: Mapping[str, Vendor]) -> VendorException | None:
    """Why a payment needs a person: it failed, or its vendor should not be paid as things are.

    ``vendors`` holds the vendors with a problem (on hold, not active, no payment method); a
    paid vendor absent from it has none.
    """
    reasons: list[str] = []
    if item.failed:
        reasons.append(f"payment {item.state.lower()}")
    master = vendors.get(item.vendor_id)
    if master is not None:
        reasons.extend(master.problems)
    if not reasons:
        return None
    name = item.vendor_name or (master.name if master is not None else "")
    return VendorException(item, item.vendor_id, name, tuple(reasons))


class PaymentSummaryBuilder:
    """Folds payments into a summary; keeps only the ``top`` largest of each currency whole
    (amounts in different currencies are not comparable), ranked by size, ties to the lower
    RECORDNO."""

    def __init__(self, window: Window, vendors: Mapping[str, Vendor], *, top: int) -> None:
        self._window = window
        self._vendors = vendors
        self._top = top
        self._count = 0
        self._runs: dict[str, RunTally] = {}
        self._by_state: dict[str, StateTally] = defaultdict(StateTally)
        self._by_method: dict[str, Totals] = defaultdict(lambda: defaultdict(Decimal))
        self._by_bank: dict[str, Totals] = defaultdict(lambda: defaultdict(Decimal))
        self._bank_names: dict[str, str] = {}
        self._vendors_paid: set[str] = set()
        self._paid: Totals = defaultdict(Decimal)
        self._largest: dict[str, list[tuple[Decimal, int, Payment]]] = defaultdict(list)
        self._recordnos: list[int] = []
        self._hash = hashlib.sha256()
        self.exceptions: list[VendorException] = []

    def add(self, item: Payment) -> VendorException | None:
        self._count += 1
        self._recordnos.append(item.recordno)
        self._hash.update(f"P{item.key};".encode())
        run_key = item.run_key or item.run
        run = self._runs.get(run_key)
        if run is None:
            run = self._runs[run_key] = RunTally(run_key, item.run)
        run.count += 1
        tally = self._by_state[item.state]
        tally.count += 1
        tally.totals[item.currency] += item.amount
        if item.failed:
            failed = run.failed.setdefault(item.state, StateTally())
            failed.count += 1
            failed.totals[item.currency] += item.amount
        else:
            run.vendors.add(item.vendor_id or item.vendor_name)
            run.methods[item.method] += 1
            run.totals[item.currency] += item.amount
            self._paid[item.currency] += item.amount
            self._by_method[item.method][item.currency] += item.amount
            self._by_bank[item.bank][item.currency] += item.amount
            if item.bank_name:
                self._bank_names.setdefault(item.bank, item.bank_name)
            self._vendors_paid.add(item.vendor_id or item.vendor_name)
            largest = self._largest[item.currency]
            entry = (abs(item.amount), -item.recordno, item)
            if len(largest) < self._top:
                heapq.heappush(largest, entry)
            elif entry[:2] > largest[0][:2]:
                heapq.heapreplace(largest, entry)
        found = vendor_exception(item, self._vendors)
        if found is not None:
            self.exceptions.append(found)
        return found

    def summary(self) -> PaymentSummary:
        largest = [
            p
            for currency in sorted(self._largest)
            for _, _, p in sorted(self._largest[currency], key=lambda e: e[:2], reverse=True)
        ]
        runs = sorted(self._runs.values(), key=lambda r: (r.name, r.key))
        for run in runs:
            run.totals = dict(sorted(run.totals.items()))
            run.failed = {k: run.failed[k] for k in sorted(run.failed)}
        return PaymentSummary(
            window=self._window,
            count=self._count,
            runs=runs,
            by_state={k: self._by_state[k] for k in sorted(self._by_state)},
            by_method={k: dict(sorted(v.items())) for k, v in sorted(self._by_method.items())},
            by_bank={k: dict(sorted(v.items())) for k, v in sorted(self._by_bank.items())},
            bank_names=dict(self._bank_names),
            vendors_paid=len(self._vendors_paid),
            largest=largest,
            payment_recordnos=list(self._recordnos),
            digest=self._hash.hexdigest()[:32],
            paid=dict(sorted(self._paid.items())),
        )


# -- read failures ----------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadFailure:
    """A part of the window that could not be read completely, and why (Intacct's own words).

    ``stream`` is what stays unread (its cursor does not move): ``gl``, ``payments``,
    ``accounts``, or ``all`` when the whole request failed.
    """

    stream: str
    what: str
    window: Window
    message: str
    errors: tuple[ErrorDetail, ...] = ()
    transient: bool = False
    # What identifies the failure across runs: the errornos, or the kind of failure when
    # Intacct gave none (never the text, which carries a fresh Support ID each time).
    code: str = ""

    @property
    def errornos(self) -> tuple[str, ...]:
        return tuple(e.errorno for e in self.errors if e.errorno)
