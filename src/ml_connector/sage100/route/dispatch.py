"""From one poll's events to outbox rows: route each event, then digest crowded channels.

Routing comes first and the flood rule is applied per channel, because a channel is what a
person reads: 30 invoices to AP is a flood there, while the three of them over the approval
limit are still three separate messages in approvals.

Dedupe keys name the record, its stamp, its fingerprint and the channel, so the same event
can never be queued twice (a re-read window, a repeated poll after a crash) while a record
that changes back and forth at different stamps is still news each time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ml_connector.config import Sage100Stream
from ml_connector.sage100.collect.records import Record, amount_problems, record_key, stamp
from ml_connector.sage100.collect.streams import StreamSpec
from ml_connector.sage100.decide.changes import digest as fingerprint_digest
from ml_connector.sage100.decide.plan import Event, RegisterEvent
from ml_connector.sage100.route.routing import route
from ml_connector.sage100.write.digests import digest
from ml_connector.sage100.write.messages import Style, render
from ml_connector.slack.blocks import Message, alert_message

MAX_DEDUPE_KEY = 400


@dataclass(frozen=True)
class Outgoing:
    channel: str
    message: Message
    dedupe_key: str
    source: dict[str, Any]
    kind: str


def _key(*parts: str) -> str:
    key = ":".join(parts)
    if len(key) <= MAX_DEDUPE_KEY:
        return key
    # Very long pipeline names or record keys: keep a readable prefix, make it unique.
    tail = hashlib.sha256(key.encode()).hexdigest()[:32]
    return f"{key[: MAX_DEDUPE_KEY - len(tail) - 1]}#{tail}"


def _source(company: str, event: Event) -> dict[str, Any]:
    source: dict[str, Any] = {
        "system": "sage100",
        "company": company,
        "stream": event.spec.name,
        "event": event.kind,
        "record_key": event.record_key,
        "stamp": event.stamp,
    }
    if isinstance(event, RegisterEvent):
        keys = event.register.line_keys
        source.update(lines=len(keys), first_line=keys[0], last_line=keys[-1])
        source["earlier_lines"] = event.earlier_lines
    else:
        source["changes"] = [c.field.label for c in event.changes]
    return source


def plan_outgoing(
    pipeline: str,
    spec: StreamSpec,
    settings: Sage100Stream,
    events: Sequence[Event],
    style: Style,
) -> list[Outgoing]:
    by_channel: dict[str, list[Event]] = {}
    for event in events:
        for channel in route(settings.channel, settings.routes, event.fields()):
            by_channel.setdefault(channel, []).append(event)
    rows: list[Outgoing] = []
    prefix = f"sage100:{pipeline}:{spec.name}"
    for channel, items in by_channel.items():
        if len(items) > settings.digest_threshold:
            members = sorted((e.record_key, e.stamp, e.version) for e in items)
            rows.append(
                Outgoing(
                    channel=channel,
                    message=digest(spec, items, style),
                    dedupe_key=_key(prefix, "digest", fingerprint_digest({"m": members}), channel),
                    source={
                        "system": "sage100",
                        "company": style.company,
                        "stream": spec.name,
                        "digest": True,
                        "record_keys": [m[0] for m in members],
                        "first_stamp": min(e.stamp for e in items),
                        "last_stamp": max(e.stamp for e in items),
                    },
                    kind=f"sage100.{spec.name}.digest",
                )
            )
            continue
        for event in items:
            rows.append(
                Outgoing(
                    channel=channel,
                    message=render(event, style),
                    dedupe_key=_key(
                        prefix, event.record_key, event.stamp, event.version, event.kind, channel
                    ),
                    source=_source(style.company, event),
                    kind=f"sage100.{spec.name}.{event.kind}",
                )
            )
    return rows


def split_bad_records(
    records: Sequence[Record],
) -> tuple[list[Record], list[tuple[Record, list[str]]]]:
    """The records fit to use, and the others with what is wrong in each (bad source data:
    an amount outside the bound, or one the agent could not read)."""
    good: list[Record] = []
    bad: list[tuple[Record, list[str]]] = []
    for record in records:
        problems = amount_problems(record)
        if problems:
            bad.append((record, problems))
        else:
            good.append(record)
    return good, bad


def source_data_outgoing(
    pipeline: str,
    spec: StreamSpec,
    settings: Sage100Stream,
    bad: Sequence[tuple[Record, list[str]]],
    style: Style,
) -> Outgoing:
    """One alert, in the stream's channel, naming every record left out and its field."""
    lines = [line for _, problems in bad for line in problems]
    members = sorted(f"{record_key(r)}@{stamp(r)}" for r, _ in bad)
    count = len(bad)
    noun = spec.singular if count == 1 else spec.plural
    message = alert_message(
        f"Sage 100 source data error: {count} {noun} left out",
        severity="critical",
        summary=(
            "An amount in these records is not a number ml-connector accepts (NaN, infinite, "
            "or absurdly large or precise), so they were not posted; everything else was. "
            "Correct the records in Sage 100."
        ),
        lines=lines,
        footer=[f"Sage 100 {style.company}"],
    )
    return Outgoing(
        channel=settings.channel,
        message=message,
        dedupe_key=_key(
            f"sage100:{pipeline}:{spec.name}", "source-data", fingerprint_digest({"m": members})
        ),
        source={
            "system": "sage100",
            "company": style.company,
            "stream": spec.name,
            "source_data_error": True,
            "record_keys": [record_key(r) for r, _ in bad],
        },
        kind=f"sage100.{spec.name}.source_data_error",
    )
