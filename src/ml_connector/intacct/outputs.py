"""A run's findings as outbox items: channel, message, dedupe key and source records.

The dedupe keys are what make a re-run harmless. An alert is keyed by the record version it is
about (``RECORDNO@WHENMODIFIED``), so the same batch or payment is never alerted twice unless
Intacct changes it; a summary is keyed by a digest of the versions it summarises, so reading the
same window again yields the same key and nothing is posted; an empty-window line is keyed by
its window. An Intacct error is keyed by the stream, the point its cursor is stuck at and the
error's code, so a fault that lasts many runs is reported once, and a new fault again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ml_connector.intacct import messages
from ml_connector.intacct.gateway import RejectedRecord
from ml_connector.intacct.messages import Style
from ml_connector.intacct.run_window import Window
from ml_connector.intacct.summaries import (
    GLSummary,
    PaymentSummary,
    ReadFailure,
    UnbalancedBatch,
    VendorException,
)
from ml_connector.slack.blocks import Message

MAX_KEY = 400  # outbox.dedupe_key


@dataclass(frozen=True)
class Channels:
    gl: str
    payments: str
    alerts: str


@dataclass(frozen=True)
class Outgoing:
    channel: str
    kind: str
    message: Message
    dedupe_key: str
    source: dict[str, Any] = field(default_factory=dict)


@dataclass
class Findings:
    """Everything one run found, by stream; ``None`` for a stream that was not read fully.

    Each failure comes with the point its stream will be read again from (``None`` when the
    stream has no cursor yet).
    """

    gl: GLSummary | None = None
    unbalanced: Sequence[UnbalancedBatch] = ()
    notable_dropped: int = 0
    payments: PaymentSummary | None = None
    exceptions: Sequence[VendorException] = ()
    failures: list[tuple[ReadFailure, datetime | None]] = field(default_factory=list)
    # Records left out for an amount outside the bound (one alert names them all).
    rejected: Sequence[RejectedRecord] = ()


def dedupe_key(pipeline: str, kind: str, *parts: str) -> str:
    key = ":".join(("intacct", pipeline, kind, *parts))
    if len(key) <= MAX_KEY:
        return key
    # A very long pipeline name: keep the key unique, and within the column.
    return f"intacct:{kind}:{hashlib.sha256(key.encode()).hexdigest()}"


def _window_key(window: Window) -> tuple[str, str]:
    return window.start.isoformat(), window.end.isoformat()


def plan(
    findings: Findings,
    *,
    pipeline: str,
    company: str,
    channels: Channels,
    style: Style,
    post_empty: bool,
    entity: str | None = None,
    records_pipeline: str | None = None,
) -> list[Outgoing]:
    """The run's messages: summaries first, then alerts, each alert its own message.

    ``pipeline`` names the dedupe keys of summaries and run errors: the company's key
    (``intacct``, or ``intacct@E100`` for an entity). Alerts about one record (an unbalanced
    batch, a payment to a vendor on hold) are keyed by ``records_pipeline`` (default:
    ``pipeline``), the pipeline's own name: a RECORDNO is unique in the whole Intacct company,
    so the entity's run, the top level's and a trigger's targeted read alert it once.
    """
    by_record = records_pipeline or pipeline
    out: list[Outgoing] = []
    base: dict[str, object] = {"company": company}
    if entity is not None:
        base["entity"] = entity
    gl = findings.gl
    if gl is not None and not gl.empty:
        out.append(
            Outgoing(
                channels.gl,
                "gl_summary",
                messages.gl_summary(gl, style, notable_dropped=findings.notable_dropped),
                dedupe_key(pipeline, "gl-summary", gl.digest),
                {
                    **base,
                    "window": gl.window.as_json(),
                    "GLBATCH": gl.batch_recordnos,
                    "GLENTRY": gl.entry_recordnos,
                },
            )
        )
    elif gl is not None and post_empty:
        out.append(
            Outgoing(
                channels.gl,
                "gl_summary",
                messages.gl_empty(gl.window, style),
                dedupe_key(pipeline, "gl-empty", *_window_key(gl.window)),
                {**base, "window": gl.window.as_json(), "GLBATCH": [], "GLENTRY": []},
            )
        )
    pay = findings.payments
    if pay is not None and not pay.empty:
        out.append(
            Outgoing(
                channels.payments,
                "payment_summary",
                messages.payment_summary(pay, style),
                dedupe_key(pipeline, "payment-summary", pay.digest),
                {**base, "window": pay.window.as_json(), "APPYMT": pay.payment_recordnos},
            )
        )
    elif pay is not None and post_empty:
        out.append(
            Outgoing(
                channels.payments,
                "payment_summary",
                messages.payments_empty(pay.window, style),
                dedupe_key(pipeline, "payments-empty", *_window_key(pay.window)),
                {**base, "window": pay.window.as_json(), "APPYMT": []},
            )
        )
    for item in findings.unbalanced:
        out.append(
            Outgoing(
                channels.alerts,
                "unbalanced_entry",
                messages.unbalanced_alert(item, style),
                dedupe_key(by_record, "unbalanced", "GLBATCH", item.batch.key),
                {
                    **base,
                    "GLBATCH": [item.batch.recordno],
                    "GLENTRY": [line.recordno for line in item.lines],
                    "WHENMODIFIED": item.batch.whenmodified.isoformat(),
                },
            )
        )
    for exception in findings.exceptions:
        pay_item = exception.payment
        out.append(
            Outgoing(
                channels.alerts,
                "vendor_exception",
                messages.vendor_alert(exception, style),
                dedupe_key(by_record, "vendor-exception", "APPYMT", pay_item.key),
                {
                    **base,
                    "APPYMT": [pay_item.recordno],
                    "VENDORID": exception.vendor_id,
                    "WHENMODIFIED": pay_item.whenmodified.isoformat(),
                    "reasons": list(exception.reasons),
                },
            )
        )
    if findings.rejected:
        problems = sorted({r.problem for r in findings.rejected})
        out.append(
            Outgoing(
                channels.alerts,
                "source_data_error",
                messages.source_data_alert(problems, style),
                dedupe_key(pipeline, "source-data", *problems),
                {
                    **base,
                    "records": [
                        {"object": r.object_name, "RECORDNO": r.get("RECORDNO"), "field": r.field}
                        for r in findings.rejected
                    ],
                },
            )
        )
    for failure, resumes_from in findings.failures:
        # A stream that has never been read completely has no cursor; its window still slides
        # with the clock, so it is keyed as stuck at its beginning.
        stuck_at = resumes_from.isoformat() if resumes_from is not None else "first-read"
        out.append(
            Outgoing(
                channels.alerts,
                "intacct_error",
                messages.error_alert(failure, style, resumes_from=resumes_from),
                dedupe_key(pipeline, "error", failure.stream, stuck_at, failure.code),
                {
                    **base,
                    "stream": failure.stream,
                    "window": failure.window.as_json(),
                    "errors": [
                        {
                            "errorno": e.errorno,
                            "description": e.description,
                            "description2": e.description2,
                            "correction": e.correction,
                        }
                        for e in failure.errors
                    ],
                },
            )
        )
    return out
