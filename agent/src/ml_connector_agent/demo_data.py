"""Demo Sage 100 company data in SQLite, with Sage 100's own table and column names.

The layout follows Sage's "File Layouts and Program Information" (4.40) and the public
Sage 100 SQL DDL: dates are ``YYYYMMDD`` text, times of day are decimal-hour strings
(``"14.50833"``) and every table carries DateCreated/TimeCreated/UserCreatedKey (and
DateUpdated/TimeUpdated/UserUpdatedKey where Sage has them; GL_DetailPosting is only ever
inserted). One SQLite file per company mirrors Sage's ``MAS_<CO>`` data directories.

:class:`DemoStore` is synchronous on purpose: it is driven from the demo back end's worker
thread, by tests, and by the activity generator of ``agent serve --demo``.
"""

from __future__ import annotations

import random
import sqlite3
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

from ml_connector_agent.paging import decimal_hours
from ml_connector_agent.resources import ap_invoice_key, gl_posting_key

Clock = Callable[[], datetime]

_AUDIT_FULL = """
    DateCreated TEXT, TimeCreated TEXT, UserCreatedKey TEXT,
    DateUpdated TEXT, TimeUpdated TEXT, UserUpdatedKey TEXT"""

SCHEMA = f"""
CREATE TABLE IF NOT EXISTS AP_Vendor (
    APDivisionNo TEXT NOT NULL, VendorNo TEXT NOT NULL, VendorName TEXT NOT NULL,
    AddressLine1 TEXT, City TEXT, State TEXT, ZipCode TEXT, TelephoneNo TEXT,
    EmailAddress TEXT, TermsCode TEXT,{_AUDIT_FULL},
    PRIMARY KEY (APDivisionNo, VendorNo));
CREATE TABLE IF NOT EXISTS AP_InvoiceHeader (
    APDivisionNo TEXT NOT NULL, VendorNo TEXT NOT NULL, InvoiceNo TEXT NOT NULL,
    BatchNo TEXT, InvoiceDate TEXT NOT NULL, InvoiceDueDate TEXT, InvoiceDiscountDate TEXT,
    TermsCode TEXT, HoldPayment TEXT NOT NULL DEFAULT 'N', Comment TEXT,
    InvoiceAmt REAL NOT NULL DEFAULT 0,{_AUDIT_FULL},
    PRIMARY KEY (APDivisionNo, VendorNo, InvoiceNo));
CREATE TABLE IF NOT EXISTS AP_OpenInvoice (
    APDivisionNo TEXT NOT NULL, VendorNo TEXT NOT NULL, InvoiceNo TEXT NOT NULL,
    InvoiceDate TEXT NOT NULL, InvoiceDueDate TEXT, InvoiceDiscountDate TEXT, TermsCode TEXT,
    HoldPayment TEXT NOT NULL DEFAULT 'N', InvoiceAmt REAL NOT NULL DEFAULT 0,
    DiscountAmt REAL NOT NULL DEFAULT 0, Balance REAL NOT NULL DEFAULT 0,{_AUDIT_FULL},
    PRIMARY KEY (APDivisionNo, VendorNo, InvoiceNo));
CREATE TABLE IF NOT EXISTS PO_PurchaseOrderHeader (
    PurchaseOrderNo TEXT PRIMARY KEY, PurchaseOrderDate TEXT NOT NULL,
    OrderType TEXT NOT NULL DEFAULT 'S', OrderStatus TEXT NOT NULL DEFAULT 'N',
    APDivisionNo TEXT NOT NULL, VendorNo TEXT NOT NULL, PurchaseName TEXT,
    WarehouseCode TEXT, TermsCode TEXT,
    TaxableAmt REAL NOT NULL DEFAULT 0, NonTaxableAmt REAL NOT NULL DEFAULT 0,
    SalesTaxAmt REAL NOT NULL DEFAULT 0, FreightAmt REAL NOT NULL DEFAULT 0,{_AUDIT_FULL});
CREATE INDEX IF NOT EXISTS PO_PurchaseOrderHeader_KEY1
    ON PO_PurchaseOrderHeader (APDivisionNo, VendorNo, PurchaseOrderNo);
CREATE TABLE IF NOT EXISTS PO_PurchaseOrderDetail (
    PurchaseOrderNo TEXT NOT NULL, LineKey TEXT NOT NULL, LineSeqNo TEXT,
    ItemCode TEXT, ItemCodeDesc TEXT, WarehouseCode TEXT,
    QuantityOrdered REAL NOT NULL DEFAULT 0, UnitCost REAL NOT NULL DEFAULT 0,
    ExtensionAmt REAL NOT NULL DEFAULT 0,
    PRIMARY KEY (PurchaseOrderNo, LineKey));
CREATE TABLE IF NOT EXISTS GL_Account (
    AccountKey TEXT PRIMARY KEY, Account TEXT NOT NULL UNIQUE, AccountDesc TEXT,
    MainAccountCode TEXT, AccountType TEXT, Status TEXT NOT NULL DEFAULT 'A',
    AccountGroup TEXT,{_AUDIT_FULL});
CREATE TABLE IF NOT EXISTS GL_DetailPosting (
    AccountKey TEXT NOT NULL, PostingDate TEXT NOT NULL, SourceJournal TEXT NOT NULL,
    JournalRegisterNo TEXT NOT NULL, SequenceNo TEXT NOT NULL,
    DebitAmount REAL NOT NULL DEFAULT 0, CreditAmount REAL NOT NULL DEFAULT 0,
    PostingComment TEXT, SourceModule TEXT, DocumentNo TEXT, BatchNo TEXT,
    DateCreated TEXT, TimeCreated TEXT, UserCreatedKey TEXT,
    PRIMARY KEY (AccountKey, PostingDate, SourceJournal, JournalRegisterNo, SequenceNo));
"""

