"""The Intacct objects the simulator serves: field names, types and wire formats.

Field lists are the ones real tenants return: GLBATCH and GLENTRY are copied from the ``select``
of real ``query`` requests recorded in the hotgluexyz/tap-intacct VCR cassettes
(``general_ledger_journal_entries_stream_test``, ``general_ledger_journal_entry_lines_stream_test``),
minus that tenant's custom fields; APPYMT and VENDOR from the payments and vendors cassettes;
GLACCOUNT and APBILL from fylein/sageintacct-sdk-py ``apis/constants.py``. Notable consequences:

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

    ``entity_field`` names the field that ties a record to an entity (LOCATION); records whose
    value is empty are top-level and visible in every entity session.
    """

    name: str
    fields: Mapping[str, FieldType]
    entity_field: str | None = None
    key: str = "RECORDNO"
    field_names: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "field_names", tuple(self.fields))

    def is_related(self, name: str) -> bool:
        """Dotted names are fields of a related object (a join): readByQuery cannot filter them."""
        return "." in name


T, I, D, DT, TS, B = (
    FieldType.TEXT,
    FieldType.INTEGER,
    FieldType.DECIMAL,
    FieldType.DATE,
    FieldType.TIMESTAMP,
    FieldType.BOOLEAN,
)

_MEGAENTITY = {"MEGAENTITYKEY": I, "MEGAENTITYID": T, "MEGAENTITYNAME": T}

LOCATION = ObjectSchema(
    "LOCATION",
    {
        "RECORDNO": I,
        "LOCATIONID": T,
        "NAME": T,
        "PARENTID": T,
        "STATUS": T,
        "CURRENCY": T,
        "WHENCREATED": TS,
        "WHENMODIFIED": TS,
        "CREATEDBY": I,
        "MODIFIEDBY": I,
        "RECORD_URL": T,
    },
)

GLACCOUNT = ObjectSchema(
    "GLACCOUNT",
    {
        "RECORDNO": I,
        "ACCOUNTNO": T,
        "TITLE": T,
        "ACCOUNTTYPE": T,
        "NORMALBALANCE": T,
        "CLOSINGTYPE": T,
        "CLOSINGACCOUNTNO": T,
        "CLOSINGACCOUNTTITLE": T,
        "STATUS": T,
        "REQUIREDEPT": B,
        "REQUIRELOC": B,
        "TAXABLE": B,
        "CATEGORY": T,
        "ALTERNATIVEACCOUNT": T,
        "WHENCREATED": TS,
        "WHENMODIFIED": TS,
        "CREATEDBY": I,
        "MODIFIEDBY": I,
        **_MEGAENTITY,
        "RECORD_URL": T,
    },
    entity_field="MEGAENTITYID",
)

GLBATCH = ObjectSchema(
    "GLBATCH",
    {
        "RECORDNO": I,
        "BATCHNO": I,
        "BATCH_TITLE": T,
        "BALANCE": D,
        "JOURNAL": T,
        "JOURNAL_ENABLEEREPORTING": B,
        "STATISTICAL": B,
        "BATCH_DATE": DT,
        "MODULE": T,
        "USERKEY": I,
        "REFERENCENO": T,
        "REVERSED": DT,
        "REVERSEDKEY": I,
        "REVERSEDFROM": DT,
        "TEMPLATEKEY": I,
        "TEMPLATEID": T,
        "PRBATCHKEY": I,
        "MODIFIED": TS,
        "MODIFIEDBYID": T,
        "SCHOPKEY": I,
        "GLACCTALLOCATIONRUNKEY": I,
        "GLACCTALLOCATIONID": T,
        "BASELOCATION": I,
        "BASELOCATION_NO": T,
        "USERINFO.LOGINID": T,
        "WHENCREATED": TS,
        "WHENMODIFIED": TS,
        "CREATEDBY": I,
        "MODIFIEDBY": I,
        "STATE": T,
        "JOURNALSEQNO": T,
        "TAXIMPLICATIONS": T,
        "VATVENDORID": T,
        "VATCUSTOMERID": T,
        "VATCONTACTID": T,
        "TAXSOLUTIONID": T,
        "TRANSACTIONSOURCE": T,
        "INVOICEMODE": T,
        "EREPORTINGTYPE": T,
        "SUPDOCID": T,
        "SUPDOCKEY": I,
        "CREATEDBYLOGINID": T,
        "MODIFIEDBYLOGINID": T,
        **_MEGAENTITY,
        "RECORD_URL": T,
    },
    entity_field="MEGAENTITYID",
)

