"""Benchmark: how soon a produced event is visible in bronze, on a running job.

One fresh ``stream_ingest`` application, started through the launcher
(``./spark-submit.sh``) on the demo pipeline with ``--trigger
processing_time=5s``, a topic of its own and a lake of its own:

1. 2,000 events wait in the topic before the job starts: its first
   micro-batch (a cold JVM, a fresh checkpoint and bronze);
2. then 200 events/s for 90 s (about 1,000 per micro-batch);
3. after a pause, 2,000 events at once: a warm micro-batch of the first
   one's size.

A reader outside Spark (delta-rs, ``deltalake``) polls bronze every 0.1 s
and notes when each order id first shows up. An event's latency is that
moment minus the moment its one-second tick began sending it (a bound from
above: the send itself is inside it). Batch durations are the job's own
per-batch lines (the sink's time for the batch, which holds the Kafka read,
the parse, the dedup and the writes). Prints one JSON object and writes it
to bench/results/stream_latency.json.

Usage: .venv-dev/bin/python bench/stream_latency_bench.py [--seconds 90] [--rate 200]
       (needs the broker: scripts/kafka.sh start)
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import zlib
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

from datagen.orders import create_topic, generate, produce  # noqa: E402
from lakehouse.stream.probe import probe  # noqa: E402

BATCH_LINE = re.compile(r"batch (\d+): (\d+) in, .*; ([0-9.]+)s$")
POLL_S = 0.1


class Visibility(threading.Thread):
    """Polls bronze with delta-rs; the first time each order id was seen there."""

    def __init__(self, table: Path):
        super().__init__(daemon=True)
        self.table = table
        self.seen: dict[str, float] = {}
        self.done = threading.Event()

    def run(self) -> None:
        from deltalake import DeltaTable

        dt = None
        version = -1
        while not self.done.is_set():
            now = time.time()
            try:
                if dt is None:
                    dt = DeltaTable(str(self.table))
                else:
                    dt.update_incremental()
            except Exception:  # not created yet
                time.sleep(POLL_S)
                continue
            if dt.version() != version:
                version = dt.version()
                ids = dt.to_pyarrow_table(columns=["order_id"]).column("order_id").to_pylist()
                for order_id in ids:
                    self.seen.setdefault(order_id, now)
            time.sleep(max(0.0, POLL_S - (time.time() - now)))

    def wait_for(self, ids: list[str], timeout: float) -> bool:
        deadline = time.time() + timeout
        while time.time() < deadline:
            if all(i in self.seen for i in ids):
                return True
            time.sleep(POLL_S)
        return False


def events(count: int, prefix: str) -> list:
    now = datetime.now(timezone.utc)
    return generate(
        count, seed=zlib.crc32(prefix.encode()), start=now - timedelta(seconds=1),
        spread=timedelta(seconds=1), dup_share=0.0, id_prefix=prefix,
    )  # fmt: skip


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seconds", type=int, default=90)
    ap.add_argument("--rate", type=int, default=200, help="events per second")
    ap.add_argument("--first", type=int, default=2000, help="events waiting at the start")
    ap.add_argument("--trigger", default="processing_time=5s")
    args = ap.parse_args(argv)

    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    if not probe(bootstrap).ok:
        raise SystemExit(f"no broker at {bootstrap}: scripts/kafka.sh start")
    topic = f"bench-latency-{int(time.time())}"
    create_topic(bootstrap, topic, 2)
    work = Path(tempfile.mkdtemp(prefix="lakehouse-latency-"))
    lake = work / "lake"

    first = events(args.first, "first-")
    produce(bootstrap, topic, first)
    env = {
        **os.environ,
        "ORDERS_TOPIC": topic,
        "LAKEHOUSE_LAKE_ROOT": str(lake),
        "KAFKA_BOOTSTRAP_SERVERS": bootstrap,
        "LAKEHOUSE_CATALOG": "none",
    }
    err_path = work / "stderr.log"
    started = time.time()
    with open(err_path, "w") as err_file:
        job = subprocess.Popen(
            [str(ROOT / "spark-submit.sh"), "stream_ingest", "--pipeline", "orders",
             "--trigger", args.trigger],
            stdout=subprocess.PIPE, stderr=err_file, text=True, env=env, cwd=ROOT,
            start_new_session=True,
        )  # fmt: skip
        seen = Visibility(lake / "bronze" / "orders")
        seen.start()
        try:
            if not seen.wait_for([e.order_id for e in first], 300):
                raise SystemExit(f"the first batch never became visible; see {err_path}")
            first_visible = max(seen.seen[e.order_id] for e in first) - started

            sent: dict[str, float] = {}
            began = time.time()
            for tick in range(args.seconds):
                tick_at = began + tick
                time.sleep(max(0.0, tick_at - time.time()))
                batch = events(args.rate, f"t{tick}-")
                at = time.time()
                produce(bootstrap, topic, batch)
                sent.update((e.order_id, at) for e in batch)
            all_seen = seen.wait_for(list(sent), 120)

            time.sleep(10)  # two idle triggers: the next batch holds only what follows
            warm = events(args.first, "warm-")
            produce(bootstrap, topic, warm)
            warm_seen = seen.wait_for([e.order_id for e in warm], 120)
            time.sleep(2)  # its log line follows its commit
        finally:
            os.killpg(job.pid, signal.SIGTERM)
            out, _ = job.communicate(timeout=300)
            seen.done.set()

    batches = []
    for line in err_path.read_text().splitlines():
        m = BATCH_LINE.search(line)
        if m:
            batches.append((int(m.group(1)), int(m.group(2)), float(m.group(3))))
    steady = [d for _b, n, d in batches[1:-1] if n]
    latencies = [seen.seen[i] - t for i, t in sent.items() if i in seen.seen]
    lost = [i for i in sent if i not in seen.seen]
    first_batch = batches[0] if batches else None
    warm_batch = batches[-1] if warm_seen and batches else None
    record = json.loads(out.strip().splitlines()[-1]) if out.strip() else {}
    result = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "trigger": args.trigger,
        "rate": args.rate,
        "seconds": args.seconds,
        "produced_steady": len(sent),
        "lost": len(lost),
        "all_visible": all_seen,
        "latency_s": {
            "p50": round(statistics.median(latencies), 2),
            "p95": round(percentile(latencies, 0.95), 2),
            "max": round(max(latencies), 2),
        },
        "steady_batches": len(steady),
        "steady_batch_s": {
            "median": round(statistics.median(steady), 2),
            "p95": round(percentile(steady, 0.95), 2),
            "rows_median": statistics.median([n for _b, n, _d in batches[1:-1] if n]),
        },
        "first_batch": {"rows": first_batch[1], "seconds": first_batch[2]} if first_batch else None,
        "first_visible_after_start_s": round(first_visible, 1),
        "warm_batch": {"rows": warm_batch[1], "seconds": warm_batch[2]} if warm_batch else None,
        "ratios": {
            "p95_latency_vs_trigger (target <= 1.5)": round(
                percentile(latencies, 0.95) / float(args.trigger.split("=")[1].rstrip("s")), 2
            ),
            "first_vs_warm_batch (target <= 2)": round(first_batch[2] / warm_batch[2], 2)
            if first_batch and warm_batch
            else None,
        },
        "last_batches_phases_s": [
            {"batch": b.get("batch_id"), "rows": b.get("input_rows"), **b.get("phases_s", {})}
            for b in record.get("details", {}).get("batch_metrics", [])
            if b.get("input_rows")
        ],
        "job_exit": job.returncode,
        "job_status": record.get("status"),
    }
    print(json.dumps(result, indent=2))
    out_path = ROOT / "bench" / "results" / "stream_latency.json"
    out_path.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
