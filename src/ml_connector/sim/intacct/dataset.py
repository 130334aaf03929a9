"""A seeded, realistic mid-size distributor's books: what the simulated gateway serves.

Northwind Distribution runs several entities (LOCATION 100, 200, … with their own base
currency), a distributor's chart of accounts, a few hundred vendors (some on hold, some
inactive, some without a preferred payment method), thousands of GL entries in batches that
balance per currency, AP bills, and AP payments grouped in payment runs per bank account.

``add_day`` appends one business day of postings and a payment run, stamped with the given
WHENMODIFIED, and can plant the exceptions a finance team must hear about: unbalanced batches,
payments to vendors on hold or inactive or without a payment method, declined and voided
payments; and the cases the figures must survive: a reversal written as negative amounts, a
foreign-currency transaction, an entry dated in a closed period, a batch longer than a message
shows, two payment runs on one bank account. Its summary lists the RECORDNOs it created so
tests can compute expectations independently of the code under test.

Records are dicts of typed values (str, int, Decimal, date, datetime, bool, None) keyed by the
real field names; the protocol layer formats them on the wire.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from ml_connector.sim.intacct.gldetail import detail_row, detail_rows
from ml_connector.sim.intacct.objects import SCHEMAS, Record, Value

CENT = Decimal("0.01")

_ENTITIES = (
    ("100", "Northwind Distribution East", "USD", "BOA-OPER", "Bank of America Operating"),
    ("200", "Northwind Distribution West", "USD", "WF-OPER", "Wells Fargo Operating"),
    ("300", "Northwind Distribution Canada", "CAD", "RBC-OPER", "RBC Royal Bank Operating"),
    ("400", "Northwind Distribution Mexico", "MXN", "BBVA-OPER", "BBVA Mexico Operating"),
    ("500", "Northwind Distribution UK", "GBP", "HSBC-OPER", "HSBC UK Operating"),
)
# Units of base currency per USD, for the occasional USD transaction in a foreign entity.
_USD_RATE = {"USD": Decimal("1"), "CAD": Decimal("1.3650"), "MXN": Decimal("17.2100"),
             "GBP": Decimal("0.7900")}  # fmt: skip

# (ACCOUNTNO, TITLE, ACCOUNTTYPE, NORMALBALANCE, CATEGORY)
_ACCOUNTS = (
    ("1000", "Operating Cash", "balancesheet", "debit", "Cash and Cash Equivalents"),
    ("1010", "Payroll Cash", "balancesheet", "debit", "Cash and Cash Equivalents"),
    ("1100", "Accounts Receivable", "balancesheet", "debit", "Accounts Receivable"),
    ("1150", "Allowance for Doubtful Accounts", "balancesheet", "credit", "Accounts Receivable"),
    ("1200", "Inventory - Finished Goods", "balancesheet", "debit", "Inventory"),
    ("1210", "Inventory - In Transit", "balancesheet", "debit", "Inventory"),
    ("1300", "Prepaid Expenses", "balancesheet", "debit", "Other Current Assets"),
    ("1500", "Warehouse Equipment", "balancesheet", "debit", "Fixed Assets"),
    ("1510", "Delivery Vehicles", "balancesheet", "debit", "Fixed Assets"),
    ("1590", "Accumulated Depreciation", "balancesheet", "credit", "Fixed Assets"),
    ("2000", "Accounts Payable", "balancesheet", "credit", "Accounts Payable"),
    ("2100", "Accrued Liabilities", "balancesheet", "credit", "Other Current Liabilities"),
    ("2150", "Accrued Payroll", "balancesheet", "credit", "Other Current Liabilities"),
    ("2200", "Sales Tax Payable", "balancesheet", "credit", "Other Current Liabilities"),
    ("2300", "Line of Credit", "balancesheet", "credit", "Short-Term Debt"),
    ("2700", "Long-Term Debt", "balancesheet", "credit", "Long-Term Debt"),
    ("3000", "Common Stock", "balancesheet", "credit", "Equity"),
    ("3100", "Retained Earnings", "balancesheet", "credit", "Retained Earnings"),
    ("4000", "Product Sales", "incomestatement", "credit", "Revenue"),
    ("4100", "Freight Revenue", "incomestatement", "credit", "Revenue"),
    ("4900", "Sales Returns and Allowances", "incomestatement", "debit", "Revenue"),
    ("4950", "Sales Discounts", "incomestatement", "debit", "Revenue"),
    ("5000", "Cost of Goods Sold", "incomestatement", "debit", "Cost of Sales"),
    ("5100", "Inbound Freight", "incomestatement", "debit", "Cost of Sales"),
    ("5200", "Inventory Adjustments", "incomestatement", "debit", "Cost of Sales"),
    ("5300", "Purchase Discounts", "incomestatement", "credit", "Cost of Sales"),
    ("6000", "Salaries and Wages", "incomestatement", "debit", "Payroll Expense"),
    ("6010", "Payroll Taxes", "incomestatement", "debit", "Payroll Expense"),
    ("6020", "Employee Benefits", "incomestatement", "debit", "Payroll Expense"),
    ("6100", "Warehouse Rent", "incomestatement", "debit", "Occupancy"),
    ("6110", "Utilities", "incomestatement", "debit", "Occupancy"),
    ("6120", "Repairs and Maintenance", "incomestatement", "debit", "Occupancy"),
    ("6200", "Outbound Freight", "incomestatement", "debit", "Distribution"),
    ("6210", "Fuel", "incomestatement", "debit", "Distribution"),
    ("6300", "Insurance", "incomestatement", "debit", "General and Administrative"),
    ("6400", "Office Supplies", "incomestatement", "debit", "General and Administrative"),
    ("6410", "Software Subscriptions", "incomestatement", "debit", "General and Administrative"),
    ("6420", "Telephone", "incomestatement", "debit", "General and Administrative"),
    ("6500", "Professional Fees", "incomestatement", "debit", "General and Administrative"),
    ("6600", "Travel", "incomestatement", "debit", "General and Administrative"),
    ("6700", "Bank Fees", "incomestatement", "debit", "General and Administrative"),
    ("6800", "Depreciation Expense", "incomestatement", "debit", "Depreciation"),
    ("7000", "Interest Expense", "incomestatement", "debit", "Other Expense"),
    ("7100", "Foreign Exchange Gain/Loss", "incomestatement", "debit", "Other Expense"),
    ("8000", "Income Tax Expense", "incomestatement", "debit", "Income Taxes"),
)
_INACTIVE_ACCOUNTS = frozenset({"6420"})

# journal -> (title, MODULE, batch templates: (title, debit accounts, credit accounts))
_JOURNALS: dict[str, tuple[str, str, tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...]]] = {
    "APJ": (
        "Accounts Payable Journal",
        "3.AP",
        (
            ("Vendor bill", ("1200", "1210", "5100"), ("2000",)),
            ("Vendor bill", ("6100", "6110", "6120", "6410", "6500"), ("2000",)),
            ("Vendor bill", ("6200", "6210", "6300"), ("2000",)),
        ),
    ),
    "ARJ": (
        "Accounts Receivable Journal",
        "4.AR",
        (
            ("Customer invoice", ("1100",), ("4000", "4100", "2200")),
            ("Credit memo", ("4900",), ("1100",)),
        ),
    ),
    "CRJ": ("Cash Receipts Journal", "4.AR", (("Customer receipt", ("1000",), ("1100",)),)),
    "CDJ": (
        "Cash Disbursements Journal",
        "3.AP",
        (("Vendor payment", ("2000",), ("1000",)), ("Bank fees", ("6700",), ("1000",))),
    ),
    "GJ": (
        "General Journal",
        "2.GL",
        (
            ("Payroll", ("6000", "6010", "6020"), ("1010", "2150")),
            ("Cost of sales", ("5000",), ("1200",)),
            ("Monthly depreciation", ("6800",), ("1590",)),
            ("Prepaid amortization", ("6300", "6410"), ("1300",)),
            ("Interest accrual", ("7000",), ("2100",)),
        ),
    ),
    "ADJ": (
        "Adjustments Journal",
        "2.GL",
        (
            ("Inventory count adjustment", ("5200",), ("1200",)),
            ("Accrual true-up", ("2100",), ("6500", "6120")),
        ),
    ),
}
_JOURNAL_WEIGHTS = (("APJ", 30), ("ARJ", 30), ("CRJ", 15), ("CDJ", 10), ("GJ", 12), ("ADJ", 3))

_DEPARTMENTS = (
    ("10", "Sales"),
    ("20", "Warehouse"),
    ("30", "Purchasing"),
    ("40", "Finance"),
    ("50", "Administration"),
)
_USERS = ((12, "jmartinez"), (15, "apatel"), (18, "kwong"), (21, "ssingh"))

_VENDOR_WORDS = (
    "Great Lakes", "Summit", "Pioneer", "Atlas", "Harbor", "Keystone", "Redwood", "Prairie",
    "Cascade", "Liberty", "Ironwood", "Bluewater", "Granite", "Northstar", "Maple Leaf",
    "Silver Creek", "Evergreen", "Frontier", "Coastal", "Heartland", "Tri-County", "Valley",
    "Sterling", "Beacon", "Pacific Rim", "Lone Star", "Capital", "Riverbend", "Oak Ridge",
)  # fmt: skip
_VENDOR_KINDS = (
    ("Packaging", "Supplier"), ("Freight Lines", "Freight"), ("Logistics", "Freight"),
    ("Industrial Supply", "Supplier"), ("Foods", "Supplier"), ("Paper Products", "Supplier"),
    ("Electric", "Utilities"), ("Energy", "Utilities"), ("Consulting", "Services"),
    ("Staffing", "Services"), ("Equipment Rental", "Services"), ("Chemicals", "Supplier"),
    ("Plastics", "Supplier"), ("Trucking", "Freight"), ("Software", "Services"),
)  # fmt: skip
_SUFFIXES = ("Inc.", "LLC", "Co.", "Corp.", "Ltd.", "Group")
_CITIES = (
    ("Chicago", "IL", "United States"), ("Columbus", "OH", "United States"),
    ("Denver", "CO", "United States"), ("Portland", "OR", "United States"),
    ("Atlanta", "GA", "United States"), ("Dallas", "TX", "United States"),
    ("Toronto", "ON", "Canada"), ("Vancouver", "BC", "Canada"),
)  # fmt: skip
_FIRST = ("Maria", "James", "Priya", "Chen", "Olivia", "Ahmed", "Sofia", "Liam", "Grace", "Noah")
_LAST = ("Garcia", "Smith", "Patel", "Wong", "Brown", "Khan", "Rossi", "Murphy", "Kim", "Lopez")
_TERMS = ("Net 30", "Net 45", "Net 60", "2% 10 Net 30", "Due on Receipt")
_METHODS = (("Printed Check", 45), ("ACH", 40), ("EFT", 8), ("Charge Card", 7))
_CUSTOMERS = tuple(
    (f"C{2001 + i}", f"{word} {kind}")
    for i, (word, kind) in enumerate(
        (w, k)
        for w in ("Midtown", "Eastside", "Harborview", "Parkway", "Uptown", "Lakeshore")
        for k in ("Market", "Grocers", "Restaurant Supply", "Hardware", "Pharmacy")
    )
)

# APPYMT states and the one-letter RAWSTATE beside them. The state names follow the AP
# payment lifecycle in Intacct's UI; the letters are the simulator's (no source lists them).
PAYMENT_STATES = {
    "Draft": "D",
    "Submitted": "S",
    "Approved": "A",
    "Declined": "R",
    "Complete": "C",
    "Voided": "V",
}


@dataclass(frozen=True)
class Entity:
    recordno: int
    locationid: str
    name: str
    currency: str
    bank_id: str
    bank_name: str


@dataclass
class DaySummary:
    """RECORDNOs created by one ``add_day`` call, by what they are."""

    when: datetime
    glbatches: list[int] = field(default_factory=list)
    glentries: list[int] = field(default_factory=list)
    payments: list[int] = field(default_factory=list)
    payment_runs: list[int] = field(default_factory=list)
    unbalanced_batches: list[int] = field(default_factory=list)
    adjusting_batches: list[int] = field(default_factory=list)
    onhold_payments: list[int] = field(default_factory=list)
    inactive_payments: list[int] = field(default_factory=list)
    no_method_payments: list[int] = field(default_factory=list)
    declined_payments: list[int] = field(default_factory=list)
    voided_payments: list[int] = field(default_factory=list)
    reversal_batches: list[int] = field(default_factory=list)
    foreign_batches: list[int] = field(default_factory=list)
    closed_period_batches: list[int] = field(default_factory=list)
    long_batches: list[int] = field(default_factory=list)


def recordno_of(record: Record) -> int:
    value = record["RECORDNO"]
    assert isinstance(value, int)
    return value


def _money(rng: random.Random, low: int, high: int) -> Decimal:
    """A random amount in [low, high) with cents, skewed towards the low end like real invoices."""
    cents = int(low * 100 + (high - low) * 100 * rng.random() ** 2)
    return Decimal(cents).scaleb(-2)


def _split(rng: random.Random, total: Decimal, parts: int) -> list[Decimal]:
    """``total`` split into ``parts`` positive amounts that add up exactly."""
    if parts <= 1:
        return [total]
    cents = int(total * 100)
    cuts = sorted(rng.sample(range(1, cents), parts - 1))
    bounds = [0, *cuts, cents]
    return [Decimal(bounds[i + 1] - bounds[i]).scaleb(-2) for i in range(parts)]


class Dataset:
    """The company's records by object name, in RECORDNO order."""

    def __init__(
        self,
        *,
        seed: int = 1,
        entities: int = 3,
        vendors: int = 250,
        gl_entries: int = 4000,
        payments: int = 300,
        bills: int = 500,
        history_days: int = 60,
        as_of: datetime | None = None,
        timezone: ZoneInfo | None = None,
    ) -> None:
        if not 1 <= entities <= len(_ENTITIES):
            raise ValueError(f"entities must be 1 to {len(_ENTITIES)}")
        if vendors < 12:
            raise ValueError("vendors must be at least 12 (room for every kind of exception)")
        if gl_entries == 1 or gl_entries < 0:
            raise ValueError("gl_entries must be 0 or at least 2 (a batch has two sides)")
        self.timezone = timezone or ZoneInfo("America/Los_Angeles")
        self._rng = random.Random(seed)
        self._tables: dict[str, list[Record]] = {name: [] for name in SCHEMAS}
        self._index: dict[str, dict[int, Record]] = {name: {} for name in SCHEMAS}
        self._next: dict[str, int] = {name: 1 for name in SCHEMAS}
        self._batchno: dict[str, int] = dict.fromkeys(_JOURNALS, 1)
        self._docno = 10001
        self._prbatchkey = 1
        self._url_base = "https://www.intacct.com/ia/acct/ur.phtml?.r="
        # Called with (event, object, record) on add/set/delete: trigger emission (triggers.py).
        self.listeners: list[Callable[[str, str, Record], None]] = []
        now = as_of or datetime.now(self.timezone).replace(tzinfo=None, microsecond=0)
        self.as_of = now
        start = now - timedelta(days=history_days)
        self.entities: list[Entity] = []
        self._make_entities(entities, start)
        self._accounts: dict[str, Record] = {}
        self._make_accounts(start)
        self._make_vendors(vendors, start, now)
        self._make_gl_history(gl_entries, start, now)
        self._make_bills(bills, start, now)
        self._make_payment_history(payments, start, now)

    # -- access ---------------------------------------------------------------------------

    def records(self, object_name: str) -> list[Record]:
        """The object's records (a new list; the dicts are the live records: do not change)."""
        if object_name == "GLDETAIL":
            return detail_rows(self._tables["GLENTRY"], self._index["GLBATCH"])
        return list(self._tables[object_name])

    def get(self, object_name: str, recordno: int) -> Record | None:
        if object_name == "GLDETAIL":
            entry = self._index["GLENTRY"].get(recordno)
            if entry is None or entry.get("STATE") != "Posted":
                return None
            batchno = entry.get("BATCHNO")
            batch = self._index["GLBATCH"].get(batchno) if isinstance(batchno, int) else None
            return detail_row(entry, batch)
        return self._index[object_name].get(recordno)

    def entity_ids(self) -> list[str]:
        return [entity.locationid for entity in self.entities]

    def vendors_where(self, *, status: str = "active", onhold: bool = False,
                      has_method: bool = True) -> list[Record]:  # fmt: skip
        return [
            v
            for v in self._tables["VENDOR"]
            if v["STATUS"] == status
            and v["ONHOLD"] is onhold
            and (v["PAYMETHODKEY"] is not None) is has_method
        ]

    # -- building blocks ------------------------------------------------------------------

    def _add(self, object_name: str, record: Record) -> Record:
        recordno = self._next[object_name]
        self._next[object_name] = recordno + 1
        record["RECORDNO"] = recordno
        if "RECORD_URL" in record:
            record["RECORD_URL"] = f"{self._url_base}{self._rng.getrandbits(48):012x}"
        self._tables[object_name].append(record)
        self._index[object_name][recordno] = record
        self._changed("add", object_name, record)
        return record

    def update(self, object_name: str, recordno: int, **values: Value) -> Record:
        """Change fields of a record, as a user saving it would (a ``set`` event)."""
        record = self._index[object_name][recordno]
        unknown = set(values) - set(SCHEMAS[object_name].field_names)
        if unknown:
            raise KeyError(f"{object_name} has no field(s) {sorted(unknown)}")
        record.update(values)
        self._changed("set", object_name, record)
        return record

    def delete(self, object_name: str, recordno: int) -> None:
        """Remove a record (a GLBATCH with its lines); later reads no longer find it."""
        record = self._index[object_name].pop(recordno)
        self._tables[object_name].remove(record)
        if object_name == "GLBATCH":
            lines = [e for e in self._tables["GLENTRY"] if e["BATCHNO"] == recordno]
            for line in lines:
                self._index["GLENTRY"].pop(recordno_of(line), None)
                self._tables["GLENTRY"].remove(line)
        self._changed("delete", object_name, record)

    def _changed(self, event: str, object_name: str, record: Record) -> None:
        for listener in self.listeners:
            listener(event, object_name, record)

    def _blank(self, object_name: str) -> Record:
        return dict.fromkeys(SCHEMAS[object_name].field_names)

    # -- loading exact records (tests) ------------------------------------------------------

    def clear(self, *object_names: str) -> None:
        """Forget every record of these objects (all when none is named). RECORDNOs keep
        counting up, so a record loaded after a clear never reuses an earlier one's key."""
        for name in object_names or tuple(self._tables):
            self._tables[name].clear()
            self._index[name].clear()

    def insert(self, object_name: str, fields: Mapping[str, Value]) -> Record:
        """Add one record with exactly these field values (the rest empty); RECORDNO is
        assigned. A field the object does not have is refused, as the gateway would."""
        record = self._blank(object_name)
        unknown = sorted(set(fields) - set(record))
        if unknown:
            raise KeyError(f"{object_name} has no field(s) {', '.join(unknown)}")
        record.update(fields)
        url = record.get("RECORD_URL")
        added = self._add(object_name, record)
        if "RECORD_URL" in fields:
            added["RECORD_URL"] = url
        return added

    def _stamp(self, day: date) -> datetime:
        seconds = self._rng.randrange(7 * 3600, 19 * 3600)
        return datetime.combine(day, time()) + timedelta(seconds=seconds)

    def _business_days(self, start: datetime, end: datetime) -> list[date]:
        days = []
        day = start.date()
        while day < end.date():
            if day.weekday() < 5:
                days.append(day)
            day += timedelta(days=1)
        return days or [start.date()]

    def _make_entities(self, count: int, start: datetime) -> None:
        for locationid, name, currency, bank_id, bank_name in _ENTITIES[:count]:
            record = self._blank("LOCATION")
            stamp = start - timedelta(days=400)
            record.update(
                LOCATIONID=locationid,
                NAME=name,
                STATUS="active",
                CURRENCY=currency,
                WHENCREATED=stamp,
                WHENMODIFIED=stamp,
                CREATEDBY=1,
                MODIFIEDBY=1,
                RECORD_URL="",
            )
            self._add("LOCATION", record)
            self.entities.append(
                Entity(recordno_of(record), locationid, name, currency, bank_id, bank_name)
            )

    def _make_accounts(self, start: datetime) -> None:
        stamp = start - timedelta(days=380)
        for accountno, title, acctype, normal, category in _ACCOUNTS:
            record = self._blank("GLACCOUNT")
            record.update(
                ACCOUNTNO=accountno,
                TITLE=title,
                ACCOUNTTYPE=acctype,
                NORMALBALANCE=normal,
                CLOSINGTYPE=(
                    "closing account" if acctype == "incomestatement" else "non-closing account"
                ),
                CLOSINGACCOUNTNO="3100" if acctype == "incomestatement" else None,
                CLOSINGACCOUNTTITLE="Retained Earnings" if acctype == "incomestatement" else None,
                STATUS="inactive" if accountno in _INACTIVE_ACCOUNTS else "active",
                REQUIREDEPT=acctype == "incomestatement",
                REQUIRELOC=True,
                TAXABLE=False,
                CATEGORY=category,
                ALTERNATIVEACCOUNT="None",
                WHENCREATED=stamp,
                WHENMODIFIED=stamp,
                CREATEDBY=1,
                MODIFIEDBY=1,
                RECORD_URL="",
            )
            self._accounts[accountno] = self._add("GLACCOUNT", record)

    def _make_vendors(self, count: int, start: datetime, now: datetime) -> None:
        rng = self._rng
        names: set[str] = set()
        methods = [m for m, _ in _METHODS]
        weights = [w for _, w in _METHODS]
        for i in range(count):
            word = rng.choice(_VENDOR_WORDS)
            kind, vendtype = rng.choice(_VENDOR_KINDS)
            name = f"{word} {kind} {rng.choice(_SUFFIXES)}"
            while name in names:
                name = f"{word} {kind} {rng.choice(_SUFFIXES)} {len(names)}"
            names.add(name)
            # The first vendors are the planted exceptions, so every dataset has each kind:
            # 0-2 on hold, 3-5 inactive, 6-8 without a payment method.
            status = "inactive" if 3 <= i <= 5 or (i >= 12 and rng.random() < 0.06) else "active"
            onhold = i <= 2 or (i >= 12 and status == "active" and rng.random() < 0.04)
            if 6 <= i <= 8 or (i >= 12 and rng.random() < 0.05):
                method: str | None = None
            else:
                method = rng.choices(methods, weights)[0]
            city, state, country = rng.choice(_CITIES)
            contact = f"{rng.choice(_FIRST)} {rng.choice(_LAST)}"
            created = start - timedelta(days=rng.randrange(30, 900))
            modified = created + timedelta(days=rng.randrange(0, 20))
            record = self._blank("VENDOR")
            vendorid = f"V{1001 + i}"
            record.update(
                VENDORID=vendorid,
                NAME=name,
                **{
                    "DISPLAYCONTACT.CONTACTNAME": f"{name} ({vendorid})",
                    "DISPLAYCONTACT.COMPANYNAME": name,
                    "DISPLAYCONTACT.PRINTAS": name,
                    "DISPLAYCONTACT.EMAIL1": f"ap@{word.lower().replace(' ', '')}.example",
                    "DISPLAYCONTACT.PHONE1": f"555-{rng.randrange(100, 999)}-"
                    f"{rng.randrange(1000, 9999)}",
                    "DISPLAYCONTACT.MAILADDRESS.CITY": city,
                    "DISPLAYCONTACT.MAILADDRESS.STATE": state,
                    "DISPLAYCONTACT.MAILADDRESS.COUNTRY": country,
                },
                VENDORACCOUNTNO=f"NW-{rng.randrange(10000, 99999)}",
                VENDTYPE=vendtype,
                APACCOUNT="2000",
                APACCOUNTTITLE="Accounts Payable",
                STATUS=status,
                ONETIME=False,
                ONHOLD=onhold,
                TERMNAME=rng.choice(_TERMS),
                CREDITLIMIT=Decimal(rng.choice((0, 25000, 50000, 100000, 250000))),
                TOTALDUE=_money(rng, 0, 40000),
                CURRENCY="CAD" if country == "Canada" else "USD",
                PAYMETHODKEY=method,
                WHENCREATED=created,
                WHENMODIFIED=modified,
                WHENLASTBILLED=(now - timedelta(days=rng.randrange(1, 60))).date(),
                WHENLASTPAID=(now - timedelta(days=rng.randrange(1, 90))).date(),
                CREATEDBY=_USERS[0][0],
                MODIFIEDBY=_USERS[0][0],
                RECORD_URL="",
            )
            # Contact names in Intacct are unique strings such as "Vendor Name(V1001)".
            record["DISPLAYCONTACT.CONTACTNAME"] = contact if i % 7 == 0 else f"{name}({vendorid})"
            if i % 7 == 0:
                first, _, last = contact.partition(" ")
                record["DISPLAYCONTACT.FIRSTNAME"] = first
                record["DISPLAYCONTACT.LASTNAME"] = last
            self._add("VENDOR", record)

    # -- GL ---------------------------------------------------------------------------------

    def _pick_journal(self) -> str:
        journals = [j for j, _ in _JOURNAL_WEIGHTS]
        weights = [w for _, w in _JOURNAL_WEIGHTS]
        return self._rng.choices(journals, weights)[0]

    def _make_gl_history(self, total: int, start: datetime, now: datetime) -> None:
        rng = self._rng
        sizes: list[int] = []
        remaining = total
        while remaining > 0:
            size = rng.randint(2, 7)
            if remaining - size < 2:
                size = remaining
            sizes.append(size)
            remaining -= size
        days = self._business_days(start, now)
        stamps = sorted(self._stamp(rng.choice(days)) for _ in sizes)
        for size, stamp in zip(sizes, stamps, strict=True):
            entity = rng.choice(self.entities)
            self._post_batch(self._pick_journal(), entity, size, stamp.date(), stamp)

    def _post_batch(
        self,
        journal: str,
        entity: Entity,
        lines: int,
        day: date,
        stamp: datetime,
        *,
        imbalance: Decimal = Decimal(0),
        foreign: bool | None = None,
    ) -> tuple[Record, list[Record]]:
        """One posted GLBATCH with ``lines`` GLENTRY lines, balanced unless ``imbalance``;
        ``foreign`` True books it in USD in a non-USD entity (None: now and then, for APJ)."""
        rng = self._rng
        _title, module, templates = _JOURNALS[journal]
        template_title, debit_accounts, credit_accounts = rng.choice(templates)
        user_key, login = rng.choice(_USERS)
        batchno = self._batchno[journal]
        self._batchno[journal] = batchno + 1
        document = f"{journal}-{self._docno}"
        self._docno += 1
        vendor = customer = None
        if journal in ("APJ", "CDJ"):
            vendor = rng.choice(self._tables["VENDOR"])
            title = f"{template_title} {vendor['NAME']} {document}"
        elif journal in ("ARJ", "CRJ"):
            customer = rng.choice(_CUSTOMERS)
            title = f"{template_title} {customer[1]} {document}"
        else:
            title = f"{template_title} {day:%B %Y}"
        # A foreign entity books some purchases in USD: TRX_AMOUNT in USD, AMOUNT in base.
        trx_currency = entity.currency
        rate = Decimal(1)
        if foreign is None:
            foreign = entity.currency != "USD" and journal == "APJ" and rng.random() < 0.25
        if foreign and entity.currency != "USD":
            trx_currency = "USD"
            rate = _USD_RATE[entity.currency]

        batch = self._blank("GLBATCH")
        batch.update(
            BATCHNO=batchno,
            BATCH_TITLE=title,
            JOURNAL=journal,
            JOURNAL_ENABLEEREPORTING=False,
            STATISTICAL=False,
            BATCH_DATE=day,
            MODULE=module,
            USERKEY=user_key,
            REFERENCENO=document,
            MODIFIED=stamp,
            MODIFIEDBYID=login,
            BASELOCATION=entity.recordno,
            BASELOCATION_NO=entity.locationid,
            **{"USERINFO.LOGINID": login},
            WHENCREATED=stamp,
            WHENMODIFIED=stamp,
            CREATEDBY=user_key,
            MODIFIEDBY=user_key,
            STATE="Posted",
            TAXIMPLICATIONS="None",
            CREATEDBYLOGINID=login,
            MODIFIEDBYLOGINID=login,
            MEGAENTITYKEY=entity.recordno,
            MEGAENTITYID=entity.locationid,
            MEGAENTITYNAME=entity.name,
            RECORD_URL="",
        )
        self._add("GLBATCH", batch)

        debit_lines = max(1, lines // 2) if lines > 1 else 1
        credit_lines = lines - debit_lines
        trx_debits = [_money(rng, 50, 25000) for _ in range(debit_lines)]
        trx_credits = _split(rng, sum(trx_debits, Decimal(0)), credit_lines) if credit_lines else []
        base_debits = [(a * rate).quantize(CENT) for a in trx_debits]
        base_credits = [(a * rate).quantize(CENT) for a in trx_credits]
        if base_credits:  # rounding: the last credit absorbs the difference, as Intacct does
            base_credits[-1] += sum(base_debits, Decimal(0)) - sum(base_credits, Decimal(0))
        if imbalance:
            trx_debits[0] += imbalance
            base_debits[0] += (imbalance * rate).quantize(CENT)
        sides = [(1, a, b) for a, b in zip(trx_debits, base_debits, strict=True)]
        sides += [(-1, a, b) for a, b in zip(trx_credits, base_credits, strict=True)]
        adjusting = "T" if journal == "ADJ" else "F"
        entries = []
        template = self._blank("GLENTRY")
        template.update(
            BATCHNO=batch["RECORDNO"],
            USERNO=user_key,
            ENTRY_DATE=day,
            BATCH_NUMBER=batchno,
            BATCH_DATE=day,
            BATCHTITLE=title,
            STATISTICAL="F",
            LOCATIONKEY=entity.recordno,
            LOCATION=entity.locationid,
            LOCATIONNAME=entity.name,
            DOCUMENT=document,
            BASECURR=entity.currency,
            CURRENCY=trx_currency,
            CLEARED="F",
            ADJ=adjusting,
            EXCH_RATE_DATE=day if rate != 1 else None,
            EXCH_RATE_TYPE_ID="Intacct Daily Rate" if rate != 1 else None,
            EXCHANGE_RATE=rate if rate != 1 else None,
            WHENCREATED=stamp,
            WHENMODIFIED=stamp,
            CREATEDBY=user_key,
            MODIFIEDBY=user_key,
            STATE="Posted",
            BILLABLE=False,
            BILLED=False,
            SELECTFORPBE=False,
            CREATEDBYLOGINID=login,
            MODIFIEDBYLOGINID=login,
            RECORD_URL="",
        )
        if vendor is not None:
            template.update(
                VENDORDIMKEY=vendor["RECORDNO"],
                VENDORID=vendor["VENDORID"],
                VENDORNAME=vendor["NAME"],
            )
        if customer is not None:
            template.update(
                CUSTOMERDIMKEY=int(customer[0][1:]),
                CUSTOMERID=customer[0],
                CUSTOMERNAME=customer[1],
            )
        for line_no, (tr_type, trx_amount, amount) in enumerate(sides, start=1):
            accounts = debit_accounts if tr_type == 1 else credit_accounts
            account = self._accounts[rng.choice(accounts)]
            department = rng.choice(_DEPARTMENTS)
            entry = dict(template)
            entry.update(
                LINE_NO=line_no,
                TR_TYPE=tr_type,
                AMOUNT=amount,
                TRX_AMOUNT=trx_amount,
                ACCOUNTKEY=account["RECORDNO"],
                ACCOUNTNO=account["ACCOUNTNO"],
                ACCOUNTTITLE=account["TITLE"],
                DESCRIPTION=f"{template_title} - {account['TITLE']}",
            )
            if account["ACCOUNTTYPE"] == "incomestatement":
                entry.update(
                    DEPARTMENTKEY=int(department[0]),
                    DEPARTMENT=department[0],
                    DEPARTMENTTITLE=department[1],
                )
            entries.append(self._add("GLENTRY", entry))
        return batch, entries

    def _reverse_batch(
        self, batch: Record, entries: list[Record], stamp: datetime
    ) -> tuple[Record, list[Record]]:
        """A reversing entry written as negative amounts on the original lines' sides (the
        form a correcting entry imported into Intacct takes; a reversal with swapped sides
        needs nothing special)."""
        journal = str(batch["JOURNAL"])
        batchno = self._batchno[journal]
        self._batchno[journal] = batchno + 1
        title = f"Reversal of {batch['BATCH_TITLE']}"
        reversal = dict(batch)
        reversal.update(BATCHNO=batchno, BATCH_TITLE=title, WHENCREATED=stamp,
                        WHENMODIFIED=stamp, MODIFIED=stamp)  # fmt: skip
        self._add("GLBATCH", reversal)
        lines = []
        for entry in entries:
            line = dict(entry)
            line.update(
                BATCHNO=reversal["RECORDNO"],
                BATCH_NUMBER=batchno,
                BATCHTITLE=title,
                AMOUNT=-entry["AMOUNT"],  # type: ignore[operator]
                TRX_AMOUNT=-entry["TRX_AMOUNT"],  # type: ignore[operator]
                DESCRIPTION=f"Reversal: {entry['DESCRIPTION']}",
                WHENCREATED=stamp,
                WHENMODIFIED=stamp,
            )
            lines.append(self._add("GLENTRY", line))
        return reversal, lines

    # -- AP -----------------------------------------------------------------------------------

    def _make_bills(self, count: int, start: datetime, now: datetime) -> None:
        rng = self._rng
        days = self._business_days(start, now)
        vendors = self._tables["VENDOR"]
        for _ in range(count):
            vendor = rng.choice(vendors)
            entity = rng.choice(self.entities)
            day = rng.choice(days)
            total = _money(rng, 100, 30000)
            state = rng.choices(("Posted", "Paid", "Partially Paid"), (35, 55, 10))[0]
            paid = total if state == "Paid" else (
                (total * Decimal("0.5")).quantize(CENT) if state == "Partially Paid" else Decimal(0)
            )  # fmt: skip
            due = day + timedelta(days=30)
            record = self._blank("APBILL")
            docnumber = f"INV-{rng.randrange(100000, 999999)}"
            record.update(
                RECORDID=docnumber,
                STATE=state,
                VENDORID=vendor["VENDORID"],
                VENDORNAME=vendor["NAME"],
                DOCNUMBER=docnumber,
                TERMNAME=vendor["TERMNAME"],
                WHENCREATED=day,
                WHENPOSTED=day,
                TOTALENTERED=total,
                TOTALSELECTED=Decimal(0),
                TOTALPAID=paid,
                TOTALDUE=total - paid,
                WHENDUE=due,
                WHENPAID=due if state == "Paid" else None,
                RECPAYMENTDATE=due,
                PAYMENTPRIORITY="normal",
                DESCRIPTION=f"Purchase from {vendor['NAME']}",
                ONHOLD=bool(vendor["ONHOLD"]),
                BASECURR=entity.currency,
                CURRENCY=entity.currency,
                WHENMODIFIED=self._stamp(day),
                DUE_IN_DAYS=(due - now.date()).days,
                PRBATCH=f"Bills {day:%m/%d/%Y}",
                MEGAENTITYKEY=entity.recordno,
                MEGAENTITYID=entity.locationid,
                MEGAENTITYNAME=entity.name,
                RECORD_URL="",
            )
            self._add("APBILL", record)

    def _payment(
        self,
        entity: Entity,
        vendor: Record,
        state: str,
        day: date,
        stamp: datetime,
        prbatchkey: int,
    ) -> Record:
        rng = self._rng
        amount = _money(rng, 150, 60000)
        method = str(vendor["PAYMETHODKEY"] or "Printed Check")
        docnumber = (
            str(self._docno)
            if method in ("Printed Check",)
            else f"{method[:3].upper()}-{self._docno}"
        )
        self._docno += 1
        paid = state in ("Complete", "Voided")
        user_key, login = rng.choice(_USERS)
        record = self._blank("APPYMT")
        record.update(
            PRBATCHKEY=prbatchkey,
            RECORDTYPE="pp",
            RECORDID=docnumber,
            STATE=state,
            RAWSTATE=PAYMENT_STATES[state],
            FINANCIALENTITY=entity.bank_id,
            FINANCIALENTITYTYPE="ba",
            FINANCIALACCOUNTNAME=entity.bank_name,
            FINANCIALACCOUNTCURRENCY=entity.currency,
            PAYMENTMETHOD=method,
            VENDORID=vendor["VENDORID"],
            VENDORNAME=vendor["NAME"],
            VENDORKEY=vendor["RECORDNO"],
            DOCNUMBER=docnumber,
            DESCRIPTION=f"Payment to {vendor['NAME']}",
            WHENCREATED=day,
            WHENPAID=day if paid else None,
            WHENPOSTED=day if paid else None,
            BASECURR=entity.currency,
            CURRENCY=entity.currency,
            TOTALENTERED=amount,
            TOTALSELECTED=amount,
            TOTALPAID=amount if state == "Complete" else Decimal(0),
            TOTALDUE=Decimal(0) if state == "Complete" else amount,
            TRX_TOTALENTERED=amount,
            TRX_TOTALSELECTED=amount,
            TRX_TOTALPAID=amount if state == "Complete" else Decimal(0),
            TRX_TOTALDUE=Decimal(0) if state == "Complete" else amount,
            PRBATCH=f"Payments {day:%m/%d/%Y} {entity.bank_id}",
            AUWHENCREATED=stamp,
            WHENMODIFIED=stamp,
            CREATEDBY=user_key,
            MODIFIEDBY=user_key,
            CLEARED="F",
            SYSTEMGENERATED="F",
            INCLUSIVETAX=False,
            PAYMENTSUBMITTER=login,
            MEGAENTITYKEY=entity.recordno,
            MEGAENTITYID=entity.locationid,
            MEGAENTITYNAME=entity.name,
            RECORD_URL="",
        )
        return self._add("APPYMT", record)

    def _make_payment_history(self, count: int, start: datetime, now: datetime) -> None:
        rng = self._rng
        # Payment runs on Tuesdays and Thursdays, one per entity's bank account.
        run_days = [d for d in self._business_days(start, now) if d.weekday() in (1, 3)]
        runs = [(day, entity) for day in run_days for entity in self.entities]
        if not runs or count == 0:
            return
        clean = self.vendors_where()
        per_run = [0] * len(runs)
        for i in range(count):
            per_run[i % len(runs) if i < len(runs) else rng.randrange(len(runs))] += 1
        prbatchkey = self._prbatchkey
        for (day, entity), n in zip(runs, per_run, strict=True):
            stamp = self._stamp(day)
            for _ in range(n):
                state = rng.choices(("Complete", "Voided", "Declined", "Submitted"), (93, 3, 2, 2))[
                    0
                ]
                self._payment(entity, rng.choice(clean), state, day, stamp, prbatchkey)
            prbatchkey += 1
        self._prbatchkey = prbatchkey

    # -- time passing ---------------------------------------------------------------------------

    def add_day(
        self,
        when: datetime,
        *,
        batches: int = 12,
        payments: int = 15,
        unbalanced_batches: int = 0,
        adjusting_batches: int = 0,
        onhold_payments: int = 0,
        inactive_payments: int = 0,
        no_method_payments: int = 0,
        declined_payments: int = 0,
        voided_payments: int = 0,
        reversal_batches: int = 0,
        foreign_batches: int = 0,
        closed_period_batches: int = 0,
        closed_period_date: date | None = None,
        long_batches: int = 0,
        long_batch_lines: int = 40,
        unbalanced_lines: int | None = None,
        payment_runs: int = 1,
    ) -> DaySummary:
        """Post one day's GL batches and payment runs, all with WHENMODIFIED = ``when``.

        ``when`` is company-local time; an aware datetime is converted to the company's zone.
        Ordinary batches are balanced and ordinary payments are Complete payments to active
        vendors that are not on hold and have a payment method, so every exception in the
        summary is one that was asked for.

        ``reversal_batches`` posts a batch and its reversal (negative amounts); a foreign batch
        is booked in USD by a non-USD entity; a closed-period batch is dated
        ``closed_period_date`` (default: the 15th of the month before last); a long batch has
        ``long_batch_lines`` lines; ``unbalanced_lines`` sizes the unbalanced batches.
        ``payment_runs`` splits the payments over that many runs on the same bank account,
        under the same name (PRBATCH) but each its own PRBATCHKEY.
        """
        if when.tzinfo is not None:
            when = when.astimezone(self.timezone).replace(tzinfo=None)
        when = when.replace(microsecond=0)
        rng = self._rng
        day = when.date()
        summary = DaySummary(when)
        normal_journals = [j for j, _ in _JOURNAL_WEIGHTS if j != "ADJ"]

        def record(batch: Record, entries: list[Record]) -> int:
            summary.glbatches.append(recordno_of(batch))
            summary.glentries.extend(recordno_of(e) for e in entries)
            return recordno_of(batch)

        def post(
            journal: str,
            imbalance: Decimal = Decimal(0),
            *,
            lines: int | None = None,
            on: date = day,
            entity: Entity | None = None,
            foreign: bool | None = None,
        ) -> int:
            batch, entries = self._post_batch(
                journal, entity or rng.choice(self.entities), lines or rng.randint(2, 6), on,
                when, imbalance=imbalance, foreign=foreign,
            )  # fmt: skip
            return record(batch, entries)

        for _ in range(batches):
            post(rng.choice(normal_journals))
        for _ in range(adjusting_batches):
            summary.adjusting_batches.append(post("ADJ"))
        for _ in range(unbalanced_batches):
            summary.unbalanced_batches.append(
                post("GJ", _money(rng, 1, 250), lines=unbalanced_lines)
            )
        for _ in range(reversal_batches):
            batch, entries = self._post_batch("GJ", rng.choice(self.entities), 2, day, when)
            record(batch, entries)
            summary.reversal_batches.append(record(*self._reverse_batch(batch, entries, when)))
        abroad = [e for e in self.entities if e.currency != "USD"]
        for _ in range(foreign_batches if abroad else 0):
            summary.foreign_batches.append(post("APJ", entity=rng.choice(abroad), foreign=True))
        if closed_period_date is None:
            closed_period_date = (day.replace(day=1) - timedelta(days=32)).replace(day=15)
        for _ in range(closed_period_batches):
            summary.closed_period_batches.append(post("GJ", on=closed_period_date))
        for _ in range(long_batches):
            summary.long_batches.append(post("GJ", lines=long_batch_lines))

        entity = rng.choice(self.entities)
        keys = list(range(self._prbatchkey, self._prbatchkey + max(1, payment_runs)))
        self._prbatchkey = keys[-1] + 1
        summary.payment_runs.extend(keys)
        turn = 0
        plan = [
            (payments, self.vendors_where(), "Complete", None),
            (onhold_payments, self.vendors_where(onhold=True), "Complete", summary.onhold_payments),
            (
                inactive_payments,
                self.vendors_where(status="inactive"),
                "Complete",
                summary.inactive_payments,
            ),
            (
                no_method_payments,
                self.vendors_where(has_method=False),
                "Complete",
                summary.no_method_payments,
            ),
            (declined_payments, self.vendors_where(), "Declined", summary.declined_payments),
            (voided_payments, self.vendors_where(), "Voided", summary.voided_payments),
        ]
        for count, vendors, state, bucket in plan:
            for _ in range(count):
                prbatchkey = keys[turn % len(keys)]
                turn += 1
                paid = self._payment(entity, rng.choice(vendors), state, day, when, prbatchkey)
                recordno = recordno_of(paid)
                summary.payments.append(recordno)
                if bucket is not None:
                    bucket.append(recordno)
        return summary
