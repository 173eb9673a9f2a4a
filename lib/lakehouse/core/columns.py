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
RAW_HEADERS = "raw_headers"  # bronze with keep_raw: the Kafka headers as they arrived
REASON = "reason"
DETAIL = "detail"
RESERVED_COLUMNS = (
    *KAFKA_COLUMNS,
    INGESTED_AT,
    RAW_KEY,
    RAW_VALUE,
    RAW_HEADERS,
    REASON,
    DETAIL,
    "run_id",
)

MALFORMED = "malformed_json"
MISSING = "missing_field"
WRONG_TYPE = "wrong_type"
LATE = "late"

# batch loads: audit columns every silver row carries
LOADED_AT = "loaded_at"
RUN_ID = "run_id"
AUDIT_COLUMNS = (LOADED_AT, RUN_ID)
# batch loads: working columns of the rows a load prepares (never written to silver)
RECORD = "record"  # the row as the source had it, kept for the quarantine
EXTRA = "_extra_keys"  # json sources: keys that are not in the schema
ROW_HASH = "_row_hash"
LOGICAL_DATE = "_logical_date"  # which date's source a row came from (multi-date loads)
SOURCE = "_source"  # where a quarantined row's date was read from
# columns a load adds to (or overwrites in) the rows it prepares; rule flags are "_q*"
LOAD_INTERNAL_COLUMNS = (
    LOGICAL_DATE,
    SOURCE,
    ROW_HASH,
    EXTRA,
    REASON,
    DETAIL,
    RECORD,
    *AUDIT_COLUMNS,
)
# batch refusal reasons
OUTSIDE_DATE = "outside_date"
DUPLICATE = "duplicate"  # counted, never quarantined: another row of the key won
