"""Escaping, cutting and folding mrkdwn: ERP text always shows as written and fits."""

from __future__ import annotations

import html
import re
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.slack.mrkdwn import (
    ELLIPSIS,
    Mrkdwn,
    clean,
    escape,
    fold_lines,
    join,
    link,
    slack_len,
    truncate,
)

pytestmark = pytest.mark.usefixtures("erp_links")

ENTITY_CUT = re.compile(r"&[a-z]{0,3}…$")


@given(st.text())
def test_escape_leaves_no_control_characters_and_round_trips(value: str) -> None:
    escaped = escape(value)
    assert "<" not in escaped and ">" not in escaped
    assert re.sub(r"&(amp|lt|gt);", "", escaped).count("&") == 0
    assert html.unescape(escaped) == clean(value)


@given(st.text())
def test_clean_drops_controls_but_newline_and_tab_and_every_bidi_override(value: str) -> None:
    cleaned = clean(value)
    for ch in cleaned:
        assert ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"), repr(ch)
        assert not ("\u202a" <= ch <= "\u202e" or "\u2066" <= ch <= "\u2069"), repr(ch)
    kept = [ch for ch in value if ch in "\n\t" or unicodedata.category(ch) not in ("Cc",)]
    assert len(cleaned) <= len(value)
    assert cleaned.count("\n") == value.count("\n") and len(kept) >= len(cleaned)


def test_clean_examples() -> None:
    assert clean("pay\x00pal\u202egnp.exe\r\n\tok\ud800") == "paypalgnp.exe\n\tok\ufffd"


def test_links_only_to_allowed_hosts() -> None:
    assert link("https://www.intacct.com/ia/x?.r=1", "Open") == (
        "<https://www.intacct.com/ia/x?.r=1|Open>"
    )
    assert link("https://evil.example/phish", "Open") == "Open"
    assert link("https://intacct.com.evil.example/x", "Open") == "Open"
    assert link("https://www.intacct.com@evil.example/x", "Open") == "Open"
    assert link("https://evilintacct.com/x") == "https://evilintacct.com/x"  # text, no link


def test_mass_mentions_from_the_erp_do_not_ping() -> None:
    assert escape("<!channel> AT&T") == "&lt;!channel&gt; AT&amp;T"


def test_escape_is_applied_once() -> None:
    once = escape("A & B")
    assert escape(once) == once
    assert join(["A & B", Mrkdwn("*bold*")]) == "A &amp; B · *bold*"


@given(st.text(), st.integers(min_value=2, max_value=400))
def test_truncate_fits_and_never_cuts_an_entity(value: str, limit: int) -> None:
    cut = truncate(escape(value), limit)
    assert slack_len(cut) <= limit
    assert not ENTITY_CUT.search(cut)
    if slack_len(escape(value)) <= limit:
        assert cut == escape(value)
    else:
        assert cut.endswith(ELLIPSIS)


def test_truncate_does_not_cut_inside_a_link() -> None:
    text = "see " + link("https://erp.example/x?a=1", "Invoice 42")
    assert truncate(text, 20) == "see …"


def test_emoji_count_twice() -> None:
    assert slack_len("💰") == 2
    assert truncate("💰💰💰", 4) == "💰…"
    assert truncate("💰💰💰", 5) == "💰💰…"


LINE = st.text(alphabet=st.characters(blacklist_characters="\n\r"), max_size=300)


@given(st.lists(LINE, max_size=80), st.integers(min_value=60, max_value=3000))
def test_fold_lines_fits_and_counts_what_it_left_out(lines: list[str], limit: int) -> None:
    folded = fold_lines(lines, limit)
    assert slack_len(folded) <= limit
    shown = folded.split("\n") if lines else []
    match = re.fullmatch(r"… and ([\d,]+) more", shown[-1]) if shown else None
    if match and len(shown) + int(match.group(1).replace(",", "")) - 1 == len(lines):
        return  # folded: what is shown plus what is counted is everything
    assert len(shown) == len(lines)


def test_fold_lines_keeps_what_fits() -> None:
    lines = [f"invoice {i}" for i in range(1000)]
    folded = fold_lines(lines, 200)
    assert folded.startswith("invoice 0\ninvoice 1\n")
    assert folded.endswith("more")
    shown = folded.count("\n")
    assert folded.endswith(f"… and {1000 - shown:,} more")


def test_link_escapes_label_and_refuses_unsafe_urls() -> None:
    assert link("https://erp.example/i?id=1&x=2", "AT&T <1>") == (
        "<https://erp.example/i?id=1&amp;x=2|AT&amp;T &lt;1&gt;>"
    )
    assert link("javascript:alert(1)", "click") == "click"
    assert link("https://erp.example/a|b", "x") == "x"
    assert link("https://erp.example/", "  ") == "<https://erp.example/|https://erp.example/>"
