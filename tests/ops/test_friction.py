"""One test per friction item of issue #23 §4 (the rest are in the other files here)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from ml_connector.config import load_config
from ml_connector.errors import ConfigError
from ml_connector.pipeline import RunOutcome
from ml_connector.runtime.runner import combine
from ml_connector.sage100.pipeline import StreamResult
from ml_connector.web.replies import run_result
from ml_connector.wording import plural

SAGE100 = """data_dir = "data"
[slack.workspaces.default]
bot_token = "slack.bot_token"
[connections.s1]
type = "sage100"
agent_url = "https://127.0.0.1:9"
company = "ABC"
auth = "api_key"
api_key = "sage100.api_key"
ca_file = "ca.pem"
[pipelines.sage100]
type = "sage100"
connection = "s1"
"""
STREAMS = """[pipelines.sage100.streams.ap_invoices]
channel = "C0APINVC01"
[pipelines.sage100.streams.purchase_orders]
channel = "C0PURCHS01"
"""


def self_signed_pem() -> bytes:
    """A CA certificate for the config to name; the run fails on the secret before using it."""
    from datetime import UTC, datetime, timedelta

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "test CA")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    return cert.public_bytes(serialization.Encoding.PEM)


def cli(directory: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
    env.pop("COLUMNS", None)
    return subprocess.run(
        [sys.executable, "-m", "ml_connector", *args],
        cwd=directory, env=env, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_a_missing_secret_is_said_once_and_a_failed_run_logs_at_warning(tmp_path: Path) -> None:
    (tmp_path / "ml-connector.toml").write_text(SAGE100 + STREAMS)
    (tmp_path / "ca.pem").write_bytes(self_signed_pem())
    assert cli(tmp_path, "init").returncode == 0
    result = cli(tmp_path, "run", "sage100")
    assert result.returncode == 1
    first = result.stdout.splitlines()[0]
    assert first.count("ml-connector secrets set sage100.api_key") == 1, first
    logged = [line for line in result.stderr.splitlines() if "pipeline run finished" in line]
    assert len(logged) == 2 and all("warning" in line for line in logged), result.stderr


def test_combined_outcome_says_each_distinct_error_once() -> None:
    same = [RunOutcome("failed", error="no secret x"), RunOutcome("failed", error="no secret x")]
    assert combine(same).error == "no secret x"
    mixed = [*same, RunOutcome("failed", error="agent down")]
    assert combine(mixed).error == "no secret x; agent down"


def test_counts_agree_with_their_nouns() -> None:
    assert plural(1, "message") == "1 message"
    assert plural(2, "dead letter") == "2 dead letters"
    assert plural(0, "record") == "0 records"
    assert "1 change " in StreamResult("ap_invoices", read=1, events=1, queued=1).line()
    assert "(1 record read)" in StreamResult("ap_invoices", read=1, events=1, queued=1).line()
    reply = run_result("intacct", RunOutcome("succeeded", records_read=1, messages_queued=1), 1.0)
    assert "1 record read, 1 message queued." in str(reply)


def problems_of(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "ml-connector.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_the_cron_error_says_got_once(tmp_path: Path) -> None:
    text = SAGE100 + (
        '[pipelines.sage100.streams.ap_invoices]\nchannel = "C0APINVC01"\n'
        'schedule = { cron = "61 * * * *" }\n'
    )
    problems = problems_of(tmp_path, text)
    assert len(problems) == 1 and "cron" in problems[0]
    assert problems[0].count(", got ") == 1, problems[0]
    assert "'61 * * * *'" in problems[0]


def test_a_mistyped_stream_name_is_named_without_key_markers(tmp_path: Path) -> None:
    text = SAGE100 + '[pipelines.sage100.streams.ap_invoice]\nchannel = "C0APINVC01"\n'
    (problem,) = problems_of(tmp_path, text)
    assert "[key]" not in problem and ".." not in problem
    assert "pipelines.sage100.streams.ap_invoice: not a known name" in problem
    assert "'ap_invoices'" in problem and "got 'ap_invoice'" in problem


def test_check_prints_its_table_whole_into_a_pipe(tmp_path: Path) -> None:
    (tmp_path / "ml-connector.toml").write_text(SAGE100 + STREAMS)
    assert cli(tmp_path, "init").returncode == 0
    result = cli(tmp_path, "check")
    assert result.returncode == 1
    assert str(tmp_path / "data" / "ml-connector.db") in result.stdout
    assert "run `ml-connector secrets set slack.bot_token`" in result.stdout
    assert "…" not in result.stdout
