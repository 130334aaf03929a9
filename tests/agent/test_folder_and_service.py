"""``agent init``, encrypted keys, renew-certs, expiry, and the Windows seams (on Linux)."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import ssl
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from ml_connector_agent.certs import issue, load_ca, load_certificate, write_pem
from ml_connector_agent.cli import main, run_service_command
from ml_connector_agent.config import PASSPHRASE_ENV, load_config
from ml_connector_agent.errors import ConfigError
from ml_connector_agent.folder import init_folder, renew_certs
from ml_connector_agent.server import build_ssl
from ml_connector_agent.service import AgentRunner

PASS = "correct horse battery staple"
ENV = {PASSPHRASE_ENV: PASS}


def test_init_writes_a_complete_folder_with_encrypted_keys(tmp_path: Path) -> None:
    folder = init_folder(
        tmp_path / "agent", hosts=["sage.example.internal", "10.0.0.5"], environ=ENV
    )
    text = folder.config.read_text()
    assert text.count("#") > 15  # commented
    assert folder.api_key and folder.api_key not in text
    certs = tmp_path / "agent" / "certs"
    for key in (certs / "agent.key", certs / "ca.key"):
        assert key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
        assert key.stat().st_mode & 0o777 == 0o600
    assert (folder.handover / "client.key").stat().st_mode & 0o777 == 0o600
    assert folder.config.stat().st_mode & 0o777 == 0o600  # holds the API key hashes
    cert = load_certificate(certs / "agent.pem", "agent certificate")
    assert "sage.example.internal" in str(cert.extensions)
    config = load_config(folder.config)
    assert config.auth.mode == "mtls+api_key"
    with pytest.raises(ConfigError, match="already set up"):
        init_folder(tmp_path / "agent", environ=ENV)


def test_init_refuses_to_write_keys_without_a_passphrase(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=PASSPHRASE_ENV):
        init_folder(tmp_path / "agent", environ={})
    assert not (tmp_path / "agent" / "certs").exists()


def test_the_agent_needs_the_passphrase_and_refuses_an_open_key(tmp_path: Path) -> None:
    folder = init_folder(tmp_path / "a", environ=ENV, backend="demo")
    config = load_config(folder.config)
    assert isinstance(build_ssl(config, insecure_dev=False, environ=ENV), ssl.SSLContext)
    with pytest.raises(ConfigError, match="encrypted and no passphrase"):
        build_ssl(config, insecure_dev=False, environ={})
    with pytest.raises(ConfigError, match="wrong passphrase"):
        build_ssl(config, insecure_dev=False, environ={PASSPHRASE_ENV: "nope"})
    key = tmp_path / "a" / "certs" / "agent.key"
    os.chmod(key, 0o644)
    with pytest.raises(ConfigError, match=r"agent.key can be read by other users .*chmod 600"):
        build_ssl(config, insecure_dev=False, environ=ENV)


def test_dpapi_sealed_passphrase_behind_the_seam(tmp_path: Path) -> None:
    class FakeDpapi:
        def protect(self, data: bytes) -> bytes:
            return b"sealed:" + data[::-1]

        def unprotect(self, blob: bytes) -> bytes:
            assert blob.startswith(b"sealed:")
            return blob[len(b"sealed:") :][::-1]

    fake = FakeDpapi()
    folder = init_folder(tmp_path / "a", environ={}, dpapi=fake, backend="demo")
    config = load_config(folder.config)
    assert config.tls.key_passphrase_dpapi == Path("certs/passphrase.dpapi")
    sealed = (tmp_path / "a" / "certs" / "passphrase.dpapi").read_bytes()
    assert sealed.startswith(b"sealed:")
    assert isinstance(build_ssl(config, insecure_dev=False, environ={}, dpapi=fake), ssl.SSLContext)


def test_renew_certs_keeps_the_ca_and_the_names(tmp_path: Path) -> None:
    folder = init_folder(tmp_path / "a", hosts=["sage.local"], environ=ENV)
    before = load_certificate(folder.certs.agent_cert, "agent")
    old_client = load_certificate(folder.certs.client_cert, "client")
    ca_before = folder.certs.ca_cert.read_bytes()
    paths = renew_certs(folder.config, environ=ENV)
    after = load_certificate(paths.agent_cert, "agent")
    assert after.serial_number != before.serial_number
    assert str(after.extensions.get_extension_for_oid(before.extensions[-1].oid)) == str(
        before.extensions[-1]
    )  # the same SANs
    assert folder.certs.ca_cert.read_bytes() == ca_before
    new_client = load_certificate(paths.client_cert, "client")
    assert new_client.serial_number != old_client.serial_number
    assert new_client.issuer == old_client.issuer  # the old one stays valid: same CA
    assert paths.agent_key.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")


def test_expired_and_expiring_certificates(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = init_folder(tmp_path / "a", environ=ENV, backend="demo")
    ca = load_ca(folder.certs.ca_cert, folder.certs.ca_key, PASS.encode())
    soon = issue(
        ca,
        "agent",
        server=True,
        hostnames=["localhost"],
        days=20,
    )
    write_pem(soon, folder.certs.agent_cert, folder.certs.agent_key, passphrase=PASS.encode())
    os.environ[PASSPHRASE_ENV] = PASS
    try:
        assert main(["check", "--config", str(folder.config)]) == 1
        out = capsys.readouterr().out
        assert "agent.pem expires on" in out and "renew-certs" in out
        start = datetime.now(UTC) - timedelta(days=10)
        gone = issue(
            ca,
            "agent",
            server=True,
            hostnames=["localhost"],
            not_before=start,
            not_after=start + timedelta(1),
        )
        write_pem(gone, folder.certs.agent_cert, folder.certs.agent_key, passphrase=PASS.encode())
        assert main(["check", "--config", str(folder.config)]) == 2
        err = capsys.readouterr().err
        day = (start + timedelta(1)).strftime("%Y-%m-%d")
        assert f"agent certificate {folder.certs.agent_cert} expired on {day}" in err
    finally:
        del os.environ[PASSPHRASE_ENV]


def test_the_agent_warns_about_and_refuses_its_client_ca_by_name(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The CA the agent checks client certificates against: ``check`` warns 30 days ahead,
    ``serve`` (build_ssl) refuses it once expired, naming the file and the date."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization

    folder = init_folder(tmp_path / "a", environ=ENV, backend="demo")
    ca = load_ca(folder.certs.ca_cert, folder.certs.ca_key, PASS.encode())

    def ca_ending(days: int) -> None:
        end = datetime.now(UTC) + timedelta(days=days)
        cert = (
            x509.CertificateBuilder()
            .subject_name(ca.cert.subject)
            .issuer_name(ca.cert.subject)
            .public_key(ca.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(end - timedelta(days=30))
            .not_valid_after(end)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .sign(ca.key, hashes.SHA256())
        )
        folder.certs.ca_cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))

    os.environ[PASSPHRASE_ENV] = PASS
    try:
        ca_ending(12)
        assert main(["check", "--config", str(folder.config)]) == 1
        out = capsys.readouterr().out
        assert f"certificate {folder.certs.ca_cert} expires on" in out
        ca_ending(-3)
        config = load_config(folder.config)
        with pytest.raises(ConfigError) as caught:
            build_ssl(config, insecure_dev=False)
        day = f"{datetime.now(UTC) - timedelta(days=3):%Y-%m-%d}"
        assert f"{folder.certs.ca_cert} expired on {day}" in str(caught.value)
    finally:
        del os.environ[PASSPHRASE_ENV]


def test_service_commands_go_through_the_control_seam(tmp_path: Path) -> None:
    calls: list[tuple[str, Any]] = []

    class FakeControl:
        def install(self, **kwargs: Any) -> None:
            calls.append(("install", kwargs))

        def remove(self) -> None:
            calls.append(("remove", None))

        def start(self) -> None:
            calls.append(("start", None))

        def stop(self) -> None:
            calls.append(("stop", None))

    config = tmp_path / "agent.toml"
    config.write_text('companies = ["ABC"]\n')
    install = argparse.Namespace(
        action="install", config=config, account=r"CORP\svc-sage", password=None
    )
    assert run_service_command(install, FakeControl()) == 0
    for action in ("start", "stop", "remove"):
        assert run_service_command(argparse.Namespace(action=action), FakeControl()) == 0
    assert calls[0] == (
        "install",
        {"config": str(config.resolve()), "account": r"CORP\svc-sage", "password": None},
    )
    assert [c[0] for c in calls[1:]] == ["start", "stop", "remove"]
    missing = argparse.Namespace(action="install", config=None, account=None, password=None)
    assert run_service_command(missing, FakeControl()) == 2


def test_service_without_pywin32_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["service", "start"]) == 2
    assert "pywin32" in capsys.readouterr().err


async def test_the_service_runner_serves_and_stops_from_another_thread(tmp_path: Path) -> None:
    """What SvcDoRun/SvcStop do, without Windows: a thread runs the agent, a stop ends it."""
    folder = init_folder(tmp_path / "a", environ=ENV, backend="demo", auth="api_key", port=0)
    text = folder.config.read_text().replace('host = "0.0.0.0"', 'host = "127.0.0.1"')
    folder.config.write_text(text.replace("[backend.demo]", "[backend.demo]\nseed = 1"))
    os.environ[PASSPHRASE_ENV] = PASS
    runner = AgentRunner(folder.config)
    try:
        await asyncio.to_thread(runner.start_thread)
    finally:
        del os.environ[PASSPHRASE_ENV]
    assert runner.url is not None
    ctx = ssl.create_default_context(cafile=str(folder.certs.ca_cert))
    request = urllib.request.Request(
        runner.url + "/v1/health", headers={"Authorization": f"Bearer {folder.api_key}"}
    )
    body = await asyncio.to_thread(
        lambda: json.loads(urllib.request.urlopen(request, context=ctx, timeout=10).read())
    )
    assert body["backend"] == "demo"
    await asyncio.to_thread(runner.stop)
    assert runner.error is None
    assert runner._thread is not None and not runner._thread.is_alive()
