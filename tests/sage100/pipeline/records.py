"""Agent-shaped records for the pure tests, made by the agent's own shapers."""

from __future__ import annotations

from typing import Any

from ml_connector_agent.paging import record_stamp
from ml_connector_agent.resources import (
    shape_ap_invoice,
    shape_gl_account,
    shape_gl_posting,
    shape_purchase_order,
)


def _stamped(shaped: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    shaped["stamp"] = record_stamp(row)
    return shaped


def invoice(
    invoice_no: str = "0000000001",
    *,
    amount: str = "100.00",
    created: tuple[str, str] = ("20261125", "9.5"),
    updated: tuple[str, str] | None = None,
    vendor: str = "ACME001",
    vendor_name: str = "Acme Supply Co.",
    hold: str = "N",
    stage: str = "entry",
    due: str = "20261225",
    **extra: Any,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "posting_stage": stage,
        "APDivisionNo": "01",
        "VendorNo": vendor,
        "VendorName": vendor_name,
        "InvoiceNo": invoice_no,
        "InvoiceDate": "20261125",
        "InvoiceDueDate": due,
        "InvoiceAmt": amount,
        "HoldPayment": hold,
        "TermsCode": "01",
        "BatchNo": "00001",
        "DateCreated": created[0],
        "TimeCreated": created[1],
        "DateUpdated": updated[0] if updated else None,
        "TimeUpdated": updated[1] if updated else None,
        **extra,
    }
    return _stamped(shape_ap_invoice(row), row)


def purchase_order(
    po_no: str = "0000001",
    *,
    warehouse: str = "000",
    total: str = "250.00",
    status: str = "N",
    lines: int = 2,
    created: tuple[str, str] = ("20261125", "9.5"),
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "PurchaseOrderNo": po_no,
        "PurchaseOrderDate": "20261125",
        "APDivisionNo": "01",
        "VendorNo": "ACME001",
        "VendorName": "Acme Supply Co.",
        "OrderStatus": status,
        "OrderType": "S",
        "WarehouseCode": warehouse,
        "NonTaxableAmt": total,
        "line_count": lines,
        "DateCreated": created[0],
        "TimeCreated": created[1],
    }
    return _stamped(shape_purchase_order(row), row)


def gl_line(
    register: str,
    seq: int,
    *,
    account: str = "1000-00-00",
    debit: str = "0.00",
    credit: str = "0.00",
    journal: str = "GJ",
    created: tuple[str, str] = ("20261125", "9.5"),
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "AccountKey": account.replace("-", "")[:9].ljust(9, "0"),
        "Account": account,
        "AccountDesc": f"Account {account}",
        "PostingDate": "20261125",
        "SourceJournal": journal,
        "JournalRegisterNo": register,
        "SequenceNo": f"{seq:014d}",
        "DebitAmount": debit,
        "CreditAmount": credit,
        "BatchNo": "00001",
        "SourceModule": "G/L",
        "DateCreated": created[0],
        "TimeCreated": created[1],
    }
    return _stamped(shape_gl_posting(row), row)


def gl_account(
    key: str = "000000001",
    *,
    account: str = "6500-00-00",
    desc: str = "Travel",
    status: str = "A",
    created: tuple[str, str] = ("20260101", "8.0"),
    updated: tuple[str, str] | None = None,
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "AccountKey": key,
        "Account": account,
        "AccountDesc": desc,
        "AccountType": "13",
        "Status": status,
        "MainAccountCode": account.split("-")[0],
        "DateCreated": created[0],
        "TimeCreated": created[1],
        "DateUpdated": updated[0] if updated else None,
        "TimeUpdated": updated[1] if updated else None,
    }
    return _stamped(shape_gl_account(row), row)
