"""The agent under attack (#17): certificate subjects, aiohttp's own errors, hostile cursors,
and the certificate files it writes and reads.

Everything runs against a real agent (demo back end, real TLS, OS-chosen port on loopback).
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import os
from pathlib import Path
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from yarl import URL

from ml_connector.sage100.agent_client.client import RetryPolicy, Sage100AuthError
from ml_connector.sage100.agent_client.tls import client_ssl_context
from ml_connector_agent.auth import FailureThrottle
from ml_connector_agent.certs import client_subject, issue, load_ca, write_pem
from ml_connector_agent.cli import main
from ml_connector_agent.config import PASSPHRASE_ENV, load_config
from ml_connector_agent.errors import ConfigError
from ml_connector_agent.folder import init_folder, renew_certs
from ml_connector_agent.testing import RunningAgent

from .agents import agent_ssl, client_for

NO_RETRY = RetryPolicy(attempts=1)


# -- the allow-list of client certificate subjects ---------------------------------------------


def _stranger(agent: RunningAgent, directory: Path, name: str = "intruder") -> tuple[Path, Path]:
    """A client certificate the agent's own CA signed, for another common name."""
    ca = load_ca(agent.certs.ca_cert, agent.certs.ca_key, agent.passphrase)
    write_pem(issue(ca, name, server=False), directory / "c.pem", directory / "c.key")
    return directory / "c.pem", directory / "c.key"


async def test_init_allows_the_one_subject_it_issued(agent: RunningAgent) -> None:
    assert load_config(agent.config_path).auth.client_subjects == [client_subject()]
    async with client_for(agent) as client:
        assert (await client.page("ABC", "ap-invoices", limit=1)).records


