"""GL posting lines gathered into journal registers, the unit a GL channel wants to read.

Sage 100's register update writes every line of one journal register (SourceJournal +
JournalRegisterNo) with one creation stamp; a poll may still meet a register while it is
being written, so a register can arrive in parts. Each part carries how many lines were
posted for the register before it, and its own totals.

Signs: GL_DetailPosting carries a line's amount in DebitAmount or CreditAmount (16.2 columns,
research/sage100.md §2); Sage 100 documents no sign rule for them, and its AP entry writes
credit memos as negative amounts ("type a negative amount for credit memos",
https://help-sage100.na.sage.com/2023/Subsystems/AP/APMainProced/Enter_Debit_Credit_Memos.htm),
so a negative amount can reach the ledger. Amounts are therefore kept as written: each side's
total is the sum of its amounts (a negative debit reduces the debits, it is never counted as a
positive one), a line's signed amount is ``DebitAmount − CreditAmount``, an account's net change
is the sum of its lines' signed amounts, and a register balances when they sum to zero.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from ml_connector.sage100.collect.records import (
    Record,
    business_date,
    money,
    record_key,
    stamp,
    text,
)

ZERO = Decimal("0.00")


@dataclass
class AccountTotal:
    account: str
    description: str
    debit: Decimal = ZERO
    credit: Decimal = ZERO

    @property
    def net(self) -> Decimal:
        """Debits minus credits: positive is a net debit."""
        return self.debit - self.credit


@dataclass
class Register:
    source_journal: str
    register_no: str
    posting_dates: set[str] = field(default_factory=set)
    source_module: str = ""
    batch_no: str = ""
    line_keys: list[str] = field(default_factory=list)
    stamp: str = ""
    debit: Decimal = ZERO
    credit: Decimal = ZERO
    accounts: dict[str, AccountTotal] = field(default_factory=dict)

    @property
    def key(self) -> str:
        return register_key(self.source_journal, self.register_no)

    @property
    def line_count(self) -> int:
        return len(self.line_keys)

    @property
    def difference(self) -> Decimal:
        """Debits minus credits; anything but zero is worth a warning."""
        return self.debit - self.credit

    @property
    def posting_date(self) -> str:
        """The posting date, or the range when lines were posted to several dates."""
        dates = sorted(self.posting_dates)
        if not dates:
            return ""
        return dates[0] if len(dates) == 1 else f"{dates[0]} – {dates[-1]}"

    def largest_accounts(self, count: int) -> list[AccountTotal]:
        """The accounts with the largest absolute net change; ties to the lower account."""
        ranked = sorted(self.accounts.values(), key=lambda a: (-abs(a.net), a.account))
        return ranked[:count]

    @property
    def size(self) -> Decimal:
        """How large the register is, for ranking: its larger side, sign aside."""
        return max(abs(self.debit), abs(self.credit))

    def add(self, line: Record) -> None:
        key = record_key(line)
        debit = money(line, "DebitAmount")
        credit = money(line, "CreditAmount")
        day = business_date(line, "PostingDate")
        if day is not None:
            self.posting_dates.add(day.isoformat())
        self.source_module = self.source_module or text(line, "SourceModule")
        self.batch_no = self.batch_no or text(line, "BatchNo")
        self.line_keys.append(key)
        self.stamp = max(self.stamp, stamp(line))
        self.debit += debit
        self.credit += credit
        account = text(line, "Account") or text(line, "AccountKey")
        total = self.accounts.get(account)
        if total is None:
            total = self.accounts[account] = AccountTotal(account, text(line, "AccountDesc"))
        total.debit += debit
        total.credit += credit

    def fields(self) -> dict[str, Any]:
        """What route rules and link templates see of a register."""
        return {
            "record_key": self.key,
            "stamp": self.stamp,
            "SourceJournal": self.source_journal,
            "JournalRegisterNo": self.register_no,
            "PostingDate": self.posting_date,
            "SourceModule": self.source_module,
            "BatchNo": self.batch_no,
            "line_count": self.line_count,
            "DebitAmount": str(self.debit),
            "CreditAmount": str(self.credit),
        }


def register_key(source_journal: str, register_no: str) -> str:
    return f"{source_journal}-{register_no}"


def line_register_key(line: Record) -> str:
    return register_key(text(line, "SourceJournal"), text(line, "JournalRegisterNo"))


def group(lines: Iterable[Record]) -> list[Register]:
    """Lines into registers, in the order each register was first met."""
    registers: dict[str, Register] = {}
    for line in lines:
        key = line_register_key(line)
        register = registers.get(key)
        if register is None:
            register = registers[key] = Register(
                text(line, "SourceJournal"), text(line, "JournalRegisterNo")
            )
        register.add(line)
    return list(registers.values())
