"""ODBC back end: the ProvideX "MAS 90 4.0 ODBC Driver" (Standard/Advanced) or SQL Server.

The driver is read-only and slow on anything but key columns, so each read asks only for
rows whose DateUpdated or DateCreated is on or after the page's first day (a superset),
computes the exact stamp in Python and keeps the ``limit + 1`` smallest while streaming
(:func:`~ml_connector_agent.paging.select_page`). Names (vendors, accounts) and PO
line counts are looked up for the page's rows only, in ``IN`` lists of 200, because the
ProvideX driver needs ``{oj …}`` escapes for joins (timandpaige.com, "Sage 100 2013 ODBC
joins"). ProvideX SQL takes no parameters here: dates are ``{d 'YYYY-MM-DD'}`` literals and
strings are quoted; the SQL Server edition gets plain T-SQL with ``?`` parameters.
"""

from __future__ import annotations

import importlib
import os
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Protocol

from ml_connector_agent.backends.base import PageQuery, ScanningBackend, is_lock_message
from ml_connector_agent.config import OdbcSection
from ml_connector_agent.errors import (
    BackendError,
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

IN_CHUNK = 200
FETCH_BATCH = 1000


class Cursor(Protocol):
    description: Sequence[Sequence[Any]] | None

    def execute(self, sql: str, *params: Any) -> Any: ...
    def fetchmany(self, size: int) -> Sequence[Sequence[Any]]: ...
    def close(self) -> None: ...


class Connection(Protocol):
    def cursor(self) -> Cursor: ...
    def close(self) -> None: ...


class Driver(Protocol):
    """What we use of pyodbc: ``connect`` and its ``Error`` base class."""

    Error: type[Exception]

    def connect(self, connection_string: str, **kwargs: Any) -> Connection: ...


def odbc_value(value: str) -> str:
    """Quote a connection-string value that holds ; { } or spaces, per ODBC's brace rule."""
    if any(ch in value for ch in ";{}= ") or value != value.strip():
        return "{" + value.replace("}", "}}") + "}"
    return value


def providex_connection_string(
    *, driver: str, directory: str, company: str, user: str | None, password: str | None
) -> str:
    """DSN-less, because Sage rewrites the SOTAMAS90 DSN on every start (sage100-odbc README)."""
    parts = [
        f"Driver={{{driver}}}",
        f"Directory={odbc_value(directory)}",
        f"Company={company}",
    ]
    if user:
        parts.append(f"UID={odbc_value(user)}")
    if password:
        parts.append(f"PWD={odbc_value(password)}")
    parts.append("StripTrailingSpaces=1")
    return ";".join(parts) + ";"


class Dialect:
    """ProvideX: inline literals. SQL Server: parameters."""

    def __init__(self, edition: str) -> None:
        self.edition = edition

    def date(self, day: str, params: list[Any]) -> str:
        """``day`` is YYYYMMDD."""
        iso = f"{day[:4]}-{day[4:6]}-{day[6:]}"
        if self.edition == "providex":
            return f"{{d '{iso}'}}"
        params.append(iso)
        return "CAST(? AS date)"

    def string(self, value: str, params: list[Any]) -> str:
        if self.edition == "providex":
            return "'" + value.replace("'", "''") + "'"
        params.append(value)
        return "?"


_AP_COLUMNS = (
    "APDivisionNo, VendorNo, InvoiceNo, InvoiceDate, InvoiceDueDate, TermsCode, HoldPayment, "
    "InvoiceAmt, DateCreated, TimeCreated, DateUpdated, TimeUpdated"
)
_AUDIT = "DateCreated, TimeCreated, DateUpdated, TimeUpdated"

#: resource -> [(table, columns, stage or None, has DateUpdated)]
_SCANS: dict[Resource, list[tuple[str, str, str | None, bool]]] = {
    Resource.AP_INVOICES: [
        ("AP_InvoiceHeader", f"{_AP_COLUMNS}, BatchNo", STAGE_ENTRY, True),
        ("AP_OpenInvoice", f"{_AP_COLUMNS}, Balance", STAGE_POSTED, True),
    ],
    Resource.PURCHASE_ORDERS: [
        (
            "PO_PurchaseOrderHeader",
            "PurchaseOrderNo, PurchaseOrderDate, OrderType, OrderStatus, APDivisionNo, VendorNo, "
            f"WarehouseCode, TaxableAmt, NonTaxableAmt, SalesTaxAmt, FreightAmt, {_AUDIT}",
            None,
            True,
        )
    ],
    Resource.GL_POSTINGS: [
        (
            "GL_DetailPosting",
            "AccountKey, PostingDate, SourceJournal, JournalRegisterNo, SequenceNo, DebitAmount, "
            "CreditAmount, PostingComment, SourceModule, BatchNo, DateCreated, TimeCreated",
            None,
            False,
        )
    ],
    Resource.GL_ACCOUNTS: [
        (
            "GL_Account",
            f"AccountKey, Account, AccountDesc, MainAccountCode, AccountType, Status, {_AUDIT}",
            None,
            True,
        )
    ],
}


def scan_sql(
    dialect: Dialect, table: str, columns: str, from_day: str | None, updatable: bool
) -> tuple[str, list[Any]]:
    """One table's candidate rows: changed or created on/after ``from_day`` (YYYYMMDD)."""
    params: list[Any] = []
    sql = f"SELECT {columns} FROM {table}"
    if from_day is not None:
        created = f"DateCreated >= {dialect.date(from_day, params)}"
        if updatable:
            sql += f" WHERE (DateUpdated >= {dialect.date(from_day, params)} OR {created})"
        else:
            sql += f" WHERE {created}"
    return sql, params


def lookup_sql(
    dialect: Dialect, columns: str, table: str, key: str, values: Sequence[str]
) -> tuple[str, list[Any]]:
    params: list[Any] = []
    listed = ", ".join(dialect.string(v, params) for v in values)
    return f"SELECT {columns} FROM {table} WHERE {key} IN ({listed})", params


def _chunks(values: Sequence[str]) -> Iterator[Sequence[str]]:
    for i in range(0, len(values), IN_CHUNK):
        yield values[i : i + IN_CHUNK]


class OdbcBackend(ScanningBackend):
    kind = "odbc"

    def __init__(
        self,
        settings: OdbcSection,
        companies: list[str],
        *,
        driver: Driver | None = None,
        environ: Callable[[str], str | None] = os.environ.get,
    ) -> None:
        super().__init__(companies, thread_name="sage100-odbc")
        self._settings = settings
        self._driver = driver
        self._environ = environ
        self._connections: dict[str, Connection] = {}
        self._dialect = Dialect(settings.edition)

    # -- connections -----------------------------------------------------------------------

    def _load_driver(self) -> Driver:
        if self._driver is None:
            try:
                module: Any = importlib.import_module("pyodbc")
            except ImportError as exc:
                raise BackendUnavailableError(
                    "pyodbc is not installed: `pip install pyodbc` on the Sage 100 server"
                ) from exc
            self._driver = module
        return self._driver

    def connection_string(self, company: str) -> str:
        s = self._settings
        password = self._environ(s.password_env) if s.password_env else None
        if s.edition == "sqlserver":
            if not s.connection_string:
                raise BackendUnavailableError("backend.odbc.connection_string is required")
            return s.connection_string.replace("{company}", company)
        if not s.directory:
            raise BackendUnavailableError("backend.odbc.directory (the MAS90 folder) is required")
        return providex_connection_string(
            driver=s.driver, directory=s.directory, company=company, user=s.user, password=password
        )

    def _connection(self, company: str) -> Connection:
        conn = self._connections.get(company)
        if conn is None:
            driver = self._load_driver()
            try:
                conn = driver.connect(
                    self.connection_string(company),
                    readonly=True,
                    autocommit=True,
                    timeout=self._settings.timeout_seconds,
                )
            except driver.Error as exc:
                raise BackendUnavailableError(
                    f"ODBC connection to company {company} failed: {_odbc_message(exc)}"
                ) from exc
            self._connections[company] = conn
        return conn

    def _rows(self, company: str, sql: str, params: list[Any]) -> Iterator[dict[str, Any]]:
        """Stream rows as dicts; driver errors become lock / unavailable / query errors."""
        driver = self._load_driver()
        conn = self._connection(company)
        cursor = conn.cursor()
        try:
            cursor.execute(sql, *params)
            names = [str(d[0]) for d in cursor.description or ()]
            while True:
                batch = cursor.fetchmany(FETCH_BATCH)
                if not batch:
                    return
                for values in batch:
                    yield dict(zip(names, values, strict=True))
        except driver.Error as exc:
            raise self._classify(company, exc) from exc
        finally:
            cursor.close()

    def _classify(self, company: str, exc: Exception) -> BackendError:
        message = _odbc_message(exc)
        if is_lock_message(message):
            return RecordLockedError(message)
        state = str(exc.args[0]) if exc.args else ""
        if state.startswith("08"):  # SQLSTATE class 08: connection exception
            stale = self._connections.pop(company, None)
            if stale is not None:
                stale.close()
            return BackendUnavailableError(message)
        return BackendQueryError(message)

    # -- reads -------------------------------------------------------------------------------

    def _candidates(self, company: str, query: PageQuery) -> Iterator[Candidate]:
        key_of = RECORD_KEYS[query.resource]
        day = query.first_day()
        for table, columns, stage, updatable in _SCANS[query.resource]:
            sql, params = scan_sql(self._dialect, table, columns, day, updatable)
            for row in self._rows(company, sql, params):
                if stage is not None:
                    row["posting_stage"] = stage
                yield Candidate(record_stamp(row), key_of(row), row)

    def _lookup(
        self, company: str, columns: str, table: str, key: str, values: set[str]
    ) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = []
        for chunk in _chunks(sorted(values)):
            sql, params = lookup_sql(self._dialect, columns, table, key, chunk)
            found.extend(self._rows(company, sql, params))
        return found

    def _enrich(self, company: str, resource: Resource, rows: list[dict[str, Any]]) -> None:
        if resource in (Resource.AP_INVOICES, Resource.PURCHASE_ORDERS):
            vendors = {text(r["VendorNo"]) or "" for r in rows}
            names = {
                (text(v["APDivisionNo"]), text(v["VendorNo"])): text(v["VendorName"])
                for v in self._lookup(
                    company, "APDivisionNo, VendorNo, VendorName", "AP_Vendor", "VendorNo", vendors
                )
            }
            for r in rows:
                r["VendorName"] = names.get((text(r["APDivisionNo"]), text(r["VendorNo"])))
        if resource is Resource.PURCHASE_ORDERS:
            counts: dict[str, int] = {}
            for line in self._lookup(
                company,
                "PurchaseOrderNo",
                "PO_PurchaseOrderDetail",
                "PurchaseOrderNo",
                {text(r["PurchaseOrderNo"]) or "" for r in rows},
            ):
                po = text(line["PurchaseOrderNo"]) or ""
                counts[po] = counts.get(po, 0) + 1
            for r in rows:
                r["line_count"] = counts.get(text(r["PurchaseOrderNo"]) or "", 0)
        if resource is Resource.GL_POSTINGS:
            accounts = {
                text(a["AccountKey"]): a
                for a in self._lookup(
                    company,
                    "AccountKey, Account, AccountDesc",
                    "GL_Account",
                    "AccountKey",
                    {text(r["AccountKey"]) or "" for r in rows},
                )
            }
            for r in rows:
                account = accounts.get(text(r["AccountKey"]), {})
                r["Account"] = account.get("Account")
                r["AccountDesc"] = account.get("AccountDesc")

    def _close(self) -> None:
        for conn in self._connections.values():
            conn.close()
        self._connections.clear()


def _odbc_message(exc: Exception) -> str:
    """pyodbc errors are (sqlstate, message); keep the message, never the connection string."""
    if len(exc.args) >= 2:
        return str(exc.args[1])
    return str(exc)
