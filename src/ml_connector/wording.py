"""Counts in words people read: "1 message", "2 messages", "1 dead letter"."""

from __future__ import annotations


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``count`` and the noun that agrees with it; the plural is ``singular + "s"`` by default."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"
