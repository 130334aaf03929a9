"""The dashboard in a real browser: log in, rows and charts, replay a dead letter elsewhere.

Chromium from Debian's packages (``.ci/run`` installs it), driven by Playwright using that
system browser — never a browser Playwright downloads. Without either the test skips,
saying what is missing. Screenshots at desktop and phone widths go to ``docs/img/``.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import sys
import time
from pathlib import Path

import pytest

from .world import cli, world

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
IMAGES = Path(__file__).resolve().parents[2] / "docs" / "img"
PASSWORD = "dashboard password for tests"

pytestmark = pytest.mark.timeout(240)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def wait_http(url: str, deadline: float) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        while time.monotonic() < deadline:
            try:
                async with http.get(url) as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.2)
    raise AssertionError(f"{url} did not come up")


async def test_log_in_see_rows_and_charts_replay_a_dead_letter_elsewhere(tmp_path: Path) -> None:
    if not os.path.exists(CHROMIUM):
        pytest.skip("no Chromium at /usr/bin/chromium: `apt-get install chromium` (.ci/run does)")
    playwright_api = pytest.importorskip(
        "playwright.async_api", reason="Playwright is not installed (pip install -e '.[dev]')"
    )
    port = free_port()
    extra = (
        f'[server]\nport = {port}\nstatus_user = "finance-ops"\n'
        'status_password = "status.password"\n'
    )
    async with world(tmp_path, extra, {"status.password": PASSWORD}) as w:
        w.slack.archive_channel(w.channel("finance-gl"))
        code, out, err = await cli(w, "run", "intacct", "--wait")
        assert code == 3, out + err
        env = {k: v for k, v in os.environ.items() if k not in ("MLC_CONFIG", "MLC_MASTER_KEY")}
        serve = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "ml_connector", "serve", "--config", str(w.config_path),
            cwd=tmp_path, env=env,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL,
        )  # fmt: skip
        base = f"http://127.0.0.1:{port}"
        try:
            await wait_http(f"{base}/healthz", time.monotonic() + 60)
            async with playwright_api.async_playwright() as pw:
                browser = await pw.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=["--no-sandbox"]
                )
                page = await browser.new_page(viewport={"width": 1280, "height": 900})
                await page.goto(base + "/")
                assert page.url.endswith("/login")
                await page.fill("input[name=user]", "finance-ops")
                await page.fill("input[name=password]", "wrong")
                await page.click("button[type=submit]")
                assert await page.locator("[role=alert]").inner_text() == "Wrong user or password."
                await page.fill("input[name=user]", "finance-ops")
                await page.fill("input[name=password]", PASSWORD)
                await page.click("button[type=submit]")
                await page.wait_for_selector("#pipelines")
                rows = page.locator("tr.stream-row")
                assert await rows.count() == 1
                row = await rows.first.inner_text()
                assert "intacct" in row and w.intacct.credentials.company_id in row
                assert "#ap-payments" in row  # a channel by name, linked into Slack
                link = page.locator("tr.stream-row a", has_text="#ap-payments")
                assert w.slack.url in (await link.get_attribute("href") or "")
                assert await page.locator("#charts-day svg rect").count() > 0
                dead = page.locator("tr.dead-letter")
                assert await dead.count() == 1
                assert "is_archived" in await dead.first.inner_text()
                IMAGES.mkdir(parents=True, exist_ok=True)
                await page.screenshot(path=str(IMAGES / "dashboard-desktop.png"), full_page=True)
                phone = await browser.new_page(
                    viewport={"width": 390, "height": 844}, device_scale_factor=2
                )
                await phone.context.add_cookies(await page.context.cookies())
                await phone.goto(base + "/")
                width = await phone.evaluate("document.documentElement.scrollWidth")
                assert width <= 390, f"the page is {width}px wide on a 390px phone"
                await phone.screenshot(path=str(IMAGES / "dashboard-phone.png"), full_page=True)

                spare = w.channel("finance-spare")
                await dead.first.locator("input[name=channel]").fill(spare)
                await dead.first.locator("button").click()
                notice = await page.locator("[role=status]").inner_text()
                assert f"for {spare}" in notice
                deadline = time.monotonic() + 30
                while not w.slack.messages(spare) and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                arrived = w.slack.messages(spare)
                assert len(arrived) == 1
                assert arrived[0]["text"].startswith(":repeat: Posted again; first tried ")
                assert await page.locator("tr.dead-letter").count() == 0
                await browser.close()
        finally:
            serve.terminate()
            await serve.wait()
