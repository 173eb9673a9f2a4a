"""Stream a pipeline's Kafka topic into its bronze Delta table, exactly once.

Streaming (Structured Streaming, checkpointed). Input: the pipeline's Kafka
topic (``source.kafka``). Output: the bronze table (``bronze.table``, each
Kafka offset at most once, keys unique within the watermark delay or, with
``bronze.dedup: keys``, over a look-back of days; partitioned by
``partition_by``, with Kafka metadata) and
the pipeline's quarantine table (events that are not JSON, miss a required
field, have a wrongly typed value, break a ``quarantine`` row rule, or arrive
after the watermark). Row rules judge events before the deduplication (all
but ``unique``, see lakehouse.stream). Every micro-batch is logged; the run's
totals and per-batch metrics go to the ledger.

``available_now`` drains what is in the topic and exits 0 (what an
orchestrator schedules); ``processing_time=30s`` runs as a service until
SIGTERM/SIGINT, which lets the running micro-batch finish, stops, records
the run and exits 0.

Usage: ./spark-submit.sh stream_ingest --pipeline NAME
           [--trigger available_now|processing_time=30s|once] [--max-batches N]
           [--reset-checkpoint [--replay-from earliest|latest]]

``--reset-checkpoint`` archives the checkpoint and starts a new one at the
offsets the old one had committed (nothing skipped, nothing read twice),
carrying its watermark; ``--replay-from`` starts it at the topic's earliest
or latest offsets instead (see lakehouse.stream.CheckpointGuard).
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone

from lakehouse.config import ProcessingTime
from lakehouse.core import ConfigError, Duration, QualityGateError, UsageError
from lakehouse.core.stopping import bookkeeping
from lakehouse.quality import result_rows, write_results
from lakehouse.runtime import JobContext, Outcome, job_parser, run_job, whole_number
from lakehouse.stream import (
    BronzeSink,
    CheckpointGuard,
    CheckpointInfo,
    StreamRunner,
    describe,
    ingest_writer,
    kafka_preflight,
    read_kafka,
)

JOB = "stream_ingest"


def trigger_arg(text: str) -> str | ProcessingTime:
    """``available_now`` | ``once`` | ``processing_time=<duration>``."""
    if text in ("available_now", "once"):
        return text
    name, sep, value = text.partition("=")
    if name == "processing_time" and sep:
        try:
            return ProcessingTime(Duration.parse(value))
        except ValueError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None
    raise argparse.ArgumentTypeError(
        f"invalid trigger {text!r}: use available_now, once or processing_time=30s"
    )


def trigger_options(trigger: str | ProcessingTime) -> dict:
    """Keyword arguments for ``DataStreamWriter.trigger``."""
    if isinstance(trigger, ProcessingTime):
        return {"processingTime": trigger.processing_time.spark()}
    if trigger == "once":
        return {"once": True}
    return {"availableNow": True}


def run(ctx: JobContext) -> Outcome:
    pipeline = ctx.pipeline
    if pipeline.stream is None or pipeline.source.kafka is None or pipeline.bronze is None:
        raise ConfigError(
            f"pipeline {pipeline.name} cannot be streamed: it needs `source.kafka`, `stream` "
            "and `bronze` sections"
        )
    started = time.monotonic()
    trigger = ctx.args.trigger or pipeline.stream.trigger
    checkpoint_path = pipeline.stream.checkpoint or ctx.settings.checkpoint_path(pipeline.name, JOB)
    sink = BronzeSink(
        ctx.spark, pipeline, ctx.settings, run_id=ctx.record.run_id, checkpoint=checkpoint_path
    )
    kafka = pipeline.source.kafka
    guard = CheckpointGuard(
        ctx.spark,
        checkpoint_path,
        pipeline,
        reset=ctx.args.reset_checkpoint,
        replay_from=ctx.args.replay_from,
    )
    guard.verify()  # a checkpoint this config cannot resume: exit 2 before anything is written
    sink.validate_rules()  # rules that do not fit the data: exit 2 before anything is read
    opened: list[CheckpointInfo] = []

    tables: list[bool] = []

    def start():
        if not opened:  # first start, once the broker answers: the checkpoint, then tables
            info = guard.open(
                describe(ctx.spark, kafka, kafka.bootstrap_servers or ""),
                written_offsets=sink.written_offsets,
            )
            opened.append(info)
            sink.use_checkpoint(info)
            sink.writer.on_first_write = guard.mark_written
        if not tables:
            sink.ensure_tables()
            tables.append(True)
            if ctx.settings.catalog.enabled:  # by name while the stream runs, not when it stops
                from lakehouse.lake.catalog import register_tables

                register_tables(ctx.spark, ctx.settings, pipeline)
        sink.writer.maybe_replayed = guard.pending_batch()
        return (
            ingest_writer(
                read_kafka(
                    ctx.spark,
                    kafka,
                    opened[0].starting_offsets,
                    headers=pipeline.bronze is not None and pipeline.bronze.keep_raw,
                ),
                pipeline,
                sink,
            )
            .option("checkpointLocation", checkpoint_path)
            .trigger(**trigger_options(trigger))
            .start()
        )

    # SIGTERM/SIGINT: the running micro-batch finishes, then the query stops
    with ctx.stop.without_cancelling() as stop:
        try:
            result = StreamRunner(
                start,
                sink=sink,
                backoff=pipeline.stream.retry.backoff(),
                stop=stop,
                stop_grace=pipeline.stream.stop_grace.seconds,
                max_batches=ctx.args.max_batches,
                preflight=kafka_preflight(ctx.spark, kafka),
            ).run()
        except QualityGateError:
            _record_quality(ctx, sink)  # the failing batch's results are kept too
            raise

    checkpoint = opened[0] if opened else None
    totals = sink.totals()
    summary = _record_quality(ctx, sink)
    if summary is not None:
        totals["quality"] = summary
    elapsed = time.monotonic() - started
    print(_summary_line(pipeline.name, totals, elapsed, result.status, stop.reason), flush=True)
    return Outcome(
        rows_in=totals["input_rows"],
        rows_out=totals["bronze_inserted"],
        rows_quarantined=totals["quarantined"],
        details={
            **totals,
            "trigger": trigger if isinstance(trigger, str) else f"processing_time={trigger}",
            "ended_by": result.status,
            "signal": stop.reason,
            "attempts": result.attempts,
            "errors": result.errors,
            "checkpoint": checkpoint_path,
            "checkpoint_id": checkpoint.checkpoint_id if checkpoint else None,
            "checkpoint_archived": checkpoint.archived if checkpoint else None,
            "checkpoint_start": checkpoint.start if checkpoint and checkpoint.created else None,
            "batch_metrics": sink.batch_details(),
        },
    )


def _record_quality(ctx: JobContext, sink: BronzeSink) -> dict | None:
    """This run's rule results to ``_ops/quality``; their summary for the ledger."""
    quality = sink.quality_report()
    if quality is None or not quality.results:
        return None
    # the results of batches already written: written even while a stop is under way
    with bookkeeping():
        write_results(
            ctx.spark,
            ctx.settings.quality_path,
            result_rows(
                quality,
                run_id=ctx.record.run_id,
                job=JOB,
                pipeline=ctx.pipeline.name,
                logical_date=None,
                checked_at=datetime.now(timezone.utc),
            ),
        )
    return quality.summary()


