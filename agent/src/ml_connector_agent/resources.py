"""The four readable resources: their record keys and the JSON shape every back end returns.

Field names are Sage 100's own (``AP_InvoiceHeader.InvoiceAmt``, ``GL_Account.AccountDesc``)
so a finance user recognises them; values the agent derives are lower-case
(``record_key``, ``stamp``, ``posting_stage``, ``line_count``, ``order_total``). Amounts are
decimal strings with two places so no float ever touches money. Business dates are ISO
``YYYY-MM-DD``; the audit stamps are returned as Sage stores them (``YYYYMMDD`` and
decimal-hour strings) next to the derived ISO ``stamp``.
"""

from __future__ import annotations

from collections.abc import Callable
from decimal import ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from ml_connector_agent.amounts import AmountError, parse_amount
from ml_connector_agent.paging import iso_date, record_stamp, sage_date


class Resource(StrEnum):
    AP_INVOICES = "ap-invoices"
    PURCHASE_ORDERS = "purchase-orders"
    GL_POSTINGS = "gl-postings"
    GL_ACCOUNTS = "gl-accounts"


#: Posting stages of an AP invoice: still in data entry (AP_InvoiceHeader, unposted batch)
#: or posted by the AP Invoice Register update (AP_OpenInvoice).
STAGE_ENTRY = "entry"
STAGE_POSTED = "posted"

Row = dict[str, Any]


def text(value: object) -> str | None:
    """Sage pads ODBC strings to their width; an empty field means absent."""
    if value is None:
        return None
    stripped = str(value).rstrip()
    return stripped or None


