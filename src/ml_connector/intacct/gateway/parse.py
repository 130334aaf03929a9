"""Streaming, hardened parser for gateway answers.

Answers are fed chunk by chunk as they arrive, so a page of records is converted while the
rest is still on the wire and no complete document, byte string or tree is ever held: each
record is turned into a dict of typed values and its elements are freed at once.

The answer comes from the network, so the parser trusts nothing in it:

- Anything before the root element other than the XML declaration, processing instructions and
  comments is refused, so a DOCTYPE (billion laughs, external entities) never reaches libxml2's
  DTD machinery; libxml2 itself also runs with entities, DTD loading and network access off.
- Only ASCII-compatible encodings libxml2 decodes natively are accepted (UTF-8, ISO-8859-1,
  US-ASCII, windows-1252): UTF-7 or UTF-16 could smuggle a DOCTYPE past the byte check.
- The answer is capped in bytes (``max_bytes``); ``huge_tree`` stays off, so libxml2 keeps its
  own limits on depth and text size.

Envelope checks follow the official PHP SDK (``Xml/AbstractResponse.php``,
``Xml/OnlineResponse.php``, ``Xml/Response/Result.php``): control and its status are required;
after a successful control, operation/authentication with status, userid and companyid are
required; after a successful sign-in, at least one result with status, function and controlid.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping
from datetime import datetime
from typing import Any

from lxml import etree

from ml_connector.intacct.gateway.errors import (
    ErrorDetail,
    MalformedResponseError,
    TruncatedResponseError,
)
from ml_connector.intacct.gateway.records import take_records
from ml_connector.intacct.gateway.response import Authentication, Control, Record, Response, Result

DEFAULT_MAX_BYTES = 64 * 1024 * 1024
MAX_PROLOG_BYTES = 16 * 1024
ALLOWED_ENCODINGS = frozenset({"utf-8", "utf8", "iso-8859-1", "latin-1", "latin1", "us-ascii"})
ALLOWED_ENCODINGS |= {"ascii", "windows-1252", "cp1252"}
_ENVELOPE_TAGS = ("control", "operation", "authentication", "result", "data", "errormessage")
_ENCODING = re.compile(rb"""encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_ROOT = b"response"
# libxml2 errors that mean "the input stopped inside a construct": a cut connection, worth a
# retry. Anything else (an undefined entity, mismatched tags) is a broken answer.
_CUT_SHORT = frozenset(
    {
        "ERR_TAG_NOT_FINISHED",
        "ERR_GT_REQUIRED",
        "ERR_LTSLASH_REQUIRED",
        "ERR_ATTRIBUTE_NOT_FINISHED",
        "ERR_LITERAL_NOT_FINISHED",
        "ERR_COMMENT_NOT_FINISHED",
        "ERR_CDATA_NOT_FINISHED",
        "ERR_PI_NOT_FINISHED",
    }
)


