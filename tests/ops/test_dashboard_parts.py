"""The dashboard's parts without a browser: sessions, CSRF, missing scopes, charts."""

from __future__ import annotations

from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import parse_config
from ml_connector.slack.installations import save_installation
from ml_connector.status import gather_status
from ml_connector.web.dashboard.charts import bar_chart, bar_list
from ml_connector.web.dashboard.data import gather_dashboard
from ml_connector.web.dashboard.session import (
    LIFETIME,
    csrf_ok,
    new_session,
    read_session,
)

KEY = b"k" * 32


def test_a_session_cookie_is_signed_expires_and_binds_its_csrf_token() -> None:
    cookie = new_session(KEY, now=1000.0)
    session = read_session(KEY, cookie, now=1001.0)
    assert session is not None
    assert csrf_ok(KEY, session, session.csrf(KEY))
    assert not csrf_ok(KEY, session, None)
    assert not csrf_ok(KEY, session, "0" * 64)
    other = read_session(KEY, new_session(KEY, now=1000.0), now=1001.0)
    assert other is not None and not csrf_ok(KEY, session, other.csrf(KEY))
    assert read_session(KEY, cookie, now=1000.0 + LIFETIME + 1) is None  # expired
    assert read_session(b"x" * 32, cookie, now=1001.0) is None  # another key (password)
    expires, sid, sig = cookie.split(".")
    assert read_session(KEY, f"{int(expires) + 9999}.{sid}.{sig}", now=1001.0) is None


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_any_cookie_text_is_refused_or_read_never_raises(value: str) -> None:
    assert read_session(KEY, value, now=0.0) is None


async def test_an_install_lacking_scopes_is_not_shown_as_healthy(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    config = parse_config(
        {"slack": {"workspaces": {"acme": {"client_id": "1.2", "client_secret": "slack.cs"}}}},
        tmp_path / "ml-connector.toml",
    )
    async with engine.begin() as conn:
        await save_installation(
            conn,
            workspace="acme",
            team_id="T0ACME0001",
            team_name="Acme",
            scopes="chat:write,channels:read,channels:history",
            bot_token_secret="slack.acme.bot_token",
        )
    status = await gather_status(config, engine, recent_limit=0)
    data = await gather_dashboard(config, engine, status)
    (install,) = data.installations
    assert install.state == "active" and install.scopes_known
    assert install.missing_scopes == ("groups:read", "groups:history", "commands")


def test_charts_are_svg_with_escaped_labels() -> None:
    svg = bar_chart("Posts <per> hour", [0, 3, 1], ["a", "<b>", "c"])
    assert svg.count("<rect") == 3 and "<b>" not in svg and "&lt;b&gt;" in svg
    assert "Posts &lt;per&gt; hour" in svg
    listed = bar_list("Posts per channel", [("#gl", 4.0), ("<x>", 1.0)])
    assert "&lt;x&gt;" in listed and listed.count("<rect") == 2
    assert "none yet" in bar_list("Posts per channel", [])
