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


async def test_the_status_page_has_a_row_per_company_and_stream(
    engine: AsyncEngine, tmp_path: Path
) -> None:
    """Two Sage 100 companies × two streams and two Intacct entities: one row each, with the
    company's own channel and its own last run (runs are recorded per company)."""
    from ml_connector.schedule.runs import finish_run, try_start_run
    from ml_connector.store import companies

    config = parse_config(
        {
            "slack": {"workspaces": {"default": {"bot_token": "slack.bot_token"}}},
            "connections": {
                "agent": {
                    "type": "sage100",
                    "agent_url": "https://agent.example:8443",
                    "auth": "api_key",
                    "api_key": "sage100.api_key",
                },
                "ia": {
                    "type": "intacct",
                    "sender_id": "s",
                    "sender_password": "ia.s",
                    "company_id": "acme",
                    "user_id": "u",
                    "user_password": "ia.u",
                    "entities": ["E1", "E2"],
                },
            },
            "pipelines": {
                "s100": {
                    "type": "sage100",
                    "connection": "agent",
                    "companies": ["ABC", "XYZ"],
                    "streams": {
                        "ap_invoices": {"channel": "C0AP000001"},
                        "gl_postings": {"channel": "C0GL000001"},
                    },
                    "company": {"XYZ": {"streams": {"ap_invoices": {"channel": "C0XYZAP001"}}}},
                },
                "ia": {
                    "type": "intacct",
                    "connection": "ia",
                    "channels": {
                        "gl": "C0IAGL0001",
                        "payments": "C0IAPY0001",
                        "alerts": "C0IAAL01",
                    },
                },
            },
        },
        tmp_path / "ml-connector.toml",
    )
    run_id = await try_start_run(engine, "s100@XYZ.ap_invoices", "manual", "t")
    assert run_id is not None
    await finish_run(engine, run_id, "failed", 3, 0, "agent said no")
    async with engine.begin() as conn:
        await companies.pause(conn, "ia", "E2", reason="failing")
    status = await gather_status(config, engine, recent_limit=0)
    data = await gather_dashboard(config, engine, status)
    rows = {(r.pipeline, r.company, r.stream): r for r in data.rows}
    assert set(rows) == {
        ("s100", "ABC", "ap_invoices"),
        ("s100", "ABC", "gl_postings"),
        ("s100", "XYZ", "ap_invoices"),
        ("s100", "XYZ", "gl_postings"),
        ("ia", "acme · entity E1", None),
        ("ia", "acme · entity E2", None),
    }
    xyz = rows[("s100", "XYZ", "ap_invoices")]
    assert xyz.channels == ("C0XYZAP001",) and xyz.last_status == "failed"
    assert xyz.records_read == 3 and xyz.failures_24h == 1
    assert rows[("s100", "ABC", "ap_invoices")].last_status is None
    assert rows[("ia", "acme · entity E2", None)].paused == "paused after failures"
    assert rows[("ia", "acme · entity E1", None)].paused is None
    (last,) = [p for p in status.pipelines if p.name == "s100"]
    assert last.last_run is not None and last.last_run.status == "failed"
