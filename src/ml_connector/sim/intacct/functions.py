"""The functions the simulator runs: getAPISession, readByQuery, readMore, query, read, lookup.

Each handler returns the ``<data>`` element of a successful result or raises FunctionError with
the ``<error>``s of a failed one; a bad argument is always a function failure, never an HTTP
error, as on the real gateway (DOC error-handling: "If … content level, only the problematic
function call fails, other function calls can succeed").

Error numbers: "Query Failed" is the errorno Intacct itself returns for an unknown object
(PHP SDK ResultTest). For bad arguments no primary source gives a number (research §3), so the
simulator uses BL01001973, Intacct's generic business-rule error; clients must treat errorno as
an opaque string anyway.

Where a failure's text goes: Intacct leaves ``description`` empty and puts the message in
``description2`` (PHP SDK ``test/Intacct/Xml/Response/ResultTest.php``: "Query Failed" with
description2 "Object definition BADOBJECT not found"; fylein's ``api_base.py`` reads only
description2 when it classifies a failure).

Row names (which case the list and its rows are named in) follow the SDK tests, see
:func:`row_name`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from lxml import etree

from ml_connector.sim.intacct import query as q
from ml_connector.sim.intacct.faults import Faults
from ml_connector.sim.intacct.objects import SCHEMAS, FieldType, ObjectSchema, Record
from ml_connector.sim.intacct.protocol import (
    ErrorDetail,
    data_element,
    element,
    render_records,
    text_of,
)
from ml_connector.sim.intacct.resultsets import ResultSetStore
from ml_connector.sim.intacct.sessions import Session, SessionStore

READ_BY_QUERY_MAX = 1000  # DOC: "Custom page size between 1 and 1000 items (Default: 100)"
QUERY_MAX = 2000  # DOC: "between 1 and 2000 items (Default: 100)"
DEFAULT_PAGESIZE = 100
READ_MAX_KEYS = 100


class FunctionError(Exception):
    def __init__(self, *errors: ErrorDetail) -> None:
        super().__init__("; ".join(e.description2 or e.description for e in errors))
        self.errors = errors


def query_failed(detail: str) -> FunctionError:
    return FunctionError(ErrorDetail("Query Failed", "", detail, ""))


def row_name(verb: str, schema: ObjectSchema) -> str:
    """The name of ``<data listtype>`` and of each row element for ``verb`` on ``schema``.

    readByQuery (and readMore, which continues it) answer in lower case: PHP SDK
    ``test/Intacct/Xml/Response/ResultTest.php`` testLegacyReadByQueryClass
    (``<data listtype="class" …><class><RECORDNO>…``) and its setUp
    (``listtype="department"``); fylein's ``apis/ap_payments.py`` reads
    ``data['appymt']`` after a readByQuery and ``apis/revenue_recognition_schedules.py``
    ``data['revrecschedule']`` after readMore. ``read`` answers in the object's own case
    (ResultTest testReadClass: ``<data listtype="CUSTOMER" count="1"><CUSTOMER>``) and so
    does ``query`` (https://developer.intacct.com/web-services/queries/:
    ``<data listtype="APBILL" …>``; fylein's ``api_base.get_all`` reads
    ``data['GLACCOUNT']``). Field names keep their case in every form.
    """
    if verb in ("readByQuery", "readMore"):
        return schema.name.lower()
    return schema.name


def bad_argument(detail: str, correction: str = "") -> FunctionError:
    return FunctionError(ErrorDetail("BL01001973", "Invalid request", detail, correction))


INJECTED_FAILURE = ErrorDetail(
    "BL01001973",
    "Could not read records",
    "An internal error occurred while reading the object.",
    "Try the request again later or contact Sage Intacct support.",
)


class RecordSource(Protocol):
    def records(self, object_name: str) -> Sequence[Record]: ...

    def get(self, object_name: str, recordno: int) -> Record | None: ...

    def entity_ids(self) -> Sequence[str]: ...


@dataclass
class Principal:
    """Who is calling: set by authentication, by login or by session."""

    companyid: str
    userid: str
    locationid: str
    session: Session | None


@dataclass
class CallContext:
    principal: Principal
    source: RecordSource
    sessions: SessionStore
    resultsets: ResultSetStore
    faults: Faults
    endpoint: str
    functions_in_request: int
    strict: bool = True


Handler = Callable[[etree._Element, CallContext], str]


def _children(verb: etree._Element, allowed: Sequence[str]) -> dict[str, etree._Element]:
    found: dict[str, etree._Element] = {}
    for child in verb:
        if not isinstance(child.tag, str):
            continue
        if child.tag not in allowed:
            raise bad_argument(f"<{child.tag}> is not a valid element of <{verb.tag}>")
        if child.tag in found:
            raise bad_argument(f"<{child.tag}> appears more than once in <{verb.tag}>")
        found[str(child.tag)] = child
    return found


def _schema(parts: dict[str, etree._Element], ctx: CallContext) -> ObjectSchema:
    if "object" not in parts:
        raise bad_argument("The object element is required")
    name = text_of(parts["object"])
    schema = SCHEMAS.get(name)
    if schema is None:
        raise query_failed(f"Object definition {name} not found")
    if ctx.faults.draw_function(name):
        raise FunctionError(INJECTED_FAILURE)
    return schema


def _pagesize(parts: dict[str, etree._Element], maximum: int) -> int:
    if "pagesize" not in parts:
        return DEFAULT_PAGESIZE
    text = text_of(parts["pagesize"])
    if not text.isdigit() or not 1 <= int(text) <= maximum:
        raise bad_argument(
            f"pagesize {text!r} is out of range", f"Use a page size between 1 and {maximum}."
        )
    return int(text)


def _visible(schema: ObjectSchema, ctx: CallContext) -> list[Record]:
    """Records the caller may see: an entity session sees its entity's records, and the top
    level's only for objects shared from the top (``ObjectSchema.shared_from_top``)."""
    records = ctx.source.records(schema.name)
    location = ctx.principal.locationid
    if not location or schema.entity_field is None:
        return list(records)
    field_name = schema.entity_field
    allowed: tuple[str | None, ...] = (
        (None, "", location) if schema.shared_from_top else (location,)
    )
    return [r for r in records if r.get(field_name) in allowed]


