"""Benchmark: backfill serial vs --parallel 2 vs one bulk job, side by side in one session.

D daily partitions (default 30) of N order rows each (default 100,000) are
landed as parquet; each variant loads all of them into an empty silver
table of its own lake:

- serial: the backfill runner, one date at a time (what ``--parallel 1`` does);
- parallel_2: the same runner, two dates at once (threads, FAIR pools);
- group_N[_parallel_2]: N consecutive dates per load (one pass and one
  commit, per-date results and ledger rows), two loads at once or one;
- bulk: one job that types, deduplicates and MERGEs the whole range at once
  (the lower bound: no per-date planning, commits or ledger rows);
- bulk_with_rules: the same, also applying the pipeline's quality rules
  (flag, one judging aggregation, filter) as every backfill load does; the
  flagged rows are held once (``materialize``) as the loads hold theirs.

Rounds alternate after a warm-up; each variant's best round counts.
Writes bench/results/backfill.json.

Usage: .venv-dev/bin/python bench/backfill_bench.py [--days 30] [--rows 100000] [--rounds 1]
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
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(ROOT / "lib"), str(ROOT)]

from delta.tables import DeltaTable  # noqa: E402
from pyspark.sql import functions as F  # noqa: E402

from bench.batch_load_bench import orders  # noqa: E402
from lakehouse.batch import (  # noqa: E402  # noqa: E402
    MATERIALIZE_SOURCE_CONF,
    Backfill,
    Progress,
    ensure_silver,
    mark_duplicates,
    required_columns,
    silver_columns,
    typed_from_columns,
)
from lakehouse.config import FilesSource, Sources, load_config  # noqa: E402
from lakehouse.core import Backoff  # noqa: E402
from lakehouse.decode import REASON  # noqa: E402
from lakehouse.lake import (  # noqa: E402
    Ledger,
    build_session,
    key_condition,
    materialize,
    release,
)
from lakehouse.quality import RuleSet  # noqa: E402

FIRST = date(2026, 5, 1)
VARIANTS = (
    "serial",
    "parallel_2",
    "group_5_parallel_2",
    "group_15_parallel_2",
    "group_30",
    "bulk",
    "bulk_with_rules",
)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variants", help="comma-separated subset to run (default: all)")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "backfill.json"))
    args = parser.parse_args(argv)

    wanted = args.variants.split(",") if args.variants else list(VARIANTS)
    unknown = sorted(set(wanted) - set(VARIANTS))
    if unknown:  # before any data is landed
        parser.error(f"unknown variants {unknown}; known: {', '.join(VARIANTS)}")
    base = Path(tempfile.mkdtemp(prefix="lakehouse-bench-backfill-"))
    cfg = load_config("orders", environ={**os.environ, "LAKEHOUSE_LAKE_ROOT": str(base)})
    landing = base / "landing"
    pipeline = dataclasses.replace(
        cfg.pipeline,
        source=Sources(files=FilesSource(path=f"{landing}/date={{date}}", format="parquet")),
        bronze=None,
        stream=None,
    )
    spark = build_session(cfg.settings, "bench", "orders")
    days = [FIRST + timedelta(days=i) for i in range(args.days)]
    results: dict[str, list[float]] = {k: [] for k in wanted}
    try:
        began = time.monotonic()
        for i, day in enumerate(days):
            orders(spark, args.rows, day, prefix=f"{i}-").write.parquet(
                str(landing / f"date={day.isoformat()}")
            )
        print(f"landed {args.days} days in {time.monotonic() - began:.0f}s", file=sys.stderr)

        def backfill(lake: Path, parallel: int, dates: list, group: int = 1) -> None:
            settings = dataclasses.replace(cfg.settings, lake_root=str(lake))
            runner = Backfill(
                spark,
                settings,
                pipeline,
                Ledger(spark, settings.ledger_path),
                parallel=parallel,
                group=group,
                backoff=Backoff(attempts=3, base_delay=1, max_delay=5),
                parent_run_id="bench",
            )
            done = runner.run(dates, Progress(len(dates), 0, out=open(os.devnull, "w")))
            failed = [r for r in done if r.status != "done"]
            if failed:
                raise RuntimeError(f"{len(failed)} date(s) failed: {failed[0].error}")

        def bulk(lake: Path, dates: list, with_rules: bool = False) -> None:
            path = str(lake / "silver" / "orders")
            ensure_silver(spark, path, pipeline)
            paths = [str(landing / f"date={d.isoformat()}") for d in dates]
            typed = typed_from_columns(  # no record kept for valid rows, as the loads do
                spark.read.parquet(*paths),
                pipeline.columns,
                required_columns(pipeline),
                rebuild=True,
            )
            business = [c.name for c in pipeline.columns]
            deduped = typed.withColumn(
                pipeline.partition_by, F.to_date(pipeline.event_time)
            ).transform(mark_duplicates, pipeline.keys, pipeline.silver.order_by, business)
            if with_rules:  # the pipeline's quality rules too: flagged, judged once, filtered
                rules = RuleSet(
                    pipeline.quality, keys=pipeline.keys, event_time=pipeline.event_time
                )
                # held once as the loads hold theirs (a cached frame a MERGE would compute again)
                held = materialize(
                    rules.flag(
                        deduped, group_by=[pipeline.partition_by], only=F.col(REASON).isNull()
                    )
                )
                rules.evaluate(held, group_by=[pipeline.partition_by])
                deduped = held.where(~F.col(rules.MOVE) & ~F.col(rules.DROP))
            rows = (
                deduped.where(F.col(REASON).isNull())
                .withColumn("loaded_at", F.current_timestamp())
                .withColumn("run_id", F.lit("bulk"))
                .select(*silver_columns(pipeline))
            )
            part = pipeline.partition_by
            on = (
                key_condition(pipeline.keys)
                & (F.col(f"t.{part}") == F.col(f"s.{part}"))
                & F.col(f"t.{part}").between(F.lit(dates[0]), F.lit(dates[-1]))
            )
            values = {n: F.col(f"s.`{n}`") for n in silver_columns(pipeline)}
            if with_rules:  # fixed rows: Delta need not copy them again (as the loads do)
                spark.conf.set(MATERIALIZE_SOURCE_CONF, "none")
            try:
                (
                    DeltaTable.forPath(spark, path)
                    .alias("t")
                    .merge(rows.alias("s"), on)
                    .whenMatchedUpdate(set=values)
                    .whenNotMatchedInsert(values=values)
                    .execute()
                )
            finally:
                spark.conf.unset(MATERIALIZE_SOURCE_CONF)
                if with_rules:
                    release(held)

        variants = {
            "serial": lambda lake, dates: backfill(lake, 1, dates),
            "parallel_2": lambda lake, dates: backfill(lake, 2, dates),
            "group_5_parallel_2": lambda lake, dates: backfill(lake, 2, dates, 5),
            "group_15_parallel_2": lambda lake, dates: backfill(lake, 2, dates, 15),
            "group_30": lambda lake, dates: backfill(lake, 1, dates, 30),
            "bulk": bulk,
            "bulk_with_rules": lambda lake, dates: bulk(lake, dates, with_rules=True),
        }
        variants = {k: variants[k] for k in wanted}
        for r in range(args.rounds + 1):  # round 0 warms up on three days
            dates = days if r else days[:3]
            line = []
            for name, fn in variants.items():
                lake = base / f"{name}-{r}"
                started = time.monotonic()
                fn(lake, dates)
                seconds = time.monotonic() - started
                if r:
                    results[name].append(seconds)
                line.append(f"{name} {seconds:.1f}s")
                shutil.rmtree(lake, ignore_errors=True)
            print(f"round {r}: {', '.join(line)}", file=sys.stderr)
    finally:
        spark.stop()
        shutil.rmtree(base, ignore_errors=True)

    best = {k: min(v) for k, v in results.items()}
    report = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "days": args.days,
        "rows_per_day": args.rows,
        "seconds": {k: [round(v, 1) for v in vs] for k, vs in results.items()},
        "best_seconds": {k: round(v, 1) for k, v in best.items()},
        **{
            f"ratios_to_{base}": {k: round(v / best[base], 2) for k, v in best.items()}
            for base in ("bulk", "bulk_with_rules")
            if base in best
        },
        "target": "best backfill mode within 1.5x of bulk",
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
