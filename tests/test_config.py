from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ml_connector.cli.init import example_config
from ml_connector.config import load_config
from ml_connector.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ml-connector.toml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text))
    return info.value.problems


def test_example_config_is_valid(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, example_config()))
    assert set(config.pipelines) == {"intacct", "sage100"}
    assert config.db_url == f"sqlite:///{tmp_path / 'data' / 'ml-connector.db'}"
    assert config.key_file == tmp_path / "data" / "master.key"


def test_each_problem_names_file_key_expected_and_found(tmp_path: Path) -> None:
    text = example_config()
    text = text.replace('gl = "C0GLPOST01"', 'gl = "general"')
    text = text.replace('company = "ABC"', 'company = "AB"')
    text = text.replace("max_attempts = 8", 'max_attempts = "many"')
    text = text.replace("[server]\n", "[server]\ncolour = 'blue'\n")
    text = text.replace('sender_password = "intacct.sender_password"\n', "")
    found = problems(tmp_path, text)
    file = tmp_path / "ml-connector.toml"
    assert sorted(found) == sorted(
        [
            f"{file}: pipelines.intacct.channels.gl: expected a Slack channel id like C0123ABCD, "
            "got 'general'",
            f"{file}: connections.sage100.company: expected a three-character Sage 100 company "
            "code like ABC, got 'AB'",
            f"{file}: delivery.max_attempts: expected an integer, got 'many'",
            f"{file}: server.colour: unknown key (check its spelling and where it is placed)",
            f"{file}: connections.intacct.sender_password: required key is missing",
        ]
    )


def test_secret_value_in_place_of_a_reference_is_refused(tmp_path: Path) -> None:
    text = example_config().replace('bot_token = "slack.bot_token"', 'bot_token = "xoxb-1-2-abc"')
    [problem] = problems(tmp_path, text)
    assert "slack.workspaces.default.bot_token: expected the NAME of a stored secret" in problem


def test_references_between_sections_are_checked(tmp_path: Path) -> None:
    text = example_config().replace('connection = "intacct"', 'connection = "nowhere"')
    [problem] = problems(tmp_path, text)
    assert "pipelines.intacct.connection: expected one of the [connections]" in problem
    assert "got 'nowhere'" in problem


def test_bad_toml_and_missing_file(tmp_path: Path) -> None:
    [problem] = problems(tmp_path, "timezone = \n")
    assert "not valid TOML" in problem
    with pytest.raises(ConfigError, match="no such file"):
        load_config(tmp_path / "absent.toml")


@given(st.text(min_size=1, max_size=12))
def test_channel_ids_accept_only_slack_shapes(value: str) -> None:
    import re

    from ml_connector.config import IntacctChannels

    ok = re.fullmatch(r"[CGD][A-Z0-9]{6,20}", value) is not None
    try:
        IntacctChannels(gl=value, payments="C0123ABCD", alerts="C0123ABCD")
    except ValueError:
        assert not ok
    else:
        assert ok


def test_out_of_range_values_say_what_range_is_expected(tmp_path: Path) -> None:
    text = example_config().replace("max_attempts = 8", "max_attempts = 0")
    text = text.replace("port = 8080", "port = 70000")
    file = tmp_path / "ml-connector.toml"
    assert sorted(problems(tmp_path, text)) == [
        f"{file}: delivery.max_attempts: expected a value greater than or equal to 1, got 0",
        f"{file}: server.port: expected a value less than or equal to 65535, got 70000",
    ]


def test_numbers_and_booleans_are_not_coerced(tmp_path: Path) -> None:
    text = example_config().replace("port = 8080", 'port = "8080"')
    text = text.replace("post_interval = 1.0", "post_interval = true")
    file = tmp_path / "ml-connector.toml"
    assert sorted(problems(tmp_path, text)) == [
        f"{file}: delivery.post_interval: expected a number, got True",
        f"{file}: server.port: expected an integer, got '8080'",
    ]


