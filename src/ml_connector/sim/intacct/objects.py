"""The Intacct objects the simulator serves: field names, types and wire formats.

Field lists are the ones real tenants return: GLBATCH and GLENTRY are copied from the ``select``
of real ``query`` requests recorded in the hotgluexyz/tap-intacct VCR cassettes
(``general_ledger_journal_entries_stream_test`` and
``general_ledger_journal_entry_lines_stream_test``), minus that tenant's custom fields; APPYMT
and VENDOR from the payments and vendors cassettes; GLACCOUNT and APBILL from
fylein/sageintacct-sdk-py ``apis/constants.py``. Notable consequences:

* GLENTRY has no JOURNAL and no MEMO: the journal lives on GLBATCH (GLENTRY.BATCHNO is the
  GLBATCH RECORDNO, GLENTRY.BATCH_NUMBER is GLBATCH.BATCHNO) and the line memo is DESCRIPTION.
* GLENTRY.TR_TYPE is 1 (debit) or -1 (credit) and AMOUNT is unsigned.
* STATISTICAL, CLEARED and ADJ on GLENTRY are one-letter flags (``T``/``F``): the recordings scrub
  them to a single character, while real booleans (BILLABLE) come back as ``true``/``false``.
* APPYMT has no PAYMENTDATE (that is legacy APPAYMENT); the payment date is WHENPAID.

Wire formats (research §5): dates ``MM/DD/YYYY``, timestamps ``MM/DD/YYYY HH:MM:SS`` with no zone,
booleans ``true``/``false``, plain decimal amounts, empty elements for empty values, and related
fields as flat elements whose names contain dots (``<DISPLAYCONTACT.EMAIL1>``).
"""

from __future__ import annotations

import enum
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal, InvalidOperation

Value = str | int | Decimal | date | datetime | bool | None
Record = dict[str, Value]


class FieldType(enum.Enum):
    TEXT = "text"
    INTEGER = "integer"
    DECIMAL = "decimal"
    DATE = "date"
    TIMESTAMP = "timestamp"
    BOOLEAN = "boolean"


_DATE_RE = re.compile(r"(\d{2})/(\d{2})/(\d{4})")
_TIMESTAMP_RE = re.compile(r"(\d{2})/(\d{2})/(\d{4}) (\d{2}):(\d{2}):(\d{2})")
_INTEGER_RE = re.compile(r"-?\d+")
_DECIMAL_RE = re.compile(r"-?\d+(\.\d+)?")


def _format_date(value: date) -> str:
    return f"{value.month:02d}/{value.day:02d}/{value.year:04d}"


def _format_timestamp(value: datetime) -> str:
    return (
        f"{value.month:02d}/{value.day:02d}/{value.year:04d} "
        f"{value.hour:02d}:{value.minute:02d}:{value.second:02d}"
    )


def format_value(value: Value) -> str:
    """The text Intacct puts inside a field's element for ``value``."""
    if value is None:
        return ""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, datetime):
        return _format_timestamp(value)
    if isinstance(value, date):
        return _format_date(value)
    return str(value)


def parse_literal(ftype: FieldType, text: str) -> Value:
    """Turn a filter operand into a value comparable with the field's stored values.

    Raises ``ValueError`` naming the expected form: Intacct rejects a date that is not
    ``MM/DD/YYYY`` rather than guessing (research §5, "filter values use the same forms").
    """
    if ftype is FieldType.TEXT:
        return text
    stripped = text.strip()
    if ftype is FieldType.INTEGER:
        if not _INTEGER_RE.fullmatch(stripped):
            raise ValueError(f"{text!r} is not an integer")
        return int(stripped)
    if ftype is FieldType.DECIMAL:
        if not _DECIMAL_RE.fullmatch(stripped):
            raise ValueError(f"{text!r} is not a number")
        try:
            return Decimal(stripped)
        except InvalidOperation as exc:  # pragma: no cover - the regex admits only numbers
            raise ValueError(f"{text!r} is not a number") from exc
    if ftype is FieldType.BOOLEAN:
        lowered = stripped.lower()
        if lowered not in ("true", "false"):
            raise ValueError(f"{text!r} is not true or false")
        return lowered == "true"
    if ftype is FieldType.DATE:
        match = _DATE_RE.fullmatch(stripped)
        if not match:
            raise ValueError(f"{text!r} is not a date in MM/DD/YYYY form")
        month, day, year = (int(g) for g in match.groups())
        return date(year, month, day)
    # TIMESTAMP: a bare date means midnight, as in the recorded WHENMODIFIED filters.
    match = _TIMESTAMP_RE.fullmatch(stripped)
    if match:
        month, day, year, hour, minute, second = (int(g) for g in match.groups())
        return datetime(year, month, day, hour, minute, second)
    match = _DATE_RE.fullmatch(stripped)
    if match:
        month, day, year = (int(g) for g in match.groups())
        return datetime(year, month, day)
    raise ValueError(f"{text!r} is not a timestamp in MM/DD/YYYY HH:MM:SS form")


