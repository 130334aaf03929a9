"""Gateway requests as bytes, in the element order the DTD and the official SDKs use.

Order matters: the 3.0 DTDs are ordered and the PHP SDK writes exactly this
(``test/Intacct/Xml/RequestBlockTest.php``)::

    <request><control><senderid/><password/><controlid/><uniqueid/><dtdversion>3.0</dtdversion>
      <includewhitespace>false</includewhitespace></control>
      <operation transaction="false">
        <authentication>(<login>…</login>|<sessionid/>)</authentication>
        <content><function controlid="…">VERB</function>…</content></operation></request>

Elements are built with lxml, so text is escaped by the serializer and a character XML
cannot carry is refused before anything is sent. Every function gets its own controlid, which
is how results are matched back (https://developer.intacct.com/web-services/requests/).
ml-connector only reads, so ``uniqueid`` is always ``false`` ("use false for read-only
requests"). Reprs never show a password or a session id.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from lxml import etree

from ml_connector.intacct.gateway.objects import format_value

READ_BY_QUERY_MAX_PAGESIZE = 1000  # DOC: "between 1 and 1000 items (Default: 100)"
QUERY_MAX_PAGESIZE = 2000  # DOC: "between 1 and 2000 items (Default: 100)"
READ_MAX_KEYS = 100  # PHP Functions/Common/Read.php MAX_KEY_COUNT
MAX_CONTROLID = 256  # PHP ControlBlock: 1–256 characters

# Filter operators of the `query` function (PHP NewQuery/QueryFilter/Filter.php) by arity.
UNARY_OPERATORS = frozenset(
    {
        "equalto",
        "notequalto",
        "lessthan",
        "lessthanorequalto",
        "greaterthan",
        "greaterthanorequalto",
        "like",
        "notlike",
    }
)
LIST_OPERATORS = frozenset({"in", "notin"})
NULL_OPERATORS = frozenset({"isnull", "isnotnull"})


def new_controlid() -> str:
    return uuid.uuid4().hex


# -- authentication -------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    user_id: str
    company_id: str
    password: str = field(repr=False)
    location_id: str | None = None


@dataclass(frozen=True)
class SessionAuth:
    session_id: str = field(repr=False)


# -- functions ------------------------------------------------------------------------------


@dataclass(frozen=True)
class GetAPISession:
    """Must travel alone (DOC api-sessions: "Always isolate getAPISession in a single request")."""

    location_id: str | None = None
    verb = "getAPISession"

    def write(self, parent: etree._Element) -> None:
        element = etree.SubElement(parent, self.verb)
        if self.location_id:
            _text(element, "locationid", self.location_id)


@dataclass(frozen=True)
class ReadByQuery:
    object: str
    query: str = ""
    fields: Sequence[str] = ("*",)
    pagesize: int = READ_BY_QUERY_MAX_PAGESIZE
    docparid: str | None = None
    verb = "readByQuery"

    def __post_init__(self) -> None:
        _check_name("object", self.object)
        _check_fields(self.fields)
        _check_pagesize(self.pagesize, READ_BY_QUERY_MAX_PAGESIZE)

    def write(self, parent: etree._Element) -> None:
        # PHP Functions/Common/ReadByQuery.php: object, fields, query, pagesize, returnFormat.
        element = etree.SubElement(parent, self.verb)
        _text(element, "object", self.object)
        _text(element, "fields", ",".join(self.fields) or "*")
        _text(element, "query", self.query)
        _text(element, "pagesize", str(self.pagesize))
        _text(element, "returnFormat", "xml")
        if self.docparid:
            _text(element, "docparid", self.docparid)


@dataclass(frozen=True)
class ReadMore:
    result_id: str
    verb = "readMore"

    def __post_init__(self) -> None:
        if not self.result_id:
            raise ValueError("readMore needs the resultId of a readByQuery")

    def write(self, parent: etree._Element) -> None:
        element = etree.SubElement(parent, self.verb)
        _text(element, "resultId", self.result_id)


@dataclass(frozen=True)
class Read:
    object: str
    keys: Sequence[int | str]
    fields: Sequence[str] = ("*",)
    docparid: str | None = None
    verb = "read"

    def __post_init__(self) -> None:
        _check_name("object", self.object)
        if not self.keys:
            raise ValueError("read needs at least one key")
        if len(self.keys) > READ_MAX_KEYS:
            raise ValueError(f"read takes at most {READ_MAX_KEYS} keys, got {len(self.keys)}")
        _check_fields(self.fields)

    def write(self, parent: etree._Element) -> None:
        # PHP Functions/Common/Read.php: object, keys, fields, returnFormat, docparid.
        element = etree.SubElement(parent, self.verb)
        _text(element, "object", self.object)
        _text(element, "keys", ",".join(str(key) for key in self.keys))
        _text(element, "fields", ",".join(self.fields) or "*")
        _text(element, "returnFormat", "xml")
        if self.docparid:
            _text(element, "docparid", self.docparid)


@dataclass(frozen=True)
class Condition:
    operator: str
    field: str
    values: tuple[object, ...] = ()

    def __post_init__(self) -> None:
        _check_name("field", self.field)
        count = len(self.values)
        if self.operator in UNARY_OPERATORS:
            ok = count == 1
        elif self.operator == "between":
            ok = count == 2
        elif self.operator in LIST_OPERATORS:
            ok = count >= 1
        elif self.operator in NULL_OPERATORS:
            ok = count == 0
        else:
            raise ValueError(f"unknown query filter operator {self.operator!r}")
        if not ok:
            raise ValueError(f"{self.operator} on {self.field} cannot take {count} value(s)")

    def write(self, parent: etree._Element) -> None:
        element = etree.SubElement(parent, self.operator)
        _text(element, "field", self.field)
        for value in self.values:
            _text(element, "value", format_value(value))


@dataclass(frozen=True)
class And:
    filters: tuple[Filter, ...]
    tag = "and"

    def __post_init__(self) -> None:
        # PHP AndOperator/OrOperator: "Two or more QueryFilterInterface objects required".
        if len(self.filters) < 2:
            raise ValueError(f"{self.tag} needs two or more filters")

    def write(self, parent: etree._Element) -> None:
        element = etree.SubElement(parent, self.tag)
        for child in self.filters:
            child.write(element)


@dataclass(frozen=True)
class Or(And):
    tag = "or"


Filter = Condition | And | Or


def all_of(*filters: Filter) -> Filter:
    return filters[0] if len(filters) == 1 else And(tuple(filters))


def any_of(*filters: Filter) -> Filter:
    return filters[0] if len(filters) == 1 else Or(tuple(filters))


def equalto(name: str, value: object) -> Condition:
    return Condition("equalto", name, (value,))


def notequalto(name: str, value: object) -> Condition:
    return Condition("notequalto", name, (value,))


def greaterthan(name: str, value: object) -> Condition:
    return Condition("greaterthan", name, (value,))


def greaterthanorequalto(name: str, value: object) -> Condition:
    return Condition("greaterthanorequalto", name, (value,))


def lessthan(name: str, value: object) -> Condition:
    return Condition("lessthan", name, (value,))


def lessthanorequalto(name: str, value: object) -> Condition:
    return Condition("lessthanorequalto", name, (value,))


def between(name: str, low: object, high: object) -> Condition:
    return Condition("between", name, (low, high))


def in_(name: str, *values: object) -> Condition:
    return Condition("in", name, values)


def notin(name: str, *values: object) -> Condition:
    return Condition("notin", name, values)


def isnull(name: str) -> Condition:
    return Condition("isnull", name)


def isnotnull(name: str) -> Condition:
    return Condition("isnotnull", name)


@dataclass(frozen=True)
class Query:
    object: str
    select: Sequence[str]
    filter: Filter | None = None
    orderby: Sequence[tuple[str, bool]] = ()  # (field, ascending)
    case_insensitive: bool = False
    show_private: bool = False
    pagesize: int = QUERY_MAX_PAGESIZE
    offset: int = 0
    docparid: str | None = None
    verb = "query"

    def __post_init__(self) -> None:
        _check_name("object", self.object)
        if not self.select:
            # DOC ap-payments: select is required, "Returning all fields is not supported".
            raise ValueError("query needs the fields to select")
        for name in self.select:
            _check_name("field", name)
        for name, _ascending in self.orderby:
            _check_name("field", name)
        _check_pagesize(self.pagesize, QUERY_MAX_PAGESIZE)
        if self.offset < 0:
            raise ValueError("query offset cannot be negative")

    def write(self, parent: etree._Element) -> None:
        # PHP Functions/Common/NewQuery/Query.php: select, object, docparid, filter, orderby,
        # options, pagesize, offset.
        element = etree.SubElement(parent, self.verb)
        select = etree.SubElement(element, "select")
        for name in self.select:
            _text(select, "field", name)
        _text(element, "object", self.object)
        if self.docparid:
            _text(element, "docparid", self.docparid)
        if self.filter is not None:
            self.filter.write(etree.SubElement(element, "filter"))
        if self.orderby:
            orderby = etree.SubElement(element, "orderby")
            for name, ascending in self.orderby:
                order = etree.SubElement(orderby, "order")
                _text(order, "field", name)
                etree.SubElement(order, "ascending" if ascending else "descending")
        if self.case_insensitive or self.show_private:
            options = etree.SubElement(element, "options")
            if self.case_insensitive:
                _text(options, "caseinsensitive", "true")
            if self.show_private:
                _text(options, "showprivate", "true")
        _text(element, "pagesize", str(self.pagesize))
        _text(element, "offset", str(self.offset))


Function = GetAPISession | ReadByQuery | ReadMore | Read | Query


# -- the request ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Sender:
    sender_id: str
    password: str = field(repr=False)


def build_request(
    sender: Sender,
    auth: Login | SessionAuth,
    functions: Sequence[tuple[str, Function]],
    *,
    control_id: str | None = None,
    transaction: bool = False,
) -> bytes:
    """One request with one ``<function controlid=…>`` per (controlid, function) pair."""
    if not functions:
        raise ValueError("a request needs at least one function")
    if len(functions) > 1 and any(isinstance(f, GetAPISession) for _, f in functions):
        raise ValueError("getAPISession must be alone in its request")
    controlids = [cid for cid, _ in functions]
    if len(set(controlids)) != len(controlids):
        raise ValueError("function controlids must be unique within a request")
    control_id = control_id or new_controlid()
    for cid in (control_id, *controlids):
        if not 1 <= len(cid) <= MAX_CONTROLID:
            raise ValueError(f"controlid must be 1–{MAX_CONTROLID} characters")
    try:
        root = etree.Element("request")
        control = etree.SubElement(root, "control")
        _text(control, "senderid", sender.sender_id)
        _text(control, "password", sender.password)
        _text(control, "controlid", control_id)
        _text(control, "uniqueid", "false")
        _text(control, "dtdversion", "3.0")
        _text(control, "includewhitespace", "false")
        operation = etree.SubElement(
            root, "operation", transaction="true" if transaction else "false"
        )
        authentication = etree.SubElement(operation, "authentication")
        if isinstance(auth, Login):
            login = etree.SubElement(authentication, "login")
            _text(login, "userid", auth.user_id)
            _text(login, "companyid", auth.company_id)
            _text(login, "password", auth.password)
            if auth.location_id:
                _text(login, "locationid", auth.location_id)
        else:
            _text(authentication, "sessionid", auth.session_id)
        content = etree.SubElement(operation, "content")
        for cid, function in functions:
            element = etree.SubElement(content, "function", controlid=cid)
            function.write(element)
    except ValueError as exc:
        # lxml refuses NUL and other characters XML 1.0 cannot carry; say which request.
        raise ValueError(f"cannot build Intacct request: {exc}") from None
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))


# -- readByQuery's SQL-like query text -----------------------------------------------------


def quote(value: object) -> str:
    """A literal for a readByQuery ``<query>``: strings and dates in single quotes, with
    backslash before quotes and backslashes (DOC queries: ``'Jane\\'s Deli'``)."""
    if isinstance(value, int | Decimal) and not isinstance(value, bool):
        return str(value)
    text = format_value(value)
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _text(parent: etree._Element, tag: str, text: str) -> etree._Element:
    element = etree.SubElement(parent, tag)
    element.text = text
    return element


def _check_name(what: str, name: str) -> None:
    # Object and field names are identifiers (dotted for related fields, e.g.
    # DISPLAYCONTACT.CONTACTNAME); anything else is a mistake or an injection attempt.
    if not name or not all(ch.isalnum() or ch in "_." for ch in name) or not name.isascii():
        raise ValueError(f"invalid Intacct {what} name {name!r}")


def _check_fields(fields: Sequence[str]) -> None:
    if isinstance(fields, str):
        raise TypeError("fields is a sequence of names, not one string")
    for name in fields:
        if name != "*":
            _check_name("field", name)


def _check_pagesize(pagesize: int, maximum: int) -> None:
    if not 1 <= pagesize <= maximum:
        raise ValueError(f"pagesize must be 1–{maximum}, got {pagesize}")
