"""Parse a Spark DDL column list into PySpark types, without a JVM.

The pipeline file declares its event schema as Spark DDL
(``order_id STRING NOT NULL, amount DECIMAL(12,2), ...``). The config loader
must check it, and check that keys and the event-time column exist, before
any Spark session starts, so the DDL is parsed here in pure Python. The result
is the same ``StructType`` Spark's own parser gives (a test compares them).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from pyspark.sql import types as T

_TOKEN = re.compile(
    r"""\s*(?:
        (?P<ident>[A-Za-z_][A-Za-z0-9_]*)
      | (?P<number>\d+)
      | (?P<string>'(?:[^'\\]|\\.)*')
      | (?P<punct>[<>(),:])
    )""",
    re.VERBOSE,
)

_SIMPLE: dict[str, T.DataType] = {
    "STRING": T.StringType(),
    "BOOLEAN": T.BooleanType(),
    "TINYINT": T.ByteType(),
    "BYTE": T.ByteType(),
    "SMALLINT": T.ShortType(),
    "SHORT": T.ShortType(),
    "INT": T.IntegerType(),
    "INTEGER": T.IntegerType(),
    "BIGINT": T.LongType(),
    "LONG": T.LongType(),
    "FLOAT": T.FloatType(),
    "REAL": T.FloatType(),
    "DOUBLE": T.DoubleType(),
    "DATE": T.DateType(),
    "TIMESTAMP": T.TimestampType(),
    "TIMESTAMP_LTZ": T.TimestampType(),
    "TIMESTAMP_NTZ": T.TimestampNTZType(),
    "BINARY": T.BinaryType(),
}
_DECIMALS = {"DECIMAL", "DEC", "NUMERIC"}


class DdlError(ValueError):
    """The DDL text is not a valid column list."""


@dataclass(frozen=True)
class Column:
    """One top-level column of a DDL schema."""

    name: str
    data_type: T.DataType
    nullable: bool = True
    comment: str | None = None

    @property
    def type_name(self) -> str:
        """Spark's simple string for the type, e.g. ``decimal(12,2)``."""
        return self.data_type.simpleString()


class _Parser:
    def __init__(self, text: str):
        self.text = text
        self.tokens = self._tokenize(text)
        self.pos = 0

    @staticmethod
    def _tokenize(text: str) -> list[tuple[str, str]]:
        tokens: list[tuple[str, str]] = []
        pos = 0
        while pos < len(text):
            if text[pos:].strip() == "":
                break
            match = _TOKEN.match(text, pos)
            if not match or match.end() == pos:
                raise DdlError(f"unexpected character {text[pos:].lstrip()[:1]!r} in schema")
            kind = match.lastgroup or ""
            tokens.append((kind, match.group(kind)))
            pos = match.end()
        return tokens

    def peek(self) -> tuple[str, str] | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def next(self, what: str) -> tuple[str, str]:
        token = self.peek()
        if token is None:
            raise DdlError(f"schema ends where {what} was expected")
        self.pos += 1
        return token

    def expect(self, value: str) -> None:
        _kind, text = self.next(repr(value))
        if text != value:
            raise DdlError(f"expected {value!r} but found {text!r} in schema")

    def accept_word(self, word: str) -> bool:
        token = self.peek()
        if token and token[0] == "ident" and token[1].upper() == word:
            self.pos += 1
            return True
        return False

    def ident(self, what: str) -> str:
        kind, text = self.next(what)
        if kind != "ident":
            raise DdlError(f"expected {what} but found {text!r} in schema")
        return text

    def number(self) -> int:
        kind, text = self.next("a number")
        if kind != "number":
            raise DdlError(f"expected a number but found {text!r} in schema")
        return int(text)

    def columns(self) -> list[Column]:
        if not self.tokens:
            raise DdlError("schema is empty")
        cols = [self.field(top_level=True)]
        while self.peek() is not None:
            self.expect(",")
            cols.append(self.field(top_level=True))
        return cols

    def field(self, top_level: bool) -> Column:
        name = self.ident("a column name")
        if not top_level and self.peek() == ("punct", ":"):
            self.pos += 1
        data_type = self.data_type()
        nullable = True
        comment = None
        while True:
            if self.accept_word("NOT"):
                if not self.accept_word("NULL"):
                    raise DdlError(f"expected NULL after NOT for column {name!r}")
                nullable = False
            elif self.accept_word("COMMENT"):
                kind, text = self.next("a comment string")
                if kind != "string":
                    raise DdlError(f"COMMENT of column {name!r} must be a quoted string")
                comment = re.sub(r"\\(.)", r"\1", text[1:-1])
            else:
                break
        return Column(name, data_type, nullable, comment)

    def data_type(self) -> T.DataType:
        name = self.ident("a type").upper()
        if name in _SIMPLE:
            return _SIMPLE[name]
        if name in _DECIMALS:
            if self.peek() == ("punct", "("):
                self.pos += 1
                precision = self.number()
                scale = 0
                if self.peek() == ("punct", ","):
                    self.pos += 1
                    scale = self.number()
                self.expect(")")
                if not 1 <= precision <= 38 or not 0 <= scale <= precision:
                    raise DdlError(f"bad DECIMAL({precision},{scale}): need 1 <= p <= 38, s <= p")
                return T.DecimalType(precision, scale)
            return T.DecimalType(10, 0)
        if name == "ARRAY":
            self.expect("<")
            element = self.data_type()
            self.expect(">")
            return T.ArrayType(element, containsNull=True)
        if name == "MAP":
            self.expect("<")
            key = self.data_type()
            self.expect(",")
            value = self.data_type()
            self.expect(">")
            return T.MapType(key, value, valueContainsNull=True)
        if name == "STRUCT":
            self.expect("<")
            fields: list[T.StructField] = []
            if self.peek() != ("punct", ">"):
                while True:
                    col = self.field(top_level=False)
                    fields.append(_field(col))
                    if self.peek() == ("punct", ","):
                        self.pos += 1
                        continue
                    break
            self.expect(">")
            return T.StructType(fields)
        raise DdlError(f"unknown type {name!r} in schema")


def parse_columns(ddl: str) -> list[Column]:
    """Parse a DDL column list such as ``a STRING NOT NULL, b DECIMAL(12,2)``.

    Raises:
        DdlError: the text is not a column list Spark would accept, or a
            column name repeats (names compare case-insensitively, as in Spark).
    """
    if not isinstance(ddl, str):
        raise DdlError("schema must be a string of Spark DDL")
    cols = _Parser(ddl).columns()
    seen: set[str] = set()
    for col in cols:
        if col.name.lower() in seen:
            raise DdlError(f"column {col.name!r} appears twice in schema")
        seen.add(col.name.lower())
    return cols


def to_struct(columns: list[Column] | tuple[Column, ...]) -> T.StructType:
    """The ``StructType`` for a parsed column list (NOT NULL kept as nullable=False)."""
    return T.StructType([_field(c) for c in columns])


def _field(col: Column) -> T.StructField:
    metadata = {"comment": col.comment} if col.comment is not None else {}
    return T.StructField(col.name, col.data_type, col.nullable, metadata)