def _field_list(text: str, schema: ObjectSchema) -> tuple[str, ...]:
    if text in ("", "*"):
        return schema.field_names
    names = tuple(part.strip() for part in text.split(","))
    for name in names:
        if name not in schema.fields:
            raise query_failed(f"Invalid field {name!r} for object {schema.name}")
    return names


def _return_format(parts: dict[str, etree._Element], tag: str) -> None:
    if tag in parts and text_of(parts[tag]).lower() != "xml":
        # json and csv exist on the real gateway; this simulator answers only in XML.
        raise bad_argument(f"{tag} {text_of(parts[tag])!r} is not available; use xml")


def get_api_session(verb: etree._Element, ctx: CallContext) -> str:
    """DOC api-sessions: "Always isolate getAPISession in a single request"."""
    if ctx.functions_in_request != 1:
        raise bad_argument(
            "getAPISession must be the only function in its request",
            "Send getAPISession in a request of its own.",
        )
    parts = _children(verb, ("locationid",))
    principal = ctx.principal
    location = text_of(parts["locationid"]) if "locationid" in parts else principal.locationid
    if location and location not in ctx.source.entity_ids():
        raise bad_argument(f"Location {location!r} is not a valid entity")
    session = principal.session
    if session is None or session.locationid != location:
        session = ctx.sessions.create(principal.companyid, principal.userid, location)
    return data_element(
        (),
        "<api>"
        + element("sessionid", session.sessionid)
        + element("endpoint", ctx.endpoint)
        + element("locationid", session.locationid)
        + "</api>",
    )


def read_by_query(verb: etree._Element, ctx: CallContext) -> str:
    parts = _children(verb, ("object", "fields", "query", "pagesize", "returnFormat", "docparid"))
    schema = _schema(parts, ctx)
    if "query" not in parts:
        raise bad_argument("The query element is required (it may be empty)")
    if "docparid" in parts:
        raise bad_argument(f"docparid does not apply to {schema.name}")
    _return_format(parts, "returnFormat")
    fields = _field_list(text_of(parts.get("fields")), schema)
    pagesize = _pagesize(parts, READ_BY_QUERY_MAX)
    try:
        expr = q.parse_query(text_of(parts["query"]))
        predicate = q.compile_expr(expr, schema, allow_related=False)
    except q.QueryError as exc:
        raise query_failed(str(exc)) from exc
    matches = q.select(_visible(schema, ctx), predicate)
    result = ctx.resultsets.create(ctx.principal.companyid, schema, matches, fields, pagesize)
    return _result_page(result.result_id, ctx, "readByQuery")