_NAME_A = (
    "Northwind",
    "Acme",
    "Summit",
    "Pioneer",
    "Harbor",
    "Granite",
    "Evergreen",
    "Bluewater",
    "Redwood",
    "Atlas",
    "Keystone",
    "Lakeside",
    "Prairie",
    "Sterling",
    "Cascade",
    "Frontier",
    "Liberty",
    "Meridian",
    "Orchard",
    "Silverline",
)
_NAME_B = (
    "Supply",
    "Paper",
    "Logistics",
    "Industrial",
    "Office",
    "Foods",
    "Electric",
    "Packaging",
    "Freight",
    "Metals",
    "Plastics",
    "Tooling",
    "Chemicals",
    "Janitorial",
    "Printing",
)
_NAME_C = ("Co.", "Inc.", "LLC", "Corp.", "Ltd.", "& Sons")
_CITIES = (
    ("Irvine", "CA", "92618"),
    ("Denver", "CO", "80202"),
    ("Austin", "TX", "78701"),
    ("Columbus", "OH", "43215"),
    ("Atlanta", "GA", "30303"),
    ("Portland", "OR", "97204"),
)
#: Main accounts with their GL_AccountType code (Sage's defaults: 01 Cash … 13 OpExp).
_CHART = (
    ("1000", "Cash - Operating", "01"),
    ("1010", "Cash - Payroll", "01"),
    ("1200", "Accounts Receivable", "02"),
    ("1300", "Inventory", "04"),
    ("1400", "Prepaid Expenses", "05"),
    ("2000", "Accounts Payable", "07"),
    ("2100", "Accrued Liabilities", "07"),
    ("2500", "Long-Term Debt", "08"),
    ("3000", "Common Stock", "09"),
    ("3100", "Retained Earnings", "10"),
    ("4000", "Sales", "11"),
    ("5000", "Cost of Goods Sold", "12"),
    ("6000", "Salaries and Wages", "13"),
    ("6100", "Rent", "13"),
    ("6200", "Utilities", "13"),
    ("6300", "Office Supplies", "13"),
    ("6400", "Travel", "13"),
    ("7000", "Interest Expense", "14"),
    ("8000", "Income Tax Expense", "17"),
)
_DEPARTMENTS = ("00", "01", "02", "03")
_JOURNALS = (("GJ", "G/L"), ("AP", "A/P"), ("PO", "P/O"), ("AR", "A/R"), ("PR", "P/R"))
WAREHOUSES = ("000", "001", "002")
_USERS = ("0000000001", "0000000002", "0000000003")


