"""``ml-connector sim slack --client-id``: the app it registers can be installed with the scopes
our ``/slack/install`` asks for (it used to allow three of six: ``invalid_scope``)."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urlsplit

import aiohttp

from ml_connector.slack.scopes import scope_list

CLI = Path(sys.executable).with_name("ml-connector")
REDIRECT = "http://127.0.0.1:9/slack/oauth_redirect"


async def banner(*args: str) -> tuple[asyncio.subprocess.Process, str]:
    process = await asyncio.create_subprocess_exec(
        str(CLI), "sim", "slack", "--port", "0", *args, stdout=asyncio.subprocess.PIPE
    )
    assert process.stdout is not None
    lines: list[str] = []
    while not lines or not lines[-1].startswith("Ctrl-C"):
        line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
        assert line, f"the simulator exited early after {lines}"
        lines.append(line.decode().strip())
    return process, "\n".join(lines)


async def authorize(
    root: str, client_id: str, scopes: list[str]
) -> tuple[int, dict[str, list[str]]]:
    query = urlencode(
        {"client_id": client_id, "scope": ",".join(scopes), "redirect_uri": REDIRECT,
         "state": "s", "approve": "1"}
    )  # fmt: skip
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"{root}/oauth/v2/authorize?{query}", allow_redirects=False) as response,
    ):
        location = response.headers.get("Location", "")
        return response.status, parse_qs(urlsplit(location).query)


async def test_default_app_scopes_are_what_our_install_asks_for() -> None:
    process, printed = await banner("--client-id", "111.222", "--redirect-uri", REDIRECT)
    try:
        root = re.search(r"listening on (\S+)", printed)
        assert root
        shown = re.search(r"scopes (\S+)", printed)
        assert shown and set(shown.group(1).split(",")) == set(scope_list())
        status, params = await authorize(root.group(1), "111.222", scope_list())
        assert status == 302 and params.get("code"), params
    finally:
        process.terminate()
        await process.wait()


async def test_scopes_option_limits_the_app() -> None:
    process, printed = await banner(
        "--client-id", "111.222", "--redirect-uri", REDIRECT, "--scopes", "chat:write"
    )
    try:
        root = re.search(r"listening on (\S+)", printed)
        assert root and "scopes chat:write" in printed
        status, _params = await authorize(root.group(1), "111.222", scope_list())
        assert status == 400  # Slack's error page: invalid_scope
        status, params = await authorize(root.group(1), "111.222", ["chat:write"])
        assert status == 302 and params.get("code")
    finally:
        process.terminate()
        await process.wait()
