"""The one redactor: every text that leaves the process or reaches storage goes through it.

A source's error text is outside text. A gateway, a proxy or the agent can echo back what it
was sent — an Intacct login password, a ``Bearer`` key, a Slack token — and that text then
becomes an alert, a ``runs.error``, an outbox message, an audit row, CLI output and a log
line. So the redactor sits at those few edges (the storage columns in ``store.tables``, the
log pipeline, the CLI's printers, exception texts) and masks two kinds of thing:

- every secret *value* the vault has handed out or holds (:func:`register_secret`), in the
  forms an echo can take it: as is, XML/HTML-escaped, JSON-escaped and URL-encoded;
- the usual *shapes* of a secret, whatever its value: ``Bearer …``, ``xox?-…`` Slack tokens,
  ``<password>…</password>`` and ``<sessionid>`` in XML, ``password=…`` pairs, our agent keys.

It has no dependency inside the package, so anything (errors, logging, store) can use it.
"""

from __future__ import annotations

import html
import json
import re
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "***"
# Shorter values would mask ordinary words; no secret we issue or accept is this short.
MIN_SECRET_LENGTH = 6

# Values masked wherever they appear inside any string.
_PATTERNS = [
    re.compile(r"xox[abposre]-[A-Za-z0-9-]+"),  # Slack bot/user/refresh tokens
    re.compile(r"xapp-[A-Za-z0-9-]+"),  # Slack app-level tokens
    re.compile(r"(?i)(<sessionid>)[^<]*(</sessionid>)"),  # Intacct session in XML
    re.compile(r"(?i)(<password>)[^<]*(</password>)"),
    re.compile(r"(?i)(&lt;password&gt;).*?(&lt;/password&gt;)"),  # the same, escaped once
    re.compile(r"(?i)(authorization:\s*bearer\s+)\S+"),
    re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"),
    re.compile(
        r"(?i)(\b(?:password|passwd|secret|api[_-]?key|token|sessionid)\s*[=:]\s*)[^\s,;&<]+"
    ),
    re.compile(r"\bs100_[A-Za-z0-9_-]{16,}"),  # our Sage 100 agent API keys
    re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)"),
]
# Keys whose values are secrets whatever they look like.
SECRET_KEYS = re.compile(
    r"(?i)(password|passwd|secret|token|api_?key|sessionid|session_id|authorization|master_?key)"
)

_lock = threading.Lock()
# Longest first, so a secret that contains another is masked whole.
_secrets: tuple[str, ...] = ()


def _forms(value: str) -> set[str]:
    """The ways an echo can carry ``value``: raw, escaped for XML/HTML and JSON, URL-encoded."""
    forms = {
        value,
        html.escape(value, quote=False),
        html.escape(value, quote=True),
        json.dumps(value)[1:-1],
        json.dumps(value, ensure_ascii=False)[1:-1],
        quote(value, safe=""),
        quote_plus(value, safe=""),
    }
    return {form for form in forms if len(form) >= MIN_SECRET_LENGTH}


def register_secret(value: str) -> None:
    """Mask this exact value from now on (the vault registers every value it decrypts)."""
    global _secrets
    if len(value) < MIN_SECRET_LENGTH:
        return
    forms = _forms(value)
    if forms <= set(_secrets):
        return
    with _lock:
        _secrets = tuple(sorted(set(_secrets) | forms, key=len, reverse=True))


def known_secret_count() -> int:
    return len(_secrets)


def redact_text(text: str) -> str:
    """``text`` with every known secret value and every secret-shaped token masked."""
    for secret in _secrets:
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


def redact_optional(text: str | None) -> str | None:
    return None if text is None else redact_text(text)


def redact_value(value: Any) -> Any:
    """Strings anywhere inside dicts, lists, tuples and sets redacted; values of secret keys
    masked whatever they hold; an exception becomes its redacted ``Type: message``."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {
            k: (MASK if isinstance(k, str) and SECRET_KEYS.search(k) and v else redact_value(v))
            for k, v in value.items()
        }
    if isinstance(value, set | frozenset):
        return {redact_value(v) for v in value}
    if isinstance(value, list | tuple):
        return type(value)(redact_value(v) for v in value)
    if isinstance(value, BaseException):
        return redact_text(f"{type(value).__name__}: {value}")
    return value


def redact_payload(value: Any) -> Any:
    """Like :func:`redact_value`, but keys are kept as they are (stored JSON: a message's
    ``text``/``blocks``, a run's details), since there a key names structure, not a secret."""
    if isinstance(value, str):
        return redact_text(value)
    if isinstance(value, Mapping):
        return {k: redact_payload(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact_payload(v) for v in value]
    return value
