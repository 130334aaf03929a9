"""structlog set-up: readable in a terminal, JSON lines for machines, secrets always masked.

Redaction runs last before rendering, over every key and value of every event, so a token
that slips into a message, an exception text or a nested dict is masked all the same.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from typing import Any, Literal

import structlog

from ml_connector.redact import MASK, SECRET_KEYS, redact_text, redact_value


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        if SECRET_KEYS.search(key) and value and key not in ("event",):
            event[key] = MASK
        else:
            event[key] = redact_value(value)
    return event


def _format_exception_redacted(
    logger: Any, method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    event = structlog.processors.format_exc_info(logger, method, event)
    if "exception" in event:
        event["exception"] = redact_text(str(event["exception"]))
    return event


def configure(
    fmt: Literal["console", "json"] = "console",
    level: str = "info",
    stream: Any = None,
) -> None:
    """Configure structlog and the standard library's logging to one sink."""
    out = stream or sys.stderr
    numeric = logging.getLevelNamesMapping()[level.upper()]
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
        _format_exception_redacted,
        redact,
    ]
    renderer: Any = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        else structlog.dev.ConsoleRenderer(colors=out.isatty(), exception_formatter=_plain)
    )
    structlog.configure(
        processors=[*shared, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(out),
        cache_logger_on_first_use=False,
    )
    root = logging.getLogger()
    root.handlers = [_StructlogHandler()]
    root.setLevel(max(numeric, logging.INFO))
    # Alembic narrates every migration step at INFO; only its problems matter to a user.
    logging.getLogger("alembic").setLevel(logging.WARNING)


def _plain(sio: Any, exc_info: Any) -> None:
    sio.write("\n" + str(exc_info))


class _StructlogHandler(logging.Handler):
    """Route library logs (aiohttp, slack_sdk …) through the same redacting pipeline."""

    def emit(self, record: logging.LogRecord) -> None:
        try:
            message = record.getMessage()
        except (TypeError, ValueError):
            message = str(record.msg)
        get_logger(record.name).log(record.levelno, message)


def get_logger(name: str | None = None) -> Any:
    return structlog.get_logger(name) if name else structlog.get_logger()