def money(value: object) -> str:
    if value is None or (isinstance(value, str) and not value.strip()):
        return "0.00"
    # Bounded first: Sage data holding 1e1000000 would otherwise raise decimal.Overflow here
    # and fail the whole page (AmountError is caught per record, see SHAPERS).
    amount = parse_amount(str(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP)
    return f"{amount:.2f}"


def _t(row: Row, name: str) -> str:
    return text(row.get(name)) or ""


def ap_invoice_key(row: Row) -> str:
    """Division + vendor + invoice: the invoice keeps it when it moves from entry to posted."""
    return f"{_t(row, 'APDivisionNo')}-{_t(row, 'VendorNo')}-{_t(row, 'InvoiceNo')}"


def purchase_order_key(row: Row) -> str:
    return _t(row, "PurchaseOrderNo")


def gl_posting_key(row: Row) -> str:
    """GL_DetailPosting's primary key, register first so one register's lines sort together."""
    return "-".join(
        (
            _t(row, "SourceJournal"),
            _t(row, "JournalRegisterNo"),
            _t(row, "SequenceNo"),
            _t(row, "AccountKey"),
            sage_date(row.get("PostingDate")) or "",
        )
    )


def gl_account_key(row: Row) -> str:
    return _t(row, "AccountKey")


RECORD_KEYS: dict[Resource, Callable[[Row], str]] = {
    Resource.AP_INVOICES: ap_invoice_key,
    Resource.PURCHASE_ORDERS: purchase_order_key,
    Resource.GL_POSTINGS: gl_posting_key,
    Resource.GL_ACCOUNTS: gl_account_key,
}


def _audit(row: Row) -> Row:
    return {
        "DateCreated": sage_date(row.get("DateCreated")),
        "TimeCreated": text(row.get("TimeCreated")),
        "DateUpdated": sage_date(row.get("DateUpdated")),
        "TimeUpdated": text(row.get("TimeUpdated")),
    }


def shape_ap_invoice(row: Row) -> Row:
    """``row`` also carries ``VendorName`` (AP_Vendor) and ``posting_stage``."""
    stage = row["posting_stage"]
    amount = money(row.get("InvoiceAmt"))
    return {
        "record_key": ap_invoice_key(row),
        "stamp": record_stamp(row),
        "posting_stage": stage,
        "APDivisionNo": text(row.get("APDivisionNo")),
        "VendorNo": text(row.get("VendorNo")),
        "VendorName": text(row.get("VendorName")),
        "InvoiceNo": text(row.get("InvoiceNo")),
        "InvoiceDate": iso_date(row.get("InvoiceDate")),
        "InvoiceDueDate": iso_date(row.get("InvoiceDueDate")),
        "InvoiceAmt": amount,
        "Balance": money(row.get("Balance")) if stage == STAGE_POSTED else amount,
        "HoldPayment": text(row.get("HoldPayment")) or "N",
        "TermsCode": text(row.get("TermsCode")),
        "BatchNo": text(row.get("BatchNo")),
        **_audit(row),
    }


def shape_purchase_order(row: Row) -> Row:
    """``row`` also carries ``VendorName`` and ``line_count`` (from PO_PurchaseOrderDetail)."""
    total = sum(
        (
            Decimal(money(row.get(name)))
            for name in ("TaxableAmt", "NonTaxableAmt", "SalesTaxAmt", "FreightAmt")
        ),
        Decimal("0"),
    )
    return {
        "record_key": purchase_order_key(row),
        "stamp": record_stamp(row),
        "PurchaseOrderNo": text(row.get("PurchaseOrderNo")),
        "PurchaseOrderDate": iso_date(row.get("PurchaseOrderDate")),
        "APDivisionNo": text(row.get("APDivisionNo")),
        "VendorNo": text(row.get("VendorNo")),
        "VendorName": text(row.get("VendorName")),
        "OrderStatus": text(row.get("OrderStatus")),
        "OrderType": text(row.get("OrderType")),
        "WarehouseCode": text(row.get("WarehouseCode")),
        "line_count": int(row.get("line_count") or 0),
        "order_total": f"{total:.2f}",
        **_audit(row),
    }


def shape_gl_posting(row: Row) -> Row:
    """``row`` also carries ``Account`` and ``AccountDesc`` (GL_Account by AccountKey)."""
    return {
        "record_key": gl_posting_key(row),
        "stamp": record_stamp(row),
        "AccountKey": text(row.get("AccountKey")),
        "Account": text(row.get("Account")),
        "AccountDesc": text(row.get("AccountDesc")),
        "PostingDate": iso_date(row.get("PostingDate")),
        "SourceJournal": text(row.get("SourceJournal")),
        "JournalRegisterNo": text(row.get("JournalRegisterNo")),
        "SequenceNo": text(row.get("SequenceNo")),
        "DebitAmount": money(row.get("DebitAmount")),
        "CreditAmount": money(row.get("CreditAmount")),
        "BatchNo": text(row.get("BatchNo")),
        "PostingComment": text(row.get("PostingComment")),
        "SourceModule": text(row.get("SourceModule")),
        **_audit(row),
    }


def shape_gl_account(row: Row) -> Row:
    return {
        "record_key": gl_account_key(row),
        "stamp": record_stamp(row),
        "AccountKey": text(row.get("AccountKey")),
        "Account": text(row.get("Account")),
        "AccountDesc": text(row.get("AccountDesc")),
        "AccountType": text(row.get("AccountType")),
        "Status": text(row.get("Status")),
        "MainAccountCode": text(row.get("MainAccountCode")),
        **_audit(row),
    }


# Amount columns of Sage 100 rows that a shaper reads (the agent's OpenAPI amounts).
_AMOUNT_COLUMNS = (
    "InvoiceAmt",
    "Balance",
    "TaxableAmt",
    "NonTaxableAmt",
    "SalesTaxAmt",
    "FreightAmt",
    "DebitAmount",
    "CreditAmount",
)


def checked(shape: Callable[[Row], Row], key: Callable[[Row], str]) -> Callable[[Row], Row]:
    """``shape``, but a row with an amount outside the bound becomes a record that says so.

    One bad row must not fail the page (every other record would be lost with it, on every
    poll): it is sent as its key and stamp with ``invalid_fields`` naming each bad amount,
    and the connector reports it as bad source data and goes on.
    """

    def shape_or_report(row: Row) -> Row:
        try:
            return shape(row)
        except AmountError:
            invalid: dict[str, str] = {}
            for name in _AMOUNT_COLUMNS:
                value = row.get(name)
                if value is None or (isinstance(value, str) and not value.strip()):
                    continue
                try:
                    parse_amount(str(value))
                except AmountError as exc:
                    invalid[name] = str(exc)
            return {"record_key": key(row), "stamp": record_stamp(row), "invalid_fields": invalid}

    return shape_or_report


SHAPERS: dict[Resource, Callable[[Row], Row]] = {
    Resource.AP_INVOICES: checked(shape_ap_invoice, ap_invoice_key),
    Resource.PURCHASE_ORDERS: checked(shape_purchase_order, purchase_order_key),
    Resource.GL_POSTINGS: checked(shape_gl_posting, gl_posting_key),
    Resource.GL_ACCOUNTS: shape_gl_account,
}
