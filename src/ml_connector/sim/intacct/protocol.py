"""The gateway's wire format: parsing ``<request>`` documents and writing ``<response>`` ones.

Request structure follows the XML API 3.0 DTD as the official PHP SDK writes it (research §1.1):
``request(control, operation)``; ``control(senderid, password, controlid, uniqueid, dtdversion,
policyid?, includewhitespace?)``; ``operation[@transaction](authentication, content)``;
``authentication(login | sessionid)``; ``login(userid, companyid, password, locationid?)``;
``content(function+)``; ``function[@controlid]`` holding exactly one verb. The DTD is ordered,
so the simulator refuses elements out of order: a real gateway fails such a request with
XL03000003 before anything runs, and a client that gets the order wrong should learn it here.

Responses are written as strings rather than through a tree: pages of a thousand records are
rendered on every readMore, and string joins keep that fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from lxml import etree

from ml_connector.sim.intacct.objects import ObjectSchema, Record, format_value


class RequestSchemaError(ValueError):
    """The request is not well-formed XML or does not follow the DTD (XL03000003)."""


@dataclass(frozen=True)
class ErrorDetail:
    """One ``<error>``; any part may be empty, as on the real gateway."""

    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""


@dataclass(frozen=True)
class Control:
    senderid: str
    password: str = field(repr=False)
    controlid: str
    uniqueid: str
    dtdversion: str
    policyid: str | None = None
    includewhitespace: str | None = None


@dataclass(frozen=True)
class LoginAuth:
    userid: str
    companyid: str
    password: str = field(repr=False)
    locationid: str | None = None


@dataclass(frozen=True)
class SessionAuth:
    sessionid: str = field(repr=False)


@dataclass(frozen=True)
class FunctionCall:
    controlid: str
    verb: str
    element: etree._Element


@dataclass(frozen=True)
class GatewayRequest:
    control: Control
    authentication: LoginAuth | SessionAuth
    transaction: bool
    functions: tuple[FunctionCall, ...]


_PARSER_OPTIONS = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
}


def _parser() -> etree.XMLParser:
    return etree.XMLParser(**_PARSER_OPTIONS)  # type: ignore[arg-type]


def _elements(parent: etree._Element) -> list[etree._Element]:
    return [child for child in parent if isinstance(child.tag, str)]


def text_of(element: etree._Element | None) -> str:
    if element is None:
        return ""
    return "".join(str(part) for part in element.itertext()).strip()


def _sequence(
    parent: etree._Element, spec: Sequence[tuple[str, bool]]
) -> dict[str, etree._Element]:
    """Match ``parent``'s children against an ordered DTD content model of (name, required)."""
    children = _elements(parent)
    found: dict[str, etree._Element] = {}
    index = 0
    for name, required in spec:
        if index < len(children) and children[index].tag == name:
            found[name] = children[index]
            index += 1
        elif required:
            got = f"<{children[index].tag}>" if index < len(children) else "nothing"
            raise RequestSchemaError(
                f"Element {parent.tag} content does not follow the DTD, expecting <{name}>, "
                f"got {got}"
            )
    if index < len(children):
        raise RequestSchemaError(
            f"Element {parent.tag} content does not follow the DTD, unexpected "
            f"<{children[index].tag}>"
        )
    return found


def parse_xml(body: bytes) -> etree._Element:
    """Parse with entities, DTDs and network access off; a DOCTYPE is refused outright."""
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise RequestSchemaError(f"XML Parse error: {exc}") from exc
    # lxml-stubs omit DocInfo.doctype; it is "" when the document has no DOCTYPE.
    if getattr(root.getroottree().docinfo, "doctype", ""):
        raise RequestSchemaError("A DOCTYPE declaration is not allowed in a request")
    return root


_CONTROL = (
    ("senderid", True),
    ("password", True),
    ("controlid", True),
    ("uniqueid", True),
    ("dtdversion", True),
    ("policyid", False),
    ("includewhitespace", False),
    ("debug", False),
)
_LOGIN = (("userid", True), ("companyid", True), ("password", True), ("locationid", False))


