"""The agent as a Windows service (pywin32's ``win32serviceutil.ServiceFramework``).

The Windows part is a thin shell: the service control manager calls ``SvcDoRun`` on a thread of
its own and ``SvcStop`` from another; both hand over to :class:`AgentRunner`, which is plain
Python (an event loop on a thread, a thread-safe stop) and is what the Linux tests drive. Logs
go to a rotating file beside ``agent.toml`` (``logs/agent.log``, 5 × 5 MB), which an IT person
can read without the Event Viewer; start and stop are also reported to the Windows event log by
the framework itself.
"""

from __future__ import annotations

import asyncio
import logging
import logging.handlers
import threading
from pathlib import Path
from typing import Any

from ml_connector_agent.backends.base import Backend
from ml_connector_agent.config import load_config
from ml_connector_agent.server import RunningServer, build_backend, start_agent

log = logging.getLogger("ml_connector_agent.service")


def file_logging(config_path: Path) -> logging.Handler:
    """A rotating log file under the config's folder, for the agent's own loggers."""
    folder = config_path.resolve().parent / "logs"
    folder.mkdir(exist_ok=True)
    handler = logging.handlers.RotatingFileHandler(
        folder / "agent.log", maxBytes=5 * 1024 * 1024, backupCount=5, encoding="utf-8"
    )
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger("ml_connector_agent")
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    return handler


class AgentRunner:
    """Runs the configured agent on a thread of its own until :meth:`stop`."""

    def __init__(self, config_path: Path) -> None:
        self.config_path = config_path
        self.url: str | None = None
        self.error: BaseException | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._thread: threading.Thread | None = None

    def run(self) -> None:
        """Serve until stopped (what ``SvcDoRun`` calls; blocks)."""
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to the log and to the caller, never lost
            self.error = exc
            log.exception("the agent stopped on an error")
        finally:
            self._ready.set()

    async def _main(self) -> None:
        config = load_config(self.config_path)
        backend: Backend = build_backend(config)
        server: RunningServer
        server, _ = await start_agent(config, config_path=self.config_path, backend=backend)
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        self.url = server.url
        log.info("serving %s at %s", ", ".join(config.companies), server.url)
        self._ready.set()
        try:
            await self._stop.wait()
        finally:
            await server.stop()
            await backend.close()
            log.info("stopped")

    def start_thread(self, timeout: float = 30.0) -> None:
        self._thread = threading.Thread(target=self.run, name="agent", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self.error is not None:
            raise self.error

    def stop(self, timeout: float = 30.0) -> None:
        """Thread-safe: what ``SvcStop`` calls."""
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        if self._thread is not None:
            self._thread.join(timeout)


def _service_class() -> Any:
    try:
        import servicemanager
        import win32event
        import win32service
        import win32serviceutil
    except ImportError:
        return None

    from ml_connector_agent.windows import SERVICE_DISPLAY, SERVICE_NAME

    class AgentService(win32serviceutil.ServiceFramework):  # type: ignore[misc]
        _svc_name_ = SERVICE_NAME
        _svc_display_name_ = SERVICE_DISPLAY

        def __init__(self, args: Any) -> None:
            super().__init__(args)
            self._stopped = win32event.CreateEvent(None, 0, 0, None)
            path = win32serviceutil.GetServiceCustomOption(SERVICE_NAME, "config")
            self.runner = AgentRunner(Path(path))

        def SvcStop(self) -> None:
            self.ReportServiceStatus(win32service.SERVICE_STOP_PENDING)
            self.runner.stop()
            win32event.SetEvent(self._stopped)

        def SvcDoRun(self) -> None:
            servicemanager.LogInfoMsg(f"{SERVICE_NAME}: starting")
            file_logging(self.runner.config_path)
            self.runner.run()
            if self.runner.error is not None:
                servicemanager.LogErrorMsg(f"{SERVICE_NAME}: {self.runner.error}")

    return AgentService


#: The pywin32 service class on Windows with pywin32; None elsewhere.
AgentService = _service_class()
