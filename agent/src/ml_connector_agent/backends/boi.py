"""BOI back end: Sage 100's Business Object Interface over COM (pywin32, Windows only).

Sequence, as in Sage's samples and the public scripts collected in research/sage100.md §1:
``ProvideX.Script`` → ``Init(<MAS90>\\Home)`` → ``NewObject("SY_Session")`` →
``nSetUser``/``nLogon`` → per read ``nSetCompany`` → ``nSetDate(module, YYYYMMDD)`` →
``nSetModule`` → ``nSetProgram(nLookupTask(task))`` → ``NewObject(<table>_bus|_svc, session)``
→ browse ``nMoveFirst``/``nEOF``/``nMoveNext`` with ``nGetValue("Column$")`` → ``DropObject``.
Name lookups use ``nGetResultSets`` whose outputs are one string split on 'Š' (0x8A).

Return codes: 1 success, -1 warning, 0 failure with ``sLastErrorMsg``. The BOI has no
"changed since" filter. Where the installer names an index led by an audit date
(``[backend.boi.date_indexes]``), a changed-since read selects that index with
``nSetBrowseIndex`` and browses one day prefix at a time with ``nSetBrowseFilter``, from the
``since`` day to today: its cost follows what changed. Otherwise the object is walked whole
and stamps compared here, so a poll costs the size of the table (GL_DetailPosting: millions
of rows at a mature site); for those tables the ODBC back end, which filters in the driver,
is the better choice (docs/agent-windows.md).

``nSetBrowseFilter(prefix)`` followed by ``nMoveFirst``/``nEOF``/``nMoveNext`` is how public
BOI code reads detail lines by key prefix (research/sage100.md §1.2). ``nSetBrowseIndex(index,
"")`` is Sage's call to choose the browse index; it is not in the sources we hold, so it is
used only when an index is configured, and a failure falls back to the whole walk (never a
missed record) with a warning. Reads never call
``nSetKey`` on a ``_bus`` object, which would put the record in edit and lock it for users.
All COM calls run on one thread (COM apartments), and the session is kept and reused:
opening ProvideX and the session per read costs seconds.

Object and task names marked [U] follow Sage's naming but are not confirmed in the
sources; they are one table below so an installer can correct them in one place.
"""

from __future__ import annotations

import importlib
import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

from ml_connector_agent.backends.base import PageQuery, ScanningBackend, is_lock_message
from ml_connector_agent.config import BoiSection
from ml_connector_agent.errors import (
    BackendQueryError,
    BackendUnavailableError,
    RecordLockedError,
)
from ml_connector_agent.paging import Candidate, record_stamp
from ml_connector_agent.resources import (
    RECORD_KEYS,
    STAGE_ENTRY,
    STAGE_POSTED,
    Resource,
    text,
)

log = logging.getLogger(__name__)

#: The separator of nGetResultSets outputs and nGetOrigRecord$ (Windows-1252 0x8A).
SEP = "Š"

_AUDIT = ("DateCreated$", "TimeCreated$", "DateUpdated$", "TimeUpdated$")
_AP = (
    "APDivisionNo$",
    "VendorNo$",
    "InvoiceNo$",
    "InvoiceDate$",
    "InvoiceDueDate$",
    "TermsCode$",
    "HoldPayment$",
    "InvoiceAmt",
    *_AUDIT,
)


@dataclass(frozen=True)
class BoiTable:
    object_name: str
    module: str
    task: str
    columns: tuple[str, ...]
    stage: str | None = None