def _summary_line(name: str, totals: dict, elapsed: float, status: str, signal: str | None) -> str:
    """The run's one human line (the JSON record follows it)."""
    reasons = ", ".join(f"{k} {v}" for k, v in sorted(totals["quarantined_by_reason"].items()))
    unknown = (
        f", {totals['unknown_field_rows']} with fields outside the schema "
        f"({', '.join(totals['unknown_fields'])})"
        if totals["unknown_field_rows"]
        else ""
    )
    return (
        f"stream_ingest {name}: {totals['batches']} batch(es), "
        f"{totals['input_rows']} events in -> {totals['bronze_inserted']} new in bronze, "
        f"{totals['duplicates']} duplicates dropped, {totals['quarantined']} quarantined"
        f"{f' ({reasons})' if reasons else ''}, {totals['late']} late{unknown}; "
        f"{elapsed:.1f}s ({status}{', ' + signal if signal else ''})"
    )


def main(argv: list[str] | None = None) -> int:
    parser = job_parser(JOB, __doc__)
    parser.add_argument(
        "--trigger", type=trigger_arg, help="available_now | once | processing_time=30s"
    )
    parser.add_argument("--max-batches", type=whole_number(1), help="stop after N micro-batches")
    parser.add_argument(
        "--reset-checkpoint",
        action="store_true",
        help="archive the checkpoint and start a new one where it stopped "
        "(after a config change it cannot survive)",
    )
    parser.add_argument(
        "--replay-from",
        choices=("earliest", "latest"),
        help="with --reset-checkpoint: start the new checkpoint there instead (read the topic "
        "again, or skip to its end)",
    )
    return run_job(JOB, argv, parser, run, validate=validate)


def validate(args: argparse.Namespace) -> None:
    """Checks across arguments (exit 2 before any Spark work)."""
    if args.replay_from and not args.reset_checkpoint:
        raise UsageError("--replay-from goes with --reset-checkpoint")


if __name__ == "__main__":
    sys.exit(main())