@pytest.mark.parametrize(
    ("old", "new", "key"),
    [
        (
            'agent_url = "https://sage100-server.example.internal:8443"',
            'agent_url = "http://sage100-server.example.internal:8443"',
            "connections.sage100.agent_url",
        ),
        (
            'type = "intacct"\n',
            'type = "intacct"\ngateway_url = "http://10.0.0.5/ia/xml/xmlgw.phtml"\n',
            "connections.intacct.gateway_url",
        ),
        (
            "[slack.workspaces.default]\n",
            '[slack.workspaces.default]\napi_base_url = "http://slack-proxy.internal/api/"\n',
            "slack.workspaces.default.api_base_url",
        ),
    ],
)
def test_credential_urls_must_be_https_off_loopback(
    tmp_path: Path, old: str, new: str, key: str
) -> None:
    text = example_config()
    assert old in text
    [problem] = problems(tmp_path, text.replace(old, new, 1))
    assert f"{key}: expected an https:// URL" in problem
    assert "only for loopback hosts" in problem
    assert "write https://" in problem


def test_names_under_localhost_are_not_taken_for_loopback(tmp_path: Path) -> None:
    """foo.localhost may be resolved by DNS to anywhere (glibc without nss-myhostname)."""
    text = example_config().replace(
        'type = "intacct"\n',
        'type = "intacct"\ngateway_url = "http://gw.localhost/ia/xml/xmlgw.phtml"\n',
        1,
    )
    [problem] = problems(tmp_path, text)
    assert "connections.intacct.gateway_url: expected an https:// URL" in problem


@pytest.mark.parametrize("host", ["127.0.0.1", "127.8.9.1", "[::1]", "localhost"])
def test_plain_http_is_accepted_for_loopback_hosts(tmp_path: Path, host: str) -> None:
    text = example_config()
    text = text.replace(
        'type = "intacct"\n', f'type = "intacct"\ngateway_url = "http://{host}:9/x"\n', 1
    )
    text = text.replace(
        "[slack.workspaces.default]\n",
        f'[slack.workspaces.default]\napi_base_url = "http://{host}:9/api/"\n',
    )
    config = load_config(write(tmp_path, text))
    assert config.slack.workspaces["default"].api_base_url.startswith("http://")


def test_mtls_needs_https_even_on_loopback(tmp_path: Path) -> None:
    text = example_config().replace(
        'agent_url = "https://sage100-server.example.internal:8443"',
        'agent_url = "http://127.0.0.1:8443"',
    )
    text = text.replace(
        'auth = "api_key"                  # or "mtls", or "mtls+api_key"\n'
        'api_key = "sage100.api_key"',
        'auth = "mtls"\nca_file = "ca.pem"\ncert_file = "c.pem"\nclient_key = "sage100.client_key"',
    )
    assert 'auth = "mtls"' in text
    [problem] = problems(tmp_path, text)
    assert "connections.sage100" in problem
    assert "auth = 'mtls' needs an https agent_url" in problem


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("0", "retention.days: expected a value greater than or equal to 1, got 0"),
        ("-5", "retention.days: expected a value greater than or equal to 1, got -5"),
        ("40000", "retention.days: expected a value less than or equal to 36500, got 40000"),
        ("90.5", "retention.days: expected an integer, got 90.5"),
        ('"90"', "retention.days: expected an integer, got '90'"),
    ],
)
def test_retention_days_are_checked(tmp_path: Path, value: str, expected: str) -> None:
    [problem] = problems(tmp_path, f"[retention]\ndays = {value}\n")
    assert problem.endswith(expected), problem


def test_retention_defaults_to_90_days_and_takes_a_value(tmp_path: Path) -> None:
    assert load_config(write(tmp_path, example_config())).retention.days == 90
    assert load_config(write(tmp_path, "[retention]\ndays = 400\n")).retention.days == 400
    [problem] = problems(tmp_path, "[retention]\nday = 30\n")
    assert "retention.day: unknown key" in problem


def test_a_client_key_file_is_refused_not_read(tmp_path: Path) -> None:
    """The client's private key lives in the vault; a plain key file is never opened."""
    key = tmp_path / "client.key"
    key.write_text("-----BEGIN PRIVATE KEY-----\nnot read\n-----END PRIVATE KEY-----\n")
    key.chmod(0o644)
    text = example_config().replace(
        'agent_url = "https://sage100-server.example.internal:8443"',
        f'agent_url = "https://sage100-server.example.internal:8443"\nkey_file = "{key}"',
    )
    [problem] = problems(tmp_path, text)
    assert "connections.sage100" in problem and "key_file is no longer read" in problem
    assert "secrets set sage100.client_key" in problem