class ResponseParser:
    """Feed an answer in chunks, then ``close()`` for the parsed ``Response``.

    With ``keep_records`` (the default) each result's ``records`` holds its records; without
    it, ``feed`` returns the records completed by each chunk and results stay empty, so a
    caller can stream an answer of any length through constant memory.
    """

    def __init__(self, *, max_bytes: int = DEFAULT_MAX_BYTES, keep_records: bool = True) -> None:
        self._max_bytes = max_bytes
        self._keep = keep_records
        self._received = 0
        self._prolog: bytearray | None = bytearray()
        self._parser = etree.XMLPullParser(
            events=("start", "end"),
            tag=_ENVELOPE_TAGS,
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            dtd_validation=False,
            huge_tree=False,
            remove_blank_text=True,
            remove_comments=True,
            remove_pis=True,
            collect_ids=False,
        )
        self._control: Control | None = None
        self._control_errors: tuple[ErrorDetail, ...] = ()
        self._auth: Authentication | None = None
        self._auth_errors: tuple[ErrorDetail, ...] = ()
        self._results: list[Result] = []
        self._data: etree._Element | None = None
        self._data_attrs: dict[str, str] = {}
        self._records: list[Record] = []
        self._out: list[Record] = []
        self._started = False

    @property
    def bytes_received(self) -> int:
        return self._received

    def feed(self, chunk: bytes) -> list[Record]:
        self._received += len(chunk)
        if self._received > self._max_bytes:
            raise MalformedResponseError(
                f"Intacct answer larger than the {self._max_bytes}-byte cap; refused"
            )
        if self._prolog is not None:
            self._prolog += chunk
            start = _root_start(self._prolog)
            if start is not None and len(self._prolog) < start + len(_ROOT) + 2:
                start = None  # not enough bytes yet to tell the root element's name
            if start is None or start > MAX_PROLOG_BYTES:
                if len(self._prolog) > MAX_PROLOG_BYTES:
                    raise MalformedResponseError("no root element in the first 16 KiB; refused")
                return []
            _check_root(self._prolog, start)
            chunk, self._prolog = bytes(self._prolog), None
            self._started = True
        try:
            self._parser.feed(chunk)
        except etree.XMLSyntaxError as exc:
            raise MalformedResponseError(f"Intacct answer is not well-formed XML: {exc}") from exc
        self._handle_events()
        if self._data is not None:
            self._take_records(self._data, keep_last=True)
        if self._keep:
            return []
        out, self._out = self._out, []
        return out

    def close(self) -> Response:
        if not self._started:
            raise MalformedResponseError("Intacct answer is empty or has no root element")
        try:
            self._parser.close()
        except etree.XMLSyntaxError as exc:
            log: Any = exc.error_log  # lxml-stubs lack last_error
            last = log.last_error
            if last is not None and last.type_name in _CUT_SHORT:
                raise TruncatedResponseError(f"Intacct answer ends part-way: {exc}") from exc
            raise MalformedResponseError(f"Intacct answer is not well-formed XML: {exc}") from exc
        self._handle_events()
        return self._response()

    # -- events ----------------------------------------------------------------------------

    def _handle_events(self) -> None:
        for event, element in self._parser.read_events():
            if not isinstance(element, etree._Element):
                continue
            data = self._data
            if data is not None:
                # Inside a result's data only its own end matters: records may contain
                # elements named like the envelope's.
                if event == "end" and element is data:
                    self._take_records(data, keep_last=False)
                    self._data = None
                continue
            tag = element.tag
            parent = element.getparent()
            ptag = parent.tag if parent is not None else None
            if event == "start":
                if tag == "data" and ptag == "result":
                    self._data = element
                    self._data_attrs = {str(k): str(v) for k, v in element.attrib.items()}
                    self._records = []
                continue
            if tag == "control" and ptag == "response":
                self._control = _control(element)
            elif tag == "errormessage" and ptag == "response":
                self._control_errors = _errors(element)
            elif tag == "errormessage" and ptag == "operation":
                self._auth_errors = _errors(element)
            elif tag == "authentication" and ptag == "operation":
                self._auth = _authentication(element)
            elif tag == "result" and ptag == "operation":
                self._results.append(self._result(element))
                if parent is not None:
                    parent.remove(element)

    def _take_records(self, data: etree._Element, *, keep_last: bool) -> None:
        """Convert the finished records under ``data`` and free their elements.

        While the push parser is mid-document only the last child can be unfinished.
        """
        count = len(data) - 1 if keep_last else len(data)
        if count <= 0:
            return
        take_records(data, count, self._records if self._keep else self._out)
        del data[:count]

    def _result(self, element: etree._Element) -> Result:
        status = _child_text(element, "status")
        function = _child_text(element, "function")
        if not status or not function:
            raise MalformedResponseError("Intacct result without status or function")
        if element.find("controlid") is None:
            # PHP SDK Xml/Response/Result.php ("Result block is missing controlid element",
            # ResultTest testMissingControlIdElement); the .NET SDK refuses it too. Without
            # it an answer cannot be matched to the function that asked.
            raise MalformedResponseError("Intacct result without a controlid")
        controlid = _child_text(element, "controlid")
        errormessage = element.find("errormessage")
        attrs = self._data_attrs
        records, self._records = self._records, []
        self._data_attrs = {}
        listtype = attrs.get("listtype")
        totalcount = _int_attr(attrs, "totalcount")
        legacy = element.find("listtype")
        if legacy is not None:
            # Legacy get_list names the list in a sibling of <data>:
            # <listtype start="0" end="1" total="2">class</listtype> (PHP SDK ResultTest
            # testLegacyGetListClass).
            listtype = listtype or (legacy.text or "").strip() or None
            if totalcount is None:
                totalcount = _int_attr({"total": str(legacy.get("total", ""))}, "total")
        return Result(
            status=status,
            function=function,
            controlid=controlid,
            errors=_errors(errormessage) if errormessage is not None else (),
            listtype=listtype,
            count=_int_attr(attrs, "count"),
            totalcount=totalcount,
            numremaining=_int_attr(attrs, "numremaining"),
            result_id=attrs.get("resultId") or None,
            offset=_int_attr(attrs, "offset"),
            records=records,
        )

    def _response(self) -> Response:
        control = self._control
        if control is None:
            raise MalformedResponseError("Intacct answer without a <control> block")
        if not control.ok:
            control.errors = self._control_errors
            return Response(control=control)
        auth = self._auth
        if auth is None:
            raise MalformedResponseError("Intacct answer without operation/authentication")
        if not auth.ok:
            auth.errors = self._auth_errors
            return Response(control=control, authentication=auth)
        if not self._results:
            raise MalformedResponseError("Intacct answer without any <result>")
        return Response(control=control, authentication=auth, results=self._results)


def parse_response(data: bytes, *, max_bytes: int = DEFAULT_MAX_BYTES) -> Response:
    """Parse a whole answer held in memory (tests, small answers)."""
    parser = ResponseParser(max_bytes=max_bytes)
    view = memoryview(data)
    for start in range(0, len(data), 1 << 16):
        parser.feed(bytes(view[start : start + (1 << 16)]))
    return parser.close()


