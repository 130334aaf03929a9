"""Pull GL posting rows through the Sage 100 agent (mTLS on loopback) and time it.

The agent runs in its own process so its peak memory is its own. The baseline is the same
read done in this process straight from the demo SQLite through the same back end (same
SQL, same record shaping, no TLS/HTTP/JSON), measured in the same run, so the ratio shows
what the agent's transport costs on this machine.

    python bench/agent_read.py            # 100,000 rows
    python bench/agent_read.py --quick    # 10,000 rows
"""

from __future__ import annotations

import argparse
import asyncio
import re
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

from ml_connector.sage100.agent_client.client import Sage100Client
from ml_connector.sage100.agent_client.tls import client_ssl_context
from ml_connector_agent.backends.base import PageQuery
from ml_connector_agent.backends.demo import DemoBackend
from ml_connector_agent.certs import init_certs
from ml_connector_agent.demo_data import DemoStore, SeedCounts, connect
from ml_connector_agent.resources import Resource
from ml_connector_agent.testing import write_config

PAGE = 5000


def seed(data_dir: Path, rows: int) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    store = DemoStore(connect(data_dir / "MAS_ABC.db"))
    store.seed(
        SeedCounts(
            vendors=5, ap_invoices=5, purchase_orders=5, gl_registers=1, gl_lines_per_register=2
        )
    )
    store.add_gl_postings_bulk(rows - 2, per_register=1000)  # the seed posted 2 lines
    store.conn.close()


async def baseline(data_dir: Path) -> tuple[int, float]:
    backend = DemoBackend(data_dir, ["ABC"])
    started = time.perf_counter()
    count, after = 0, None
    try:
        while True:
            page = await backend.read_page(
                "ABC", PageQuery(Resource.GL_POSTINGS, since=None, after=after, limit=PAGE)
            )
            count += len(page.records)
            if not page.has_more:
                break
            after = page.last
    finally:
        await backend.close()
    return count, time.perf_counter() - started


def vm_hwm_kib(pid: int) -> int | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return int(match.group(1)) if match else None


async def through_agent(directory: Path) -> tuple[int, float, int | None, int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ml_connector_agent",
            "serve",
            "--config",
            str(directory / "agent.toml"),
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = await asyncio.to_thread(proc.stdout.readline)
        match = re.search(r"(https://\S+)", line)
        if not match:
            raise SystemExit(f"agent did not start: {line!r}")
        certs = directory / "certs"
        tracemalloc.start()
        ssl_context = client_ssl_context(
            certs / "ca.pem", certs / "connector.pem", (certs / "connector.key").read_text()
        )
        async with Sage100Client(match.group(1), ssl_context=ssl_context) as client:
            started = time.perf_counter()
            count = 0
            async for page in client.pages("ABC", "gl-postings", limit=PAGE):
                count += len(page.records)
            elapsed = time.perf_counter() - started
        _, client_peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        return count, elapsed, vm_hwm_kib(proc.pid), client_peak
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 rows instead of 100,000")
    parser.add_argument("--rows", type=int, default=None)
    args = parser.parse_args()
    rows = args.rows or (10_000 if args.quick else 100_000)
    with tempfile.TemporaryDirectory(prefix="agent-read-") as tmp:
        directory = Path(tmp)
        certs = init_certs(directory / "certs", hostnames=["127.0.0.1", "localhost"])
        write_config(
            directory / "agent.toml",
            certs=certs,
            mode="mtls",
            companies=["ABC"],
            data_dir=directory / "data",
            lock_attempts=3,
            lock_delay=0.25,
            retry_after=5,
        )
        await asyncio.to_thread(seed, directory / "data", rows)
        base_count, base_elapsed = await baseline(directory / "data")
        count, elapsed, agent_kib, client_peak = await through_agent(directory)
    if count != base_count:
        raise SystemExit(f"row counts differ: agent {count}, baseline {base_count}")
    base_rate, rate = base_count / base_elapsed, count / elapsed
    print(f"rows: {count:,}  page size: {PAGE}")
    print(f"baseline (same back end in-process): {base_rate:,.0f} rows/s")
    print(f"through the agent (mTLS, loopback):  {rate:,.0f} rows/s")
    print(f"ratio agent/baseline: {rate / base_rate:.2f}")
    agent_mem = f"{agent_kib / 1024:.1f} MiB" if agent_kib else "n/a (no /proc)"
    print(f"agent peak RSS: {agent_mem}")
    print(f"client peak Python heap during the read: {client_peak / 2**20:.1f} MiB")
    client_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    scale = 1 if sys.platform == "darwin" else 1024  # bytes on macOS, KiB on Linux
    print(f"client process peak RSS (with the baseline run): {client_rss * scale / 2**20:.1f} MiB")


if __name__ == "__main__":
    asyncio.run(main())
