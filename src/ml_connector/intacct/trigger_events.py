"""What a trigger's body may say: which records changed, and nothing else.

A trigger's body is written by the customer in Intacct with injection parameters
(``{!APPYMT.RECORDNO!}``, developer.intacct.com/customization-services/smart-event-walkthrough)
and is never trusted for data: only object names and record keys are taken from it, and the
records are then read through the gateway. The bodies ``ml-connector intacct triggers`` prints
are JSON ``{"object": "APPYMT", "recordno": "123"}`` (GLENTRY adds ``"batch"``, its GLBATCH);
the XML form ``<event><object>APPYMT</object><recordno>123</recordno></event>`` is accepted too,
since older HTTP POST triggers and Smart Events send XML. A JSON array of such objects is one
delivery naming several records.

Limits come before parsing: the size is the caller's, the nesting depth is checked on the raw
bytes (``ml_connector.json_depth``, as for Slack's bodies: a deeply nested JSON document
would otherwise exhaust the parser's recursion), XML is parsed with DTDs, entities and network
access off.

Pure functions: bytes in, references out, ``BadEvent`` naming the problem otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from io import BytesIO
from typing import Any

from lxml import etree

from ml_connector.json_depth import depth_exceeds

# Trigger object → the object the targeted read is about (GLENTRY events name their batch).
# APPAYMENTREQUEST is the legacy face of AP payments (DOC ap-payments: "legacy, kept for
# backward compatibility"); its RECORDNO is taken to be the APPYMT's.
WATCHED = {
    "GLBATCH": "GLBATCH",
    "GLENTRY": "GLBATCH",
    "APPYMT": "APPYMT",
    "APPAYMENTREQUEST": "APPYMT",
    "VENDOR": "VENDOR",
}
MAX_RECORDS = 100
MAX_KEY_DIGITS = 18


class BadEvent(ValueError):
    """The body cannot be a trigger event; the message says why (shown to the sender)."""


@dataclass(frozen=True, order=True)
class RecordRef:
    """A record the targeted read must look at: ``GLBATCH``, ``APPYMT`` or ``VENDOR``."""

    object: str
    key: str


def parse_event(body: bytes, content_type: str, *, max_depth: int) -> list[RecordRef]:
    """The records a trigger body names, deduplicated and sorted."""
    kind = _kind(body, content_type)
    items = _json_items(body, max_depth) if kind == "json" else _xml_items(body, max_depth)
    if not items:
        raise BadEvent("the body names no record")
    if len(items) > MAX_RECORDS:
        raise BadEvent(f"the body names {len(items)} records; at most {MAX_RECORDS} per delivery")
    return sorted({_ref(item) for item in items})


def _kind(body: bytes, content_type: str) -> str:
    media = content_type.split(";")[0].strip().lower()
    if media.endswith("/json") or media.endswith("+json"):
        return "json"
    if media.endswith("/xml") or media.endswith("+xml"):
        return "xml"
    start = body.lstrip()[:1]
    if start in (b"{", b"["):
        return "json"
    if start == b"<":
        return "xml"
    raise BadEvent("the body is neither JSON nor XML")


def _json_items(body: bytes, max_depth: int) -> list[dict[str, Any]]:
    if depth_exceeds(body, max_depth):
        raise BadEvent(f"the JSON body nests deeper than {max_depth} levels")
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise BadEvent("the body is not valid JSON") from None
    items = data if isinstance(data, list) else [data]
    if not all(isinstance(item, dict) for item in items):
        raise BadEvent("expected a JSON object (or an array of objects) naming a record")
    return items


def _xml_items(body: bytes, max_depth: int) -> list[dict[str, Any]]:
    if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
        raise BadEvent("XML with a DTD or entities is refused")
    items: list[dict[str, Any]] = []
    depth = 0
    current: dict[str, Any] | None = None
    try:
        events = etree.iterparse(
            BytesIO(body),
            events=("start", "end"),
            resolve_entities=False,
            no_network=True,
            load_dtd=False,
            huge_tree=False,
        )
        for event, element in events:
            if event == "start":
                depth += 1
                if depth > max_depth:
                    raise BadEvent(f"the XML body nests deeper than {max_depth} levels")
                if element.tag == "event":
                    current = {}
                continue
            depth -= 1
            if element.tag == "event" and current is not None:
                items.append(current)
                current = None
            elif current is not None and isinstance(element.tag, str):
                current[element.tag] = (element.text or "").strip()
    except etree.XMLSyntaxError:
        raise BadEvent("the body is not well-formed XML") from None
    return items


def _ref(item: dict[str, Any]) -> RecordRef:
    name = item.get("object")
    if not isinstance(name, str) or name.strip().upper() not in WATCHED:
        shown = name[:40] if isinstance(name, str) else type(name).__name__
        raise BadEvent(
            f"object {shown!r} is not one ml-connector watches ({', '.join(sorted(WATCHED))})"
        )
    name = name.strip().upper()
    field = "batch" if name == "GLENTRY" else "recordno"
    key = item.get(field)
    if isinstance(key, int) and not isinstance(key, bool):
        key = str(key)
    if not isinstance(key, str) or not key.strip().isdigit() or not key.isascii():
        raise BadEvent(
            f"{name} event needs {field!r} as a record number"
            + (" (was the injection parameter left unfilled?)" if isinstance(key, str) else "")
        )
    key = key.strip().lstrip("0") or "0"
    if len(key) > MAX_KEY_DIGITS:
        raise BadEvent(f"{name} {field} is not a record number Intacct could have")
    return RecordRef(WATCHED[name], key)
