"""Benchmark: stream_ingest vs a plain Kafka -> Delta append stream, side by side.

All consume the same topic of N order events (5% duplicates) from the
earliest offset with ``availableNow``, the same ``maxOffsetsPerTrigger`` (the
demo pipeline's), in the same Spark session on the same machine:

- plain: what a naive ingest does: ``from_json`` with the pipeline schema,
  appended to a Delta table; no parsing checks, no quarantine, no dedup
  (the issue's baseline: the ratio is plain / stream_ingest);
- raw_copy: Kafka key and value appended as strings, not even parsed (a
  floor: what moving the bytes costs);
- dedup_only: ``from_json`` + the job's watermark and
  ``dropDuplicatesWithinWatermark``, appended (no checks, no quarantine, no
  MERGE): what the mandated stateful dedup alone costs, to show where the
  rest of stream_ingest's time goes;
- stream_ingest: the job's own plan and sink (JSON parsing with the
  pipeline schema and checks, quarantine, watermark +
  dropDuplicatesWithinWatermark, one idempotent Delta append per batch:
  ``bronze.dedup: watermark``, the default);
- stream_ingest_keys: the same with ``bronze.dedup: keys`` (a MERGE
  insert-if-absent on the keys per batch), reported beside it.

Rounds alternate (plain, ingest, plain, ingest, ...) after a small warm-up,
and each variant's best round counts. Prints one JSON object and writes it
to bench/results/stream_ingest.json.

Usage: .venv-dev/bin/python bench/stream_ingest_bench.py [--events 1000000] [--rounds 2]
       (needs the broker: scripts/kafka.sh start)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import platform
import shutil
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

from datagen.orders import generate, produce, topic_size  # noqa: E402
from lakehouse.config import load_config  # noqa: E402
from lakehouse.lake import build_session  # noqa: E402
from lakehouse.stream import (  # noqa: E402
    BronzeSink,
    CheckpointGuard,
    ingest_writer,
    kafka_options,
    read_kafka,
)
from lakehouse.stream.probe import probe  # noqa: E402  (the scripts' plain "does it answer")


def ensure_topic(bootstrap: str, topic: str, events: int, seed: int) -> float:
    """Fill ``topic`` with ``events`` events once; returns the produce time (0 if reused)."""
    have = topic_size(bootstrap, topic)
    if have == events:
        return 0.0
    if have:
        raise SystemExit(f"topic {topic} holds {have} events, not {events}: delete it first")
    began = time.monotonic()
    produce(bootstrap, topic, generate(events, seed=seed, dup_share=0.05), partitions=2)
    return time.monotonic() - began


def run_plain(spark, pipeline, workdir: Path, parse: bool, dedup: bool = False) -> float:
    """Kafka -> Delta append (parsed with the schema, or raw strings); returns seconds.

    ``dedup`` adds the pipeline's watermark and ``dropDuplicatesWithinWatermark``.
    """
    from pyspark.sql import functions as F

    source = spark.readStream.format("kafka").options(**kafka_options(pipeline.source.kafka)).load()
    if parse:
        rows = source.select(
            F.from_json(F.col("value").cast("string"), pipeline.schema).alias("e"),
            "topic",
            "partition",
            "offset",
            "timestamp",
        ).select("e.*", "topic", "partition", "offset", "timestamp")
    else:
        rows = source.select(
            F.col("key").cast("string"),
            F.col("value").cast("string"),
            "topic",
            "partition",
            "offset",
            "timestamp",
        )
    if dedup:
        rows = rows.withWatermark(
            pipeline.event_time, pipeline.stream.watermark.spark()
        ).dropDuplicatesWithinWatermark(list(pipeline.keys))
    name = "dedup_only" if dedup else "plain" if parse else "raw_copy"
    began = time.monotonic()
    query = (
        rows.writeStream.format("delta")
        .option("checkpointLocation", str(workdir / f"{name}-checkpoint"))
        .trigger(availableNow=True)
        .start(str(workdir / name))
    )
    query.awaitTermination()
    seconds = time.monotonic() - began
    if query.exception():
        raise RuntimeError(query.exception())
    return seconds


def run_ingest(spark, cfg, workdir: Path, dedup: str = "watermark") -> tuple[float, dict]:
    """The job's plan and sink with ``bronze.dedup`` (``watermark``: idempotent appends,
    the default; ``keys``: a MERGE insert-if-absent per batch); seconds and the totals."""
    pipeline = cfg.pipeline
    pipeline = dataclasses.replace(
        pipeline, bronze=dataclasses.replace(pipeline.bronze, dedup=dedup)
    )
    checkpoint = str(workdir / f"ingest-{dedup}-checkpoint")
    sink = BronzeSink(spark, pipeline, cfg.settings, run_id="bench", checkpoint=checkpoint)
    sink.use_checkpoint(CheckpointGuard(spark, checkpoint, pipeline).open())  # as the job does
    sink.ensure_tables()
    began = time.monotonic()
    query = (
        ingest_writer(read_kafka(spark, pipeline.source.kafka), pipeline, sink)
        .option("checkpointLocation", checkpoint)
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination()
    seconds = time.monotonic() - began
    if query.exception():
        raise RuntimeError(query.exception())
    totals = sink.totals()
    totals["phases_s"] = [b["phases_s"] for b in sink.batch_details() if b["input_rows"]]
    return seconds, totals


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument(
        "--bootstrap", default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092")
    )
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "stream_ingest.json"))
    args = parser.parse_args(argv)
    if not probe(args.bootstrap).ok:
        raise SystemExit(f"no Kafka broker at {args.bootstrap}: scripts/kafka.sh start")

    topic = f"bench-orders-{args.events}-{args.seed}"
    warm_topic = f"bench-orders-warmup-{args.seed}"
    produce_s = ensure_topic(args.bootstrap, topic, args.events, args.seed)
    ensure_topic(args.bootstrap, warm_topic, 20_000, args.seed)

    base = Path(tempfile.mkdtemp(prefix="lakehouse-bench-"))
    environ = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": args.bootstrap}
    session_cfg = load_config("orders", environ={**environ, "LAKEHOUSE_LAKE_ROOT": str(base)})
    spark = build_session(session_cfg.settings, "bench", "orders")

    def config_for(workdir: Path, topic_name: str):
        return load_config(
            "orders",
            environ={**environ, "ORDERS_TOPIC": topic_name, "LAKEHOUSE_LAKE_ROOT": str(workdir)},
        )

    results: dict[str, list[float]] = {
        "raw_copy": [],
        "plain": [],
        "dedup_only": [],
        "stream_ingest": [],
        "stream_ingest_keys": [],
    }
    totals: dict = {}
    try:
        for i, name in enumerate(["warmup"] + [f"round{r}" for r in range(args.rounds)]):
            which = warm_topic if name == "warmup" else topic
            workdir = base / str(i)
            pipeline = config_for(workdir, which).pipeline
            raw_s = run_plain(spark, pipeline, workdir, parse=False)
            plain_s = run_plain(spark, pipeline, workdir, parse=True)
            dedup_s = run_plain(spark, pipeline, workdir, parse=True, dedup=True)
            ingest_s, sums = run_ingest(spark, config_for(workdir, which), workdir)
            keys_dir = workdir / "keys"  # its own bronze: MERGE into an empty table too
            keys_s, _ = run_ingest(spark, config_for(keys_dir, which), keys_dir, dedup="keys")
            shutil.rmtree(workdir, ignore_errors=True)
            if name == "warmup":
                continue
            results["raw_copy"].append(raw_s)
            results["plain"].append(plain_s)
            results["dedup_only"].append(dedup_s)
            results["stream_ingest"].append(ingest_s)
            results["stream_ingest_keys"].append(keys_s)
            totals = sums
            print(
                f"{name}: raw_copy {raw_s:.1f}s, plain {plain_s:.1f}s, "
                f"dedup_only {dedup_s:.1f}s, stream_ingest {ingest_s:.1f}s, "
                f"stream_ingest (dedup: keys) {keys_s:.1f}s",
                file=sys.stderr,
            )
    finally:
        spark.stop()
        shutil.rmtree(base, ignore_errors=True)

    best = {k: min(v) for k, v in results.items()}
    best_plain, best_ingest = best["plain"], best["stream_ingest"]
    report = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "events": args.events,
        "duplicate_share": 0.05,
        "max_offsets_per_trigger": session_cfg.pipeline.source.kafka.max_offsets_per_trigger,
        "produce_seconds": round(produce_s, 1) if produce_s else "topic reused",
        "seconds": {k: [round(v, 1) for v in vs] for k, vs in results.items()},
        "events_per_second": {k: round(args.events / v) for k, v in best.items()},
        "ratio": round(best_plain / best_ingest, 3),
        "ratio_keys_mode": round(best_plain / best["stream_ingest_keys"], 3),
        "ratio_to_raw_copy": round(best["raw_copy"] / best_ingest, 3),
        "ratio_dedup_only_to_plain": round(best_plain / best["dedup_only"], 3),
        "stream_ingest_totals": totals,
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
