"""The few Windows-only calls the agent makes, behind small seams the tests replace on Linux.

- DPAPI (``win32crypt.CryptProtectData`` / ``CryptUnprotectData`` from pywin32): seals the
  passphrase of the agent's private keys for the account the service runs as, so no passphrase
  needs to sit in an environment variable on the server.
- The service control manager (``win32serviceutil``): install, remove, start and stop the
  ``MLConnectorAgent`` service. The service class itself lives in :mod:`.service`.

pywin32 is the ``[boi]`` extra (``pip install "ml-connector-agent[boi]"``); without it every
call here raises ConfigError saying so instead of an ImportError traceback.
"""

from __future__ import annotations

import importlib
from typing import Any, Protocol

from ml_connector_agent.errors import ConfigError

SERVICE_NAME = "MLConnectorAgent"
SERVICE_DISPLAY = "ml-connector Sage 100 agent"
_DESCRIPTION = "ml-connector-agent passphrase"


def _pywin32(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        raise ConfigError(
            f"{module} is missing: this needs Windows and pywin32 "
            '(pip install "ml-connector-agent[boi]")'
        ) from exc


class Dpapi(Protocol):
    def protect(self, data: bytes) -> bytes: ...
    def unprotect(self, blob: bytes) -> bytes: ...


class _SystemDpapi:
    def __init__(self) -> None:
        self._crypt = _pywin32("win32crypt")

    def protect(self, data: bytes) -> bytes:
        # CryptProtectData(data, description, entropy, reserved, prompt, flags) → bytes
        return bytes(self._crypt.CryptProtectData(data, _DESCRIPTION, None, None, None, 0))

    def unprotect(self, blob: bytes) -> bytes:
        # CryptUnprotectData(data, entropy, reserved, prompt, flags) → (description, data)
        try:
            _, data = self._crypt.CryptUnprotectData(blob, None, None, None, 0)
        except Exception as exc:  # pywintypes.error: another account, or a damaged file
            raise ConfigError(
                "the DPAPI passphrase file cannot be opened by this Windows account: run the "
                "service as the account that ran `ml-connector-agent init --dpapi`"
            ) from exc
        return bytes(data)


def system_dpapi() -> Dpapi:
    return _SystemDpapi()


class ServiceControl(Protocol):
    """What ``agent service …`` needs from the service control manager."""

    def install(self, *, config: str, account: str | None, password: str | None) -> None: ...
    def remove(self) -> None: ...
    def start(self) -> None: ...
    def stop(self) -> None: ...


class _Win32ServiceControl:
    """pywin32's ``win32serviceutil`` helpers, the documented way to manage a Python service."""

    def __init__(self) -> None:
        self._util = _pywin32("win32serviceutil")
        self._service = _pywin32("win32service")

    def install(self, *, config: str, account: str | None, password: str | None) -> None:
        self._util.InstallService(
            "ml_connector_agent.service.AgentService",
            SERVICE_NAME,
            SERVICE_DISPLAY,
            startType=self._service.SERVICE_AUTO_START,
            userName=account,
            password=password,
            exeArgs=None,
            description="Serves Sage 100 data to ml-connector over HTTPS (read-only).",
        )
        # The service reads its agent.toml path from its own registry parameters.
        self._util.SetServiceCustomOption(SERVICE_NAME, "config", config)

    def remove(self) -> None:
        self._util.RemoveService(SERVICE_NAME)

    def start(self) -> None:
        self._util.StartService(SERVICE_NAME)

    def stop(self) -> None:
        self._util.StopService(SERVICE_NAME)


def system_service_control() -> ServiceControl:
    return _Win32ServiceControl()
