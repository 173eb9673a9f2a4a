"""Pure parsers: the DDL schema and durations (Spark's own parser agrees: tests/spark)."""

from __future__ import annotations

import pytest
from pyspark.sql import types as T

from lakehouse.core.ddl import DdlError, parse_columns
from lakehouse.core.durations import Duration


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
