"""The column-name contract: Kafka metadata, raw payload, refusal reasons, reserved names.

Stream, batch, quality and config all speak these names; they live here so
none of them needs another's module to know what a column is called.
"""

from __future__ import annotations

# Kafka metadata carried into bronze and quarantine
KAFKA_COLUMNS = ("kafka_topic", "kafka_partition", "kafka_offset", "kafka_timestamp")
INGESTED_AT = "ingested_at"
RAW_KEY = "raw_key"
RAW_VALUE = "raw_value"
REASON = "reason"
DETAIL = "detail"
RESERVED_COLUMNS = (*KAFKA_COLUMNS, INGESTED_AT, RAW_KEY, RAW_VALUE, REASON, DETAIL, "run_id")

MALFORMED = "malformed_json"
MISSING = "missing_field"
WRONG_TYPE = "wrong_type"
LATE = "late"
