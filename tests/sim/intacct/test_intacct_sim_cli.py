"""``ml-connector sim intacct``: starts, prints what it accepts, and answers with it."""

from __future__ import annotations

import asyncio
import re
import sys
from pathlib import Path

import aiohttp
from lxml import etree

CLI = Path(sys.executable).with_name("ml-connector")


async def test_cli_prints_url_and_credentials_that_work() -> None:
    process = await asyncio.create_subprocess_exec(
        str(CLI), "sim", "intacct", "--port", "0", "--gl-entries", "50", "--vendors", "20",
        stdout=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        lines: list[str] = []
        while not lines or not lines[-1].startswith("Ctrl-C"):
            line = await asyncio.wait_for(process.stdout.readline(), timeout=30)
            assert line, f"the simulator exited early after {lines}"
            lines.append(line.decode().strip())
        printed = "\n".join(lines)
        url = re.search(r"listening on (\S+)", printed)
        fields = dict(re.findall(r"^\s*(sender id|sender password|company id|user id|"
                                 r"user password)\s+(\S+)$", printed, re.M))  # fmt: skip
        assert url and url.group(1).endswith("/ia/xml/xmlgw.phtml")
        assert len(fields) == 5
        assert re.search(r"^\s*mode\s+strict$", printed, re.M)  # strict unless --lenient
        body = (
            f"<request><control><senderid>{fields['sender id']}</senderid>"
            f"<password>{fields['sender password']}</password><controlid>c</controlid>"
            "<uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control><operation>"
            f"<authentication><login><userid>{fields['user id']}</userid>"
            f"<companyid>{fields['company id']}</companyid>"
            f"<password>{fields['user password']}</password></login></authentication>"
            '<content><function controlid="s"><getAPISession/></function></content>'
            "</operation></request>"
        )
        async with (
            aiohttp.ClientSession() as http,
            http.post(
                url.group(1), data=body, headers={"Content-Type": "application/xml"}
            ) as response,
        ):
            root = etree.fromstring(await response.read())
        assert root.findtext("operation/result/status") == "success"
        assert root.findtext("operation/result/data/api/endpoint") == url.group(1)
    finally:
        process.terminate()
        await process.wait()
