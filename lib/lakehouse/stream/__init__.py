"""Kafka to bronze exactly once: the source, the checkpoint guard, the micro-batch sink, the
runner.
"""

from __future__ import annotations

from lakehouse.stream.ingest import (
    BronzeSink,
    CheckpointGuard,
    CheckpointInfo,
    StreamRunner,
    ingest_writer,
    kafka_options,
    kafka_preflight,
    read_kafka,
)
from lakehouse.stream.kafka_meta import describe
from lakehouse.stream.probe import probe

__all__ = [
    "BronzeSink",
    "CheckpointGuard",
    "CheckpointInfo",
    "StreamRunner",
    "describe",
    "ingest_writer",
    "kafka_options",
    "kafka_preflight",
    "probe",
    "read_kafka",
]
