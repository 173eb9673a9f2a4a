"""Kafka to bronze exactly once: the plan, the checkpoint, the micro-batch sink, the runner.

Exactly once is three things together:

1. a replayable source: Kafka offsets live in the query's checkpoint;
2. deduplication: an event-time watermark and ``dropDuplicatesWithinWatermark``
   on the pipeline's keys (bounded state);
3. an idempotent sink: bronze gets one Delta idempotent append per
   micro-batch (``txnAppId`` = the checkpoint's app id, ``txnVersion`` = the
   batch id), so a batch replayed after a crash writes nothing twice
   (``bronze.dedup: watermark``, the default); or, with ``bronze.dedup:
   keys``, a MERGE insert-if-absent on the keys over the batch's days and
   ``bronze.key_lookback`` days before them, so a key that comes back after
   its dedup state expired is not added again within that horizon.
   Quarantine is a MERGE insert-if-absent on topic/partition/offset.

The plan is a union of two branches over the same Kafka rows: ``kept`` (the
valid events no row rule refuses that survive the watermark and the dedup)
and ``seen`` (every consumed row, with its parse verdict and its row rules'
verdicts). The sink uses ``seen`` to quarantine bad events, to account for
late ones (rows the stateful operator drops with only a counter) and to
count everything, so every consumed offset ends up in bronze, in
quarantine, or counted as a duplicate, a late event or a dropped one.

Row quality rules decide *before* the dedup. The rules that are a row
expression (``not_null``, ``range``, ``accepted_values``, ``regex``,
``expression``) are computed once in the plan on the parsed events; an event
that breaks a ``drop``, ``quarantine`` or ``fail`` rule never reaches the
watermark or the dedup state, so it does not move the watermark and a
corrected re-send of its key is not taken for its duplicate. The sink counts
the rules over every valid on-time event of the micro-batch (duplicates
included), stops on a ``fail`` rule before writing anything, and quarantines
the refused events with their original Kafka text. A late event is late,
whatever rule it breaks. ``unique`` compares rows (a window, which a
streaming plan cannot have): the sink judges it on the kept events of each
micro-batch, after the dedup (see :func:`~lakehouse.stream.plan.stream_rules`).

The wing's modules: :mod:`~lakehouse.stream.plan` (source and plan),
:mod:`~lakehouse.stream.checkpoint` (guard, fingerprint, the offset log),
:mod:`~lakehouse.stream.sink` (gate, batch writer, run totals),
:mod:`~lakehouse.stream.runner` (the query's life) and
:mod:`~lakehouse.stream.kafka_meta` (what the brokers say).
"""

from __future__ import annotations

from lakehouse.stream.checkpoint import CheckpointGuard, CheckpointInfo, CheckpointLog
from lakehouse.stream.kafka_meta import BrokersUnreachable, check_brokers, check_source, describe
from lakehouse.stream.plan import ingest_writer, kafka_options, read_kafka
from lakehouse.stream.runner import StreamRunner, kafka_preflight
from lakehouse.stream.sink import BronzeSink

__all__ = [
    "BrokersUnreachable",
    "BronzeSink",
    "CheckpointGuard",
    "CheckpointInfo",
    "CheckpointLog",
    "StreamRunner",
    "check_brokers",
    "check_source",
    "describe",
    "ingest_writer",
    "kafka_options",
    "kafka_preflight",
    "read_kafka",
]