def connect(path: Path) -> sqlite3.Connection:
    """WAL so the agent's reads never wait for the activity generator's writes."""
    conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    conn.row_factory = sqlite3.Row
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute("PRAGMA busy_timeout=5000")
    return conn


def sage_day(day: date) -> str:
    return day.strftime("%Y%m%d")


@dataclass(frozen=True)
class SeedCounts:
    vendors: int = 40
    ap_invoices: int = 200
    purchase_orders: int = 60
    gl_registers: int = 30
    gl_lines_per_register: int = 8


class DemoStore:
    """One company's demo data: seeding, and the edits a Sage 100 user would make."""

    def __init__(
        self, conn: sqlite3.Connection, *, clock: Clock = datetime.now, seed: int = 100
    ) -> None:
        self.conn = conn
        self.clock = clock
        self.rng = random.Random(seed)
        conn.executescript(SCHEMA)

    # -- helpers -----------------------------------------------------------------------

    def _stamp(self, moment: datetime | None = None) -> tuple[str, str, str]:
        when = moment or self.clock()
        return sage_day(when.date()), decimal_hours(when), self.rng.choice(_USERS)

    def _insert(self, table: str, rows: Sequence[dict[str, Any]]) -> None:
        if not rows:
            return
        cols = list(rows[0])
        sql = f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({', '.join('?' for _ in cols)})"
        self.conn.executemany(sql, [tuple(r[c] for c in cols) for r in rows])

    def _money(self, low: float, high: float) -> float:
        # Log-uniform: many small invoices, a few large ones, as in a real AP ledger.
        value = Decimal(str(low * (high / low) ** self.rng.random()))
        return float(value.quantize(Decimal("0.01")))

    def _one(self, sql: str, *args: object) -> sqlite3.Row | None:
        row: sqlite3.Row | None = self.conn.execute(sql, args).fetchone()
        return row

    def _next_no(self, sql: str, width: int) -> str:
        row = self._one(sql)
        last = int(row[0]) if row and row[0] else 0
        return str(last + 1).zfill(width)

    def vendors(self) -> list[tuple[str, str]]:
        return [
            (r["APDivisionNo"], r["VendorNo"])
            for r in self.conn.execute("SELECT APDivisionNo, VendorNo FROM AP_Vendor")
        ]

    def account_keys(self) -> list[str]:
        return [
            r[0] for r in self.conn.execute("SELECT AccountKey FROM GL_Account WHERE Status = 'A'")
        ]

    # -- master data ---------------------------------------------------------------------

    def add_vendor(self, name: str | None = None, *, division: str = "01") -> tuple[str, str]:
        name = name or (
            f"{self.rng.choice(_NAME_A)} {self.rng.choice(_NAME_B)} {self.rng.choice(_NAME_C)}"
        )
        prefix = "".join(ch for ch in name.upper() if ch.isalpha())[:4].ljust(4, "X")
        row = self._one(
            "SELECT max(substr(VendorNo, 5)) FROM AP_Vendor WHERE VendorNo LIKE ?", prefix + "%"
        )
        number = int(row[0]) + 1 if row and row[0] else 1
        vendor_no = f"{prefix}{number:03d}"
        city, state, zipcode = self.rng.choice(_CITIES)
        d, t, u = self._stamp()
        self._insert(
            "AP_Vendor",
            [
                {
                    "APDivisionNo": division,
                    "VendorNo": vendor_no,
                    "VendorName": name,
                    "AddressLine1": f"{self.rng.randint(10, 9999)} Commerce Way",
                    "City": city,
                    "State": state,
                    "ZipCode": zipcode,
                    "TelephoneNo": f"(555) {self.rng.randint(200, 989)}-"
                    f"{self.rng.randint(0, 9999):04d}",
                    "EmailAddress": f"ap@{prefix.lower()}.example",
                    "TermsCode": "01",
                    "DateCreated": d,
                    "TimeCreated": t,
                    "UserCreatedKey": u,
                    "DateUpdated": None,
                    "TimeUpdated": None,
                    "UserUpdatedKey": None,
                }
            ],
        )
        return division, vendor_no

    def add_gl_account(
        self,
        account: str,
        description: str,
        account_type: str = "13",
        *,
        status: str = "A",
        moment: datetime | None = None,
    ) -> str:
        """Add a GL_Account row; returns its AccountKey (the record key)."""
        key = self._next_no("SELECT max(AccountKey) FROM GL_Account", 9)
        d, t, u = self._stamp(moment)
        self._insert(
            "GL_Account",
            [
                {
                    "AccountKey": key,
                    "Account": account,
                    "AccountDesc": description,
                    "MainAccountCode": account.split("-")[0],
                    "AccountType": account_type,
                    "Status": status,
                    "AccountGroup": account_type,
                    "DateCreated": d,
                    "TimeCreated": t,
                    "UserCreatedKey": u,
                    "DateUpdated": None,
                    "TimeUpdated": None,
                    "UserUpdatedKey": None,
                }
            ],
        )
        return key

    def change_gl_account(self, account_key: str, **changes: str) -> None:
        """Edit AccountDesc/Status/AccountType…; Status 'D' is how Sage shows a deletion."""
        self._update("GL_Account", {"AccountKey": account_key}, changes)

    def _update(self, table: str, where: dict[str, str], changes: dict[str, Any]) -> None:
        if not changes:
            raise ValueError("nothing to change")
        d, t, u = self._stamp()
        values = {**changes, "DateUpdated": d, "TimeUpdated": t, "UserUpdatedKey": u}
        sets = ", ".join(f"{c} = ?" for c in values)
        cond = " AND ".join(f"{c} = ?" for c in where)
        cur = self.conn.execute(
            f"UPDATE {table} SET {sets} WHERE {cond}", (*values.values(), *where.values())
        )
        if cur.rowcount != 1:
            raise KeyError(f"{table}: no record {where}")

    # -- AP invoices ------------------------------------------------------------------------

    def add_ap_invoice(
        self,
        *,
        vendor: tuple[str, str] | None = None,
        amount: Decimal | float | None = None,
        invoice_no: str | None = None,
        invoice_date: date | None = None,
        due_days: int = 30,
        hold: bool = False,
        posted: bool = False,
        moment: datetime | None = None,
    ) -> str:
        """Enter an AP invoice (in AP_InvoiceHeader, or AP_OpenInvoice if ``posted``)."""
        division, vendor_no = vendor or self.rng.choice(self.vendors())
        invoice_no = invoice_no or self._next_no(
            "SELECT max(InvoiceNo) FROM (SELECT InvoiceNo FROM AP_InvoiceHeader "
            "UNION ALL SELECT InvoiceNo FROM AP_OpenInvoice)",
            10,
        )
        when = moment or self.clock()
        day = invoice_date or when.date()
        amt = float(amount) if amount is not None else self._money(25, 60000)
        d, t, u = self._stamp(when)
        row: dict[str, Any] = {
            "APDivisionNo": division,
            "VendorNo": vendor_no,
            "InvoiceNo": invoice_no,
            "InvoiceDate": sage_day(day),
            "InvoiceDueDate": sage_day(day + timedelta(days=due_days)),
            "InvoiceDiscountDate": sage_day(day + timedelta(days=10)),
            "TermsCode": "01",
            "HoldPayment": "Y" if hold else "N",
            "InvoiceAmt": amt,
            "DateCreated": d,
            "TimeCreated": t,
            "UserCreatedKey": u,
            "DateUpdated": None,
            "TimeUpdated": None,
            "UserUpdatedKey": None,
        }
        if posted:
            self._insert("AP_OpenInvoice", [{**row, "DiscountAmt": 0.0, "Balance": amt}])
        else:
            self._insert(
                "AP_InvoiceHeader", [{**row, "BatchNo": "00001", "Comment": "Demo invoice"}]
            )
        return ap_invoice_key(row)

    def _invoice_where(self, record_key: str) -> dict[str, str]:
        division, vendor_no, invoice_no = record_key.split("-", 2)
        return {"APDivisionNo": division, "VendorNo": vendor_no, "InvoiceNo": invoice_no}

    def update_ap_invoice(self, record_key: str, **changes: Any) -> None:
        """Edit an invoice where it is (entry or posted), e.g. InvoiceAmt=…, HoldPayment='Y'."""
        where = self._invoice_where(record_key)
        in_entry = self._one(
            "SELECT 1 FROM AP_InvoiceHeader WHERE APDivisionNo=? AND VendorNo=? AND InvoiceNo=?",
            *where.values(),
        )
        table = "AP_InvoiceHeader" if in_entry else "AP_OpenInvoice"
        if table == "AP_OpenInvoice" and "InvoiceAmt" in changes and "Balance" not in changes:
            changes = {**changes, "Balance": changes["InvoiceAmt"]}
        changes = {k: float(v) if isinstance(v, Decimal) else v for k, v in changes.items()}
        self._update(table, where, changes)

    def post_ap_invoices(self, record_keys: Iterable[str] | None = None) -> list[str]:
        """The AP Invoice Register update: entry invoices move to AP_OpenInvoice.

        The open-invoice row is created by the update, so its creation stamp is the posting
        time: pollers see a posted invoice as a change of the same record key.
        """
        keys = list(record_keys) if record_keys is not None else None
        rows = [dict(r) for r in self.conn.execute("SELECT * FROM AP_InvoiceHeader")]
        if keys is not None:
            rows = [r for r in rows if ap_invoice_key(r) in keys]
        d, t, u = self._stamp()
        self.conn.execute("BEGIN")
        try:
            for r in rows:
                self.conn.execute(
                    "DELETE FROM AP_InvoiceHeader "
                    "WHERE APDivisionNo=? AND VendorNo=? AND InvoiceNo=?",
                    (r["APDivisionNo"], r["VendorNo"], r["InvoiceNo"]),
                )
                for col in ("BatchNo", "Comment"):
                    r.pop(col)
                r.update(
                    DiscountAmt=0.0,
                    Balance=r["InvoiceAmt"],
                    DateCreated=d,
                    TimeCreated=t,
                    UserCreatedKey=u,
                    DateUpdated=None,
                    TimeUpdated=None,
                    UserUpdatedKey=None,
                )
                self._insert("AP_OpenInvoice", [r])
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise
        return [ap_invoice_key(r) for r in rows]

    # -- purchase orders -------------------------------------------------------------------

    def add_purchase_order(
        self,
        *,
        vendor: tuple[str, str] | None = None,
        warehouse: str = "000",
        line_amounts: Sequence[Decimal | float] | None = None,
        status: str = "N",
        order_type: str = "S",
        order_date: date | None = None,
        moment: datetime | None = None,
    ) -> str:
        """Enter a PO with its lines; returns the PurchaseOrderNo (the record key)."""
        division, vendor_no = vendor or self.rng.choice(self.vendors())
        name_row = self._one(
            "SELECT VendorName FROM AP_Vendor WHERE APDivisionNo=? AND VendorNo=?",
            division,
            vendor_no,
        )
        po_no = self._next_no("SELECT max(PurchaseOrderNo) FROM PO_PurchaseOrderHeader", 7)
        amounts = (
            [float(a) for a in line_amounts]
            if line_amounts is not None
            else [self._money(10, 8000) for _ in range(self.rng.randint(1, 8))]
        )
        when = moment or self.clock()
        d, t, u = self._stamp(when)
        lines = []
        for i, amount in enumerate(amounts, start=1):
            qty = self.rng.randint(1, 50)
            lines.append(
                {
                    "PurchaseOrderNo": po_no,
                    "LineKey": f"{i:06d}",
                    "LineSeqNo": f"{i:06d}",
                    "ItemCode": f"ITEM-{self.rng.randint(1000, 9999)}",
                    "ItemCodeDesc": f"{self.rng.choice(_NAME_B)} item",
                    "WarehouseCode": warehouse,
                    "QuantityOrdered": float(qty),
                    "UnitCost": round(amount / qty, 4),
                    "ExtensionAmt": amount,
                }
            )
        self._insert(
            "PO_PurchaseOrderHeader",
            [
                {
                    "PurchaseOrderNo": po_no,
                    "PurchaseOrderDate": sage_day(order_date or when.date()),
                    "OrderType": order_type,
                    "OrderStatus": status,
                    "APDivisionNo": division,
                    "VendorNo": vendor_no,
                    "PurchaseName": name_row[0] if name_row else None,
                    "WarehouseCode": warehouse,
                    "TermsCode": "01",
                    "TaxableAmt": 0.0,
                    "NonTaxableAmt": round(sum(amounts), 2),
                    "SalesTaxAmt": 0.0,
                    "FreightAmt": 0.0,
                    "DateCreated": d,
                    "TimeCreated": t,
                    "UserCreatedKey": u,
                    "DateUpdated": None,
                    "TimeUpdated": None,
                    "UserUpdatedKey": None,
                }
            ],
        )
        self._insert("PO_PurchaseOrderDetail", lines)
        return po_no

    def update_purchase_order(self, purchase_order_no: str, **changes: Any) -> None:
        """Edit a PO header, e.g. OrderStatus='C' or FreightAmt=…"""
        changes = {k: float(v) if isinstance(v, Decimal) else v for k, v in changes.items()}
        self._update("PO_PurchaseOrderHeader", {"PurchaseOrderNo": purchase_order_no}, changes)

    # -- GL ---------------------------------------------------------------------------------

    def add_gl_register(
        self,
        *,
        source_journal: str = "GJ",
        lines: Sequence[tuple[str, Decimal | float, Decimal | float]] | None = None,
        line_count: int = 6,
        posting_date: date | None = None,
        moment: datetime | None = None,
    ) -> tuple[str, str, list[str]]:
        """Post one journal register: ``lines`` are (AccountKey, debit, credit).

        Without ``lines``, a balanced register of ``line_count`` lines is made up. Every line
        of a register shares one creation stamp, as the register update writes them at once.
        Returns (SourceJournal, JournalRegisterNo, record keys).
        """
        register_no = self._next_no("SELECT max(JournalRegisterNo) FROM GL_DetailPosting", 6)
        if lines is None:
            accounts = self.account_keys()
            made: list[tuple[str, Decimal | float, Decimal | float]] = []
            for _ in range(max(1, line_count // 2)):
                amount = self._money(50, 25000)
                made.append((self.rng.choice(accounts), amount, 0.0))
                made.append((self.rng.choice(accounts), 0.0, amount))
            lines = made
        when = moment or self.clock()
        day = sage_day(posting_date or when.date())
        module = dict(_JOURNALS).get(source_journal, "G/L")
        d, t, u = self._stamp(when)
        rows = [
            {
                "AccountKey": account_key,
                "PostingDate": day,
                "SourceJournal": source_journal,
                "JournalRegisterNo": register_no,
                "SequenceNo": f"{seq:014d}",
                "DebitAmount": float(debit),
                "CreditAmount": float(credit),
                "PostingComment": f"{source_journal} register {register_no}",
                "SourceModule": module,
                "DocumentNo": f"D{register_no}",
                "BatchNo": "00001",
                "DateCreated": d,
                "TimeCreated": t,
                "UserCreatedKey": u,
            }
            for seq, (account_key, debit, credit) in enumerate(lines, start=1)
        ]
        self._insert("GL_DetailPosting", rows)
        return source_journal, register_no, [gl_posting_key(r) for r in rows]

    def add_gl_postings_bulk(self, count: int, *, per_register: int = 500) -> None:
        """Append ``count`` posting lines fast (benchmarks, paging tests): few stamps, many rows.

        Sharing stamps across hundreds of rows is the hard case for keyset paging.
        """
        accounts = self.account_keys()
        start = int(self._next_no("SELECT max(JournalRegisterNo) FROM GL_DetailPosting", 6))
        base = self.clock() - timedelta(days=20)
        rows: list[tuple[Any, ...]] = []
        for i in range(count):
            register = start + i // per_register
            moment = base + timedelta(minutes=register - start)
            amount = round(self.rng.uniform(1, 5000), 2)
            debit = i % 2 == 0
            rows.append(
                (
                    self.rng.choice(accounts),
                    sage_day(moment.date()),
                    "GJ",
                    f"{register:06d}",
                    f"{i % per_register + 1:014d}",
                    amount if debit else 0.0,
                    0.0 if debit else amount,
                    "Bulk demo posting",
                    "G/L",
                    f"D{register:06d}",
                    "00001",
                    sage_day(moment.date()),
                    decimal_hours(moment),
                    _USERS[0],
                )
            )
        self.conn.executemany(
            "INSERT INTO GL_DetailPosting (AccountKey, PostingDate, SourceJournal, "
            "JournalRegisterNo, SequenceNo, DebitAmount, CreditAmount, PostingComment, "
            "SourceModule, DocumentNo, BatchNo, DateCreated, TimeCreated, UserCreatedKey) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
            rows,
        )

    # -- seeding and ongoing activity ----------------------------------------------------

    def seed(self, counts: SeedCounts = SeedCounts(), *, history_days: int = 30) -> None:
        """A plausible month of history, stamped in the past so live edits sort after it."""
        now = self.clock()

        def past() -> datetime:
            back = timedelta(seconds=self.rng.randint(3600, history_days * 86400))
            return (now - back).replace(microsecond=0)

        self.conn.execute("BEGIN")
        try:
            for main, desc, acct_type in _CHART:
                for dept in _DEPARTMENTS[: self.rng.randint(1, len(_DEPARTMENTS))]:
                    self.add_gl_account(
                        f"{main}-{dept}-00",
                        desc if dept == "00" else f"{desc} - Dept {dept}",
                        acct_type,
                        moment=now - timedelta(days=history_days + 30),
                    )
            for _ in range(counts.vendors):
                self.add_vendor()
            for _ in range(counts.ap_invoices):
                when = past()
                self.add_ap_invoice(
                    posted=self.rng.random() < 0.7,
                    hold=self.rng.random() < 0.05,
                    invoice_date=when.date(),
                    moment=when,
                )
            for _ in range(counts.purchase_orders):
                when = past()
                self.add_purchase_order(
                    warehouse=self.rng.choice(WAREHOUSES),
                    status=self.rng.choice("NNOOBC"),
                    moment=when,
                )
            for _ in range(counts.gl_registers):
                self.add_gl_register(
                    source_journal=self.rng.choice(_JOURNALS)[0],
                    line_count=counts.gl_lines_per_register,
                    moment=past(),
                )
            self.conn.execute("COMMIT")
        except BaseException:
            self.conn.execute("ROLLBACK")
            raise

    def simulate_activity(self) -> str:
        """One thing a Sage 100 user might do next; returns a line for the demo's log."""
        roll = self.rng.random()
        if roll < 0.35:
            return f"new AP invoice {self.add_ap_invoice()}"
        if roll < 0.5:
            rows = self.conn.execute(
                "SELECT APDivisionNo, VendorNo, InvoiceNo FROM AP_InvoiceHeader LIMIT 50"
            ).fetchall()
            if rows:
                key = ap_invoice_key(dict(self.rng.choice(rows)))
                self.update_ap_invoice(key, InvoiceAmt=self._money(25, 60000))
                return f"changed AP invoice {key}"
            return f"new AP invoice {self.add_ap_invoice()}"
        if roll < 0.6:
            return f"posted {len(self.post_ap_invoices())} AP invoices"
        if roll < 0.8:
            warehouse = self.rng.choice(WAREHOUSES)
            return f"new PO {self.add_purchase_order(warehouse=warehouse)}"
        if roll < 0.95:
            journal, register, keys = self.add_gl_register(
                source_journal=self.rng.choice(_JOURNALS)[0]
            )
            return f"GL register {journal}-{register} ({len(keys)} lines)"
        keys = self.account_keys()
        key = self.rng.choice(keys)
        self.change_gl_account(key, AccountDesc=f"Renamed account {self.rng.randint(1, 999)}")
        return f"changed GL account {key}"
