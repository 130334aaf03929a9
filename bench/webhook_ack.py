"""How fast ml-connector acknowledges Slack events while deliveries keep flowing.

A second process runs the real web app (SQLite store, signature check, event-id ledger), a
DeliveryWorker posting a steady stream of queued messages to the Slack simulator, and, as the
baseline, a bare aiohttp server that answers 200 without looking at the request. This
process sends signed ``event_callback`` requests open loop: each at its scheduled time,
whether or not earlier answers have come back, over at most 200 connections. Latency is
counted from the scheduled time, so a slow server cannot hide its backlog by slowing the
sender down.

Printed: acknowledgement latency p50/p99/max and errors at 500/s, for ml-connector and the
bare baseline, with ours/baseline ratios; then the rate raised step by step, and the highest
rate at which p99 stays under 100 ms.

``--attack``: the same 500/s run while 1,000 slow-loris connections are held open against
ml-connector (a third send nothing, a third half their headers, a third their headers and
half a body), beside the plain run measured just before. Printed: p99 of the
acknowledgements under attack next to the plain p99, and for each kind of slow-loris
connection how long the server kept it open against its timeout (every one must be closed
within its timeout plus 0.5 s). The server runs as ``serve`` does: behind web.guard, with
``--header-timeout``/``--body-timeout`` (default the shipped 10 s / 20 s).

    python bench/webhook_ack.py            # 20 s at 500/s, then 5 s per step
    python bench/webhook_ack.py --quick    # 2 s at 500/s, then 1 s per step (~20 s)
    python bench/webhook_ack.py --attack   # plain run, then ~21 s under 1,000 slow-loris
    python bench/webhook_ack.py --attack --header-timeout 2 --body-timeout 3   # ~10 s
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
from aiohttp import web

SECRET_REF = "slack.default.signing_secret"
TARGET_RATE = 500
TARGET_P99_MS = 50.0
STEP_P99_MS = 100.0
CONNECTIONS = 200
LORIS = 1000
LORIS_SLACK = 0.5  # seconds past its timeout a slow-loris connection may still be open
STEPS = (500, 750, 1000, 1250, 1500, 2000, 2500, 3000, 4000)


# -- the server process ----------------------------------------------------------------------


async def serve(
    db: Path, secret: str, channels: int, interval: float, header: float, body: float
) -> None:
    from ml_connector.config import Config
    from ml_connector.delivery import DeliverySettings, DeliveryWorker, enqueue
    from ml_connector.delivery.outbox import OutboxMessage
    from ml_connector.delivery.slack_gateway import ClientGateway
    from ml_connector.logging import configure
    from ml_connector.pipeline import RunOutcome
    from ml_connector.sim.slack import SlackSimulator
    from ml_connector.slack.client import SlackClient
    from ml_connector.store import make_engine, migrate
    from ml_connector.vault import Vault
    from ml_connector.web import create_app
    from ml_connector.web.app import app_runner

    configure("json", "info", stream=sys.stderr)
    names = [f"bench-{n:02d}" for n in range(channels)]
    engine = make_engine(f"sqlite:///{db}")
    await migrate(engine)
    vault = Vault.ephemeral(engine)
    await vault.set(SECRET_REF, secret)
    config = Config.model_validate(
        {
            "slack": {"workspaces": {"default": {"signing_secret": SECRET_REF}}},
            # Room for the 1,000 slow-loris connections and the senders' 200, so the
            # timeouts (not the cap's shedding) are what closes them.
            "server": {
                "header_timeout": header,
                "body_timeout": body,
                "max_connections": LORIS + CONNECTIONS + 300,
            },
        }
    )

    async def no_pipeline(name: str, trigger: str) -> RunOutcome:
        return RunOutcome(status="succeeded")

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)

    async with SlackSimulator(channels=names, post_interval=interval, post_burst=1) as sim:
        gateway = ClientGateway({"default": SlackClient(sim.bot_token, base_url=sim.base_url)})
        settings = DeliverySettings(post_interval=interval, idle_poll=0.05)
        worker = DeliveryWorker(engine, gateway, settings)

        async def feed() -> None:
            """Pipelines keep enqueueing: one message per channel every 4 posting intervals."""
            n = 0
            while not stop.is_set():
                async with engine.begin() as conn:
                    for name in names:
                        await enqueue(
                            conn,
                            workspace="default",
                            channel=sim.channel_id(name),
                            message=OutboxMessage(text=f"{name} message {n}", blocks=[]),
                            dedupe_key=f"{name}:{n}",
                            source={},
                        )
                worker.wake()
                n += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), interval * 4)

        async def bare(request: web.Request) -> web.Response:
            await request.read()
            return web.Response(status=200)

        baseline = web.Application()
        baseline.router.add_post("/slack/events", bare)
        runners = [
            app_runner(create_app(config, engine, vault, no_pipeline), config),
            web.AppRunner(baseline),
        ]
        ports = []
        for runner in runners:
            await runner.setup()
            site = web.TCPSite(runner, "127.0.0.1", 0, backlog=1024)
            await site.start()
            ports.append(runner.addresses[0][1])
        tasks = [asyncio.create_task(worker.run(stop)), asyncio.create_task(feed())]
        started = time.monotonic()
        print(f"READY {ports[0]} {ports[1]}", flush=True)
        await stop.wait()
        elapsed = time.monotonic() - started
        await asyncio.gather(*tasks)
        for runner in runners:
            await runner.cleanup()
        await gateway.aclose()
        posted = sum(len(sim.messages(sim.channel_id(name))) for name in names)
        print(
            "DELIVERED "
            + json.dumps(
                {
                    "posted": posted,
                    "seconds": elapsed,
                    "429s": sum(sim.rate_limited.values()),
                }
            ),
            flush=True,
        )
    await engine.dispose()


# -- the load generator ----------------------------------------------------------------------


@dataclass
class Result:
    rate: int
    latencies: list[float] = field(default_factory=list)
    errors: Counter[str] = field(default_factory=Counter)

    def pct(self, q: float) -> float:
        if not self.latencies:
            return float("inf")
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000

    @property
    def p50(self) -> float:
        return statistics.median(self.latencies) * 1000 if self.latencies else float("inf")

    @property
    def p99(self) -> float:
        return self.pct(0.99)

    @property
    def max(self) -> float:
        return max(self.latencies) * 1000 if self.latencies else float("inf")

    @property
    def error_count(self) -> int:
        return sum(self.errors.values())


def event(event_id: str) -> bytes:
    return json.dumps(
        {
            "token": "bench",
            "team_id": "T0BENCH001",
            "api_app_id": "A0BENCH001",
            "type": "event_callback",
            "event_id": event_id,
            "event_time": int(time.time()),
            "event": {"type": "message", "channel": "C0BENCH001", "text": "hello", "ts": "1.2"},
        }
    ).encode()


async def fire(
    http: aiohttp.ClientSession, url: str, secret: str, rate: int, seconds: float
) -> Result:
    from ml_connector.slack.signing import signed_headers

    result = Result(rate)
    loop = asyncio.get_running_loop()
    count = int(rate * seconds)
    prefix = uuid.uuid4().hex[:8]

    async def one(index: int, due: float) -> None:
        body = event(f"Ev{prefix}{index:08d}")
        headers = {
            "Content-Type": "application/json",
            **signed_headers(secret, int(time.time()), body),
        }
        try:
            async with http.post(url, data=body, headers=headers) as answer:
                await answer.read()
                if answer.status != 200:
                    result.errors[f"HTTP {answer.status}"] += 1
                    return
        except (aiohttp.ClientError, TimeoutError) as exc:
            result.errors[type(exc).__name__] += 1
            return
        result.latencies.append(loop.time() - due)

    # The sender must not stall either: a full collection in this process would show up as
    # server latency. Collect between runs, never during one.
    gc.collect()
    gc.disable()
    start = loop.time() + 0.05
    tasks = []
    for index in range(count):
        due = start + index / rate
        delay = due - loop.time()
        if delay > 0:
            await asyncio.sleep(delay)
        tasks.append(asyncio.create_task(one(index, due)))
    try:
        await asyncio.gather(*tasks)
    finally:
        gc.enable()
    return result


@dataclass
class Loris:
    kind: str
    timeout: float
    opened: float = 0.0
    held: float | None = None  # seconds until the server closed it


async def slow_loris(port: int, loris: Loris, secret: str) -> None:
    """One connection that stalls: nothing, half the headers, or headers and half a body."""
    from ml_connector.slack.signing import signed_headers

    loop = asyncio.get_running_loop()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
    except OSError:
        return
    loris.opened = loop.time()
    if loris.kind == "half headers":
        writer.write(b"POST /slack/events HTTP/1.1\r\nHost: bench\r\nX-Slack-Sig")
    elif loris.kind == "half body":
        body = event(f"EvLoris{uuid.uuid4().hex[:12]}")
        headers = signed_headers(secret, int(time.time()), body)
        writer.write(
            (
                "POST /slack/events HTTP/1.1\r\nHost: bench\r\n"
                "Content-Type: application/json\r\n"
                + "".join(f"{k}: {v}\r\n" for k, v in headers.items())
                + f"Content-Length: {len(body)}\r\n\r\n"
            ).encode()
            + body[: len(body) // 2]
        )
    try:
        await asyncio.wait_for(reader.read(), loris.timeout + 30)
        loris.held = loop.time() - loris.opened
    except (TimeoutError, OSError):
        pass
    finally:
        writer.close()


async def attack(
    http: aiohttp.ClientSession,
    ports: tuple[int, int],
    secret: str,
    args: argparse.Namespace,
    plain: Result,
) -> None:
    url = f"http://127.0.0.1:{ports[0]}/slack/events"
    kinds = [
        ("nothing sent", args.header_timeout),
        ("half headers", args.header_timeout),
        ("half body", args.body_timeout),
    ]
    lorises = [Loris(*kinds[n % 3]) for n in range(LORIS)]
    opening = [asyncio.create_task(slow_loris(ports[0], loris, secret)) for loris in lorises]
    await asyncio.sleep(0.5)  # all of them connected and stalled before the events start
    seconds = max(args.header_timeout, args.body_timeout) + 1.0
    print(
        f"\nattack: {LORIS} slow-loris connections held open while signed events arrive at "
        f"{TARGET_RATE}/s for {seconds:g} s (header timeout {args.header_timeout:g} s, "
        f"body timeout {args.body_timeout:g} s)"
    )
    under = await fire(http, url, secret, TARGET_RATE, seconds)
    await asyncio.gather(*opening)
    print(f"{'':24}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'acked':>8}")
    for label, res in (("plain run", plain), ("under attack", under)):
        print(
            f"{label:24}{res.p50:>9.2f}{res.p99:>9.2f}{res.max:>9.2f}"
            f"{res.error_count:>8}{len(res.latencies):>8}"
        )
    print(f"ratio under attack/plain: p99 {under.p99 / plain.p99:.2f}×")
    if under.errors:
        print(f"errors: {dict(under.errors)}")
    print(f"{'slow-loris kind':24}{'count':>7}{'timeout s':>11}{'held max s':>12}{'in time':>9}")
    all_in_time = True
    for kind, timeout in kinds:
        group = [loris for loris in lorises if loris.kind == kind]
        held = [loris.held for loris in group if loris.held is not None]
        in_time = sum(1 for h in held if h <= timeout + LORIS_SLACK)
        all_in_time &= in_time == len(group)
        print(
            f"{kind:24}{len(group):>7}{timeout:>11.1f}"
            f"{(max(held) if held else float('nan')):>12.2f}{in_time:>9}"
        )
    met = under.p99 < STEP_P99_MS and under.error_count == 0
    print(
        f"under attack: p99 < {STEP_P99_MS:g} ms with zero errors: {'met' if met else 'MISSED'}; "
        f"every slow-loris connection closed within its timeout (+{LORIS_SLACK:g} s): "
        f"{'yes' if all_in_time else 'NO'}"
    )


async def drive(ports: tuple[int, int], secret: str, args: argparse.Namespace) -> None:
    ours_url = f"http://127.0.0.1:{ports[0]}/slack/events"
    base_url = f"http://127.0.0.1:{ports[1]}/slack/events"
    connector = aiohttp.TCPConnector(limit=CONNECTIONS)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(connector=connector, timeout=timeout) as http:
        gc.freeze()
        await fire(http, ours_url, secret, 100, 0.5)  # warm up connections and caches
        await fire(http, base_url, secret, 100, 0.5)
        print(
            f"open loop, {TARGET_RATE}/s for {args.seconds:g} s over {CONNECTIONS} connections, "
            "deliveries flowing in the server process"
        )
        base = await fire(http, base_url, secret, TARGET_RATE, args.seconds)
        ours = await fire(http, ours_url, secret, TARGET_RATE, args.seconds)
        print(f"{'':24}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'errors':>8}{'acked':>8}")
        for label, res in (("bare aiohttp (baseline)", base), ("ml-connector", ours)):
            print(
                f"{label:24}{res.p50:>9.2f}{res.p99:>9.2f}{res.max:>9.2f}"
                f"{res.error_count:>8}{len(res.latencies):>8}"
            )
        print(
            f"ratio ours/baseline: p50 {ours.p50 / base.p50:.2f}×, p99 {ours.p99 / base.p99:.2f}×"
        )
        if ours.errors:
            print(f"errors: {dict(ours.errors)}")
        met = ours.p99 < TARGET_P99_MS and ours.error_count == 0
        print(
            f"target at {TARGET_RATE}/s (p99 < {TARGET_P99_MS:g} ms, zero errors): "
            f"{'met' if met else 'MISSED'}"
        )
        if args.attack:
            await attack(http, ports, secret, args, ours)
            return
        print(
            f"\nraising the rate, {args.step_seconds:g} s per step "
            f"(p99 must stay < {STEP_P99_MS:g} ms)"
        )
        best = {"ml-connector": 0, "baseline": 0}
        for label, url in (("ml-connector", ours_url), ("baseline", base_url)):
            for rate in STEPS[: args.steps]:
                res = await fire(http, url, secret, rate, args.step_seconds)
                ok = res.p99 < STEP_P99_MS and res.error_count == 0
                print(
                    f"  {label:13}{rate:>6}/s  p50 {res.p50:8.2f} ms  p99 {res.p99:8.2f} ms  "
                    f"errors {res.error_count}"
                )
                if not ok:
                    break
                best[label] = rate
                await asyncio.sleep(0.5)
        top = STEPS[args.steps - 1] if args.steps else 0
        ceiling = "the top of the ladder, not a limit" if best["ml-connector"] == top else "a limit"
        print(
            f"highest rate with p99 < {STEP_P99_MS:g} ms: ml-connector {best['ml-connector']}/s, "
            f"baseline {best['baseline']}/s "
            f"(ratio {best['ml-connector'] / max(best['baseline'], 1):.2f}; {ceiling})"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="a few seconds in all")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--step-seconds", type=float, default=5.0)
    parser.add_argument("--steps", type=int, default=len(STEPS))
    parser.add_argument("--channels", type=int, default=20)
    parser.add_argument("--interval", type=float, default=0.05, help="Slack's per-channel pace")
    parser.add_argument("--attack", action="store_true", help="add 1,000 slow-loris connections")
    parser.add_argument("--header-timeout", type=float, default=10.0)
    parser.add_argument("--body-timeout", type=float, default=20.0)
    parser.add_argument("--serve", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--secret", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(
            serve(
                args.serve,
                args.secret,
                args.channels,
                args.interval,
                args.header_timeout,
                args.body_timeout,
            )
        )
        return
    if args.quick:
        args.seconds, args.step_seconds, args.steps = 2.0, 1.0, 3
    secret = uuid.uuid4().hex
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        with log.open("w") as log_file:
            server = subprocess.Popen(
                [
                    sys.executable,
                    __file__,
                    "--serve",
                    str(Path(tmp) / "bench.db"),
                    "--secret",
                    secret,
                    "--channels",
                    str(args.channels),
                    "--interval",
                    str(args.interval),
                    "--header-timeout",
                    str(args.header_timeout),
                    "--body-timeout",
                    str(args.body_timeout),
                ],
                stdout=subprocess.PIPE,
                stderr=log_file,
                text=True,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
            assert server.stdout is not None
            line = server.stdout.readline().split()
            if not line or line[0] != "READY":
                server.kill()
                raise SystemExit(f"server did not start; see its log:\n{log.read_text()[-2000:]}")
            try:
                asyncio.run(drive((int(line[1]), int(line[2])), secret, args))
            finally:
                server.send_signal(signal.SIGTERM)
                out, _ = server.communicate(timeout=60)
        for row in out.splitlines():
            if row.startswith("DELIVERED "):
                stats = json.loads(row.removeprefix("DELIVERED "))
                print(
                    f"deliveries meanwhile: {stats['posted']} messages posted to "
                    f"{args.channels} channels in {stats['seconds']:.0f} s "
                    f"({stats['posted'] / stats['seconds']:.0f}/s), 429s: {stats['429s']}"
                )
        rows = [row for row in log.read_text().splitlines() if '"level": "error"' in row]
        print(f"server log: {len(rows)} errors")
        for row in sorted(set(rows))[:3]:
            print(f"  {row[:300]}")


if __name__ == "__main__":
    main()