TABLES: dict[Resource, tuple[BoiTable, ...]] = {
    Resource.AP_INVOICES: (
        # AP_Invoice_bus [V] (4.40 layouts); task AP_Invoice_ui and module "A/P" [U].
        BoiTable("AP_Invoice_bus", "A/P", "AP_Invoice_ui", (*_AP, "BatchNo$"), STAGE_ENTRY),
        # AP_OpenInvoice_svc [U].
        BoiTable("AP_OpenInvoice_svc", "A/P", "AP_Invoice_ui", (*_AP, "Balance"), STAGE_POSTED),
    ),
    Resource.PURCHASE_ORDERS: (
        BoiTable(  # PO_PurchaseOrder_bus, PO_PurchaseOrder_ui, "P/O" [U]
            "PO_PurchaseOrder_bus",
            "P/O",
            "PO_PurchaseOrder_ui",
            (
                "PurchaseOrderNo$",
                "PurchaseOrderDate$",
                "OrderType$",
                "OrderStatus$",
                "APDivisionNo$",
                "VendorNo$",
                "WarehouseCode$",
                "TaxableAmt",
                "NonTaxableAmt",
                "SalesTaxAmt",
                "FreightAmt",
                *_AUDIT,
            ),
        ),
    ),
    Resource.GL_POSTINGS: (
        BoiTable(  # GL_DetailPosting_svc [U]; the table has no DateUpdated (research §2).
            "GL_DetailPosting_svc",
            "G/L",
            "GL_Account_ui",
            (
                "AccountKey$",
                "PostingDate$",
                "SourceJournal$",
                "JournalRegisterNo$",
                "SequenceNo$",
                "DebitAmount",
                "CreditAmount",
                "PostingComment$",
                "SourceModule$",
                "BatchNo$",
                "DateCreated$",
                "TimeCreated$",
            ),
        ),
    ),
    Resource.GL_ACCOUNTS: (
        BoiTable(  # GL_Account_bus [V]; GL_Account_ui [U]
            "GL_Account_bus",
            "G/L",
            "GL_Account_ui",
            (
                "AccountKey$",
                "Account$",
                "AccountDesc$",
                "MainAccountCode$",
                "AccountType$",
                "Status$",
                *_AUDIT,
            ),
        ),
    ),
}

VENDOR_LOOKUP = BoiTable("AP_Vendor_svc", "A/P", "AP_Vendor_ui", ())  # [U]
ACCOUNT_LOOKUP = BoiTable("GL_Account_svc", "G/L", "GL_Account_ui", ())  # [U]
PO_LINES = BoiTable("PO_PurchaseOrderDetail_svc", "P/O", "PO_PurchaseOrder_ui", ())  # [U]


def _byref(result: Any) -> tuple[Any, list[Any]]:
    """pywin32 returns ``(return value, out1, out2…)`` for a call with ByRef arguments."""
    if isinstance(result, tuple):
        return result[0], list(result[1:])
    return result, []


def split_result_set(value: Any) -> list[str]:
    """One nGetResultSets output string → its values (a trailing separator is common)."""
    text_value = "" if value is None else str(value)
    parts = text_value.split(SEP)
    if parts and parts[-1] == "":
        parts.pop()
    return parts


def _open_com(prog_id: str) -> Any:
    try:
        pythoncom: Any = importlib.import_module("pythoncom")
        client: Any = importlib.import_module("win32com.client")
    except ImportError as exc:
        raise BackendUnavailableError(
            "pywin32 is not installed (the BOI back end runs on the Sage 100 Windows server)"
        ) from exc
    pythoncom.CoInitialize()
    try:
        return client.Dispatch(prog_id)
    except Exception as exc:  # pywintypes.com_error; the class exists only on Windows
        raise BackendUnavailableError(f"cannot create {prog_id}: {exc}") from exc


#: Beyond this many days since the last poll, one whole walk beats browsing day by day.
MAX_BROWSE_DAYS = 62


