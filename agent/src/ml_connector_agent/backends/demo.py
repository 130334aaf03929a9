"""Demo back end: Sage 100's tables in SQLite, read with SQL that does the keyset paging.

The stamp and record key are computed in SQL by deterministic expressions that are also
indexed, so a page over a large GL_DetailPosting is an index range scan, not a sort. The
``add_*``/``update_*`` coroutines let tests and ``agent serve --demo`` play a Sage 100 user;
``inject_locks`` plays another user holding a record.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector_agent.backends.base import Backend, Page, PageQuery
from ml_connector_agent.demo_data import Clock, DemoStore, SeedCounts, connect
from ml_connector_agent.errors import BackendUnavailableError, RecordLockedError
from ml_connector_agent.resources import SHAPERS, Resource

#: ProvideX's own text for a held record or file (Error #0), what the BOI relays.
LOCK_MESSAGE = "Error #0: Record/file busy"


def _seconds(time_col: str) -> str:
    return (
        f"min(CAST(CAST(coalesce(nullif(trim({time_col}), ''), '0') AS REAL) * 3600 + 0.5"
        " AS INTEGER), 86399)"
    )


def _iso(date_col: str, time_col: str) -> str:
    s = _seconds(time_col)
    return (
        f"substr({date_col}, 1, 4) || '-' || substr({date_col}, 5, 2) || '-' || "
        f"substr({date_col}, 7, 2) || 'T' || printf('%02d:%02d:%02d', ({s}) / 3600, "
        f"(({s}) / 60) % 60, ({s}) % 60)"
    )


def stamp_sql(alias: str = "", *, updatable: bool = True) -> str:
    """SQL for a row's change stamp; must stay textually identical to the indexed one."""
    p = f"{alias}." if alias else ""
    created = _iso(f"{p}DateCreated", f"{p}TimeCreated")
    if not updatable:
        return f"coalesce({created}, '1900-01-01T00:00:00')"
    updated = _iso(f"{p}DateUpdated", f"{p}TimeUpdated")
    return (
        f"CASE WHEN coalesce(trim({p}DateUpdated), '') <> '' THEN {updated} "
        f"ELSE coalesce({created}, '1900-01-01T00:00:00') END"
    )


_GL_KEY = (
    "SourceJournal || '-' || JournalRegisterNo || '-' || SequenceNo || '-' || AccountKey "
    "|| '-' || PostingDate"
)
_AP_KEY = "APDivisionNo || '-' || VendorNo || '-' || InvoiceNo"

_INDEXES = (
    f"CREATE INDEX IF NOT EXISTS mlc_gl_posting_stamp ON GL_DetailPosting "
    f"(({stamp_sql(updatable=False)}), ({_GL_KEY}))",
    f"CREATE INDEX IF NOT EXISTS mlc_gl_account_stamp ON GL_Account (({stamp_sql()}), AccountKey)",
    f"CREATE INDEX IF NOT EXISTS mlc_po_stamp ON PO_PurchaseOrderHeader "
    f"(({stamp_sql()}), PurchaseOrderNo)",
    f"CREATE INDEX IF NOT EXISTS mlc_ap_entry_stamp ON AP_InvoiceHeader "
    f"(({stamp_sql()}), ({_AP_KEY}))",
    f"CREATE INDEX IF NOT EXISTS mlc_ap_open_stamp ON AP_OpenInvoice "
    f"(({stamp_sql()}), ({_AP_KEY}))",
)

_AP_COLUMNS = (
    "APDivisionNo, VendorNo, InvoiceNo, InvoiceDate, InvoiceDueDate, TermsCode, HoldPayment, "
    "InvoiceAmt, DateCreated, TimeCreated, DateUpdated, TimeUpdated"
)