def _result_page(result_id: str, ctx: CallContext, verb: str) -> str:
    result = ctx.resultsets.get(result_id, ctx.principal.companyid)
    if result is None:
        raise bad_argument(
            f"resultId {result_id!r} is unknown or has expired",
            "Run the readByQuery again.",
        )
    total = len(result.records)
    page = result.next_page()
    remaining = result.remaining
    name = row_name(verb, result.schema)
    attributes: list[tuple[str, str | int]] = [
        ("listtype", name),
        ("count", len(page)),
        ("totalcount", total),
        ("numremaining", remaining),
    ]
    # resultId is always there, empty once the set is exhausted (PHP SDK ResultTest setUp:
    # numremaining="0" resultId=""); fylein's readMore loop reads it after every page.
    attributes.append(("resultId", result.result_id if remaining else ""))
    if not remaining:
        ctx.resultsets.discard(result.result_id)
    return data_element(
        attributes, render_records(result.schema, page, result.fields, element_name=name)
    )


def read_more(verb: etree._Element, ctx: CallContext) -> str:
    """Continue a readByQuery by its ``resultId``, or by ``<object>``: the legacy form, which
    continues the caller's latest readByQuery on that object (PHP SDK
    ``Functions/Common/ReadMore.php`` writes resultId, object or reportId). Reports are not
    simulated."""
    parts = _children(verb, ("resultId", "object", "reportId"))
    if len(parts) != 1:
        raise bad_argument(
            "readMore takes exactly one of resultId, object or reportId",
            "Pass the resultId from readByQuery.",
        )
    companyid = ctx.principal.companyid
    if "reportId" in parts:
        raise bad_argument("readMore by reportId is not available: no reports are simulated")
    if "object" in parts:
        name = text_of(parts["object"])
        if name not in SCHEMAS:
            raise query_failed(f"Object definition {name} not found")
        latest = ctx.resultsets.latest(companyid, name)
        if latest is None:
            raise bad_argument(
                f"There is no readByQuery on {name} to continue",
                "Run readByQuery first, or pass its resultId.",
            )
        result_id = latest.result_id
    else:
        result_id = text_of(parts["resultId"])
    result = ctx.resultsets.get(result_id, companyid)
    if result is not None and ctx.faults.draw_function(result.schema.name):
        raise FunctionError(INJECTED_FAILURE)
    return _result_page(result_id, ctx, "readMore")


def _orderby(parts: dict[str, etree._Element]) -> list[tuple[str, bool]]:
    if "orderby" not in parts:
        return []
    orders: list[tuple[str, bool]] = []
    for order in parts["orderby"]:
        if not isinstance(order.tag, str):
            continue
        if order.tag != "order":
            raise bad_argument(f"<{order.tag}> is not valid in <orderby>")
        inner = _children(order, ("field", "ascending", "descending"))
        if "field" not in inner or ("ascending" in inner and "descending" in inner):
            raise bad_argument("<order> needs one <field> and at most one direction")
        orders.append((text_of(inner["field"]), "descending" in inner))
    return orders


def _options(parts: dict[str, etree._Element]) -> bool:
    """Returns caseinsensitive; showprivate is accepted (every entity is visible at top level)."""
    if "options" not in parts:
        return False
    options = _children(parts["options"], ("caseinsensitive", "showprivate", "returnformat"))
    _return_format(options, "returnformat")
    for name in ("caseinsensitive", "showprivate"):
        if name in options and text_of(options[name]) not in ("true", "false"):
            raise bad_argument(f"option {name} must be true or false")
    return "caseinsensitive" in options and text_of(options["caseinsensitive"]) == "true"