class BoiBackend(ScanningBackend):
    kind = "boi"

    def __init__(
        self,
        settings: BoiSection,
        companies: list[str],
        *,
        factory: Callable[[], Any] | None = None,
        environ: Callable[[str], str | None] = os.environ.get,
        today: Callable[[], date] = date.today,
    ) -> None:
        super().__init__(companies, thread_name="sage100-boi")
        self._settings = settings
        self._factory = factory or (lambda: _open_com(settings.prog_id))
        self._environ = environ
        self._today = today
        self._pvx: Any = None
        self._session: Any = None
        self._company: str | None = None

    # -- session ---------------------------------------------------------------------------

    def _check(self, obj: Any, rc: Any, what: str) -> None:
        if rc == 1:
            return
        message = str(getattr(obj, "sLastErrorMsg", "") or "no message")
        if rc == -1:
            log.warning("Sage 100 warning from %s: %s", what, message)
            return
        if is_lock_message(message):
            raise RecordLockedError(message)
        raise BackendQueryError(f"{what} failed: {message}")

    def _open_session(self) -> Any:
        if self._session is not None:
            return self._session
        pvx = self._factory()
        pvx.Init(self._settings.home)  # "The Init method must be the first method called"
        session = pvx.NewObject("SY_Session")
        s = self._settings
        if s.user:
            password = (self._environ(s.password_env) if s.password_env else None) or ""
            rc = session.nSetUser(s.user, password)
        else:
            rc = session.nLogon()  # Windows-integrated logon, when Sage is set up for it
        if rc != 1:
            message = session.sLastErrorMsg or "no message"
            session.DropObject()
            raise BackendUnavailableError(f"Sage 100 logon failed: {message}")
        self._pvx, self._session = pvx, session
        return session

    def _object(self, company: str, table: BoiTable) -> Any:
        session = self._open_session()
        if self._company != company:
            self._check(session, session.nSetCompany(company), f"nSetCompany({company})")
            self._company = company
        self._check(
            session,
            session.nSetDate(table.module, self._today().strftime("%Y%m%d")),
            "nSetDate",
        )
        self._check(session, session.nSetModule(table.module), f"nSetModule({table.module})")
        task = session.nLookupTask(table.task)
        if not task:
            raise BackendQueryError(f"nLookupTask({table.task}) failed: {session.sLastErrorMsg}")
        self._check(session, session.nSetProgram(task), f"nSetProgram({table.task})")
        return self._pvx.NewObject(table.object_name, session)

    def _drop(self, obj: Any) -> None:
        try:
            obj.DropObject()
        except Exception:  # a dead object must not hide the error being raised
            log.warning("DropObject failed", exc_info=True)

    # -- reading ---------------------------------------------------------------------------

    def _value(self, obj: Any, column: str) -> Any:
        rc, out = _byref(obj.nGetValue(column, "" if column.endswith("$") else 0))
        self._check(obj, rc, f"nGetValue({column})")
        return out[0] if out else None

    def _walk(
        self, company: str, table: BoiTable, browse: str | None = None
    ) -> Iterator[dict[str, Any]]:
        obj = self._object(company, table)
        try:
            if browse is not None:
                self._check(obj, obj.nSetBrowseFilter(browse), "nSetBrowseFilter")
            rc = obj.nMoveFirst()
            if rc != 1 and obj.nEOF:
                return  # an empty table (or filter) is not an error
            self._check(obj, rc, f"{table.object_name}.nMoveFirst")
            while not obj.nEOF:
                yield {c.rstrip("$"): self._value(obj, c) for c in table.columns}
                self._check(obj, obj.nMoveNext(), f"{table.object_name}.nMoveNext")
        finally:
            self._drop(obj)

    def _result_pairs(
        self, company: str, table: BoiTable, desc: str, key: str
    ) -> list[tuple[str, str]]:
        """``(key, value)`` for every record, in the table's key order."""
        obj = self._object(company, table)
        try:
            rc, out = _byref(obj.nGetResultSets(desc, key, "", "", "", "", ""))
            self._check(obj, rc, f"{table.object_name}.nGetResultSets")
            values, keys = (split_result_set(v) for v in [*out, "", ""][:2])
            return [(k.rstrip(), v.rstrip()) for k, v in zip(keys, values, strict=False)]
        finally:
            self._drop(obj)

    def _result_set(self, company: str, table: BoiTable, desc: str, key: str) -> dict[str, str]:
        return dict(self._result_pairs(company, table, desc, key))

    def _vendor_names(self, company: str) -> dict[tuple[str, str], str]:
        """Vendor name by ``(APDivisionNo, VendorNo)``, AP_Vendor's primary key.

        With AP divisions on, one vendor number can name a different vendor in each
        division, so a lookup by number alone could give an invoice another vendor's name.
        Two single-column result sets over the same table come back in the same key order;
        a pair is kept only where both agree on the vendor number (a vendor added between
        the two calls shifts the rest, and a missing name beats a wrong one).
        """
        divisions = self._result_pairs(company, VENDOR_LOOKUP, "APDivisionNo$", "VendorNo$")
        names = self._result_pairs(company, VENDOR_LOOKUP, "VendorName$", "VendorNo$")
        return {
            (division, vendor): name
            for (vendor, division), (same_vendor, name) in zip(divisions, names, strict=False)
            if vendor == same_vendor
        }

    def _walk_days(
        self, company: str, table: BoiTable, indexes: list[str], first_day: str
    ) -> Iterator[dict[str, Any]] | None:
        """Rows whose indexed audit date is ``first_day`` or later; None if BOI refused."""
        today = self._today().strftime("%Y%m%d")
        day = datetime.strptime(first_day, "%Y%m%d").date()
        days = []
        while day.strftime("%Y%m%d") <= today:
            days.append(day.strftime("%Y%m%d"))
            day += timedelta(days=1)
        if len(days) > MAX_BROWSE_DAYS:
            return None  # a long gap: one walk is cheaper than many prefixes
        rows: list[dict[str, Any]] = []
        for index in indexes:
            obj = self._object(company, table)
            try:
                if obj.nSetBrowseIndex(index, "") != 1:
                    log.warning(
                        "nSetBrowseIndex(%s) on %s refused (%s): walking the whole object",
                        index,
                        table.object_name,
                        getattr(obj, "sLastErrorMsg", "") or "no message",
                    )
                    return None
                for prefix in days:
                    self._check(obj, obj.nSetBrowseFilter(prefix), "nSetBrowseFilter")
                    rc = obj.nMoveFirst()
                    if rc != 1 and obj.nEOF:
                        continue
                    self._check(obj, rc, f"{table.object_name}.nMoveFirst")
                    while not obj.nEOF:
                        rows.append({c.rstrip("$"): self._value(obj, c) for c in table.columns})
                        self._check(obj, obj.nMoveNext(), f"{table.object_name}.nMoveNext")
            finally:
                self._drop(obj)
        return iter(rows)

    def _rows(self, company: str, table: BoiTable, query: PageQuery) -> Iterator[dict[str, Any]]:
        indexes = self._settings.date_indexes.get(table.object_name)
        first_day = query.first_day()
        if indexes and first_day:
            bounded = self._walk_days(company, table, indexes, first_day)
            if bounded is not None:
                return bounded
        return self._walk(company, table)

    def _candidates(self, company: str, query: PageQuery) -> Iterator[Candidate]:
        key_of = RECORD_KEYS[query.resource]
        for table in TABLES[query.resource]:
            seen: set[str] = set()
            for row in self._rows(company, table, query):
                key = key_of(row)
                if key in seen:  # met through both the created and the updated index
                    continue
                seen.add(key)
                if table.stage is not None:
                    row["posting_stage"] = table.stage
                yield Candidate(record_stamp(row), key, row)

    def _enrich(self, company: str, resource: Resource, rows: list[dict[str, Any]]) -> None:
        if resource in (Resource.AP_INVOICES, Resource.PURCHASE_ORDERS):
            names = self._vendor_names(company)
            for r in rows:
                vendor = (text(r["APDivisionNo"]) or "", text(r["VendorNo"]) or "")
                r["VendorName"] = names.get(vendor)
        if resource is Resource.PURCHASE_ORDERS:
            for r in rows:
                po = text(r["PurchaseOrderNo"]) or ""
                r["line_count"] = sum(1 for _ in self._walk(company, PO_LINES, browse=po))
        if resource is Resource.GL_POSTINGS:
            accounts = self._result_set(company, ACCOUNT_LOOKUP, "Account$", "AccountKey$")
            descs = self._result_set(company, ACCOUNT_LOOKUP, "AccountDesc$", "AccountKey$")
            for r in rows:
                key = text(r["AccountKey"]) or ""
                r["Account"], r["AccountDesc"] = accounts.get(key), descs.get(key)

    def _sage_version(self) -> str | None:
        return None

    def _close(self) -> None:
        """Release the session so exclusive Sage 100 maintenance can run (research §4)."""
        if self._session is not None:
            try:
                self._session.nCleanup()
            finally:
                self._drop(self._session)
                self._session = self._pvx = self._company = None