_SOURCES: dict[Resource, tuple[str, str, str]] = {
    # resource: (FROM clause producing stamp + record_key columns, stamp column, key column)
    Resource.AP_INVOICES: (
        f"(SELECT 'entry' AS posting_stage, {_AP_COLUMNS}, NULL AS Balance, BatchNo, "
        f"{stamp_sql()} AS stamp, {_AP_KEY} AS record_key FROM AP_InvoiceHeader "
        f"UNION ALL SELECT 'posted', {_AP_COLUMNS}, Balance, NULL, {stamp_sql()}, {_AP_KEY} "
        "FROM AP_OpenInvoice) AS r LEFT JOIN AP_Vendor v "
        "ON v.APDivisionNo = r.APDivisionNo AND v.VendorNo = r.VendorNo",
        "r.stamp",
        "r.record_key",
    ),
    Resource.PURCHASE_ORDERS: (
        "PO_PurchaseOrderHeader r LEFT JOIN AP_Vendor v "
        "ON v.APDivisionNo = r.APDivisionNo AND v.VendorNo = r.VendorNo",
        stamp_sql("r"),
        "r.PurchaseOrderNo",
    ),
    Resource.GL_POSTINGS: (
        "GL_DetailPosting r LEFT JOIN GL_Account a ON a.AccountKey = r.AccountKey",
        stamp_sql("r", updatable=False),
        "("
        + _GL_KEY.replace("SourceJournal", "r.SourceJournal")
        .replace("JournalRegisterNo", "r.JournalRegisterNo")
        .replace("SequenceNo", "r.SequenceNo")
        .replace("AccountKey", "r.AccountKey")
        .replace("PostingDate", "r.PostingDate")
        + ")",
    ),
    Resource.GL_ACCOUNTS: ("GL_Account r", stamp_sql("r"), "r.AccountKey"),
}

_EXTRA_COLUMNS: dict[Resource, str] = {
    Resource.AP_INVOICES: "r.*, v.VendorName",
    Resource.PURCHASE_ORDERS: (
        "r.*, v.VendorName, (SELECT count(*) FROM PO_PurchaseOrderDetail d "
        "WHERE d.PurchaseOrderNo = r.PurchaseOrderNo) AS line_count"
    ),
    Resource.GL_POSTINGS: "r.*, a.Account, a.AccountDesc",
    Resource.GL_ACCOUNTS: "r.*",
}


def page_sql(resource: Resource, *, since: bool, after: bool) -> str:
    source, stamp, key = _SOURCES[resource]
    where = []
    if since:
        where.append(f"{stamp} >= :since")
    if after:
        where.append(f"({stamp}, {key}) > (:after_stamp, :after_key)")
    clause = f" WHERE {' AND '.join(where)}" if where else ""
    return (
        f"SELECT {_EXTRA_COLUMNS[resource]}, {stamp} AS stamp, {key} AS record_key "
        f"FROM {source}{clause} ORDER BY {stamp}, {key} LIMIT :limit"
    )


