"""What one connector process costs with many companies: CPU, memory, connections, lateness.

Sage 100 companies × 4 streams, spread over 10 demo agents (real agent apps, mTLS, demo back
end), and Intacct companies (one simulator each, 1 per 10 Sage 100 companies) — all in a
simulator process of their own, with the Slack simulator — on their default schedules
(AP invoices and POs every 15 min, GL postings and accounts hourly; Intacct hourly, as in its
close window). The connector is ``serve`` in a child process with a warp clock
(``ml_connector.clock.WarpClock``): while any poll is in progress time runs at real speed, so
the work and the delays it causes are real; when none is, the clock jumps to the next wake-up.

Printed per scale, measured in the connector process only (``getrusage`` of the child):

- CPU seconds per simulated hour, as % of one core. Time skipped by the warp would have cost
  the idle rate (scheduler ticks, heartbeats, the delivery worker's polling), measured over
  10 real seconds with no poll due and added back in ("corrected");
- peak RSS;
- TCP connections the agents and the Intacct simulators accepted (counted in their process);
- poll start minus slot time (jitter included), and the part of it beyond the poll's own
  jitter offset (waiting for a place at the agent or in the process, or for the event loop).

Then the peak RSS of a first sync (``run --since`` over everything) of 100k and 1M GL posting
lines of one company, beside the RSS of the same process before the read.

    python bench/poll_scale.py                 # 10 and 100 companies, 1 simulated hour, 100k GL
    python bench/poll_scale.py --full          # 10, 100, 1000 companies, 2 hours, 100k and 1M GL

By default the connector uses one ``[connections]`` entry and one pipeline per company (the
file layout before company lists); every entry naming an agent shares its client and its
limit. ``--layout lists`` writes one connection and one pipeline per agent with
``companies = [...]`` (the shape issue #22 has users write); ``--layout connections,lists``
runs both, one after the other, in one table. The ``ms/poll`` column is CPU per poll, and
``x base`` its ratio to the first row of the same run.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

AGENTS = 10
STREAMS = ("ap_invoices", "purchase_orders", "gl_postings", "gl_accounts")
GOAL_CPU = 25.0  # % of one core
GOAL_RSS = 500.0  # MiB
GOAL_LATE = 60.0  # s
GOAL_SYNC_RSS = 200.0  # MiB
IDLE_SECONDS = 10.0
HERE = Path(__file__).resolve()


def mib_of_maxrss(kib: int) -> float:
    return kib / 1024.0


def rss_now() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024.0
    return 0.0


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def company_codes(agent: int, count: int) -> list[str]:
    return [f"{chr(ord('A') + agent)}{i:02d}" for i in range(count)]


# -- the simulators' process --------------------------------------------------------------------


def count_accepts() -> Counter[int]:
    """Count every connection an aiohttp server in this process accepts, by local port."""
    from aiohttp import web_protocol

    accepts: Counter[int] = Counter()
    original = web_protocol.RequestHandler.connection_made

    def counting(self: Any, transport: Any) -> None:
        sockname = transport.get_extra_info("sockname")
        if sockname:
            accepts[sockname[1]] += 1
        original(self, transport)

    web_protocol.RequestHandler.connection_made = counting  # type: ignore[method-assign]
    return accepts


async def simulators(args: argparse.Namespace) -> None:
    from ml_connector.sim.intacct import IntacctSimulator
    from ml_connector.sim.intacct.sessions import Credentials
    from ml_connector.sim.slack import SlackSimulator
    from ml_connector_agent.demo_data import SeedCounts
    from ml_connector_agent.testing import running_agent

    accepts = count_accepts()
    out = Path(args.world)
    base = out.parent
    tiny = SeedCounts(vendors=2, ap_invoices=2, purchase_orders=1, gl_registers=1)
    world: dict[str, Any] = {"agents": [], "intacct": []}
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        slack = await stack.enter_async_context(
            SlackSimulator(channels=["finance", "alerts"], post_interval=1.0)
        )
        world["slack"] = {
            "url": slack.base_url,
            "token": slack.bot_token,
            "channels": {n: slack.channel_id(n) for n in ("finance", "alerts")},
        }
        per_agent = [
            args.sage // AGENTS + (1 if k < args.sage % AGENTS else 0) for k in range(AGENTS)
        ]
        for k, count in enumerate(per_agent):
            if not count:
                continue
            codes = company_codes(k, count)
            agent = await stack.enter_async_context(
                running_agent(
                    base / f"agent{k}", mode="mtls", companies=codes, seed=tiny, lock_attempts=1
                )
            )
            if args.gl_rows:
                store = agent.backend._store(codes[0])
                await asyncio.to_thread(store.add_gl_postings_bulk, args.gl_rows, per_register=1000)
            world["agents"].append(
                {
                    "url": agent.url,
                    "port": int(agent.url.rsplit(":", 1)[1]),
                    "companies": codes,
                    "ca_file": str(agent.ca_file),
                    "cert_file": str(agent.client_cert),
                    "client_key": agent.client_key.read_text(encoding="utf-8"),
                }
            )
        for i in range(args.intacct):
            creds = Credentials.generate()
            creds = Credentials(
                sender_id=creds.sender_id,
                sender_password=creds.sender_password,
                company_id=f"bench-co{i:03d}",
                user_id=creds.user_id,
                user_password=creds.user_password,
            )
            sim = IntacctSimulator(
                seed=i + 1,
                entities=1,
                gl_entries=200,
                vendors=20,
                payments=20,
                bills=20,
                history_days=3,
                credentials=creds,
            )
            url = await sim.start()
            stack.push_async_callback(sim.stop)
            world["intacct"].append(
                {
                    "url": url,
                    "port": int(url.split(":")[2].split("/")[0]),
                    "company_id": creds.company_id,
                    "sender_id": creds.sender_id,
                    "sender_password": creds.sender_password,
                    "user_id": creds.user_id,
                    "user_password": creds.user_password,
                }
            )
        tmp = out.with_suffix(".tmp")
        tmp.write_text(json.dumps(world))
        tmp.rename(out)
        await stop.wait()
    counts = {str(port): n for port, n in accepts.items()}
    Path(args.counts).write_text(json.dumps(counts))


# -- the connector's process ---------------------------------------------------------------------


def config_text(
    world: dict[str, Any], data_dir: Path, layout: str = "connections", **scheduling: Any
) -> str:
    ch = world["slack"]["channels"]
    lines = [
        f'data_dir = "{data_dir.as_posix()}"',
        'log_level = "warning"',
        "",
        "[scheduling]",
        *(f"{k} = {v}" for k, v in scheduling.items()),
        "",
        "[slack.workspaces.default]",
        f'api_base_url = "{world["slack"]["url"]}"',
        'bot_token = "slack.bot_token"',
        "",
    ]
    for agent in world["agents"]:
        if layout == "lists":
            # The shape issue #22 asks users to write: one connection per agent, one pipeline
            # listing the agent's companies.
            name = f"s_agent{agent['port']}"
            codes = ", ".join(f'"{code}"' for code in agent["companies"])
            lines += [
                f"[connections.{name}]",
                'type = "sage100"',
                f'agent_url = "{agent["url"]}"',
                'auth = "mtls"',
                f'ca_file = "{agent["ca_file"]}"',
                f'cert_file = "{agent["cert_file"]}"',
                f'client_key = "agent{agent["port"]}.client_key"',
                "",
                f"[pipelines.{name}]",
                'type = "sage100"',
                f'connection = "{name}"',
                f"companies = [{codes}]",
                f'alerts_channel = "{ch["alerts"]}"',
            ]
            for stream in STREAMS:
                lines.append(f'streams.{stream} = {{ channel = "{ch["finance"]}" }}')
            lines.append("")
            continue
        for code in agent["companies"]:
            lines += [
                f"[connections.s_{code}]",
                'type = "sage100"',
                f'agent_url = "{agent["url"]}"',
                f'company = "{code}"',
                'auth = "mtls"',
                f'ca_file = "{agent["ca_file"]}"',
                f'cert_file = "{agent["cert_file"]}"',
                f'client_key = "agent{agent["port"]}.client_key"',
                "",
                f"[pipelines.s_{code}]",
                'type = "sage100"',
                f'connection = "s_{code}"',
                f'alerts_channel = "{ch["alerts"]}"',
            ]
            for stream in STREAMS:
                lines.append(f'streams.{stream} = {{ channel = "{ch["finance"]}" }}')
            lines.append("")
    for i, sim in enumerate(world["intacct"]):
        lines += [
            f"[connections.i_{i:03d}]",
            'type = "intacct"',
            f'gateway_url = "{sim["url"]}"',
            f'sender_id = "{sim["sender_id"]}"',
            f'sender_password = "intacct{i}.sender_password"',
            f'company_id = "{sim["company_id"]}"',
            f'user_id = "{sim["user_id"]}"',
            f'user_password = "intacct{i}.user_password"',
            "",
            f"[pipelines.i_{i:03d}]",
            'type = "intacct"',
            f'connection = "i_{i:03d}"',
            'schedule = { cron = "0 * * * *" }',
            f'channels = {{ gl = "{ch["finance"]}", payments = "{ch["finance"]}", '
            f'alerts = "{ch["alerts"]}" }}',
            "",
        ]
    return "\n".join(lines)


async def store_secrets(config_path: Path, world: dict[str, Any]) -> None:
    from ml_connector.config import load_config
    from ml_connector.store import make_engine, migrate
    from ml_connector.vault import Vault, create_key_file, load_keyring

    config = load_config(config_path)
    config.data_path.mkdir(parents=True, exist_ok=True)
    create_key_file(config.key_file)
    engine = make_engine(config.db_url)
    await migrate(engine)
    vault = Vault(engine, load_keyring(config.key_file, environ={}))
    await vault.ensure_canary()
    await vault.set("slack.bot_token", world["slack"]["token"])
    for agent in world["agents"]:
        await vault.set(f"agent{agent['port']}.client_key", agent["client_key"])
    for i, sim in enumerate(world["intacct"]):
        await vault.set(f"intacct{i}.sender_password", sim["sender_password"])
        await vault.set(f"intacct{i}.user_password", sim["user_password"])
    await engine.dispose()


async def connector(args: argparse.Namespace) -> None:
    from ml_connector import clock
    from ml_connector import logging as mlc_logging
    from ml_connector.config import load_config
    from ml_connector.runtime.service import serve

    config = load_config(args.config)
    mlc_logging.configure(config.log_format, config.log_level)
    end = args.start + args.hours * 3600
    # 5 minutes before the end nothing is due (the last slot was 10 minutes before): the
    # clock stops jumping there, and what an idle stretch costs is measured in real time.
    warp = clock.WarpClock(start=args.start, until=end - 300)
    clock.use(warp)
    stop = asyncio.Event()
    real_started = time.monotonic()
    cpu_started = cpu_now()
    idle: dict[str, float] = {}

    async def until_end() -> None:
        while clock.now() < end - 300:
            await asyncio.sleep(0.05)
        cpu, real = cpu_now(), time.monotonic()
        await asyncio.sleep(IDLE_SECONDS)
        idle["cpu"], idle["real"] = cpu_now() - cpu, time.monotonic() - real
        warp.until = end
        while clock.now() < end:
            await asyncio.sleep(0.05)
        stop.set()

    ender = asyncio.create_task(until_end())
    await serve(config, stop=stop, web_enabled=False, install_signals=False)
    await ender
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.result).write_text(
        json.dumps(
            {
                "cpu": usage.ru_utime + usage.ru_stime,
                "cpu_serving": cpu_now() - cpu_started,
                "maxrss_mib": mib_of_maxrss(usage.ru_maxrss),
                "real": time.monotonic() - real_started,
                "warped": warp.warped,
                "idle_cpu": idle["cpu"],
                "idle_real": idle["real"],
            }
        )
    )


async def first_sync(args: argparse.Namespace) -> None:
    from ml_connector import logging as mlc_logging
    from ml_connector.config import load_config
    from ml_connector.runtime.service import open_runtime

    config = load_config(args.config)
    mlc_logging.configure(config.log_format, config.log_level)
    pipeline = next(iter(config.pipelines))
    async with open_runtime(config) as rt:
        before = rss_now()
        started = time.monotonic()
        outcome = await rt.runner.run(
            pipeline, "manual", stream="gl_postings", since=datetime(2000, 1, 1, tzinfo=UTC)
        )
        took = time.monotonic() - started
    usage = resource.getrusage(resource.RUSAGE_SELF)
    Path(args.result).write_text(
        json.dumps(
            {
                "status": outcome.status,
                "error": outcome.error,
                "read": outcome.records_read,
                "queued": outcome.messages_queued,
                "before_mib": before,
                "maxrss_mib": mib_of_maxrss(usage.ru_maxrss),
                "seconds": took,
            }
        )
    )


# -- the parent -------------------------------------------------------------------------------


def child(role: str, *extra: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, str(HERE), "--role", role, *extra])


def wait_for(path: Path, proc: subprocess.Popen[bytes], timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while not path.exists():
        if proc.poll() is not None:
            raise SystemExit(f"the simulators exited early ({proc.returncode})")
        if time.monotonic() > deadline:
            raise SystemExit("the simulators did not start in time")
        time.sleep(0.2)


def stop_simulators(proc: subprocess.Popen[bytes], counts: Path) -> dict[int, int]:
    proc.send_signal(signal.SIGTERM)
    proc.wait(timeout=120)
    return {int(k): v for k, v in json.loads(counts.read_text()).items()}


def lateness(db: Path) -> dict[str, Any]:
    from ml_connector.schedule.jitter import jitter_seconds
    from ml_connector.store.tables import runs, schedule_slots

    engine = sa.create_engine(f"sqlite:///{db}")
    with engine.connect() as conn:
        rows = conn.execute(
            sa.select(
                schedule_slots.c.schedule,
                schedule_slots.c.fire_time,
                schedule_slots.c.reason,
                schedule_slots.c.claimed_at,
                runs.c.started_at,
                runs.c.status,
            ).select_from(schedule_slots.outerjoin(runs, runs.c.id == schedule_slots.c.run_id))
        ).all()
    engine.dispose()
    late, beyond = [], []
    claim_lag = [claimed - fire for _, fire, _, claimed, _, _ in rows]
    statuses: Counter[str] = Counter()
    for schedule, fire, reason, _, started, status in rows:
        if started is None:
            statuses["not run: " + (reason or "")[:40]] += 1
            continue
        statuses[status] += 1
        key, _, stream = schedule.partition(".")
        pipeline, _, listed = key.partition("@")  # s_agentN@CODE with company lists
        kind, code = pipeline.split("_", 1)
        # the company a poll's jitter is keyed by (runtime.poll_health.company_of)
        company = listed or (code if kind == "s" else f"bench-co{code}")
        offset = jitter_seconds(pipeline, company, stream or None, 30.0)
        late.append(started - fire)
        beyond.append(started - fire - offset)
    late.sort()
    return {
        "slots": len(rows),
        "statuses": dict(statuses),
        "max": max(late, default=0.0),
        "p50": statistics.median(late) if late else 0.0,
        "p99": late[int(len(late) * 0.99)] if late else 0.0,
        "beyond_max": max(beyond, default=0.0),
        "claim_lag_max": max(claim_lag, default=0.0),
    }


def start_simulators(base: Path, *options: str) -> tuple[subprocess.Popen[bytes], Path]:
    """The simulators' process for one scenario, and the file its accept counts go to."""
    counts_file = base / "counts.json"
    world = ["--world", str(base / "world.json"), "--counts", str(counts_file)]
    return child("sims", *world, *options), counts_file


