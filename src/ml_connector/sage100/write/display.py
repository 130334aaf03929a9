"""Sage 100 values as a finance reader expects to see them: codes named, money with currency.

Codes are always shown with their meaning *and* the code itself ("Open (O)"), because some
meanings come from secondary sources (research/sage100.md marks PO status values as not
confirmed) and a reader who knows Sage 100 can then correct us rather than be misled.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from ml_connector.sage100.collect.records import parse_stamp
from ml_connector.sage100.collect.streams import TrackedField
from ml_connector.slack.dates import format_datetime
from ml_connector.slack.money import format_money
from ml_connector.slack.mrkdwn import BLANK

#: PO_PurchaseOrderHeader.OrderStatus (research §2: N/O/B/C/X, unconfirmed).
PO_STATUS = {"N": "New", "O": "Open", "B": "Back-ordered", "C": "Completed", "X": "Cancelled"}
#: PO_PurchaseOrderHeader.OrderType (unconfirmed in the same way).
PO_TYPE = {"S": "Standard", "D": "Drop-ship", "M": "Master", "R": "Repeating"}
#: GL_Account.Status: "A = Active, I = Inactive, D = Deleted" (File Layouts 4.40).
ACCOUNT_STATUS = {"A": "Active", "I": "Inactive", "D": "Deleted"}
#: GL_AccountType defaults (research §2); codes with an unclear meaning are shown bare.
ACCOUNT_TYPE = {
    "01": "Cash",
    "02": "Accounts receivable",
    "03": "Other receivables",
    "04": "Inventory",
    "05": "Prepaid expenses",
    "06": "Other assets",
    "07": "Current liabilities",
    "08": "Long-term liabilities",
    "09": "Equity",
    "10": "Retained earnings",
    "11": "Revenue",
    "12": "Cost of sales",
    "13": "Operating expenses",
    "17": "Income tax",
}
STAGE = {"entry": "Entry (unposted)", "posted": "Posted"}


def coded(code: str, names: dict[str, str]) -> str:
    code = code.strip()
    if not code:
        return BLANK
    name = names.get(code.upper())
    return f"{name} ({code})" if name else code


def hold(flag: str) -> str:
    return "On hold" if flag.strip().upper() == "Y" else "No"


def money_text(amount: Decimal | str, currency: str) -> str:
    return format_money(Decimal(amount), currency)


def day(value: date | str | None) -> str:
    if value is None or value == "":
        return BLANK
    return value.isoformat() if isinstance(value, date) else value


def moment(stamp: str, zone: ZoneInfo) -> str:
    """A Sage 100 stamp (the server's wall-clock time) with the pipeline's zone named."""
    local: datetime = parse_stamp(stamp).replace(tzinfo=zone)
    return format_datetime(local, zone)


def tracked_value(field: TrackedField, value: str, currency: str) -> str:
    """A fingerprint value as shown in "what changed" lines."""
    if field.kind == "money" and value:
        return money_text(value, currency)
    if field.kind == "hold":
        return hold(value)
    if field.kind == "stage":
        return STAGE.get(value, value or BLANK)
    if field.kind == "po_status":
        return coded(value, PO_STATUS)
    if field.kind == "account_status":
        return coded(value, ACCOUNT_STATUS)
    if field.kind == "account_type":
        return coded(value, ACCOUNT_TYPE)
    return value or BLANK
