"""GLDETAIL, Intacct's read-only General Ledger detail report object, derived from the ledger.

GLDETAIL is one row per posted GL line with the batch's header fields joined in; it is what
reporting clients read instead of GLENTRY (fylein's sageintacctsdk ``apis/gl_detail.py`` uses
``dimension='GLDETAIL'``). Its fields are fylein's ``apis/constants.py`` list for GLDETAIL,
the only published list; their values here come from the GLENTRY line and its GLBATCH:

* RECORDNO is the GLENTRY's, BATCHKEY its batch's RECORDNO, BATCH_NO the batch number,
  SYMBOL the journal symbol, MODULEKEY the batch's module, BOOKID ``ACCRUAL``;
* DEBITAMOUNT/CREDITAMOUNT split the unsigned AMOUNT by TR_TYPE (1 debit, -1 credit); AMOUNT
  stays unsigned, as on GLENTRY (no source shows whether the report signs it).

Rows are derived on every read, so lines the simulator adds later (``Dataset.add_day``)
appear at once and the two objects can never disagree.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal

from ml_connector.sim.intacct.objects import Record

_ZERO = Decimal("0.00")


def detail_row(entry: Record, batch: Record | None) -> Record:
    """The GLDETAIL row of one GLENTRY line (``batch`` is its GLBATCH, if found)."""
    header: Record = batch or {}
    amount = entry.get("AMOUNT")
    debit = entry.get("TR_TYPE") == 1
    return {
        "RECORDNO": entry.get("RECORDNO"),
        "BATCHKEY": entry.get("BATCHNO"),
        "BATCH_DATE": entry.get("BATCH_DATE"),
        "BATCH_TITLE": entry.get("BATCHTITLE"),
        "SYMBOL": header.get("JOURNAL"),
        "BATCH_NO": entry.get("BATCH_NUMBER"),
        "BOOKID": "ACCRUAL",
        "CHILDENTITY": entry.get("LOCATION"),
        "MODIFIED": entry.get("WHENMODIFIED"),
        "REFERENCENO": header.get("REFERENCENO"),
        "ADJ": entry.get("ADJ"),
        "MODULEKEY": header.get("MODULE"),
        "OWNERSHIPKEY": None,
        "LINE_NO": entry.get("LINE_NO"),
        "ENTRY_DATE": entry.get("ENTRY_DATE"),
        "TR_TYPE": entry.get("TR_TYPE"),
        "DOCUMENT": entry.get("DOCUMENT"),
        "ACCOUNTNO": entry.get("ACCOUNTNO"),
        "ACCOUNTTITLE": entry.get("ACCOUNTTITLE"),
        "STATISTICAL": entry.get("STATISTICAL"),
        "DEPARTMENTID": entry.get("DEPARTMENT"),
        "DEPARTMENTTITLE": entry.get("DEPARTMENTTITLE"),
        "LOCATIONID": entry.get("LOCATION"),
        "LOCATIONNAME": entry.get("LOCATIONNAME"),
        "CURRENCY": entry.get("CURRENCY"),
        "BASECURR": entry.get("BASECURR"),
        "DESCRIPTION": entry.get("DESCRIPTION"),
        "DEBITAMOUNT": amount if debit else _ZERO,
        "CREDITAMOUNT": _ZERO if debit else amount,
        "AMOUNT": amount,
    }


def detail_rows(entries: Iterable[Record], batches: Mapping[int, Record]) -> list[Record]:
    """GLDETAIL rows of the posted lines, in GLENTRY RECORDNO order."""
    rows = []
    for entry in entries:
        if entry.get("STATE") != "Posted":
            continue
        batchno = entry.get("BATCHNO")
        batch = batches.get(batchno) if isinstance(batchno, int) else None
        rows.append(detail_row(entry, batch))
    return rows
