"""The project's DDL parser against Spark's own: the same schema for every DDL."""

from __future__ import annotations

import pytest

from lakehouse.core.ddl import parse_columns, to_struct

SPARK_DDLS = [
    "order_id STRING NOT NULL, amount DECIMAL(12,2), event_time TIMESTAMP NOT NULL",
    "a INT, b BIGINT, c SMALLINT, d TINYINT, e DOUBLE, f FLOAT, g BOOLEAN, h DATE, i BINARY",
    "n DECIMAL, m DECIMAL(38,0), ts_ntz TIMESTAMP_NTZ",
    "tags ARRAY<STRING>, attrs MAP<STRING, INT>, nested ARRAY<MAP<STRING, ARRAY<BIGINT>>>",
    "address STRUCT<street: STRING, zip: INT NOT NULL, geo: STRUCT<lat: DOUBLE, lon: DOUBLE>>",
    "note STRING COMMENT 'free text, it''s fine', id INT NOT NULL COMMENT 'key'",
    "lower_case string not null, MixedCase Int",
]


@pytest.mark.parametrize("ddl", SPARK_DDLS)
def test_parser_agrees_with_spark(spark, ddl):
    from pyspark.sql.types import _parse_datatype_string

    if "''" in ddl:  # Spark DDL escapes a quote with a backslash, not by doubling
        ddl = ddl.replace("it''s", "it\\'s")
    assert to_struct(parse_columns(ddl)) == _parse_datatype_string(ddl)