def _parse_control(element: etree._Element) -> Control:
    parts = _sequence(element, _CONTROL)
    control = Control(
        senderid=text_of(parts["senderid"]),
        password=text_of(parts["password"]),
        controlid=text_of(parts["controlid"]),
        uniqueid=text_of(parts["uniqueid"]),
        dtdversion=text_of(parts["dtdversion"]),
        policyid=text_of(parts["policyid"]) if "policyid" in parts else None,
        includewhitespace=(
            text_of(parts["includewhitespace"]) if "includewhitespace" in parts else None
        ),
    )
    if not 1 <= len(control.controlid) <= 256:
        raise RequestSchemaError("controlid must be 1 to 256 characters")
    if control.uniqueid not in ("true", "false"):
        raise RequestSchemaError("uniqueid must be true or false")
    if control.dtdversion != "3.0":
        raise RequestSchemaError(f"dtdversion {control.dtdversion!r} is not supported; use 3.0")
    if control.includewhitespace not in (None, "true", "false"):
        raise RequestSchemaError("includewhitespace must be true or false")
    return control


def _parse_authentication(element: etree._Element) -> LoginAuth | SessionAuth:
    children = _elements(element)
    if len(children) != 1 or children[0].tag not in ("login", "sessionid"):
        raise RequestSchemaError("authentication must hold exactly one of <login>, <sessionid>")
    child = children[0]
    if child.tag == "sessionid":
        return SessionAuth(text_of(child))
    parts = _sequence(child, _LOGIN)
    location = text_of(parts["locationid"]) if "locationid" in parts else ""
    return LoginAuth(
        userid=text_of(parts["userid"]),
        companyid=text_of(parts["companyid"]),
        password=text_of(parts["password"]),
        locationid=location or None,
    )


# Verbs whose children the DTD orders, in the order the official SDKs write them: PHP
# ``Functions/Common/ReadByQuery.php`` (object, fields, query, pagesize, returnFormat,
# docparid; .NET ``Functions/Common/ReadByQuery.cs`` the same) and ``Functions/Common/Read.php``
# (object, keys, fields, returnFormat, docparid). ``query`` is left free: Intacct's own
# example puts <filter> before <select> and fylein's sageintacctsdk sends <filter> last.
ORDERED_VERBS: dict[str, tuple[str, ...]] = {
    "readByQuery": ("object", "fields", "query", "pagesize", "returnFormat", "docparid"),
    "read": ("object", "keys", "fields", "returnFormat", "docparid"),
}


def _check_verb_order(verb: etree._Element) -> None:
    """Known children of an ordered verb must come in DTD order (strict mode)."""
    order = ORDERED_VERBS.get(str(verb.tag))
    if order is None:
        return
    last = -1
    for child in _elements(verb):
        if child.tag not in order:
            continue  # unknown elements are the function's own error
        position = order.index(str(child.tag))
        if position < last:
            raise RequestSchemaError(
                f"Element {verb.tag} content does not follow the DTD: <{child.tag}> must "
                f"come before <{order[last]}> (order: {', '.join(order)})"
            )
        last = position


def _parse_function(element: etree._Element, strict: bool = True) -> FunctionCall:
    if element.tag != "function":
        raise RequestSchemaError(f"content may hold only <function>, got <{element.tag}>")
    controlid = element.get("controlid")
    if controlid is None or not 1 <= len(controlid) <= 256:
        raise RequestSchemaError("Attribute controlid of <function> is required (1-256 chars)")
    verbs = _elements(element)
    if len(verbs) != 1:
        raise RequestSchemaError("<function> must contain exactly one function element")
    if strict:
        _check_verb_order(verbs[0])
    return FunctionCall(controlid, str(verbs[0].tag), verbs[0])


def peek_control(body: bytes) -> tuple[str, str]:
    """Best-effort senderid and controlid of an invalid request, to echo in its failure."""
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError:
        return "", ""
    return text_of(root.find("control/senderid")), text_of(root.find("control/controlid"))


def parse_request(body: bytes, *, strict: bool = True) -> GatewayRequest:
    """The request, or RequestSchemaError; ``strict`` also checks the order inside verbs."""
    root = parse_xml(body)
    if root.tag != "request":
        raise RequestSchemaError(f"the document element must be <request>, got <{root.tag}>")
    parts = _sequence(root, (("control", True), ("operation", True)))
    control = _parse_control(parts["control"])
    operation = parts["operation"]
    transaction = operation.get("transaction", "false")
    if transaction not in ("true", "false"):
        raise RequestSchemaError("operation/@transaction must be true or false")
    op_parts = _sequence(operation, (("authentication", True), ("content", True)))
    authentication = _parse_authentication(op_parts["authentication"])
    functions = tuple(_parse_function(child, strict) for child in _elements(op_parts["content"]))
    if not functions:
        raise RequestSchemaError("content must hold at least one <function>")
    return GatewayRequest(control, authentication, transaction == "true", functions)