@dataclass(frozen=True)
class ObjectSchema:
    """One object: its fields in the order Intacct returns them for ``*``.

    ``entity_field`` names the field that ties a record to an entity (LOCATION). An entity
    session (the login's ``<locationid>``) sees only that entity's records, as Intacct's
    multi-entity companies do; records whose value is empty belong to the top level and are
    visible from every entity only for objects that are ``shared_from_top`` (the chart of
    accounts, vendors: dimensions kept at the top level). A transaction entered at the top
    level is not an entity's. The top-level session sees everything.
    """

    name: str
    fields: Mapping[str, FieldType]
    entity_field: str | None = None
    shared_from_top: bool = False
    key: str = "RECORDNO"
    field_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", tuple(self.fields))

    def is_related(self, name: str) -> bool:
        """Dotted names are fields of a related object (a join): readByQuery cannot filter them."""
        return "." in name


_TEXT, _INT, _DEC, _DATE, _STAMP, _BOOL = (
    FieldType.TEXT,
    FieldType.INTEGER,
    FieldType.DECIMAL,
    FieldType.DATE,
    FieldType.TIMESTAMP,
    FieldType.BOOLEAN,
)

_MEGAENTITY = {"MEGAENTITYKEY": _INT, "MEGAENTITYID": _TEXT, "MEGAENTITYNAME": _TEXT}

LOCATION = ObjectSchema(
    "LOCATION",
    {
        "RECORDNO": _INT,
        "LOCATIONID": _TEXT,
        "NAME": _TEXT,
        "PARENTID": _TEXT,
        "STATUS": _TEXT,
        "CURRENCY": _TEXT,
        "WHENCREATED": _STAMP,
        "WHENMODIFIED": _STAMP,
        "CREATEDBY": _INT,
        "MODIFIEDBY": _INT,
        "RECORD_URL": _TEXT,
    },
)

GLACCOUNT = ObjectSchema(
    "GLACCOUNT",
    {
        "RECORDNO": _INT,
        "ACCOUNTNO": _TEXT,
        "TITLE": _TEXT,
        "ACCOUNTTYPE": _TEXT,
        "NORMALBALANCE": _TEXT,
        "CLOSINGTYPE": _TEXT,
        "CLOSINGACCOUNTNO": _TEXT,
        "CLOSINGACCOUNTTITLE": _TEXT,
        "STATUS": _TEXT,
        "REQUIREDEPT": _BOOL,
        "REQUIRELOC": _BOOL,
        "TAXABLE": _BOOL,
        "CATEGORY": _TEXT,
        "ALTERNATIVEACCOUNT": _TEXT,
        "WHENCREATED": _STAMP,
        "WHENMODIFIED": _STAMP,
        "CREATEDBY": _INT,
        "MODIFIEDBY": _INT,
        **_MEGAENTITY,
        "RECORD_URL": _TEXT,
    },
    entity_field="MEGAENTITYID",
    shared_from_top=True,
)

