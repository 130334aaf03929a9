"""`ml-connector demo` (what `make demo` runs) finishes with messages from both pipelines."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path


def test_demo_posts_from_both_pipelines(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
    env["COLUMNS"] = "120"
    result = subprocess.run(
        [sys.executable, "-m", "ml_connector", "demo", "--dir", str(tmp_path / "demo")],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "intacct: succeeded" in out and "sage100: succeeded" in out
    for channel in (
        "#finance-gl",
        "#ap-payments",
        "#finance-alerts",
        "#ap-invoices",
        "#purchase-orders",
        "#gl-journal",
    ):
        assert channel in out, channel
    assert "Unbalanced journal entry" in out
    assert "Vendor exception" in out
    # The cases the figures must survive (issue #16): each is in the demo's messages.
    assert "Dated in a closed period" in out  # a closed-period entry
    assert "entered in another currency" in out  # a USD entry booked by the CAD entity
    assert "Transaction-currency" in out or "in transaction currency" in out
    assert "Payment runs" in out and "(run " in out  # two runs on one bank, apart
    assert "more lines" in out  # an unbalanced batch longer than its alert shows
    assert "AP credit memo" in out  # Sage 100: a negative invoice amount
    assert "messages posted (shown above)" in out and "demo --serve" in out
    assert "Channel page: http" not in out  # the simulators are gone by then
    # Both simulators run in strict mode; neither pipeline sent anything they refuse.
    assert "Simulators refused: nothing" in out
    # the demo's config is kept where --dir put it, with no secret in it
    config = (tmp_path / "demo" / "ml-connector.toml").read_text()
    assert "xoxb-" not in config and 'password = "intacct.' in config