# ---------------------------------------------------------------------------------------------
# Rendering

XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'


def escape(text: str) -> str:
    if "&" in text:
        text = text.replace("&", "&amp;")
    if "<" in text:
        text = text.replace("<", "&lt;")
    if ">" in text:
        text = text.replace(">", "&gt;")
    return text


def escape_attr(text: str) -> str:
    return escape(text).replace('"', "&quot;")


def element(name: str, text: str) -> str:
    return f"<{name}>{escape(text)}</{name}>"


def render_errors(errors: Iterable[ErrorDetail]) -> str:
    parts = ["<errormessage>"]
    for error in errors:
        parts.append(
            "<error>"
            + element("errorno", error.errorno)
            + element("description", error.description)
            + element("description2", error.description2)
            + element("correction", error.correction)
            + "</error>"
        )
    parts.append("</errormessage>")
    return "".join(parts)


def render_control(status: str, senderid: str, controlid: str, uniqueid: str) -> str:
    return (
        "<control>"
        + element("status", status)
        + element("senderid", senderid)
        + element("controlid", controlid)
        + element("uniqueid", uniqueid)
        + "<dtdversion>3.0</dtdversion></control>"
    )


def render_control_failure(
    senderid: str, controlid: str, uniqueid: str, errors: Iterable[ErrorDetail]
) -> bytes:
    """Control-level failure: nothing ran; the errormessage sits under ``<response>``."""
    text = (
        XML_DECLARATION
        + "<response>"
        + render_control("failure", senderid, controlid, uniqueid)
        + render_errors(errors)
        + "</response>"
    )
    return text.encode()


def render_authentication(
    status: str,
    userid: str,
    companyid: str,
    locationid: str,
    sessiontimestamp: str | None = None,
    sessiontimeout: str | None = None,
) -> str:
    parts = [
        "<authentication>",
        element("status", status),
        element("userid", userid),
        element("companyid", companyid),
        element("locationid", locationid),
    ]
    if sessiontimestamp is not None and sessiontimeout is not None:
        parts.append(element("sessiontimestamp", sessiontimestamp))
        parts.append(element("sessiontimeout", sessiontimeout))
    parts.append("</authentication>")
    return "".join(parts)


def render_response(control: str, operation_body: Iterable[str]) -> bytes:
    text = (
        XML_DECLARATION
        + "<response>"
        + control
        + "<operation>"
        + "".join(operation_body)
        + "</operation></response>"
    )
    return text.encode()


def render_result(
    status: str,
    function: str,
    controlid: str,
    data: str = "",
    errors: Sequence[ErrorDetail] = (),
) -> str:
    body = data if status == "success" else render_errors(errors)
    return (
        "<result>"
        + element("status", status)
        + element("function", function)
        + element("controlid", controlid)
        + body
        + "</result>"
    )


def data_element(attributes: Sequence[tuple[str, str | int]], content: str) -> str:
    attrs = "".join(f' {name}="{escape_attr(str(value))}"' for name, value in attributes)
    return f"<data{attrs}>{content}</data>"


def render_records(
    schema: ObjectSchema,
    records: Iterable[Record],
    fields: Sequence[str],
    *,
    element_name: str | None = None,
) -> str:
    """Each record as ``<OBJECT><FIELD>value</FIELD>…</OBJECT>``, fields in the given order.

    ``element_name`` is the row element's name: the object name by default (``query``,
    ``read``); readByQuery and readMore pass it in lower case (see ``functions.row_name``).
    """
    name = element_name or schema.name
    opens = [f"<{f}>" for f in fields]
    closes = [f"</{f}>" for f in fields]
    pairs = list(zip(fields, opens, closes, strict=True))
    out: list[str] = []
    append = out.append
    for record in records:
        append(f"<{name}>")
        for fname, open_tag, close_tag in pairs:
            value = record.get(fname)
            if value is None:
                append(open_tag + close_tag)
            elif isinstance(value, str):
                append(open_tag + escape(value) + close_tag)
            else:
                append(open_tag + format_value(value) + close_tag)
        append(f"</{name}>")
    return "".join(out)