GLBATCH = ObjectSchema(
    "GLBATCH",
    {
        "RECORDNO": _INT,
        "BATCHNO": _INT,
        "BATCH_TITLE": _TEXT,
        "BALANCE": _DEC,
        "JOURNAL": _TEXT,
        "JOURNAL_ENABLEEREPORTING": _BOOL,
        "STATISTICAL": _BOOL,
        "BATCH_DATE": _DATE,
        "MODULE": _TEXT,
        "USERKEY": _INT,
        "REFERENCENO": _TEXT,
        "REVERSED": _DATE,
        "REVERSEDKEY": _INT,
        "REVERSEDFROM": _DATE,
        "TEMPLATEKEY": _INT,
        "TEMPLATEID": _TEXT,
        "PRBATCHKEY": _INT,
        "MODIFIED": _STAMP,
        "MODIFIEDBYID": _TEXT,
        "SCHOPKEY": _INT,
        "GLACCTALLOCATIONRUNKEY": _INT,
        "GLACCTALLOCATIONID": _TEXT,
        "BASELOCATION": _INT,
        "BASELOCATION_NO": _TEXT,
        "USERINFO.LOGINID": _TEXT,
        "WHENCREATED": _STAMP,
        "WHENMODIFIED": _STAMP,
        "CREATEDBY": _INT,
        "MODIFIEDBY": _INT,
        "STATE": _TEXT,
        "JOURNALSEQNO": _TEXT,
        "TAXIMPLICATIONS": _TEXT,
        "VATVENDORID": _TEXT,
        "VATCUSTOMERID": _TEXT,
        "VATCONTACTID": _TEXT,
        "TAXSOLUTIONID": _TEXT,
        "TRANSACTIONSOURCE": _TEXT,
        "INVOICEMODE": _TEXT,
        "EREPORTINGTYPE": _TEXT,
        "SUPDOCID": _TEXT,
        "SUPDOCKEY": _INT,
        "CREATEDBYLOGINID": _TEXT,
        "MODIFIEDBYLOGINID": _TEXT,
        **_MEGAENTITY,
        "RECORD_URL": _TEXT,
    },
    entity_field="MEGAENTITYID",
)

_DIMENSIONS: dict[str, FieldType] = {}
for _dim in ("CLASS", "CUSTOMER", "VENDOR", "EMPLOYEE", "ITEM", "PROJECT", "WAREHOUSE", "ASSET"):
    _DIMENSIONS[f"{_dim}DIMKEY"] = _INT
    _DIMENSIONS[f"{_dim}ID"] = _TEXT
    _DIMENSIONS[f"{_dim}NAME"] = _TEXT

GLENTRY = ObjectSchema(
    "GLENTRY",
    {
        "RECORDNO": _INT,
        "BATCHNO": _INT,
        "USERNO": _INT,
        "LINE_NO": _INT,
        "TR_TYPE": _INT,
        "ENTRY_DATE": _DATE,
        "AMOUNT": _DEC,
        "TRX_AMOUNT": _DEC,
        "BATCH_NUMBER": _INT,
        "BATCH_DATE": _DATE,
        "BATCHTITLE": _TEXT,
        "ACCOUNTKEY": _INT,
        "ACCOUNTNO": _TEXT,
        "ACCOUNTTITLE": _TEXT,
        "STATISTICAL": _TEXT,
        "DEPARTMENTKEY": _INT,
        "DEPARTMENT": _TEXT,
        "DEPARTMENTTITLE": _TEXT,
        "LOCATIONKEY": _INT,
        "LOCATION": _TEXT,
        "LOCATIONNAME": _TEXT,
        "DOCUMENT": _TEXT,
        "DESCRIPTION": _TEXT,
        "UNITS": _TEXT,
        "BASECURR": _TEXT,
        "CURRENCY": _TEXT,
        "CLEARED": _TEXT,
        "CLRDATE": _DATE,
        "TIMEPERIOD": _TEXT,
        "ADJ": _TEXT,
        "EXCH_RATE_DATE": _DATE,
        "EXCH_RATE_TYPE_ID": _TEXT,
        "EXCHANGE_RATE": _DEC,
        "RECON_DATE": _DATE,
        "ALLOCATION": _TEXT,
        "ALLOCATIONKEY": _INT,
        "WHENCREATED": _STAMP,
        "WHENMODIFIED": _STAMP,
        "CREATEDBY": _INT,
        "MODIFIEDBY": _INT,
        "STATE": _TEXT,
        "BILLABLE": _BOOL,
        "BILLED": _BOOL,
        "SELECTFORPBE": _BOOL,
        "CREATEDBYLOGINID": _TEXT,
        "MODIFIEDBYLOGINID": _TEXT,
        **_DIMENSIONS,
        "RECORD_URL": _TEXT,
    },
    entity_field="LOCATION",
)