def configure(
    base: Path, sims: subprocess.Popen[bytes], *, timeout: float, layout: str = "connections"
) -> tuple[dict[str, Any], Path]:
    """Once the simulators have written their world: the connector's config and secrets."""
    world_file = base / "world.json"
    wait_for(world_file, sims, timeout=timeout)
    world: dict[str, Any] = json.loads(world_file.read_text())
    config_path = base / "ml-connector.toml"
    config_path.write_text(config_text(world, base / "data", layout))
    asyncio.run(store_secrets(config_path, world))
    return world, config_path


def run_scale(sage: int, hours: int, tmp: Path, layout: str) -> dict[str, Any]:
    base = tmp / f"scale-{sage}-{layout}"
    base.mkdir()
    intacct = max(1, sage // 10)
    sims, counts_file = start_simulators(base, "--sage", str(sage), "--intacct", str(intacct))
    try:
        world, config_path = configure(base, sims, timeout=900, layout=layout)
        now = time.time()
        start = (now // 3600 + 1) * 3600 - 60  # a minute before an hour: every stream is due
        result = base / "result.json"
        proc = child(
            "connector",
            "--config",
            str(config_path),
            "--start",
            str(start),
            "--hours",
            str(hours),
            "--result",
            str(result),
        )
        if proc.wait() != 0:
            raise SystemExit(f"the connector exited with {proc.returncode}")
    finally:
        accepts = stop_simulators(sims, counts_file) if sims.poll() is None else {}
    figures = json.loads(result.read_text())
    agent_ports = {a["port"] for a in world["agents"]}
    intacct_ports = {s["port"] for s in world["intacct"]}
    idle_rate = figures["idle_cpu"] / figures["idle_real"]
    corrected = figures["cpu"] + idle_rate * figures["warped"]
    return {
        "sage": sage,
        "layout": layout,
        "intacct": intacct,
        "polls": sage * len(STREAMS),
        "hours": hours,
        "real": figures["real"],
        "warped": figures["warped"],
        "cpu_raw_per_hour": figures["cpu"] / hours,
        "cpu_per_hour": corrected / hours,
        "idle_rate": idle_rate,
        "maxrss": figures["maxrss_mib"],
        "agent_accepts": sum(n for p, n in accepts.items() if p in agent_ports),
        "intacct_accepts": sum(n for p, n in accepts.items() if p in intacct_ports),
        "late": lateness(base / "data" / "ml-connector.db"),
    }


def run_first_sync(rows: int, tmp: Path) -> dict[str, Any]:
    base = tmp / f"sync-{rows}"
    base.mkdir()
    sims, counts_file = start_simulators(
        base, "--sage", "1", "--intacct", "0", "--gl-rows", str(rows)
    )
    try:
        _, config_path = configure(base, sims, timeout=1800)
        result = base / "result.json"
        proc = child("first-sync", "--config", str(config_path), "--result", str(result))
        if proc.wait() != 0:
            raise SystemExit(f"the first sync exited with {proc.returncode}")
    finally:
        if sims.poll() is None:
            stop_simulators(sims, counts_file)
    return {"rows": rows, **json.loads(result.read_text())}


def mark(ok: bool) -> str:
    return "ok" if ok else "OVER"


def main(args: argparse.Namespace) -> None:
    scales = [int(n) for n in args.companies.split(",")]
    rows = [int(n) for n in args.gl_rows.split(",")] if args.gl_rows else []
    print(
        f"poll_scale: Sage 100 companies x {len(STREAMS)} streams over {AGENTS} demo agents "
        f"(mTLS), 1 Intacct simulator per 10; {args.hours} simulated h per scale",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="poll-scale-") as name:
        tmp = Path(args.keep) if args.keep else Path(name)
        tmp.mkdir(parents=True, exist_ok=True)
        layouts = args.layout.split(",")
        results = []
        for sage in scales:
            for layout in layouts:
                started = time.monotonic()
                r = run_scale(sage, args.hours, tmp, layout)
                r["wall"] = time.monotonic() - started
                results.append(r)
                print(f"  {sage} companies ({layout}) done in {r['wall']:.0f} s", flush=True)
        print()
        print(
            f"{'layout':>11} {'sage100':>7} {'intacct':>7} {'polls/h':>7} {'real s':>6} "
            f"{'CPU s/sim h':>11} {'% core':>6} {'ms/poll':>7} {'x base':>6} {'RSS MiB':>7} "
            f"{'agent conns':>11} {'intacct conns':>13} {'late p50':>8} {'p99':>6} {'max':>6} "
            f"{'queued max':>10}"
        )
        # the baseline: the first scale of the first layout, measured in this run
        base_ms = None
        for r in results:
            polls_h = r["sage"] * 10 + r["intacct"]  # 2 streams x 4 + 2 streams x 1, + Intacct
            pct = r["cpu_per_hour"] / 3600 * 100
            ms = r["cpu_per_hour"] / polls_h * 1000
            base_ms = base_ms or ms
            late = r["late"]
            print(
                f"{r['layout']:>11} {r['sage']:>7} {r['intacct']:>7} {polls_h:>7} "
                f"{r['real']:>6.0f} {r['cpu_per_hour']:>11.1f} {pct:>6.2f} {ms:>7.1f} "
                f"{ms / base_ms:>6.2f} {r['maxrss']:>7.0f} "
                f"{r['agent_accepts']:>11} {r['intacct_accepts']:>13} "
                f"{late['p50']:>7.1f}s {late['p99']:>5.1f}s {late['max']:>5.1f}s "
                f"{late['beyond_max']:>9.1f}s"
            )
        print()
        for top in results:
            if top["sage"] != scales[-1]:
                continue
            pct = top["cpu_per_hour"] / 3600 * 100
            print(
                f"goal at {top['sage']} companies ({top['layout']}): CPU < {GOAL_CPU:.0f} % "
                f"of one core: {pct:.2f} % {mark(pct < GOAL_CPU)}; RSS < {GOAL_RSS:.0f} MiB: "
                f"{top['maxrss']:.0f} MiB {mark(top['maxrss'] < GOAL_RSS)}; no poll > "
                f"{GOAL_LATE:.0f} s after its slot: max {top['late']['max']:.1f} s "
                f"{mark(top['late']['max'] <= GOAL_LATE)}"
            )
        for r in results:
            raw = r["cpu_raw_per_hour"]
            print(
                f"  {r['sage']} companies ({r['layout']}): {r['late']['slots']} slots "
                f"{r['late']['statuses']}; "
                f"CPU raw {raw:.1f} s/sim h + idle {r['idle_rate'] * 100:.2f} % of a core "
                f"over the {r['warped']:.0f} s skipped; slots claimed up to "
                f"{r['late']['claim_lag_max']:.1f} s after their time"
            )
        if rows:
            print()
            print(
                "first sync of one company's GL postings "
                f"(goal: peak RSS < {GOAL_SYNC_RSS:.0f} MiB, flat in the row count)"
            )
            print(
                f"{'rows':>9} {'read':>9} {'queued':>6} {'s':>6} {'RSS before':>10} {'peak RSS':>8}"
            )
            for n in rows:
                s = run_first_sync(n, tmp)
                print(
                    f"{n:>9,} {s['read']:>9,} {s['queued']:>6} {s['seconds']:>6.1f} "
                    f"{s['before_mib']:>9.0f}M {s['maxrss_mib']:>7.0f}M "
                    f"{mark(s['maxrss_mib'] < GOAL_SYNC_RSS)} {s['status']}"
                    + (f" ({s['error']})" if s["error"] else ""),
                    flush=True,
                )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--role", choices=["main", "sims", "connector", "first-sync"])
    parser.add_argument("--full", action="store_true", help="10, 100, 1000 companies; 2 h")
    parser.add_argument("--companies", default=None, help="comma-separated Sage 100 counts")
    parser.add_argument("--hours", type=int, default=None, help="simulated hours per scale")
    parser.add_argument("--gl-rows", default=None, help="first-sync sizes, comma-separated")
    parser.add_argument(
        "--layout",
        default="connections",
        help="config shape(s), comma-separated: 'connections' (one connection and pipeline "
        "per company) and/or 'lists' (one per agent, companies = [...])",
    )
    parser.add_argument("--keep", help="keep the databases and configs in this directory")
    parser.add_argument("--world")
    parser.add_argument("--counts")
    parser.add_argument("--sage", type=int, default=0)
    parser.add_argument("--intacct", type=int, default=0)
    parser.add_argument("--config")
    parser.add_argument("--start", type=float)
    parser.add_argument("--result")
    args = parser.parse_args()
    if args.role == "sims":
        args.gl_rows = int(args.gl_rows or 0)
        asyncio.run(simulators(args))
    elif args.role == "connector":
        if os.environ.get("POLL_SCALE_PROFILE"):
            import cProfile

            cProfile.run("asyncio.run(connector(args))", os.environ["POLL_SCALE_PROFILE"])
        else:
            asyncio.run(connector(args))
    elif args.role == "first-sync":
        asyncio.run(first_sync(args))
    else:
        args.companies = args.companies or ("10,100,1000" if args.full else "10,100")
        args.hours = args.hours or (2 if args.full else 1)
        if args.gl_rows is None:
            args.gl_rows = "100000,1000000" if args.full else "100000"
        os.environ.setdefault("PYTHONUNBUFFERED", "1")
        main(args)
