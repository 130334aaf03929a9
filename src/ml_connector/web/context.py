"""What every request handler of the web server shares, injected by ``create_app``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.config import Config
from ml_connector.pipeline import RunOutcome
from ml_connector.runtime.company_directory import CompanyDirectory
from ml_connector.slack.oauth import Installer
from ml_connector.vault import Vault
from ml_connector.web.background import BackgroundTasks
from ml_connector.web.ledger import EventLedger
from ml_connector.web.replay_guard import ReplayGuard
from ml_connector.web.signing_keys import SigningKeys

# (pipeline name, trigger) → outcome; the service's runtime records the run and posts.
RunPipeline = Callable[[str, str], Awaitable[RunOutcome]]


@dataclass
class WebContext:
    config: Config
    engine: AsyncEngine
    vault: Vault
    run_pipeline: RunPipeline
    keys: SigningKeys
    ledger: EventLedger
    installer: Installer
    replays: ReplayGuard
    clock: Callable[[], float]
    tasks: BackgroundTasks = field(default_factory=BackgroundTasks)
    http: aiohttp.ClientSession | None = None
    # The service's live view of the companies (added from the CLI, found by "*").
    companies: CompanyDirectory | None = None

    def status_view(self) -> tuple[Config, dict[str, list[str]]]:
        """The config the status views show (companies as the service knows them now) and
        the agent's companies of each ``"*"`` pipeline."""
        if self.companies is None:
            return self.config, {}
        return self.companies.config, self.companies.served_lists()

    def client(self) -> aiohttp.ClientSession:
        if self.http is None:
            raise RuntimeError("the web server's HTTP client is used before start-up")
        return self.http


CONTEXT: web.AppKey[WebContext] = web.AppKey("ml_connector.web", WebContext)


def context(request: web.Request) -> WebContext:
    return request.app[CONTEXT]