class DemoBackend(Backend):
    """Demo data for ``companies``, one SQLite file per company in ``data_dir``."""

    kind = "demo"

    def __init__(
        self,
        data_dir: Path,
        companies: list[str],
        *,
        clock: Clock = datetime.now,
        seed: int = 100,
    ) -> None:
        super().__init__(companies, thread_name="sage100-demo")
        self.data_dir = Path(data_dir)
        self._clock = clock
        self._seed = seed
        self._stores: dict[str, DemoStore] = {}
        self._locks_left = 0
        self._lock_message = LOCK_MESSAGE
        self.reads = 0

    # -- worker-thread side --------------------------------------------------------------

    def local_now(self) -> datetime:
        return self._clock()

    def _store(self, company: str) -> DemoStore:
        store = self._stores.get(company)
        if store is None:
            if company not in self._companies:
                raise KeyError(company)
            try:
                self.data_dir.mkdir(parents=True, exist_ok=True)
                conn = connect(self.data_dir / f"MAS_{company}.db")
            except (OSError, sqlite3.Error) as exc:
                raise BackendUnavailableError(
                    f"demo data for company {company} cannot be opened: {exc}"
                ) from exc
            # Each company gets its own (repeatable) data.
            store = DemoStore(conn, clock=self._clock, seed=self._seed + sum(map(ord, company)))
            for ddl in _INDEXES:
                conn.execute(ddl)
            self._stores[company] = store
        return store

    def _read_page(self, company: str, query: PageQuery) -> Page:
        self.reads += 1
        if self._locks_left > 0:
            self._locks_left -= 1
            raise RecordLockedError(self._lock_message)
        conn = self._store(company).conn
        params: dict[str, Any] = {"limit": query.limit + 1}
        if query.since is not None:
            params["since"] = query.since
        if query.after is not None:
            params["after_stamp"] = query.after.stamp
            params["after_key"] = query.after.record_key
        sql = page_sql(query.resource, since=query.since is not None, after=query.after is not None)
        rows = conn.execute(sql, params).fetchall()
        shape = SHAPERS[query.resource]
        records = []
        for row in rows[: query.limit]:
            data = dict(row)
            record = shape(data)
            record["stamp"] = data["stamp"]
            records.append(record)
        return Page(records, len(rows) > query.limit)

    def _close(self) -> None:
        for store in self._stores.values():
            store.conn.close()
        self._stores.clear()

    def _sage_version(self) -> str | None:
        return "demo (Sage 100 layouts 4.40)"

    def _with_store(self, company: str | None, fn: Callable[[DemoStore], Any]) -> Any:
        return fn(self._store(company or self._companies[0]))

    async def _run(self, company: str | None, fn: Callable[[DemoStore], Any]) -> Any:
        return await self.call(self._with_store, company, fn)

    # -- the Python API tests and the demo use -------------------------------------------

    async def seed(self, counts: SeedCounts = SeedCounts(), *, company: str | None = None) -> None:
        await self._run(company, lambda s: s.seed(counts))

    async def inject_locks(self, attempts: int, message: str = LOCK_MESSAGE) -> None:
        """Make the next ``attempts`` reads fail as if a Sage 100 user held the file.

        Counts back-end reads, not HTTP answers: the agent retries a lock itself, so with
        ``lock_attempts = k`` in its config, ``k * n`` gives ``n`` answers of 503.
        """

        def arm() -> None:
            self._locks_left = attempts
            self._lock_message = message

        await self.call(arm)

    async def add_vendor(self, name: str | None = None, *, company: str | None = None) -> str:
        division, vendor_no = await self._run(company, lambda s: s.add_vendor(name))
        return f"{division}-{vendor_no}"

    async def add_ap_invoice(
        self,
        *,
        company: str | None = None,
        vendor: tuple[str, str] | None = None,
        amount: Decimal | float | None = None,
        invoice_no: str | None = None,
        invoice_date: date | None = None,
        due_days: int = 30,
        hold: bool = False,
        posted: bool = False,
    ) -> str:
        key: str = await self._run(
            company,
            lambda s: s.add_ap_invoice(
                vendor=vendor,
                amount=amount,
                invoice_no=invoice_no,
                invoice_date=invoice_date,
                due_days=due_days,
                hold=hold,
                posted=posted,
            ),
        )
        return key

    async def update_ap_invoice(
        self, record_key: str, *, company: str | None = None, **changes: Any
    ) -> None:
        await self._run(company, lambda s: s.update_ap_invoice(record_key, **changes))

    async def post_ap_invoices(
        self, record_keys: Sequence[str] | None = None, *, company: str | None = None
    ) -> list[str]:
        keys: list[str] = await self._run(company, lambda s: s.post_ap_invoices(record_keys))
        return keys

    async def add_purchase_order(
        self,
        *,
        company: str | None = None,
        vendor: tuple[str, str] | None = None,
        warehouse: str = "000",
        line_amounts: Sequence[Decimal | float] | None = None,
        status: str = "N",
        order_type: str = "S",
    ) -> str:
        key: str = await self._run(
            company,
            lambda s: s.add_purchase_order(
                vendor=vendor,
                warehouse=warehouse,
                line_amounts=line_amounts,
                status=status,
                order_type=order_type,
            ),
        )
        return key

    async def update_purchase_order(
        self, purchase_order_no: str, *, company: str | None = None, **changes: Any
    ) -> None:
        await self._run(company, lambda s: s.update_purchase_order(purchase_order_no, **changes))

    async def add_gl_register(
        self,
        *,
        company: str | None = None,
        source_journal: str = "GJ",
        lines: Sequence[tuple[str, Decimal | float, Decimal | float]] | None = None,
        line_count: int = 6,
        posting_date: date | None = None,
    ) -> tuple[str, str, list[str]]:
        result: tuple[str, str, list[str]] = await self._run(
            company,
            lambda s: s.add_gl_register(
                source_journal=source_journal,
                lines=lines,
                line_count=line_count,
                posting_date=posting_date,
            ),
        )
        return result

    async def add_gl_postings_bulk(
        self, count: int, *, company: str | None = None, per_register: int = 500
    ) -> None:
        await self._run(company, lambda s: s.add_gl_postings_bulk(count, per_register=per_register))

    async def add_gl_account(
        self,
        account: str,
        description: str,
        account_type: str = "13",
        *,
        company: str | None = None,
    ) -> str:
        key: str = await self._run(
            company, lambda s: s.add_gl_account(account, description, account_type)
        )
        return key

    async def change_gl_account(
        self, account_key: str, *, company: str | None = None, **changes: str
    ) -> None:
        await self._run(company, lambda s: s.change_gl_account(account_key, **changes))

    async def account_keys(self, *, company: str | None = None) -> list[str]:
        keys: list[str] = await self._run(company, lambda s: s.account_keys())
        return keys

    async def simulate_activity(self, *, company: str | None = None) -> str:
        line: str = await self._run(company, lambda s: s.simulate_activity())
        return line