_DIMENSIONS: dict[str, FieldType] = {}
for _dim in ("CLASS", "CUSTOMER", "VENDOR", "EMPLOYEE", "ITEM", "PROJECT", "WAREHOUSE", "ASSET"):
    _DIMENSIONS[f"{_dim}DIMKEY"] = I
    _DIMENSIONS[f"{_dim}ID"] = T
    _DIMENSIONS[f"{_dim}NAME"] = T

GLENTRY = ObjectSchema(
    "GLENTRY",
    {
        "RECORDNO": I,
        "BATCHNO": I,
        "USERNO": I,
        "LINE_NO": I,
        "TR_TYPE": I,
        "ENTRY_DATE": DT,
        "AMOUNT": D,
        "TRX_AMOUNT": D,
        "BATCH_NUMBER": I,
        "BATCH_DATE": DT,
        "BATCHTITLE": T,
        "ACCOUNTKEY": I,
        "ACCOUNTNO": T,
        "ACCOUNTTITLE": T,
        "STATISTICAL": T,
        "DEPARTMENTKEY": I,
        "DEPARTMENT": T,
        "DEPARTMENTTITLE": T,
        "LOCATIONKEY": I,
        "LOCATION": T,
        "LOCATIONNAME": T,
        "DOCUMENT": T,
        "DESCRIPTION": T,
        "UNITS": T,
        "BASECURR": T,
        "CURRENCY": T,
        "CLEARED": T,
        "CLRDATE": DT,
        "TIMEPERIOD": T,
        "ADJ": T,
        "EXCH_RATE_DATE": DT,
        "EXCH_RATE_TYPE_ID": T,
        "EXCHANGE_RATE": D,
        "RECON_DATE": DT,
        "ALLOCATION": T,
        "ALLOCATIONKEY": I,
        "WHENCREATED": TS,
        "WHENMODIFIED": TS,
        "CREATEDBY": I,
        "MODIFIEDBY": I,
        "STATE": T,
        "BILLABLE": B,
        "BILLED": B,
        "SELECTFORPBE": B,
        "CREATEDBYLOGINID": T,
        "MODIFIEDBYLOGINID": T,
        **_DIMENSIONS,
        "RECORD_URL": T,
    },
    entity_field="LOCATION",
)

