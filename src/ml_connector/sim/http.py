"""What every simulator shares: a real aiohttp server on a local port, started and stopped.

Tests, benchmarks and the demo use simulators as ``async with``; the port is the OS's choice
unless one is given, and the bound address is reported back for clients.
"""

from __future__ import annotations

import abc
from types import TracebackType
from typing import Self

from aiohttp import web

SHUTDOWN_SECONDS = 5.0


class LocalServer(abc.ABC):
    """Lifecycle of one aiohttp application on ``host:port``; subclasses supply ``make_app``."""

    def __init__(self) -> None:
        self._runner: web.AppRunner | None = None

    @abc.abstractmethod
    def make_app(self) -> web.Application:
        """The simulator's aiohttp application."""

    async def _serve(self, host: str, port: int) -> str:
        """Start serving; return the root URL actually bound (``http://host:port``)."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        # Stopping waits at most a few seconds for requests still being answered (aiohttp's
        # default is 60 s): a simulator stopped by Ctrl-C or a test's teardown must not hang
        # on a client that holds a request open.
        runner = web.AppRunner(self.make_app(), access_log=None, shutdown_timeout=SHUTDOWN_SECONDS)
        await runner.setup()
        await web.TCPSite(runner, host, port).start()
        self._runner = runner
        bound_host, bound_port = runner.addresses[0][:2]
        shown = f"[{bound_host}]" if ":" in bound_host else bound_host
        return f"http://{shown}:{bound_port}"

    @property
    def running(self) -> bool:
        return self._runner is not None

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> object:
        await self._serve(host, port)
        return None

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()
