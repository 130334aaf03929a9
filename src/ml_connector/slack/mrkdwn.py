"""Slack's mrkdwn, made safe for text that comes from an ERP.

https://docs.slack.dev/messaging/formatting-message-text/: "Slack uses &, <, and > as control
characters for special parsing in text objects, so they must be converted to HTML entities."
A vendor called ``<!channel>`` or ``AT&T`` must show as written and never ping a channel, so
every ERP string is escaped exactly once. :class:`Mrkdwn` marks text that is already safe
(escaped, or markup we built), so builders can escape everything else without double-escaping.

Escaping is not all: Slack also rewrites plain text on its own (bare URLs become links,
``@channel``-like words mentions) unless the text object says ``verbatim: true``, which
:mod:`.blocks` sets on every mrkdwn object. :func:`clean`, which every helper here applies,
removes what no finance message needs and an attacker can abuse: control characters other
than newline and tab (NUL included) and the bidirectional overrides and isolates
(U+202A-U+202E, U+2066-U+2069) that make ``exe.pdf`` read as ``fdp.exe``. Links are made only
to hosts in the configured allow-list (:func:`set_link_hosts`; the Intacct hosts by default),
so a ``RECORD_URL`` pointing elsewhere shows as text.

Lengths are counted in UTF-16 code units, the stricter of the ways Slack might count: an emoji
counts twice, so a limit is never crossed by a vendor name full of emoji.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from urllib.parse import urlsplit

from ml_connector.config import INTACCT_LINK_HOSTS

ELLIPSIS = "…"
BLANK = "—"

_LONE_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 controls but tab and newline, DEL, C1 controls, bidi embeddings/overrides/isolates.
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")
_ALLOWED_LINK_SCHEMES = ("https://", "http://")

# The process-wide link allow-list: set once from the config when pipelines are built.
_link_hosts: tuple[str, ...] = INTACCT_LINK_HOSTS


def set_link_hosts(hosts: Iterable[str]) -> None:
    """Hosts (and their subdomains) that :func:`link` may point to."""
    global _link_hosts
    _link_hosts = tuple(h.lower().strip(".") for h in hosts if h.strip("."))


def link_hosts() -> tuple[str, ...]:
    return _link_hosts


def host_allowed(url: str) -> bool:
    """Whether ``url``'s host is an allowed host or a subdomain of one."""
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
    except ValueError:
        return False
    if parts.username is not None or parts.password is not None:
        return False  # https://intacct.com@evil.example reads as one host, goes to another
    return any(host == allowed or host.endswith("." + allowed) for allowed in _link_hosts)


class Mrkdwn(str):
    """Text that is valid, safe mrkdwn: escaped ERP data or markup built here."""

    __slots__ = ()


def clean(value: str) -> str:
    """Drop control characters (but newline and tab) and bidi overrides; replace lone
    surrogates (which JSON encoders pass through and Slack rejects)."""
    return _LONE_SURROGATE.sub("\ufffd", _UNSAFE.sub("", value))


def escape(value: object) -> Mrkdwn:
    """ERP text as mrkdwn that shows literally; already-safe :class:`Mrkdwn` is kept."""
    if isinstance(value, Mrkdwn):
        return value
    text = clean(str(value))
    return Mrkdwn(text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;"))


def slack_len(text: str) -> int:
    """Length in UTF-16 code units (characters outside the BMP count twice)."""
    return len(text) + sum(1 for ch in text if ord(ch) > 0xFFFF)


def _prefix_within(text: str, units: int) -> str:
    """The longest prefix of ``text`` that is at most ``units`` UTF-16 code units long."""
    if slack_len(text) <= units:
        return text
    used = 0
    for index, ch in enumerate(text):
        used += 2 if ord(ch) > 0xFFFF else 1
        if used > units:
            return text[:index]
    return text


def truncate(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` units with an ellipsis, never inside an entity or a link.

    Cutting ``&amp;`` to ``&am`` or ``<https://x|label>`` to ``<https://x|la`` would show
    markup instead of text, so the cut moves back before an unfinished entity or ``<…>``.
    """
    if slack_len(text) <= limit:
        return text
    if limit <= 0:
        return ""
    cut = _prefix_within(text, limit - slack_len(ELLIPSIS))
    amp = cut.rfind("&")
    if amp != -1 and ";" not in cut[amp:]:
        cut = cut[:amp]
    opening = cut.rfind("<")
    if opening != -1 and ">" not in cut[opening:]:
        cut = cut[:opening]
    return Mrkdwn(cut + ELLIPSIS) if isinstance(text, Mrkdwn) else cut + ELLIPSIS


def more(count: int) -> str:
    return f"{ELLIPSIS} and {count:,} more"


def fold_lines(lines: Sequence[str], limit: int) -> str:
    """Join lines while they fit in ``limit``; the rest become one "… and N more" line.

    A first line longer than the limit is truncated instead, so something always shows.
    """
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        remaining = len(lines) - index - 1
        separator = 1 if kept else 0
        tail = slack_len("\n" + more(remaining)) if remaining else 0
        if used + separator + slack_len(line) + tail <= limit:
            kept.append(line)
            used += separator + slack_len(line)
            continue
        if kept:
            # The previous line was admitted only with room for this very tail.
            kept.append(more(len(lines) - index))
        else:
            kept.append(truncate(line, max(limit - tail, 1)))
            if remaining:
                kept.append(more(remaining))
        break
    return "\n".join(kept)


def join(parts: Iterable[str], separator: str = " · ") -> Mrkdwn:
    """Escape every part that is not already :class:`Mrkdwn` and join them."""
    return Mrkdwn(separator.join(escape(part) for part in parts))


def bold(value: str) -> Mrkdwn:
    text = escape(value)
    return Mrkdwn(f"*{text}*") if text.strip() else text


def italic(value: str) -> Mrkdwn:
    text = escape(value)
    return Mrkdwn(f"_{text}_") if text.strip() else text


def link(url: str, label: str | None = None) -> Mrkdwn:
    """``<url|label>``; a URL we would not let a user click becomes plain text.

    Only http(s) links to an allowed host (:func:`host_allowed`) are made clickable: a record
    link is built from the ERP, and ``javascript:``, a host elsewhere, or a URL with spaces or
    ``|`` would break the markup or mislead.
    """
    target = clean(url.strip())
    text = escape(label) if label is not None and label.strip() else escape(target)
    if (
        not target.lower().startswith(_ALLOWED_LINK_SCHEMES)
        or any(ch in target for ch in " \t\r\n|<>")
        or slack_len(target) > 2000
        or not host_allowed(target)
    ):
        return text
    safe_target = target.replace("&", "&amp;")
    return Mrkdwn(f"<{safe_target}|{text}>")


def blank_to_dash(value: str) -> str:
    """Slack rejects empty text objects; an ERP blank shows as an em dash."""
    return value if value.strip() else BLANK