def iter_records(
    chunks: Iterable[bytes], *, max_bytes: int = DEFAULT_MAX_BYTES
) -> Iterator[Record]:
    """Every record of an answer, one at a time, then the envelope is checked at the end."""
    parser = ResponseParser(max_bytes=max_bytes, keep_records=False)
    for chunk in chunks:
        yield from parser.feed(chunk)
    response = parser.close()
    response.ensure_ok()
    for result in response.results:
        result.ensure_ok()


# -- prolog ---------------------------------------------------------------------------------


def _root_start(buffer: bytearray) -> int | None:
    """Offset of the root element's ``<``, or None while the prolog is still incomplete.

    Raises on anything but declaration, PIs, comments and whitespace before the root.
    """
    if bytes(buffer[:2]) in (b"\xff\xfe", b"\xfe\xff") or b"\x00" in buffer[:4]:
        raise MalformedResponseError("Intacct answer is not in an ASCII-compatible encoding")
    position = 3 if buffer.startswith(b"\xef\xbb\xbf") else 0
    while True:
        start = buffer.find(b"<", position)
        if start < 0 or len(buffer) < start + 4:
            return None
        if buffer[start + 1] == ord("?"):
            end = buffer.find(b"?>", start + 2)
            if end < 0:
                return None
            if start == position and buffer[start : start + 5] == b"<?xml":
                _check_encoding(bytes(buffer[start : end + 2]))
            position = end + 2
            continue
        if buffer[start : start + 4] == b"<!--":
            end = buffer.find(b"-->", start + 4)
            if end < 0:
                return None
            position = end + 3
            continue
        if buffer[start + 1] == ord("!"):
            declaration = bytes(buffer[start : start + 20]).decode("ascii", "replace")
            raise MalformedResponseError(
                f"Intacct answer carries a markup declaration ({declaration!r}…); DOCTYPEs and "
                "entities are refused"
            )
        return start


def _check_encoding(declaration: bytes) -> None:
    match = _ENCODING.search(declaration)
    if match is None:
        return
    name = match.group(1).decode("ascii").lower()
    if name not in ALLOWED_ENCODINGS:
        raise MalformedResponseError(f"Intacct answer in unsupported encoding {name!r}")


def _check_root(buffer: bytearray, start: int) -> None:
    end = start + 1 + len(_ROOT)
    if len(buffer) > end and buffer[start + 1 : end] == _ROOT and buffer[end] in b" \t\r\n/>":
        return
    found = re.match(rb"<([A-Za-z_][\w.:-]{0,40})", bytes(buffer[start : start + 44]))
    name = found.group(1).decode("ascii") if found else bytes(buffer[start : start + 20])
    raise MalformedResponseError(f"not an Intacct answer: root element <{name!s}>")


# -- envelope pieces ------------------------------------------------------------------------


def _child_text(element: etree._Element, tag: str) -> str:
    child = element.find(tag)
    if child is None or child.text is None:
        return ""
    return child.text.strip()


def _errors(errormessage: etree._Element) -> tuple[ErrorDetail, ...]:
    return tuple(
        ErrorDetail(
            errorno=_child_text(error, "errorno"),
            description=_child_text(error, "description"),
            description2=_child_text(error, "description2"),
            correction=_child_text(error, "correction"),
        )
        for error in errormessage.iterchildren("error")
    )


def _control(element: etree._Element) -> Control:
    status = _child_text(element, "status")
    if not status:
        raise MalformedResponseError("Intacct control block without a status")
    return Control(
        status=status,
        senderid=_child_text(element, "senderid"),
        controlid=_child_text(element, "controlid"),
        uniqueid=_child_text(element, "uniqueid"),
        dtdversion=_child_text(element, "dtdversion"),
    )


def _authentication(element: etree._Element) -> Authentication:
    status = _child_text(element, "status")
    if not status:
        raise MalformedResponseError("Intacct authentication block without a status")
    auth = Authentication(
        status=status,
        userid=_child_text(element, "userid"),
        companyid=_child_text(element, "companyid"),
        locationid=_child_text(element, "locationid"),
        sessiontimestamp=_iso_time(_child_text(element, "sessiontimestamp")),
        sessiontimeout=_iso_time(_child_text(element, "sessiontimeout")),
    )
    if auth.ok and not (auth.userid and auth.companyid):
        raise MalformedResponseError("Intacct authentication block without userid or companyid")
    return auth


def _iso_time(text: str) -> datetime | None:
    """Session times are ISO-8601 with an offset (``2019-03-28T13:14:34-07:00``)."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text)
    except ValueError as exc:
        raise MalformedResponseError(f"Intacct session time is not ISO-8601: {text!r}") from exc
    if value.tzinfo is None:
        raise MalformedResponseError(f"Intacct session time without an offset: {text!r}")
    return value


def _int_attr(attrs: Mapping[str, str], name: str) -> int | None:
    value = attrs.get(name)
    if value is None or value == "":
        return None
    try:
        return int(value)
    except ValueError as exc:
        raise MalformedResponseError(f"Intacct data attribute {name}={value!r}") from exc
