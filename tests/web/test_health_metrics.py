"""``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

import time
from pathlib import Path

from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.ext.asyncio import AsyncEngine

from ml_connector.delivery.outbox import OutboxMessage, enqueue
from ml_connector.schedule.runs import FinalStatus, finish_run, try_start_run
from ml_connector.store import make_engine
from ml_connector.store.tables import outbox
from ml_connector.vault import Vault
from ml_connector.web import create_app

from .conftest import FakeRunner, Server, ServerFactory, event_body, make_config


async def test_healthz_and_readyz(server: Server) -> None:
    assert (await server.get("/healthz"))[0] == 200
    status, text, _ = await server.get("/readyz")
    assert status == 200
    assert '"migrations": "current"' in text


async def test_readyz_is_503_on_an_unmigrated_database(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'empty.db'}")
    app = create_app(make_config(), engine, Vault.ephemeral(engine), FakeRunner(), freeze_gc=False)
    server = Server(app, FakeRunner(), engine)
    await server.start()
    try:
        status, text, _ = await server.get("/readyz")
        assert status == 503
        assert "ml-connector init" in text
        assert (await server.get("/healthz"))[0] == 200
        # /metrics still answers, and says the store did not.
        status, text, _ = await server.get("/metrics")
        assert status == 200
        assert "mlc_store_up 0.0" in text
    finally:
        await server.stop()
        await engine.dispose()


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    found = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


async def test_metrics_expose_the_named_series(server: Server, engine: AsyncEngine) -> None:
    async with engine.begin() as conn:
        for n, channel in enumerate(["C0GL000001", "C0GL000001", "C0PAY00001"]):
            await enqueue(
                conn,
                workspace="default",
                channel=channel,
                message=OutboxMessage(text=f"m{n}", blocks=[]),
                dedupe_key=f"k{n}",
                source={},
                pipeline="intacct",
            )
        await conn.execute(outbox.update().where(outbox.c.dedupe_key == "k2").values(status="dead"))
    started = time.time() - 100
    outcomes: list[tuple[FinalStatus, float]] = [("succeeded", 3.0), ("failed", 45.0)]
    for outcome, seconds in outcomes:
        run_id = await try_start_run(engine, "intacct", "schedule", "t", now=started)
        assert run_id is not None
        await finish_run(engine, run_id, outcome, 1, 1, None, now=started + seconds)
    await server.post_signed("/slack/events", event_body("Ev0METRIC01"))
    status, text, headers = await server.get("/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=")
    found = samples(text)
    depth = "mlc_outbox_depth"
    assert found[(depth, (("channel", "C0GL000001"), ("workspace", "default")))] == 2
    assert found[("mlc_outbox_dead_letters", (("pipeline", "intacct"),))] == 1
    assert (
        found[("mlc_pipeline_runs_total", (("outcome", "succeeded"), ("pipeline", "intacct")))] == 1
    )
    assert found[("mlc_pipeline_runs_total", (("outcome", "failed"), ("pipeline", "intacct")))] == 1
    bucket = "mlc_pipeline_run_duration_seconds_bucket"
    assert found[(bucket, (("le", "5.0"), ("pipeline", "intacct")))] == 1
    assert found[(bucket, (("le", "60.0"), ("pipeline", "intacct")))] == 2
    assert found[("mlc_pipeline_run_duration_seconds_sum", (("pipeline", "intacct"),))] == 48
    accepted = (("endpoint", "events"), ("outcome", "accepted"))
    assert found[("mlc_webhook_requests_total", accepted)] >= 1
    assert found[("mlc_store_up", ())] == 1
    # Families defined by the delivery and Intacct modules are served too.
    for name in (
        "mlc_deliveries_total",
        "mlc_slack_429_total",
        "mlc_intacct_request_seconds",
        "mlc_intacct_session_refreshes_total",
    ):
        assert f"# TYPE {name.removesuffix('_total')}" in text, name


async def test_metrics_are_open_by_default_and_protected_when_configured(
    start_server: ServerFactory,
) -> None:
    import base64

    from .conftest import STATUS_PASSWORD, STATUS_TOKEN

    open_server = await start_server()
    assert (await open_server.get("/metrics"))[0] == 200
    server = await start_server(
        config=make_config(
            metrics_token="web.status_token",
            metrics_user="prometheus",
            metrics_password="web.status_password",
        )
    )
    status, _text, headers = await server.get("/metrics")
    assert status == 401
    assert "Bearer" in headers["WWW-Authenticate"]
    assert (await server.get("/metrics", {"Authorization": "Bearer wrong"}))[0] == 401
    status, text, _ = await server.get("/metrics", {"Authorization": f"Bearer {STATUS_TOKEN}"})
    assert status == 200 and "mlc_store_up" in text
    basic = base64.b64encode(f"prometheus:{STATUS_PASSWORD}".encode()).decode()
    assert (await server.get("/metrics", {"Authorization": f"Basic {basic}"}))[0] == 200
    wrong = base64.b64encode(b"prometheus:nope").decode()
    assert (await server.get("/metrics", {"Authorization": f"Basic {wrong}"}))[0] == 401
    # Health probes stay open.
    assert (await server.get("/healthz"))[0] == 200