APPYMT = ObjectSchema(
    "APPYMT",
    {
        "RECORDNO": _INT,
        "PRBATCHKEY": _INT,
        "RECORDTYPE": _TEXT,
        "RECORDID": _TEXT,
        "STATE": _TEXT,
        "RAWSTATE": _TEXT,
        "FINANCIALENTITY": _TEXT,
        "FINANCIALENTITYTYPE": _TEXT,
        "FINANCIALACCOUNTNAME": _TEXT,
        "FINANCIALACCOUNTCURRENCY": _TEXT,
        "PAYMENTPROVIDER": _TEXT,
        "PAYMENTMETHOD": _TEXT,
        "PAYMENTMETHODKEY": _INT,
        "ENTITY": _TEXT,
        "VENDORID": _TEXT,
        "VENDORNAME": _TEXT,
        "VENDORKEY": _INT,
        "DOCNUMBER": _TEXT,
        "DESCRIPTION": _TEXT,
        "DESCRIPTION2": _TEXT,
        "WHENCREATED": _DATE,
        "WHENDUE": _DATE,
        "WHENPAID": _DATE,
        "WHENPOSTED": _DATE,
        "BASECURR": _TEXT,
        "CURRENCY": _TEXT,
        "EXCH_RATE_DATE": _DATE,
        "EXCH_RATE_TYPE_ID": _TEXT,
        "EXCHANGE_RATE": _DEC,
        "TOTALENTERED": _DEC,
        "TOTALSELECTED": _DEC,
        "TOTALPAID": _DEC,
        "TOTALDUE": _DEC,
        "TRX_TOTALENTERED": _DEC,
        "TRX_TOTALSELECTED": _DEC,
        "TRX_TOTALPAID": _DEC,
        "TRX_TOTALDUE": _DEC,
        "PRBATCH": _TEXT,
        "AUWHENCREATED": _STAMP,
        "WHENMODIFIED": _STAMP,
        "CREATEDBY": _INT,
        "MODIFIEDBY": _INT,
        "CLEARED": _TEXT,
        "CLRDATE": _DATE,
        "SYSTEMGENERATED": _TEXT,
        "BILLTOPAYTOKEY": _INT,
        "INCLUSIVETAX": _BOOL,
        "TAXSOLUTIONID": _TEXT,
        "PAYMENTREQUESTMETHOD": _TEXT,
        "JOINTPAYEENAME": _TEXT,
        "JOINTPAYEEPRINTAS": _TEXT,
        "PAYMENTSUBMITTER": _TEXT,
        "FILEPAYMENTSERVICE": _TEXT,
        "BANKFILEKEY": _INT,
        "BANKTRXAMOUNT": _DEC,
        "BANKBASEAMOUNT": _DEC,
        "BANKCURRENCY": _TEXT,
        "BANKBASECURRENCY": _TEXT,
        **_MEGAENTITY,
        "RECORD_URL": _TEXT,
    },
    entity_field="MEGAENTITYID",
)

APBILL = ObjectSchema(
    "APBILL",
    {
        "RECORDNO": _INT,
        "RECORDID": _TEXT,
        "STATE": _TEXT,
        "VENDORID": _TEXT,
        "VENDORNAME": _TEXT,
        "DOCNUMBER": _TEXT,
        "TERMNAME": _TEXT,
        "WHENCREATED": _DATE,
        "WHENPOSTED": _DATE,
        "TOTALENTERED": _DEC,
        "TOTALSELECTED": _DEC,
        "TOTALPAID": _DEC,
        "TOTALDUE": _DEC,
        "WHENDUE": _DATE,
        "WHENPAID": _DATE,
        "RECPAYMENTDATE": _DATE,
        "PAYMENTPRIORITY": _TEXT,
        "DESCRIPTION": _TEXT,
        "ONHOLD": _BOOL,
        "BASECURR": _TEXT,
        "CURRENCY": _TEXT,
        "WHENMODIFIED": _STAMP,
        "DUE_IN_DAYS": _INT,
        "PRBATCH": _TEXT,
        **_MEGAENTITY,
        "RECORD_URL": _TEXT,
    },
    entity_field="MEGAENTITYID",
)