APPYMT = ObjectSchema(
    "APPYMT",
    {
        "RECORDNO": I,
        "PRBATCHKEY": I,
        "RECORDTYPE": T,
        "RECORDID": T,
        "STATE": T,
        "RAWSTATE": T,
        "FINANCIALENTITY": T,
        "FINANCIALENTITYTYPE": T,
        "FINANCIALACCOUNTNAME": T,
        "FINANCIALACCOUNTCURRENCY": T,
        "PAYMENTPROVIDER": T,
        "PAYMENTMETHOD": T,
        "PAYMENTMETHODKEY": I,
        "ENTITY": T,
        "VENDORID": T,
        "VENDORNAME": T,
        "VENDORKEY": I,
        "DOCNUMBER": T,
        "DESCRIPTION": T,
        "DESCRIPTION2": T,
        "WHENCREATED": DT,
        "WHENDUE": DT,
        "WHENPAID": DT,
        "WHENPOSTED": DT,
        "BASECURR": T,
        "CURRENCY": T,
        "EXCH_RATE_DATE": DT,
        "EXCH_RATE_TYPE_ID": T,
        "EXCHANGE_RATE": D,
        "TOTALENTERED": D,
        "TOTALSELECTED": D,
        "TOTALPAID": D,
        "TOTALDUE": D,
        "TRX_TOTALENTERED": D,
        "TRX_TOTALSELECTED": D,
        "TRX_TOTALPAID": D,
        "TRX_TOTALDUE": D,
        "PRBATCH": T,
        "AUWHENCREATED": TS,
        "WHENMODIFIED": TS,
        "CREATEDBY": I,
        "MODIFIEDBY": I,
        "CLEARED": T,
        "CLRDATE": DT,
        "SYSTEMGENERATED": T,
        "BILLTOPAYTOKEY": I,
        "INCLUSIVETAX": B,
        "TAXSOLUTIONID": T,
        "PAYMENTREQUESTMETHOD": T,
        "JOINTPAYEENAME": T,
        "JOINTPAYEEPRINTAS": T,
        "PAYMENTSUBMITTER": T,
        "FILEPAYMENTSERVICE": T,
        "BANKFILEKEY": I,
        "BANKTRXAMOUNT": D,
        "BANKBASEAMOUNT": D,
        "BANKCURRENCY": T,
        "BANKBASECURRENCY": T,
        **_MEGAENTITY,
        "RECORD_URL": T,
    },
    entity_field="MEGAENTITYID",
)

APBILL = ObjectSchema(
    "APBILL",
    {
        "RECORDNO": I,
        "RECORDID": T,
        "STATE": T,
        "VENDORID": T,
        "VENDORNAME": T,
        "DOCNUMBER": T,
        "TERMNAME": T,
        "WHENCREATED": DT,
        "WHENPOSTED": DT,
        "TOTALENTERED": D,
        "TOTALSELECTED": D,
        "TOTALPAID": D,
        "TOTALDUE": D,
        "WHENDUE": DT,
        "WHENPAID": DT,
        "RECPAYMENTDATE": DT,
        "PAYMENTPRIORITY": T,
        "DESCRIPTION": T,
        "ONHOLD": B,
        "BASECURR": T,
        "CURRENCY": T,
        "WHENMODIFIED": TS,
        "DUE_IN_DAYS": I,
        "PRBATCH": T,
        **_MEGAENTITY,
        "RECORD_URL": T,
    },
    entity_field="MEGAENTITYID",
)

VENDOR = ObjectSchema(
    "VENDOR",
    {
        "RECORDNO": I,
        "VENDORID": T,
        "NAME": T,
        "PARENTKEY": I,
        "PARENTID": T,
        "PARENTNAME": T,
        "DISPLAYCONTACT.CONTACTNAME": T,
        "DISPLAYCONTACT.COMPANYNAME": T,
        "DISPLAYCONTACT.EMAIL1": T,
        "DISPLAYCONTACT.PHONE1": T,
        "DISPLAYCONTACT.MAILADDRESS.CITY": T,
        "DISPLAYCONTACT.MAILADDRESS.STATE": T,
        "DISPLAYCONTACT.MAILADDRESS.COUNTRY": T,
        "VENDORACCOUNTNO": T,
        "VENDTYPE": T,
        "APACCOUNT": T,
        "APACCOUNTTITLE": T,
        "STATUS": T,
        "ONETIME": B,
        "ONHOLD": B,
        "TERMNAME": T,
        "CREDITLIMIT": D,
        "TOTALDUE": D,
        "CURRENCY": T,
        "PAYMETHODKEY": T,
        "WHENCREATED": TS,
        "WHENMODIFIED": TS,
        "WHENLASTBILLED": DT,
        "WHENLASTPAID": DT,
        "CREATEDBY": I,
        "MODIFIEDBY": I,
        **_MEGAENTITY,
        "RECORD_URL": T,
    },
    entity_field="MEGAENTITYID",
)

SCHEMAS: dict[str, ObjectSchema] = {
    schema.name: schema for schema in (LOCATION, GLACCOUNT, GLBATCH, GLENTRY, APPYMT, APBILL, VENDOR)
}
