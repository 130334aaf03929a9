"""Records: each element of a result's ``<data>`` becomes one dict of typed values.

This is the hot loop of every read (bench/intacct_parse.py), so it has two implementations
with one contract:

- ``convert_record`` here, in Python: the reference, and the fallback for anything unusual;
- ``ml_connector.intacct.gateway._records`` (Cython, compiled at install against lxml's public C
  API): walks the libxml2 nodes of plain records directly instead of creating a Python proxy for
  every field: the work per record on top of libxml2's own drops from ~10 to ~4 µs, and a
  whole parse runs ~1.45x as fast (bench/intacct_parse.py). Any record it does not handle
  exactly like the reference (a field with child elements, a value that fails its
  conversion, a comment or processing instruction among the fields) it hands to
  ``convert_record``, so the two cannot disagree; tests/intacct/test_records.py checks that
  on generated records.

If the extension was not built (no C compiler where the package was installed) or does not
fit the installed lxml, the Python loop is used; ``COMPILED`` says which one runs.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from itertools import islice

from lxml import etree

from ml_connector.amounts import AmountError
from ml_connector.intacct.gateway.errors import MalformedResponseError
from ml_connector.intacct.gateway.objects import Converter, converters_for
from ml_connector.intacct.gateway.response import Record

TakeRecords = Callable[[etree._Element, int, list[Record]], None]


class RejectedRecord(Record):
    """A record with an amount outside the bound (:mod:`ml_connector.amounts`): bad source
    data in one record, not a broken answer. It travels in place of the record (its other
    fields converted, the bad one as its text) so the reader can leave it out, say which
    record and field it was, and go on with the rest."""

    def __init__(self, record: Record, object_name: str, field: str, reason: str) -> None:
        super().__init__(record)
        self.object_name = object_name
        self.field = field
        self.reason = reason

    @property
    def problem(self) -> str:
        recordno = self.get("RECORDNO")
        which = f"{self.object_name} {recordno}" if recordno is not None else self.object_name
        return f"{which}, field {self.field}: {self.reason}"


def convert_record(element: etree._Element, converters: Mapping[str, Converter]) -> Record:
    """One record as a dict; fields named in ``converters`` get their types.

    With ``remove_blank_text`` a field with child elements has text None, so only empty
    fields take the branch that looks for owned objects.
    """
    tag = element.tag
    record: Record = {
        field.tag: text if (text := field.text) is not None else _empty_or_nested(field)
        for field in element
    }
    name = ""
    rejected: tuple[str, str] | None = None
    try:
        # Only the typed fields this record carries (a set intersection in C), not every
        # field the object could have: a query names a few fields of a wide object.
        for name in record.keys() & converters.keys():
            value = record[name]
            if value.__class__ is str:
                try:
                    record[name] = converters[name](value)
                except AmountError as exc:
                    if rejected is None:
                        rejected = (name, str(exc))
    except ValueError as exc:
        raise MalformedResponseError(f"Intacct {tag}.{name}: {exc}") from exc
    if rejected is not None:
        return RejectedRecord(record, str(tag), *rejected)
    return record


def record_of(element: etree._Element) -> Record:
    """``convert_record`` with the converters of the element's object."""
    return convert_record(element, converters_for(str(element.tag)))


def take_records_python(data: etree._Element, count: int, sink: list[Record]) -> None:
    """Convert the first ``count`` children of ``data`` into ``sink``."""
    last_tag = None
    converters: Mapping[str, Converter] = {}
    for element in islice(data, count):
        tag = element.tag
        if tag != last_tag:
            last_tag = tag
            converters = converters_for(str(tag))
        sink.append(convert_record(element, converters))


def _take_records_compiled(data: etree._Element, count: int, sink: list[Record]) -> None:
    _compiled.take_records(data, count, sink, converters_for, record_of)


def _empty_or_nested(element: etree._Element) -> dict[str, object] | None:
    return _nested(element) if len(element) else None


def _nested(element: etree._Element) -> dict[str, object]:
    """Owned objects inside a record (``read`` of a header with its lines) as plain dicts;
    a repeated element becomes a list."""
    out: dict[str, object] = {}
    for child in element:
        value: object = _nested(child) if len(child) else child.text
        if child.tag in out:
            existing = out[child.tag]
            if isinstance(existing, list):
                existing.append(value)
            else:
                out[child.tag] = [existing, value]
        else:
            out[child.tag] = value
    return out


try:
    import ml_connector.intacct.gateway._records as _compiled
except (ImportError, TypeError, ValueError):
    # Not built here (ImportError), or built against an lxml whose C API differs from the
    # installed one: lxml's import_lxml__etree() raises TypeError for a changed function
    # signature and ValueError for a changed struct size.
    COMPILED = False
    take_records: TakeRecords = take_records_python
else:
    COMPILED = True
    take_records = _take_records_compiled
