"""structlog set-up: readable in a terminal, JSON lines for machines, secrets always masked.

Redaction runs last before rendering, over every key and value of every event, so a token
that slips into a message, an exception text or a nested dict is masked all the same.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any, Literal

import structlog

MASK = "***"

# Values masked wherever they appear inside any string.
_PATTERNS = [
    re.compile(r"xox[abposre]-[A-Za-z0-9-]+"),  # Slack bot/user/refresh tokens
    re.compile(r"xapp-[A-Za-z0-9-]+"),  # Slack app-level tokens
    re.compile(r"(?i)(<sessionid>)[^<]*(</sessionid>)"),  # Intacct session in XML
    re.compile(r"(?i)(<password>)[^<]*(</password>)"),
    re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(\b(?:password|passwd|secret|api[_-]?key|token|sessionid)\s*[=:]\s*)[^\s,;&]+"
    ),
    re.compile(r"\bs100_[A-Za-z0-9_-]{16,}"),  # our Sage 100 agent API keys
]
# Keys whose values are secrets whatever they look like.
_SECRET_KEYS = re.compile(
    r"(?i)(password|passwd|secret|token|api_?key|sessionid|session_id|authorization|master_?key)"
)

_extra_secrets: set[str] = set()


def register_secret(value: str) -> None:
    """Mask this exact value from now on (secrets read from the vault register themselves)."""
    if len(value) >= 6:
        _extra_secrets.add(value)


def redact_text(text: str) -> str:
    for secret in _extra_secrets:
        if secret in text:
            text = text.replace(secret, MASK)
    for pattern in _PATTERNS:
        if pattern.groups == 2:
            text = pattern.sub(lambda m: f"{m.group(1)}{MASK}{m.group(2)}", text)
        elif pattern.groups == 1:
            text = pattern.sub(lambda m: f"{m.group(1)}{MASK}", text)
        else:
            text = pattern.sub(MASK, text)
    return text


def redact_value(value: Any) -> Any:
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and _SECRET_KEYS.search(k) and v else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple | set):
        return (
            type(value)(redact_value(v) for v in value)
            if not isinstance(value, set)
            else {redact_value(v) for v in value}
        )
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    for key in list(event):
        value = event[key]
        if _SECRET_KEYS.search(key) and value and key not in ("event",):
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
