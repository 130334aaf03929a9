from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from ml_connector.redact import MASK, redact_text, redact_value
from ml_connector_agent.auth import new_key


def test_known_secret_shapes_are_masked() -> None:
    agent_key = new_key().key
    text = (
        f"token xoxb-123-456-abcdef and xoxe-1-abc, agent key {agent_key}, "
        "<sessionid>s3ss10n-value</sessionid> <password>hunter22</password> "
        "Authorization: Bearer abcdefghijkl password=pa55word api_key: k3y-value"
    )
    redacted = redact_text(text)
    for secret in (
        "xoxb-123",
        "xoxe-1-abc",
        agent_key,
        "s3ss10n-value",
        "hunter22",
        "abcdefghijkl",
        "pa55word",
        "k3y-value",
    ):
        assert secret not in redacted, secret
    assert redacted.count(MASK) >= 8


def test_ordinary_text_is_left_alone() -> None:
    text = "mlc_intacct_session_refreshes_total rose; 42 messages to C0123ABCD"
    assert redact_text(text) == text


def test_secret_keys_are_masked_in_nested_values() -> None:
    event = {"outer": {"client_secret": "abc123", "list": [{"api_key": "zzz"}]}, "n": 1}
    assert redact_value(event) == {
        "outer": {"client_secret": MASK, "list": [{"api_key": MASK}]},
        "n": 1,
    }


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=60))
def test_a_bot_token_inside_any_text_is_masked(around: str) -> None:
    token = "xoxb-99-88-planted"
    assert "planted" not in redact_text(around + token + " " + around)
