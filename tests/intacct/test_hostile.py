"""Hostile answers: DTDs and entities are refused before libxml2 could expand anything."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ml_connector.intacct.gateway import MalformedResponseError, ResponseParser, parse_response

# Every test here runs with both record loops (conftest.record_loop).
pytestmark = pytest.mark.usefixtures("record_loop")

BILLION_LAUGHS = b"""<?xml version="1.0"?>
<!DOCTYPE response [
 <!ENTITY lol "lol">
 <!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
 <!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">
 <!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">
 <!ENTITY lol4 "&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;&lol3;">
 <!ENTITY lol5 "&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;&lol4;">
 <!ENTITY lol6 "&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;&lol5;">
 <!ENTITY lol7 "&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;&lol6;">
 <!ENTITY lol8 "&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;&lol7;">
 <!ENTITY lol9 "&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;&lol8;">
]>
<response><control><status>success</status></control><operation><authentication>
<status>success</status><userid>&lol9;</userid><companyid>c</companyid></authentication>
<result><status>success</status><function>readByQuery</function><controlid>f</controlid>
<data listtype="X" count="1"><X><A>&lol9;</A></X></data></result></operation></response>"""


def external_entity(target: Path) -> bytes:
    return (
        b'<?xml version="1.0"?>\n<!DOCTYPE response [<!ENTITY xxe SYSTEM "file://'
        + str(target).encode()
        + b'">]>\n<response><control><status>success</status></control><operation>'
        b"<authentication><status>success</status><userid>&xxe;</userid><companyid>c"
        b"</companyid></authentication><result><status>success</status><function>read"
        b"</function><controlid>f</controlid><data><X><A>&xxe;</A></X></data></result>"
        b"</operation></response>"
    )


def test_billion_laughs_is_refused_at_once() -> None:
    started = time.perf_counter()
    with pytest.raises(MalformedResponseError, match="DOCTYPE"):
        parse_response(BILLION_LAUGHS)
    assert time.perf_counter() - started < 0.5


def test_external_entity_is_refused_and_the_file_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    with pytest.raises(MalformedResponseError) as caught:
        parse_response(external_entity(secret))
    assert "TOP-SECRET" not in str(caught.value)
    assert "DOCTYPE" in str(caught.value)


def test_doctype_fed_one_byte_at_a_time_never_reaches_libxml2() -> None:
    parser = ResponseParser()
    with pytest.raises(MalformedResponseError, match="DOCTYPE"):
        for index in range(len(BILLION_LAUGHS)):
            parser.feed(BILLION_LAUGHS[index : index + 1])
    # Refused as soon as "<!DO" was seen: not one byte went past the prolog check.
    assert parser.bytes_received <= BILLION_LAUGHS.index(b"<!DOCTYPE") + 4


@pytest.mark.parametrize(
    "prolog",
    [
        b"<!-- harmless --><!DOCTYPE response SYSTEM 'http://evil.example/x.dtd'>",
        b'\xef\xbb\xbf<?xml version="1.0"?><?pi x?><!DOCTYPE response>',
        b"<!ENTITY x 'y'>",
        b"<!doctype response>",
    ],
)
def test_any_markup_declaration_before_the_root_is_refused(prolog: bytes) -> None:
    with pytest.raises(MalformedResponseError, match="markup declaration"):
        parse_response(prolog + b"<response/>")


def test_entity_reference_without_a_dtd_is_not_resolved() -> None:
    body = (
        b"<response><control><status>success</status></control><operation><authentication>"
        b"<status>success</status><userid>&ext;</userid><companyid>c</companyid>"
        b"</authentication></operation></response>"
    )
    with pytest.raises(MalformedResponseError, match="not well-formed"):
        parse_response(body)


def test_endless_prolog_is_refused() -> None:
    with pytest.raises(MalformedResponseError, match="no root element"):
        parse_response(b"<!--" + b"x" * 20_000 + b"-->" + b"<response/>")
