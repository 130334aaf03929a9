"""The aiohttp application of ``ml-connector serve``: Slack endpoints, health, metrics, status.

Everything the handlers need is passed in, nothing is looked up globally: the runtime gives
the config, the engine, the vault and the function that runs a pipeline, and tests give a
fake, slow runner the same way.
"""

from __future__ import annotations

import gc
from collections.abc import AsyncIterator, Awaitable, Callable

import aiohttp
from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector import clock
from ml_connector.config import Config
from ml_connector.logging import get_logger
from ml_connector.runtime.company_directory import CompanyDirectory
from ml_connector.slack.manifest import COMMANDS_PATH, EVENTS_PATH, OAUTH_REDIRECT_PATH
from ml_connector.slack.oauth import Installer
from ml_connector.vault import Vault
from ml_connector.web import intacct_events
from ml_connector.web.commands import commands_handler
from ml_connector.web.context import CONTEXT, RunPipeline, WebContext
from ml_connector.web.dashboard.page import add_routes as add_dashboard_routes
from ml_connector.web.dashboard.page import dashboard_page
from ml_connector.web.guard import BodyTimeout, GuardedAppRunner, Limits
from ml_connector.web.health import healthz_handler, readyz_handler
from ml_connector.web.inbound import Refusal
from ml_connector.web.ledger import EventLedger
from ml_connector.web.metrics import metrics_handler
from ml_connector.web.oauth_routes import install_handler, oauth_redirect_handler
from ml_connector.web.replay_guard import ReplayGuard
from ml_connector.web.signing_keys import SigningKeys
from ml_connector.web.slack_events import events_handler
from ml_connector.web.status import status_page_handler

log = get_logger("ml_connector.web")

INSTALL_PATH = "/slack/install"
# Background work (a pipeline run from /mlc) gets this long to finish at shutdown.
SHUTDOWN_GRACE = 10.0

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def create_app(
    config: Config,
    engine: AsyncEngine,
    vault: Vault,
    run_pipeline: RunPipeline,
    *,
    now: Callable[[], float] = clock.now,
    installer: Installer | None = None,
    shutdown_grace: float = SHUTDOWN_GRACE,
    freeze_gc: bool = True,
    on_trigger: Callable[[], None] | None = None,
    companies: CompanyDirectory | None = None,
) -> web.Application:
    """The application; ``now`` is the wall clock used for signature timestamps.

    ``freeze_gc``: at start-up, move every object alive (modules, SQLAlchemy's metadata and
    caches, the config …) out of the cyclic collector's reach with :func:`gc.freeze`. They
    live as long as the process anyway, and a full collection that re-scans them stalls the
    event loop for 50-200 ms, which is what Slack's acknowledgements would wait for.
    Tests that start many apps in one process turn it off.

    ``on_trigger``: called when an Intacct trigger queued a targeted read (wakes the worker).
    """
    ctx = WebContext(
        config=config,
        engine=engine,
        vault=vault,
        run_pipeline=run_pipeline,
        companies=companies,
        keys=SigningKeys(config, vault),
        ledger=EventLedger(engine),
        installer=installer or Installer(config, engine, vault),
        replays=ReplayGuard(engine),
        clock=now,
    )
    app = web.Application(
        middlewares=[_internal_errors], client_max_size=config.server.max_body_bytes
    )
    app[CONTEXT] = ctx

    async def lifecycle(_app: web.Application) -> AsyncIterator[None]:
        ctx.ledger.start()
        ctx.http = aiohttp.ClientSession()
        if freeze_gc:
            gc.collect()
            gc.freeze()
        try:
            yield
        finally:
            await ctx.tasks.close(shutdown_grace)
            await ctx.ledger.close()
            await ctx.http.close()
            ctx.http = None

    app.cleanup_ctx.append(lifecycle)
    app.router.add_post(EVENTS_PATH, events_handler)
    app.router.add_post(COMMANDS_PATH, commands_handler)
    app.router.add_get(INSTALL_PATH, install_handler)
    app.router.add_get(OAUTH_REDIRECT_PATH, oauth_redirect_handler)
    app.router.add_get("/healthz", healthz_handler)
    app.router.add_get("/readyz", readyz_handler)
    app.router.add_get("/metrics", metrics_handler)
    app.router.add_get("/", _status_or_dashboard)
    add_dashboard_routes(app)
    intacct_events.register(app, engine, on_trigger)
    return app


async def _status_or_dashboard(request: web.Request) -> web.StreamResponse:
    """Scripts send ``Authorization`` and get the status page; browsers get the dashboard."""
    if "Authorization" in request.headers:
        return await status_page_handler(request)
    return await dashboard_page(request)


@web.middleware
async def _internal_errors(request: web.Request, handler: Handler) -> web.StreamResponse:
    """Refusals become their answer; a bug answers a bare 500, logged with its traceback."""
    try:
        return await handler(request)
    except Refusal as refusal:
        return refusal.response
    except web.HTTPException:
        raise
    except BodyTimeout:
        return web.json_response({"error": "the request body took too long to arrive"}, status=408)
    except ConnectionError:
        # The client went away mid-request: nobody is left to answer.
        log.info("client disconnected mid-request", path=request.path)
        return web.Response(status=400)
    except Exception:
        log.exception("request failed", path=request.path, method=request.method)
        return web.json_response({"error": "internal error"}, status=500)


def app_runner(app: web.Application, config: Config) -> GuardedAppRunner:
    """The runner ``serve`` uses: the app behind the connection deadlines and cap of
    ``[server]`` (see :mod:`.guard`)."""
    return GuardedAppRunner(app, limits=Limits.from_config(config.server), access_log=None)
