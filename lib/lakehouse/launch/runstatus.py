"""The exit code of a run that ended on the cluster, read back from the ledger.

In cluster deploy mode (YARN, Kubernetes) the driver runs on the cluster:
spark-submit sees only whether the application succeeded, and the job's
last stdout line stays in the driver's log. ``spark-submit.sh`` therefore
names the run (``$LAKEHOUSE_RUN_ID``), waits for the application, and then
runs this module, which finds that run in the ledger, prints its record as
the last stdout line and exits with the run's own exit code. It reads the
ledger through delta-rs, without a JVM (a Spark session only for a lake
delta-rs is not set up to read here: not local, not ``s3a://``).

When the run is not in the ledger (the driver died before recording it, or
could not start) — or only an earlier run that reused the id and ended
before this launch (the clocks of the cluster and this host are taken to
agree, as NTP keeps them) — the exit code is spark-submit's own when it failed, else
1, with one line on stderr saying where to look.

Usage: python -m lakehouse.launch.runstatus --run-id ID --submit-status RC [--launched-at EPOCH]
                                [--env ENV] [--conf-dir DIR]
"""

from __future__ import annotations

import argparse
import dataclasses
import sys

from lakehouse.config import load_settings
from lakehouse.config.model import Settings
from lakehouse.core import ExitCode, LakehouseError, exit_code_for, one_line
from lakehouse.lake import Ledger, RunRecord, find_run_without_jvm, readable_without_jvm
from lakehouse.runtime import emit, use_utc

JOB = "run_status"


def find_run(settings: Settings, run_id: str) -> RunRecord | None:
    """The run's record: through delta-rs where it reads the lake (no JVM: about a
    second, process start included), else in a small local Spark session,
    whatever master the jobs use."""
    if readable_without_jvm(settings.ledger_path):
        return find_run_without_jvm(settings, run_id)
    local = dataclasses.replace(
        settings, spark=dataclasses.replace(settings.spark, master="local[1]")
    )
    from lakehouse.lake import build_session

    spark = build_session(local, JOB)
    return Ledger(spark, settings.ledger_path).find(run_id)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse.launch.runstatus")
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--submit-status", type=int, required=True)
    parser.add_argument("--env")
    parser.add_argument("--conf-dir")
    parser.add_argument(
        "--launched-at", type=int, help="epoch seconds; an older row with this id does not count"
    )
    args = parser.parse_args(argv)
    use_utc()
    try:
        settings = load_settings(args.env, args.conf_dir)
    except LakehouseError as exc:
        print(f"spark-submit.sh: error: {one_line(exc)}", file=sys.stderr)
        return int(exit_code_for(exc))
    try:
        record = find_run(settings, args.run_id)
    except Exception as exc:  # the ledger cannot be read from here
        print(
            f"spark-submit.sh: error: run {args.run_id}: could not read the ledger at "
            f"{settings.ledger_path}: {one_line(exc)}",
            file=sys.stderr,
        )
        return args.submit_status or ExitCode.FAILURE
    if record is not None and args.launched_at is not None and record.ended_at is not None:
        if record.ended_at.timestamp() < args.launched_at:  # a reused id's earlier run
            record = None
    if record is None:
        print(
            f"spark-submit.sh: error: run {args.run_id} is not in the ledger "
            f"(spark-submit exited {args.submit_status}): the driver ended before recording "
            "it; see the driver's log on the cluster",
            file=sys.stderr,
        )
        return args.submit_status or ExitCode.FAILURE
    emit(record)
    return record.exit_code


if __name__ == "__main__":
    sys.exit(main())
