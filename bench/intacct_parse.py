"""How fast, and in how much memory, gateway answers are parsed.

A generated readByQuery answer of GLENTRY records (100,000; 10,000 with ``--quick``) is
parsed three ways:

- ours: ``ml_connector.intacct.gateway.parse.iter_records``, fed 64 KiB chunks as from the network,
  yielding each record as a dict of typed values (Decimal, date, datetime, int), with the
  compiled record loop (``intacct/gateway/_records.pyx``) that the install builds;
- ours, Python loop: the same with the Python reference loop (``records.take_records_python``),
  what runs where the extension could not be built;
- xmltodict, what the community Python SDK uses: the whole answer into nested dicts of strings;
- bare lxml iterparse: visits each record element and frees it, converting nothing.

Rates are records per second, the best of a few runs in this process, and are printed as
ratios against the baselines measured in the same run. Memory is measured in a fresh process
per parser (the answer is read from a file first): the peak growth of the resident set while
parsing, which counts libxml2's C allocations too, and the peak growth of the Python heap
(tracemalloc), which does not. Targets: ours at least 3x xmltodict's rate at no more than 1/10
of its peak memory growth, and at least half of bare iterparse's rate.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import random
import subprocess
import sys
import tempfile
import time
import tracemalloc
from collections.abc import Callable, Iterator
from pathlib import Path

CHUNK = 1 << 16
ACCOUNTS = [
    ("1000", "Cash - Operating"),
    ("1200", "Accounts Receivable"),
    ("2000", "Accounts Payable"),
]
ACCOUNTS += [("4000", "Sales - Distribution"), ("5000", "Cost of Goods Sold"), ("6100", "Freight")]
DEPARTMENTS = [("D100", "Sales"), ("D200", "Warehouse"), ("D300", "Finance & Admin")]
LOCATIONS = [("E100", "Distribution West"), ("E200", "Distribution East"), ("E300", "Canada")]


def glentry(rng: random.Random, recordno: int) -> str:
    """One GLENTRY as Intacct writes it: flat fields, US dates, unsigned amounts."""
    account, title = rng.choice(ACCOUNTS)
    dept, dept_title = rng.choice(DEPARTMENTS)
    loc, loc_name = rng.choice(LOCATIONS)
    month, day = rng.randint(1, 12), rng.randint(1, 28)
    entry_date = f"{month:02d}/{day:02d}/2026"
    stamp = (
        f"{entry_date} {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    )
    amount = f"{rng.randint(1, 5_000_000) / 100:.2f}"
    batch = recordno // 4 + 1
    fields = [
        ("RECORDNO", str(recordno)),
        ("BATCHNO", str(batch)),
        ("USERNO", "12"),
        ("LINE_NO", str(recordno % 4 + 1)),
        ("TR_TYPE", rng.choice(("1", "-1"))),
        ("ENTRY_DATE", entry_date),
        ("AMOUNT", amount),
        ("TRX_AMOUNT", amount),
        ("BATCH_NUMBER", str(batch)),
        ("BATCH_DATE", entry_date),
        ("BATCHTITLE", f"Daily sales summary {entry_date}"),
        ("ACCOUNTKEY", account[:2]),
        ("ACCOUNTNO", account),
        ("ACCOUNTTITLE", title.replace("&", "&amp;")),
        ("DEPARTMENT", dept),
        ("DEPARTMENTTITLE", dept_title.replace("&", "&amp;")),
        ("LOCATION", loc),
        ("LOCATIONNAME", loc_name),
        ("DOCUMENT", f"INV-{recordno:07d}"),
        ("DESCRIPTION", "Invoice posting"),
        ("BASECURR", "USD"),
        ("CURRENCY", "USD"),
        ("EXCHANGE_RATE", "1.0000"),
        ("CLEARED", ""),
        ("ADJ", "false"),
        ("STATE", "Posted"),
        ("WHENCREATED", stamp),
        ("WHENMODIFIED", stamp),
        ("CREATEDBY", "12"),
        ("VENDORID", ""),
        ("CUSTOMERID", f"C{rng.randint(1, 900):04d}"),
    ]
    body = "".join(f"<{k}>{v}</{k}>" if v else f"<{k}/>" for k, v in fields)
    return f"<GLENTRY>{body}</GLENTRY>"


def answer(records: int, seed: int = 7) -> bytes:
    rng = random.Random(seed)
    head = (
        '<?xml version="1.0" encoding="UTF-8"?>\n<response><control><status>success</status>'
        "<senderid>bench</senderid><controlid>bench-1</controlid><uniqueid>false</uniqueid>"
        "<dtdversion>3.0</dtdversion></control><operation><authentication><status>success"
        "</status><userid>bench</userid><companyid>bench-co</companyid><locationid/>"
        "<sessiontimestamp>2026-08-18T13:36:01-07:00</sessiontimestamp><sessiontimeout>"
        "2026-08-18T14:36:01-07:00</sessiontimeout></authentication><result><status>success"
        "</status><function>readByQuery</function><controlid>f-1</controlid>"
        f'<data listtype="GLENTRY" count="{records}" totalcount="{records}" numremaining="0" '
        'resultId="">'
    )
    parts = [head]
    parts.extend(glentry(rng, n) for n in range(1, records + 1))
    parts.append("</data></result></operation></response>")
    return "".join(parts).encode("utf-8")


def chunks(data: bytes) -> Iterator[bytes]:
    view = memoryview(data)
    for start in range(0, len(data), CHUNK):
        yield bytes(view[start : start + CHUNK])


def parse_ours(data: bytes) -> int:
    from ml_connector.intacct.gateway.parse import iter_records

    count = 0
    for _record in iter_records(chunks(data), max_bytes=len(data) + 1):
        count += 1
    return count


def parse_ours_python(data: bytes) -> int:
    from ml_connector.intacct.gateway import parse, records

    saved, parse.take_records = parse.take_records, records.take_records_python
    try:
        return parse_ours(data)
    finally:
        parse.take_records = saved


def parse_xmltodict(data: bytes) -> int:
    import xmltodict

    tree = xmltodict.parse(data)
    return len(tree["response"]["operation"]["result"]["data"]["GLENTRY"])


def parse_bare(data: bytes) -> int:
    from lxml import etree

    count = 0
    for _event, element in etree.iterparse(io.BytesIO(data), events=("end",), tag="GLENTRY"):
        count += 1
        element.clear()
        while element.getprevious() is not None:
            del element.getparent()[0]
    return count


PARSERS: dict[str, Callable[[bytes], int]] = {
    "ours": parse_ours,
    "ours, Python loop": parse_ours_python,
    "xmltodict": parse_xmltodict,
    "bare iterparse": parse_bare,
}


def rates(data: bytes, expected: int, repeats: int) -> dict[str, float]:
    """Best records/s of each parser over ``repeats`` rounds, the parsers interleaved so
    that a noisy neighbour slows all of them alike."""
    best = dict.fromkeys(PARSERS, float("inf"))
    for _ in range(repeats):
        for name, parse in PARSERS.items():
            gc.collect()
            start = time.perf_counter()
            count = parse(data)
            best[name] = min(best[name], time.perf_counter() - start)
            if count != expected:
                raise SystemExit(f"{name} returned {count} records, expected {expected}")
    return {name: expected / seconds for name, seconds in best.items()}


def _status_bytes(field: str) -> int:
    """VmRSS / VmHWM of this process. VmHWM (the high-water mark) belongs to this exec'd
    image, unlike ru_maxrss, which a child inherits from its (much larger) parent."""
    with open("/proc/self/status") as handle:
        for line in handle:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"{field} not in /proc/self/status")


def measure_memory_child(name: str, path: str) -> None:
    """Run in a fresh interpreter: peak RSS and peak Python-heap growth of one parse."""
    data = Path(path).read_bytes()
    parse = PARSERS[name]
    parse(answer(10, seed=1))  # imports and first-use set-up are not the parse's memory
    gc.collect()
    before = max(_status_bytes("VmRSS"), _status_bytes("VmHWM"))
    parse(data)
    peak_rss = _status_bytes("VmHWM") - before
    gc.collect()
    tracemalloc.start()
    parse(data)
    _current, peak_heap = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    print(json.dumps({"rss": max(peak_rss, 0), "heap": peak_heap}))


def memory(name: str, path: str) -> dict[str, int]:
    out = subprocess.run(
        [sys.executable, __file__, "--memory-child", name, path],
        check=True,
        capture_output=True,
        text=True,
    )
    return dict(json.loads(out.stdout.strip().splitlines()[-1]))


def mib(value: float) -> str:
    return f"{value / (1 << 20):8.1f} MiB"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10,000 records instead of 100,000")
    parser.add_argument("--records", type=int, help="number of records (overrides --quick)")
    parser.add_argument(
        "--memory-child", nargs=2, metavar=("PARSER", "FILE"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()
    if args.memory_child:
        measure_memory_child(*args.memory_child)
        return
    from ml_connector.intacct.gateway import records as record_loops

    if not record_loops.COMPILED:
        raise SystemExit("the compiled record loop is not built: run `make test` or pip install .")
    records = args.records or (10_000 if args.quick else 100_000)
    repeats = 3
    data = answer(records)
    print(f"readByQuery answer: {records:,} GLENTRY records, {len(data) / (1 << 20):.1f} MiB")
    rate = rates(data, records, repeats)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "answer.xml"
        path.write_bytes(data)
        del data
        memories = {name: memory(name, str(path)) for name in PARSERS}
    print(f"{'parser':18} {'records/s':>12} {'peak RSS growth':>16} {'peak heap growth':>17}")
    for name in PARSERS:
        mem = memories[name]
        print(f"{name:18} {rate[name]:12,.0f} {mib(mem['rss']):>16} {mib(mem['heap']):>17}")
    ours, ours_python, xtd, bare = (rate[n] for n in PARSERS)
    rss_ratio = memories["ours"]["rss"] / max(memories["xmltodict"]["rss"], 1)
    heap_ratio = memories["ours"]["heap"] / max(memories["xmltodict"]["heap"], 1)
    print()
    print(f"ours / xmltodict rate:        {ours / xtd:6.2f}x   (target >= 3)")
    print(f"ours / xmltodict peak RSS:    {rss_ratio:6.3f}    (target <= 0.1)")
    print(f"ours / xmltodict peak heap:   {heap_ratio:6.3f}    (target <= 0.1)")
    print(f"ours / bare iterparse rate:   {ours / bare:6.2f}x   (target >= 0.5)")
    print(f"  with the Python loop:       {ours_python / bare:6.2f}x   (fallback, no target)")


if __name__ == "__main__":
    main()
