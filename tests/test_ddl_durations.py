"""Pure parsers: the DDL schema (checked against Spark's own parser) and durations."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from lib.ddl import DdlError, parse_columns, to_struct
from lib.durations import Duration

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


def test_columns_carry_name_type_and_nullability():
    cols = parse_columns("order_id STRING NOT NULL, amount DECIMAL(12,2)")
    assert [(c.name, c.type_name, c.nullable) for c in cols] == [
        ("order_id", "string", False),
        ("amount", "decimal(12,2)", True),
    ]
    assert cols[1].data_type == T.DecimalType(12, 2)


@pytest.mark.parametrize(
    ("ddl", "message"),
    [
        ("", "schema is empty"),
        ("   ", "schema is empty"),
        ("a", "where a type was expected"),
        ("a STRING b INT", "expected ','"),
        ("a FOO", "unknown type 'FOO'"),
        ("a DECIMAL(40,2)", "bad DECIMAL(40,2)"),
        ("a DECIMAL(5,6)", "bad DECIMAL(5,6)"),
        ("a ARRAY<STRING", "schema ends"),
        ("a STRING NOT", "expected NULL after NOT"),
        ("a STRING, a INT", "appears twice"),
        ("a STRING; DROP", "unexpected character ';'"),
        ("a STRING COMMENT x", "must be a quoted string"),
    ],
)
def test_bad_ddl_is_a_clear_error(ddl, message):
    with pytest.raises(DdlError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_columns(ddl)


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("30s", 30),
        ("15m", 900),
        ("2h", 7200),
        ("1d", 86400),
        ("1 hour", 3600),
        ("90 minutes", 5400),
        ("1h30m", 5400),
        ("500ms", 0.5),
        ("2 weeks", 1209600),
        ("1.5h", 5400),
    ],
)
def test_durations(text, seconds):
    assert Duration.parse(text).seconds == seconds


@pytest.mark.parametrize("text", ["", "15", "m", "1 fortnight", "-1h", "0s", "1h and 2m", None])
def test_bad_durations(text):
    with pytest.raises(ValueError, match="bad duration"):
        Duration.parse(text)  # type: ignore[arg-type]


def test_duration_compares_by_length_and_renders_for_spark():
    assert Duration.parse("60m") == Duration.parse("1h")
    assert Duration.parse("1h").spark() == "3600 seconds"
    assert Duration.parse("1500ms").spark() == "1500 milliseconds"
