"""Reading the lake's small tables without a JVM, through delta-rs (``deltalake``).

Starting Spark costs seconds to answer what a few kilobytes of Delta log and
Parquet hold: which run ended how. The launcher's cluster-mode run status
reads the ledger here instead. Local lakes (a path or ``file:``) and
``s3a://`` lakes (with the ``s3`` settings Spark uses) are read this way;
for any other scheme :func:`readable` is False and the caller uses Spark.

Tables are read, never written, from here: the ledger's writers are the
jobs, through Delta's log store (see :mod:`lakehouse.lake.storage`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Any
from urllib.parse import urlparse

from lakehouse.config.model import Settings

SCHEMES = ("", "file", "s3a")


def readable(path: str) -> bool:
    """Whether this module can read a table at ``path`` (else: use Spark)."""
    return urlparse(path).scheme in SCHEMES


def table_uri(path: str, settings: Settings) -> tuple[str, dict[str, str]]:
    """(URI, storage options) under which delta-rs finds the table at ``path``.

    ``s3a://b/p`` is ``s3://b/p`` to delta-rs, reached with the lake's ``s3``
    settings: endpoint, region, path-style addressing, keys (or, without
    keys, the AWS default chain, as for S3A).
    """
    scheme = urlparse(path).scheme
    if scheme not in SCHEMES:
        raise ValueError(f"{path}: delta-rs reads local and s3a:// tables only here")
    if scheme != "s3a":
        return path.removeprefix("file://").removeprefix("file:"), {}
    s3 = settings.s3
    options: dict[str, str] = {"AWS_REGION": s3.region or "us-east-1"}
    if s3.endpoint:
        options["AWS_ENDPOINT_URL"] = s3.endpoint
        if s3.endpoint.startswith("http://"):
            options["AWS_ALLOW_HTTP"] = "true"
    if s3.path_style:
        options["AWS_VIRTUAL_HOSTED_STYLE_REQUEST"] = "false"
    if s3.access_key is not None and s3.secret_key is not None:
        options["AWS_ACCESS_KEY_ID"] = s3.access_key
        options["AWS_SECRET_ACCESS_KEY"] = s3.secret_key
    return "s3://" + path.removeprefix("s3a://"), options


def open_table(path: str, settings: Settings) -> Any | None:
    """The Delta table at ``path`` (a ``deltalake.DeltaTable``), or None if there is none."""
    from deltalake import DeltaTable
    from deltalake.exceptions import TableNotFoundError

    uri, options = table_uri(path, settings)
    try:
        return DeltaTable(uri, storage_options=options or None)
    except TableNotFoundError:
        return None


def rows_where(path: str, settings: Settings, column: str, value: str) -> list[dict[str, Any]]:
    """The rows of the table at ``path`` whose ``column`` equals ``value``, as dicts
    (timestamps as aware UTC datetimes); none when the table does not exist.

    Read with delta-rs's own query engine: a pyarrow dataset scan of a delta-rs
    table makes about one process in six abort at exit ("terminate called
    without an active exception", delta-io/delta-rs#2184), after its output.
    """
    import pyarrow as pa
    from deltalake import QueryBuilder

    table = open_table(path, settings)
    if table is None:
        return []
    name = column.replace('"', '""')
    text = value.replace("'", "''")
    query = f"SELECT * FROM t WHERE \"{name}\" = '{text}'"
    reader = QueryBuilder().register("t", table).execute(query)
    return pa.table(reader.read_all()).to_pylist()


def stored_rows(path: str, version: int, column: str, values: Sequence[date]) -> int | None:
    """Rows the local table at ``path`` holds at ``version`` in the partitions where
    ``column`` is one of ``values``, summed from its log's file statistics (no data
    file is read); None when that cannot be told here (not a local path, a file
    without a row count, a table delta-rs does not read): ask Spark then.

    Physical rows: with deletion vectors, rows marked deleted still count (an
    estimate, for choosing how to write)."""
    import pyarrow as pa
    import pyarrow.compute as pc
    from deltalake import DeltaTable

    if urlparse(path).scheme not in ("", "file"):
        return None
    try:
        table = DeltaTable(path.removeprefix("file://").removeprefix("file:"), version=version)
        files = pa.table(table.get_add_actions(flatten=True))
        named = f"partition.{column}"
        if named not in files.column_names or "num_records" not in files.column_names:
            return None
        wanted = pa.array(list(values), pa.date32())
        mine = files.filter(pc.is_in(files[named].cast(pa.date32()), wanted))
        if mine["num_records"].null_count:
            return None
        return int(pc.sum(mine["num_records"]).as_py() or 0)
    except Exception:
        return None
