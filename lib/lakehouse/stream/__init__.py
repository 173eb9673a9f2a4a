"""Kafka to bronze exactly once: the source, the checkpoint guard, the micro-batch sink, the
runner, and the brokers' pre-check.
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
from lakehouse.stream.kafka_meta import BrokersUnreachable, check_brokers, check_source, describe

__all__ = [
    "BrokersUnreachable",
    "BronzeSink",
    "CheckpointGuard",
    "CheckpointInfo",
    "StreamRunner",
    "check_brokers",
    "check_source",
    "describe",
    "ingest_writer",
    "kafka_options",
    "kafka_preflight",
    "read_kafka",
]