VENDOR = ObjectSchema(
    "VENDOR",
    {
        "RECORDNO": _INT,
        "VENDORID": _TEXT,
        "NAME": _TEXT,
        "PARENTKEY": _INT,
        "PARENTID": _TEXT,
        "PARENTNAME": _TEXT,
        "DISPLAYCONTACT.CONTACTNAME": _TEXT,
        "DISPLAYCONTACT.COMPANYNAME": _TEXT,
        "DISPLAYCONTACT.FIRSTNAME": _TEXT,
        "DISPLAYCONTACT.LASTNAME": _TEXT,
        "DISPLAYCONTACT.INITIAL": _TEXT,
        "DISPLAYCONTACT.PRINTAS": _TEXT,
        "DISPLAYCONTACT.EMAIL1": _TEXT,
        "DISPLAYCONTACT.EMAIL2": _TEXT,
        "DISPLAYCONTACT.PHONE1": _TEXT,
        "DISPLAYCONTACT.PHONE2": _TEXT,
        "DISPLAYCONTACT.MAILADDRESS.CITY": _TEXT,
        "DISPLAYCONTACT.MAILADDRESS.STATE": _TEXT,
        "DISPLAYCONTACT.MAILADDRESS.COUNTRY": _TEXT,
        "VENDORACCOUNTNO": _TEXT,
        "VENDTYPE": _TEXT,
        "ACCOUNTLABEL": _TEXT,
        "APACCOUNT": _TEXT,
        "APACCOUNTTITLE": _TEXT,
        "STATUS": _TEXT,
        "ONETIME": _BOOL,
        "ONHOLD": _BOOL,
        "TERMNAME": _TEXT,
        "CREDITLIMIT": _DEC,
        "TOTALDUE": _DEC,
        "CURRENCY": _TEXT,
        "PAYMETHODKEY": _TEXT,
        "WHENCREATED": _STAMP,
        "WHENMODIFIED": _STAMP,
        "WHENLASTBILLED": _DATE,
        "WHENLASTPAID": _DATE,
        "CREATEDBY": _INT,
        "MODIFIEDBY": _INT,
        **_MEGAENTITY,
        "RECORD_URL": _TEXT,
    },
    entity_field="MEGAENTITYID",
    shared_from_top=True,
)

# The report object of posted GL lines; its rows are derived from GLENTRY and GLBATCH
# (sim/intacct/gldetail.py). Fields: fylein/sageintacct-sdk-py apis/constants.py.
GLDETAIL = ObjectSchema(
    "GLDETAIL",
    {
        "RECORDNO": _INT,
        "BATCHKEY": _INT,
        "BATCH_DATE": _DATE,
        "BATCH_TITLE": _TEXT,
        "SYMBOL": _TEXT,
        "BATCH_NO": _INT,
        "BOOKID": _TEXT,
        "CHILDENTITY": _TEXT,
        "MODIFIED": _STAMP,
        "REFERENCENO": _TEXT,
        "ADJ": _TEXT,
        "MODULEKEY": _TEXT,
        "OWNERSHIPKEY": _INT,
        "LINE_NO": _INT,
        "ENTRY_DATE": _DATE,
        "TR_TYPE": _INT,
        "DOCUMENT": _TEXT,
        "ACCOUNTNO": _TEXT,
        "ACCOUNTTITLE": _TEXT,
        "STATISTICAL": _TEXT,
        "DEPARTMENTID": _TEXT,
        "DEPARTMENTTITLE": _TEXT,
        "LOCATIONID": _TEXT,
        "LOCATIONNAME": _TEXT,
        "CURRENCY": _TEXT,
        "BASECURR": _TEXT,
        "DESCRIPTION": _TEXT,
        "DEBITAMOUNT": _DEC,
        "CREDITAMOUNT": _DEC,
        "AMOUNT": _DEC,
    },
    entity_field="LOCATIONID",
)

SCHEMAS: dict[str, ObjectSchema] = {
    schema.name: schema
    for schema in (LOCATION, GLACCOUNT, GLBATCH, GLENTRY, APPYMT, APBILL, VENDOR, GLDETAIL)
}
