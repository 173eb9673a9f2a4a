"""Benchmark: batch_load's writes vs a blind append, side by side in one Spark session.

One logical day of N order rows (default 1,000,000), of which 10% update
rows the day already holds and 90% are new, is written:

(a) ``merge`` (the job's ``write_silver``: plan the changes against one
    version, then one MERGE) vs a blind Delta append of the same rows, both
    into a copy of the same 30-day table; also end to end from the landed
    parquet files (read, type, refuse, deduplicate, write) vs read + append;
(b) the same one-day ``merge`` into a 30-day table vs into a 300-day table
    (the cost should follow the day, not the table);
(c) ``replace_partition`` vs the blind append;
(d) how the planned changes are applied (``silver.apply``): ``auto`` (which
    rewrites this dense day), a forced MERGE of the changes, and a bare
    Delta MERGE of the same rows (no plan: it cannot skip unchanged rows);
    the re-run of the unchanged day (no commit) against the first load;
(e) a sparse load: a day of N rows stored, the same N rows loaded again of
    which 1% changed: ``auto`` (a MERGE of the changed rows), a forced
    rewrite, and a MERGE into a table with deletion vectors.

Every variant starts from a fresh copy of its table; rounds alternate and
each variant's best round counts. Writes bench/results/batch_load.json.

Usage: .venv-dev/bin/python bench/batch_load_bench.py [--rows 1000000] [--rounds 2]
       [--day-rows 20000]
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

from lakehouse.batch import (  # noqa: E402
    SourceFrame,
    commit_metadata,
    prepare,
    required_columns,
    silver_columns,
    typed_from_columns,
    write_silver,
)
from lakehouse.config import load_config  # noqa: E402
from lakehouse.decode import REASON  # noqa: E402
from lakehouse.lake import build_session  # noqa: E402

DAY = date(2026, 6, 30)
STATUSES = ["placed", "paid", "shipped", "cancelled"]


def orders(spark, n: int, day: date, *, prefix: str = "o", amount_offset: int = 0):
    """``n`` order rows of ``day`` (ids ``<prefix>0..``), typed as the orders schema."""
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp()
    return spark.range(n).select(
        F.concat(F.lit(prefix), F.col("id").cast("string")).alias("order_id"),
        F.concat(F.lit("c"), (F.col("id") % 5000).cast("string")).alias("customer_id"),
        ((F.col("id") % 10000 + amount_offset) / 100).cast("decimal(12,2)").alias("amount"),
        F.element_at(
            F.array(*[F.lit(s) for s in STATUSES]), (F.col("id") % 4 + 1).cast("int")
        ).alias("status"),
        F.timestamp_seconds(F.lit(int(start)) + F.col("id") % 86400).alias("event_time"),
    )


def silver_rows(spark, df, run_id: str):
    """Typed rows as silver holds them (partition and audit columns)."""
    return df.select(
        "*",
        F.to_date("event_time").alias("event_date"),
        F.current_timestamp().alias("loaded_at"),
        F.lit(run_id).alias("run_id"),
    )


def build_table(
    spark, path: Path, days: int, day_rows: int, existing: int, full_day: str | None = None
) -> None:
    """``days`` days before DAY with ``day_rows`` rows each, plus ``existing`` rows of DAY
    (whose amounts the load changes), or DAY exactly as in the parquet at ``full_day``."""
    parts = [
        orders(spark, day_rows, DAY - timedelta(days=i), prefix=f"d{i}-") for i in range(1, days)
    ]
    if full_day:
        parts.append(spark.read.parquet(full_day))
    else:
        parts.append(orders(spark, existing, DAY, amount_offset=7))  # will be updated
    df = parts[0]
    for p in parts[1:]:
        df = df.unionByName(p)
    silver_rows(spark, df, "seed").repartition("event_date").write.format("delta").partitionBy(
        "event_date"
    ).save(str(path))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--day-rows", type=int, default=20_000, help="rows of each other day")
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "batch_load.json"))
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="lakehouse-bench-load-"))
    cfg = load_config("orders", environ={**os.environ, "LAKEHOUSE_LAKE_ROOT": str(base)})
    pipeline = cfg.pipeline
    spark = build_session(cfg.settings, "bench", "orders")

    def with_silver(**changes):
        return dataclasses.replace(pipeline, silver=dataclasses.replace(pipeline.silver, **changes))

    replace_pipeline = with_silver(mode="replace_partition")
    by_merge, by_rewrite = with_silver(apply="merge"), with_silver(apply="rewrite")
    names = ("append", "merge", "merge_300d", "replace", "e2e_append", "e2e_merge")
    names += ("merge_forced", "bare_merge", "rerun", "sparse_auto", "sparse_rewrite")
    names += ("sparse_merge_dv",)
    results: dict[str, list[float]] = {k: [] for k in names}
    updates = args.rows // 10
    try:
        landed = base / "landing" / DAY.isoformat()
        orders(spark, args.rows, DAY).write.parquet(str(landed))
        # the sparse load: the day as stored, every 100th row's amount changed
        sparse_landed = base / "landing-sparse" / DAY.isoformat()
        changed_amount = F.when(F.col("order_id").endswith("00"), F.col("amount") + 1)
        spark.read.parquet(str(landed)).withColumn(
            "amount", changed_amount.otherwise(F.col("amount")).cast("decimal(12,2)")
        ).write.parquet(str(sparse_landed))
        seeds = {30: base / "seed30", 300: base / "seed300", "full": base / "seed-full"}
        for days, path in seeds.items():
            began = time.monotonic()
            if days == "full":
                build_table(spark, path, 30, args.day_rows, 0, full_day=str(landed))
            else:
                build_table(spark, path, days, args.day_rows, updates)
            print(f"built the {days}-day table in {time.monotonic() - began:.0f}s", file=sys.stderr)
        dv_seed = base / "seed-full-dv"
        shutil.copytree(seeds["full"], dv_seed)
        spark.sql(
            f"ALTER TABLE delta.`{dv_seed}` "
            "SET TBLPROPERTIES ('delta.enableDeletionVectors' = 'true')"
        )
        seeds["full-dv"] = dv_seed

        def source_frame(folder: Path = landed):
            df = spark.read.parquet(str(folder))
            typed = typed_from_columns(df, pipeline.columns, required_columns(pipeline))
            return SourceFrame(typed, str(folder), "files")

        def prepared(run_id: str, folder: Path = landed):
            rows = prepare(source_frame(folder), pipeline, DAY, run_id)
            return rows.filter(F.col(REASON).isNull()).select(*silver_columns(pipeline))

        cached = prepared("bench").persist()
        cached.count()
        sparse = prepared("bench", sparse_landed).persist()
        sparse.count()

        def fresh(seed: Path, name: str) -> str:
            target = base / "work" / name
            shutil.rmtree(target, ignore_errors=True)
            shutil.copytree(seed, target)
            return str(target)

        def merge(path: str, rows, pipe, run_id: str):
            session = spark.newSession()
            meta = commit_metadata(run_id, pipe, DAY, pipe.silver.mode)
            counts = write_silver(
                session, path, rows, pipe, [DAY], metadata=meta, source_rows={DAY: args.rows}
            )
            return counts[DAY]

        def append(rows, path: str) -> None:
            rows.write.format("delta").mode("append").save(path)

        def e2e_append(path: str, _run: str) -> None:
            rows = spark.read.parquet(str(landed))
            silver_rows(spark, rows, "append").write.format("delta").mode("append").save(path)

        def e2e_merge(path: str, run: str):
            rows = prepared(run).persist()
            try:
                return merge(path, rows, pipeline, run)
            finally:
                rows.unpersist()

        def bare_merge(path: str, _run: str) -> None:
            on = "t.order_id = s.order_id AND t.event_date = s.event_date"
            table = DeltaTable.forPath(spark, path).alias("t")
            merging = table.merge(cached.alias("s"), on).whenMatchedUpdateAll()
            merging.whenNotMatchedInsertAll().execute()

        def before_rerun(path: str) -> None:
            merge(path, cached, pipeline, "first-load")

        variants = {
            "append": (30, lambda path, _run: append(cached, path)),
            "merge": (30, lambda path, run: merge(path, cached, pipeline, run)),
            "merge_300d": (300, lambda path, run: merge(path, cached, pipeline, run)),
            "replace": (30, lambda path, run: merge(path, cached, replace_pipeline, run)),
            "e2e_append": (30, e2e_append),
            "e2e_merge": (30, e2e_merge),
            "merge_forced": (30, lambda path, run: merge(path, cached, by_merge, run)),
            "bare_merge": (30, bare_merge),
            "rerun": (30, lambda path, run: merge(path, cached, pipeline, run)),
            "sparse_auto": ("full", lambda path, run: merge(path, sparse, pipeline, run)),
            "sparse_rewrite": ("full", lambda path, run: merge(path, sparse, by_rewrite, run)),
            "sparse_merge_dv": ("full-dv", lambda path, run: merge(path, sparse, by_merge, run)),
        }
        counts = {}
        for r in range(args.rounds + 1):  # round 0 warms up
            line = []
            for name, (days, fn) in variants.items():
                path = fresh(seeds[days], name)
                if name == "rerun":
                    before_rerun(path)  # the first load, not timed
                began = time.monotonic()
                out = fn(path, f"{name}-{r}")
                seconds = time.monotonic() - began
                if out is not None:
                    counts[name] = out
                if r:
                    results[name].append(seconds)
                line.append(f"{name} {seconds:.1f}s")
            print(f"round {r}: {', '.join(line)}", file=sys.stderr)
    finally:
        spark.stop()
        shutil.rmtree(base, ignore_errors=True)

    best = {k: min(v) for k, v in results.items()}
    report = {
        "measured_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "rows": args.rows,
        "updates": updates,
        "other_day_rows": args.day_rows,
        "seconds": {k: [round(v, 1) for v in vs] for k, vs in results.items()},
        "best_seconds": {k: round(v, 1) for k, v in best.items()},
        "ratios": {
            "a_merge_vs_append (target <= 1.5)": round(best["merge"] / best["append"], 2),
            "a_end_to_end_merge_vs_append": round(best["e2e_merge"] / best["e2e_append"], 2),
            "b_merge_300d_vs_30d (target <= 1.2)": round(best["merge_300d"] / best["merge"], 2),
            "c_replace_vs_append": round(best["replace"] / best["append"], 2),
            "d_merge_vs_bare_delta_merge (target <= 0.6)": round(
                best["merge"] / best["bare_merge"], 2
            ),
            "d_forced_merge_vs_append": round(best["merge_forced"] / best["append"], 2),
            "d_rerun_vs_first_load (target <= 0.5)": round(best["rerun"] / best["merge"], 2),
            "e_sparse_auto_vs_rewrite": round(best["sparse_auto"] / best["sparse_rewrite"], 2),
            "e_sparse_merge_dv_vs_auto": round(best["sparse_merge_dv"] / best["sparse_auto"], 2),
        },
        "counts": {k: v.as_dict() for k, v in counts.items()},
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