def run_query(verb: etree._Element, ctx: CallContext) -> str:
    parts = _children(
        verb, ("select", "object", "docparid", "filter", "orderby", "options", "pagesize", "offset")
    )
    schema = _schema(parts, ctx)
    if "docparid" in parts:
        raise bad_argument(f"docparid does not apply to {schema.name}")
    if "select" not in parts:
        # DOC ap-payments: select is required; "Returning all fields is not supported".
        raise bad_argument("The select element is required")
    fields: list[str] = []
    for child in parts["select"]:
        if not isinstance(child.tag, str):
            continue
        if child.tag != "field":
            raise bad_argument(f"<{child.tag}> in <select> is not available in this simulator")
        name = text_of(child)
        if name not in schema.fields:
            raise query_failed(f"Invalid field {name!r} for object {schema.name}")
        fields.append(name)
    if not fields:
        raise bad_argument("select needs at least one field")
    case_insensitive = _options(parts)
    pagesize = _pagesize(parts, QUERY_MAX)
    offset_text = text_of(parts["offset"]) if "offset" in parts else "0"
    if not offset_text.isdigit():
        raise bad_argument(f"offset {offset_text!r} is not a non-negative integer")
    offset = int(offset_text)
    try:
        expr = q.parse_filter(parts["filter"]) if "filter" in parts else None
        predicate = q.compile_expr(expr, schema, case_insensitive=case_insensitive)
        matches = q.select(_visible(schema, ctx), predicate)
        matches = q.order(matches, _orderby(parts), schema, case_insensitive=case_insensitive)
    except q.QueryError as exc:
        raise query_failed(str(exc)) from exc
    page = matches[offset : offset + pagesize]
    name = row_name("query", schema)
    attributes: list[tuple[str, str | int]] = [
        ("listtype", name),
        ("totalcount", len(matches)),
        ("offset", offset),
        ("count", len(page)),
        ("numremaining", max(0, len(matches) - offset - len(page))),
    ]
    return data_element(attributes, render_records(schema, page, fields, element_name=name))


def read(verb: etree._Element, ctx: CallContext) -> str:
    parts = _children(verb, ("object", "keys", "fields", "returnFormat", "docparid"))
    schema = _schema(parts, ctx)
    _return_format(parts, "returnFormat")
    keys_text = text_of(parts.get("keys"))
    if not keys_text:
        raise bad_argument("keys is required: a comma-separated list of RECORDNO values")
    keys: list[int] = []
    for part in keys_text.split(","):
        part = part.strip()
        if not part.isdigit():
            raise bad_argument(f"key {part!r} is not a RECORDNO")
        keys.append(int(part))
    if ctx.strict and len(keys) > READ_MAX_KEYS:
        # PHP SDK Functions/Common/Read.php: MAX_KEY_COUNT = 100 ("Keys count cannot exceed").
        raise bad_argument(f"read takes at most {READ_MAX_KEYS} keys, got {len(keys)}")
    fields = _field_list(text_of(parts.get("fields")), schema)
    visible_ids = None
    if ctx.principal.locationid and schema.entity_field:
        visible_ids = {id(r) for r in _visible(schema, ctx)}
    found = []
    for key in keys:
        record = ctx.source.get(schema.name, key)
        if record is not None and (visible_ids is None or id(record) in visible_ids):
            found.append(record)
    name = row_name("read", schema)
    attributes: list[tuple[str, str | int]] = [("listtype", name), ("count", len(found))]
    return data_element(attributes, render_records(schema, found, fields, element_name=name))


_DATATYPES = {
    FieldType.TEXT: "TEXT",
    FieldType.INTEGER: "INTEGER",
    FieldType.DECIMAL: "DECIMAL",
    FieldType.DATE: "DATE",
    FieldType.TIMESTAMP: "TIMESTAMP",
    FieldType.BOOLEAN: "BOOLEAN",
}


def lookup(verb: etree._Element, ctx: CallContext) -> str:
    """The object's fields, shaped like the documented answer
    (https://developer.intacct.com/web-services/queries/, "lookup" on GLBATCH:
    ``<Type Name="GLBATCH" DocumentType=""><Fields><Field><ID>RECORDNO</ID><LABEL>…``).

    Labels are the field names (the real ones are the UI's labels, which no source lists);
    related (dotted) fields are listed as read-only fields, not as relationships.
    """
    parts = _children(verb, ("object",))
    schema = _schema(parts, ctx)
    fields = "".join(
        "<Field>"
        + element("ID", name)
        + element("LABEL", name.replace("_", " ").replace(".", " ").title())
        + "<DESCRIPTION></DESCRIPTION>"
        + element("REQUIRED", "false")
        + element("READONLY", "true" if schema.is_related(name) or name == schema.key else "false")
        + element("DATATYPE", _DATATYPES[ftype])
        + element("ISCUSTOM", "false")
        + "</Field>"
        for name, ftype in schema.fields.items()
    )
    body = f'<Type Name="{schema.name}" DocumentType=""><Fields>{fields}</Fields></Type>'
    return data_element((("listtype", "All"), ("count", 1)), body)


HANDLERS: dict[str, Handler] = {
    "getAPISession": get_api_session,
    "readByQuery": read_by_query,
    "readMore": read_more,
    "query": run_query,
    "read": read,
    "lookup": lookup,
}
