"""The four Sage 100 streams: which agent resource each reads and which fields it shows.

``tracked`` are the fields a message shows and a change is judged by: an edit that touches
none of them (a comment, a terms code) is not news to a channel. ``fields`` are the names a
route rule or a ``record_link`` template may use; checking them when the pipeline is built
turns a misspelt rule into a config error instead of a rule that silently never matches.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from ml_connector.config import StreamName
from ml_connector.sage100.agent_client.wire import Resource

#: How a tracked value is compared and shown.
ValueKind = Literal[
    "money", "date", "hold", "stage", "po_status", "account_status", "account_type", "text", "count"
]

#: A pseudo-field every stream offers to route rules: "created", "updated" or "deleted".
EVENT_FIELD = "event"


@dataclass(frozen=True)
class TrackedField:
    name: str  # the agent's field name (Sage 100's own)
    label: str  # how a message names it: "amount", "due date"
    kind: ValueKind


@dataclass(frozen=True)
class StreamSpec:
    name: StreamName
    resource: Resource
    singular: str
    plural: str
    fields: frozenset[str]
    tracked: tuple[TrackedField, ...] = ()


_COMMON = frozenset({"record_key", "stamp", EVENT_FIELD})

AP_INVOICES = StreamSpec(
    name="ap_invoices",
    resource=Resource.AP_INVOICES,
    singular="AP invoice",
    plural="AP invoices",
    fields=_COMMON
    | {
        "posting_stage",
        "APDivisionNo",
        "VendorNo",
        "VendorName",
        "InvoiceNo",
        "InvoiceDate",
        "InvoiceDueDate",
        "InvoiceAmt",
        "Balance",
        "HoldPayment",
        "TermsCode",
        "BatchNo",
    },
    tracked=(
        TrackedField("InvoiceAmt", "amount", "money"),
        TrackedField("posting_stage", "status", "stage"),
        TrackedField("InvoiceDueDate", "due date", "date"),
        TrackedField("HoldPayment", "hold", "hold"),
    ),
)

PURCHASE_ORDERS = StreamSpec(
    name="purchase_orders",
    resource=Resource.PURCHASE_ORDERS,
    singular="purchase order",
    plural="purchase orders",
    fields=_COMMON
    | {
        "PurchaseOrderNo",
        "PurchaseOrderDate",
        "APDivisionNo",
        "VendorNo",
        "VendorName",
        "OrderStatus",
        "OrderType",
        "WarehouseCode",
        "line_count",
        "order_total",
    },
    tracked=(
        TrackedField("order_total", "total", "money"),
        TrackedField("OrderStatus", "status", "po_status"),
        TrackedField("line_count", "lines", "count"),
        TrackedField("WarehouseCode", "warehouse", "text"),
    ),
)

#: GL postings are routed and linked per journal register, so these are a register's fields.
GL_POSTINGS = StreamSpec(
    name="gl_postings",
    resource=Resource.GL_POSTINGS,
    singular="GL register",
    plural="GL registers",
    fields=_COMMON
    | {
        "SourceJournal",
        "JournalRegisterNo",
        "PostingDate",
        "SourceModule",
        "BatchNo",
        "line_count",
        "DebitAmount",
        "CreditAmount",
    },
)

GL_ACCOUNTS = StreamSpec(
    name="gl_accounts",
    resource=Resource.GL_ACCOUNTS,
    singular="GL account",
    plural="GL accounts",
    fields=_COMMON
    | {"AccountKey", "Account", "AccountDesc", "AccountType", "Status", "MainAccountCode"},
    tracked=(
        TrackedField("Account", "account", "text"),
        TrackedField("AccountDesc", "description", "text"),
        TrackedField("AccountType", "type", "account_type"),
        TrackedField("Status", "status", "account_status"),
    ),
)

STREAMS: dict[str, StreamSpec] = {
    spec.name: spec for spec in (AP_INVOICES, PURCHASE_ORDERS, GL_POSTINGS, GL_ACCOUNTS)
}
