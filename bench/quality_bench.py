"""Benchmark: ten row rules over N rows vs a plain count of the same data, in one session.

N order rows (default 5,000,000, about 1% breaking some rule) are written once
as parquet; then, in alternating rounds (best round counts):

- ``count``: ``df.count()`` (on parquet Spark reads no column at all);
- ``count_columns``: ``count(col)`` of every column: a plain count that reads
  the data;
- ``read``: every column read and thrown away (``noop`` sink);
- ``check``: ``RuleSet.flag`` + ``evaluate`` with ten row rules (not_null,
  accepted_values, range, regex, expression): one projection, one
  aggregation (the report, with failing counts and sample keys);
- ``check_no_regex``: the eight rules that are not ``regex``;
- ``check_unique``: the ten plus ``unique`` on the key (a shuffle).

Writes bench/results/quality.json.

Usage: .venv-dev/bin/python bench/quality_bench.py [--rows 5000000] [--rounds 3]
"""

from __future__ import annotations

import argparse
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

from pyspark.sql import functions as F  # noqa: E402

from lakehouse.config import QualityRule, load_config  # noqa: E402
from lakehouse.lake import build_session  # noqa: E402
from lakehouse.quality import RuleSet  # noqa: E402

STATUSES = ["placed", "paid", "shipped", "cancelled", "lost"]


def rule(kind: str, **kw) -> QualityRule:
    for key in ("columns", "values"):
        if key in kw:
            kw[key] = tuple(kw[key])
    return QualityRule(rule=kind, on_fail=kw.pop("on_fail", "quarantine"), **kw)  # type: ignore[arg-type]


TEN_RULES = [
    rule("not_null", column="order_id"),
    rule("not_null", column="customer_id"),
    rule("not_null", column="status", on_fail="warn"),
    rule("accepted_values", column="status", values=STATUSES[:4], on_fail="warn"),
    rule("range", column="amount", min=0, max=1000),
    rule("regex", column="order_id", pattern="^o[0-9]+$"),
    rule("regex", column="customer_id", pattern="^c[0-9]{1,4}$", on_fail="drop"),
    rule("expression", name="paid_has_amount", expr="status <> 'paid' OR amount > 0"),
    rule("expression", name="recent", expr="event_time >= TIMESTAMP'2026-01-01 00:00:00'"),
    rule("expression", name="short_id", expr="length(order_id) < 20", on_fail="drop"),
]


def orders(spark, n: int):
    start = int(datetime(2026, 6, 30, tzinfo=timezone.utc).timestamp())
    return spark.range(n).select(
        F.concat(F.lit("o"), F.col("id").cast("string")).alias("order_id"),
        F.when(F.col("id") % 211 == 0, F.lit(None))
        .otherwise(F.concat(F.lit("c"), (F.col("id") % 5000).cast("string")))
        .alias("customer_id"),
        ((F.col("id") % 10000 - 10) / 10).cast("decimal(12,2)").alias("amount"),
        F.element_at(
            F.array(*[F.lit(s) for s in STATUSES]), (F.col("id") % 5 + 1).cast("int")
        ).alias("status"),
        F.timestamp_seconds(F.lit(start) + F.col("id") % 86400).alias("event_time"),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=5_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "quality.json"))
    args = parser.parse_args(argv)

    base = Path(tempfile.mkdtemp(prefix="lakehouse-bench-quality-"))
    cfg = load_config("orders", environ={**os.environ, "LAKEHOUSE_LAKE_ROOT": str(base)})
    spark = build_session(cfg.settings, "bench", "orders")
    ten = RuleSet(TEN_RULES, keys=["order_id"], event_time="event_time")
    with_unique = RuleSet(
        [*TEN_RULES, rule("unique", columns=["order_id"], on_fail="fail")], keys=["order_id"]
    )
    no_regex = RuleSet([r for r in TEN_RULES if r.rule != "regex"], keys=["order_id"])
    names = ("count", "count_columns", "read", "check", "check_no_regex", "check_unique")
    results: dict[str, list[float]] = {k: [] for k in names}
    found: dict[str, object] = {}
    try:
        data = str(base / "orders")
        orders(spark, args.rows).write.parquet(data)

        def df():
            return spark.read.parquet(data)

        def run_check(rules: RuleSet) -> None:
            report = rules.evaluate(rules.flag(df()))[None]
            found["rows_checked"] = report.rows_checked
            found.setdefault("broken", report.summary()["broken"])

        variants = {
            "count": lambda: df().count(),
            "count_columns": lambda: df().agg(*[F.count(c) for c in df().columns]).collect(),
            "read": lambda: df().write.format("noop").mode("overwrite").save(),
            "check": lambda: run_check(ten),
            "check_no_regex": lambda: run_check(no_regex),
            "check_unique": lambda: run_check(with_unique),
        }
        variants["count"]()  # warm up: file listing, JIT
        for _ in range(args.rounds):
            for name, work in variants.items():
                began = time.monotonic()
                work()
                seconds = time.monotonic() - began
                results[name].append(seconds)
                print(f"{name}: {seconds:.2f}s", file=sys.stderr)
    finally:
        spark.stop()
        shutil.rmtree(base, ignore_errors=True)

    best = {k: min(v) for k, v in results.items()}
    report = {
        "benchmark": "quality",
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, "
        f"Python {platform.python_version()}",
        "rows": args.rows,
        "rules": len(TEN_RULES),
        "rounds": args.rounds,
        "seconds": {k: [round(v, 2) for v in vs] for k, vs in results.items()},
        "best_s": {k: round(v, 2) for k, v in best.items()},
        "ratio_check_vs_count": round(best["check"] / best["count"], 2),
        "ratio_check_vs_count_columns": round(best["check"] / best["count_columns"], 2),
        "ratio_check_vs_read": round(best["check"] / best["read"], 2),
        "ratio_check_no_regex_vs_count_columns": round(
            best["check_no_regex"] / best["count_columns"], 2
        ),
        "ratio_check_unique_vs_count": round(best["check_unique"] / best["count"], 2),
        "target_check_vs_count": 1.5,
        "found": found,
    }
    Path(args.out).write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