async def test_another_subject_from_the_right_ca_is_refused_logged_and_throttled(
    agent: RunningAgent, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    cert, key = _stranger(agent, tmp_path)
    caplog.set_level(logging.WARNING, logger="ml_connector_agent")
    async with client_for(agent, client_cert=cert, client_key=key, retry=NO_RETRY) as client:
        with pytest.raises(Sage100AuthError) as caught:
            await client.page("ABC", "ap-invoices")
    assert caught.value.http_status == 403
    assert caught.value.code == "certificate_not_allowed"
    [line] = [r.getMessage() for r in caplog.records if "authentication failed" in r.getMessage()]
    assert "client certificate CN=intruder,O=ml-connector" in line
    assert "from 127.0.0.1" in line

    # It counts toward the peer's throttle like a wrong key: after the limit, 429 for all.
    url = f"{agent.url}/v1/health"
    stranger = agent_ssl(agent, client_cert=cert, client_key=key)
    statuses = []
    async with aiohttp.ClientSession() as session:
        for _ in range(FailureThrottle().limit):
            async with session.get(url, ssl=stranger) as resp:
                statuses.append(resp.status)
                assert (await resp.json())["error"] in (
                    "certificate_not_allowed",
                    "too_many_failed_authentications",
                )
        async with session.get(url, ssl=agent_ssl(agent)) as resp:
            assert resp.status == 429
            assert resp.headers["Retry-After"]
    assert statuses == [403] * (FailureThrottle().limit - 1) + [429]


async def test_an_empty_list_accepts_any_certificate_the_ca_signed(
    agent: RunningAgent, tmp_path: Path
) -> None:
    from ml_connector_agent.server import start_agent

    text = agent.config_path.read_text()
    agent.config_path.write_text(text.replace("client_subjects = [", "# client_subjects = ["))
    config = load_config(agent.config_path)
    assert config.auth.client_subjects == []
    server, _ = await start_agent(
        config,
        config_path=agent.config_path,
        backend=agent.backend,
        environ={PASSPHRASE_ENV: agent.passphrase.decode()},
    )
    try:
        cert, key = _stranger(agent, tmp_path)
        ssl_context = agent_ssl(agent, client_cert=cert, client_key=key)
        async with (
            aiohttp.ClientSession() as session,
            session.get(f"{server.url}/v1/health", ssl=ssl_context) as resp,
        ):
            assert resp.status == 200
    finally:
        await server.stop()


async def test_renewed_client_certificate_keeps_an_allowed_subject(agent: RunningAgent) -> None:
    before = agent.client_cert.read_bytes()
    renew_certs(agent.config_path, passphrase=agent.passphrase)
    assert agent.client_cert.read_bytes() != before
    async with client_for(agent) as client:  # the renewed client.pem/client.key
        assert (await client.page("ABC", "ap-invoices", limit=1)).records


def test_renew_refuses_when_the_list_would_refuse_its_certificate(tmp_path: Path) -> None:
    env = {PASSPHRASE_ENV: "pass phrase 1"}
    folder = init_folder(tmp_path / "a", backend="demo", auth="mtls", environ=env)
    text = folder.config.read_text()
    folder.config.write_text(text.replace(client_subject(), "CN=someone else,O=ml-connector"))
    before = folder.certs.client_cert.read_bytes()
    with pytest.raises(ConfigError, match="does not list CN=ml-connector,O=ml-connector"):
        renew_certs(folder.config, environ=env)
    assert folder.certs.client_cert.read_bytes() == before


def test_subjects_are_checked_and_normalised_in_the_config(tmp_path: Path) -> None:
    config = tmp_path / "agent.toml"
    config.write_text(
        'companies = ["ABC"]\n[auth]\nmode = "mtls"\n'
        'client_subjects = ["cn=ml-connector, o=ml-connector"]\n'
    )
    assert load_config(config).auth.client_subjects == ["CN=ml-connector,O=ml-connector"]
    config.write_text('companies = ["ABC"]\n[auth]\nclient_subjects = ["not a subject"]\n')
    with pytest.raises(ConfigError) as caught:
        load_config(config)
    assert "auth.client_subjects" in caught.value.problems[0]
    assert "RFC 4514" in caught.value.problems[0]


async def test_the_list_is_unused_when_the_mode_asks_for_no_certificate(
    key_agent: RunningAgent,
) -> None:
    """Switching `mode` to api_key (the list init wrote still there) keeps the agent working."""
    from ml_connector_agent.server import start_agent

    text = key_agent.config_path.read_text()
    listed = text.replace("# client_subjects = [", "client_subjects = [", 1)
    key_agent.config_path.write_text(listed)
    config = load_config(key_agent.config_path)
    assert config.auth.mode == "api_key" and config.auth.client_subjects
    server, _ = await start_agent(
        config,
        config_path=key_agent.config_path,
        backend=key_agent.backend,
        environ={PASSPHRASE_ENV: key_agent.passphrase.decode()},
    )
    try:
        async with (
            aiohttp.ClientSession() as session,
            session.get(
                f"{server.url}/v1/health",
                ssl=client_ssl_context(key_agent.ca_file, None, None),
                headers={"Authorization": f"Bearer {key_agent.api_key}"},
            ) as resp,
        ):
            assert resp.status == 200
    finally:
        await server.stop()


# -- aiohttp's own error answers ---------------------------------------------------------------


async def _raw(agent: RunningAgent, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``request`` as is over TLS; the whole answer (the agent closes after an error)."""
    url = URL(agent.url)
    context = client_ssl_context(agent.ca_file, None, None)
    reader, writer = await asyncio.open_connection(url.host, url.port, ssl=context)
    try:
        writer.write(request)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 10)
    finally:
        writer.close()
    head, _, body = answer.partition(b"\r\n\r\n")
    status_line, *header_lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in header_lines)}
    return int(status_line.split()[1]), headers, body


SECRET = "s100_" + "Zq7" * 3000  # longer than aiohttp's 8,190-byte header limit


@pytest.mark.parametrize(
    "request_bytes",
    [
        pytest.param(
            f"GET /v1/health HTTP/1.1\r\nHost: a\r\nAuthorization: Bearer {SECRET}\r\n\r\n",
            id="oversized-authorization",
        ),
        pytest.param(
            f"GET /v1/health HTTP/1.1\r\nHost: a\r\nX-Api-Key: {SECRET}\r\n\r\n",
            id="oversized-other-header",
        ),
        pytest.param(f"GET /v1/health?k={SECRET} HTTP/1.1\r\nHost: a\r\n\r\n", id="long-url"),
        pytest.param(
            f"GET /v1/health HTTP/1.1\r\nHost: a\r\n"
            f"Authorization: Bearer {SECRET[:40]}\x01\r\n\r\n",
            id="control-character",
        ),
        pytest.param(
            f"GET /v1/health HTTP/1.1\r\nHost: a\r\nBad Header {SECRET[:40]}\r\n\r\n",
            id="not-a-header",
        ),
    ],
)
async def test_parser_errors_are_json_and_echo_no_header(
    key_agent: RunningAgent, caplog: pytest.LogCaptureFixture, request_bytes: str
) -> None:
    caplog.set_level(logging.DEBUG)
    status, headers, body = await _raw(key_agent, request_bytes.encode("latin-1"))
    assert status == 400
    assert headers["content-type"].startswith("application/json")
    answer = json.loads(body)
    assert answer["error"] == "bad_request" and answer["retryable"] is False
    assert answer["message"]
    logged = caplog.text + "".join(str(r.exc_info) for r in caplog.records if r.exc_info)
    for text in (body.decode("latin-1"), str(headers), logged):
        assert SECRET[:12] not in text
        assert "Zq7Zq7" not in text
    assert "refused a request from 127.0.0.1" in caplog.text


# -- hostile cursors ---------------------------------------------------------------------------


def _token(payload: object) -> str:
    return base64.urlsafe_b64encode(json.dumps(payload).encode()).decode().rstrip("=")


async def test_a_cursor_with_a_lone_surrogate_is_400(agent: RunningAgent) -> None:
    stamp = "2024-01-01T00:00:00"
    cursors = [
        _token({"r": "ap-invoices", "s": stamp, "k": "\ud800"}),
        _token({"r": "ap-invoices", "s": stamp, "k": "01-A-\udfff"}),
        _token({"r": "\ud800" * 500, "s": stamp, "k": "x"}),
        quote("\ud800".encode("utf-8", "surrogatepass")),  # %ED%A0%80
    ]
    async with aiohttp.ClientSession() as session:
        for cursor in cursors:
            url = URL(f"{agent.url}/v1/companies/ABC/ap-invoices?after={cursor}", encoded=True)
            async with session.get(url, ssl=agent_ssl(agent)) as resp:
                assert resp.status == 400, (cursor, await resp.text())
                body = await resp.json()
                assert body["error"] == "invalid_parameter"
                assert len(body["message"]) < 200


_texts = st.text(st.characters(codec=None, blacklist_categories=()), max_size=40)
_cursors = st.one_of(
    _texts.map(lambda t: quote(t.encode("utf-8", "surrogatepass"), safe="")),
    st.binary(max_size=60).map(lambda b: quote(b, safe="")),
    st.binary(max_size=60).map(lambda b: base64.urlsafe_b64encode(b).decode().rstrip("=")),
    st.fixed_dictionaries(
        {
            "r": st.one_of(st.just("ap-invoices"), _texts),
            "s": st.one_of(st.just("2024-01-01T00:00:00"), _texts),
            "k": st.one_of(_texts, st.integers(), st.none(), st.lists(_texts, max_size=2)),
        }
    ).map(_token),
)


async def test_no_cursor_makes_the_agent_fail(agent: RunningAgent) -> None:
    """Arbitrary cursor strings and bytes, percent-encoded: 200 or 400, never 5xx."""
    loop = asyncio.get_running_loop()
    ssl_context = agent_ssl(agent)
    seen: list[int] = []
    async with aiohttp.ClientSession() as session:

        async def ask(cursor: str) -> tuple[int, Any]:
            url = URL(f"{agent.url}/v1/companies/ABC/ap-invoices?after={cursor}", encoded=True)
            async with session.get(url, ssl=ssl_context) as resp:
                return resp.status, await resp.json()

        @settings(
            max_examples=150,
            deadline=None,
            suppress_health_check=[HealthCheck.function_scoped_fixture],
        )
        @given(cursor=_cursors)
        def check(cursor: str) -> None:
            status, body = asyncio.run_coroutine_threadsafe(ask(cursor), loop).result(10)
            seen.append(status)
            assert status in (200, 400), (cursor, status, body)
            if status == 400:
                assert body["error"] == "invalid_parameter"

        await asyncio.to_thread(check)
    assert 400 in seen


# -- the files init-certs and init write, and the agent reads ----------------------------------


def _say(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out + captured.err


def test_init_certs_refuses_to_replace_a_ca_without_force(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "certs"
    assert _say(capsys, "init-certs", "--out", str(out))[0] == 0
    ca_before = (out / "ca.pem").read_bytes()
    os.chmod(out / "agent.key", 0o644)  # e.g. copied around with a careless umask

    code, said = _say(capsys, "init-certs", "--out", str(out))
    assert code == 2
    assert "already holds ca.pem, ca.key" in said and "--force" in said
    assert "renew-certs" in said
    assert (out / "ca.pem").read_bytes() == ca_before

    code, said = _say(capsys, "init-certs", "--out", str(out), "--force")
    assert code == 0, said
    assert (out / "ca.pem").read_bytes() != ca_before
    for key in ("ca.key", "agent.key", "connector.key"):
        assert (out / key).stat().st_mode & 0o777 == 0o600, key
    assert f"note: {out / 'agent.key'} was readable by other users (mode 644)" in said
    assert 'client_subjects = ["CN=ml-connector,O=ml-connector"]' in said


def test_init_refuses_certificates_left_in_its_folder_without_force(tmp_path: Path) -> None:
    env = {PASSPHRASE_ENV: "pass phrase 2"}
    folder = init_folder(tmp_path / "a", backend="demo", environ=env)
    folder.config.unlink()  # a folder half set up: certificates, no agent.toml
    ca_before = folder.certs.ca_cert.read_bytes()
    with pytest.raises(ConfigError, match="already holds ca.pem"):
        init_folder(tmp_path / "a", backend="demo", environ=env)
    assert folder.certs.ca_cert.read_bytes() == ca_before
    again = init_folder(tmp_path / "a", backend="demo", environ=env, force=True)
    assert again.certs.ca_cert.read_bytes() != ca_before


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o644], ids=["640", "604", "644"])
def test_the_agent_refuses_a_key_file_others_can_read(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, mode: int
) -> None:
    monkeypatch.setenv(PASSPHRASE_ENV, "pass phrase 3")
    folder = init_folder(tmp_path / "a", backend="demo")
    key = folder.directory / "certs" / "agent.key"
    os.chmod(key, mode)
    code, said = _say(capsys, "serve", "--config", str(folder.config))
    assert code == 2
    assert f"private key {key} can be read by other users (mode {mode:o})" in said
    assert f"chmod 600 {key}" in said
