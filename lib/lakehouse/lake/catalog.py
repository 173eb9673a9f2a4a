"""The lake's tables by name: registration in a catalog, and the gold views.

With ``catalog.type`` other than ``none``, each job that writes a pipeline's
tables registers them as external tables (the data stays at its path; the
catalog holds only a name and a location), and a successful load (re)creates
the pipeline's ``gold:`` views with ``CREATE OR REPLACE VIEW``. Both are
idempotent: a name that already points at the same location is left alone;
a view is replaced by an identical one.

A name that points somewhere else is never silently moved: that is someone
else's table, and the job says so (exit 2) rather than re-pointing it.

:func:`probe_metastore` runs before any JVM so a metastore that is down
costs half a second and exit 75, not a Spark session that hangs in retries.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.errors import ConfigError, TransientError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# the jobs that publish after a successful run: they finish a load of silver, so
# they register the tables and (re)create the views; stream_ingest registers its
# own tables as it starts, and jobs that only read (health, doctor) do neither
PUBLISH_JOBS = ("batch_load", "backfill")


class CatalogError(ConfigError):
    """A name in the catalog conflicts with the lake, or a view does not compile (exit 2)."""


def catalog_conf(settings: Settings) -> dict[str, str]:
    """Spark settings of the configured catalog (empty unless ``catalog.type: hive``)."""
    if settings.catalog.type != "hive":
        return {}
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.hive.metastore.uris": settings.catalog.metastore_uri or "",
        # only managed tables would use it; keep it in the lake, not in the working folder
        "spark.sql.warehouse.dir": settings.path("_catalog", "warehouse"),
    }


def probe_metastore(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, before any JVM, when no metastore of ``catalog.metastore_uri`` answers.

    Raises:
        TransientError: none of the URIs accepts a TCP connection (exit 75).
    """
    if settings.catalog.type != "hive" or not settings.catalog.metastore_uri:
        return
    from lakehouse.lake.storage import unreachable

    reasons = []
    for uri in settings.catalog.metastore_uri.split(","):
        parts = urlsplit(uri)
        reason = unreachable(parts.hostname or "", parts.port or 9083, timeout)
        if reason is None:
            return
        reasons.append(f"{parts.hostname}:{parts.port} ({reason})")
    raise TransientError(
        f"metastore unreachable at {', '.join(reasons)}: is it up (scripts/metastore.sh start) "
        "and catalog.metastore_uri right?"
    )


def table_locations(settings: Settings, pipeline: Pipeline) -> dict[str, str]:
    """Catalog name -> path of every table the pipeline has in the lake."""
    ops = settings.catalog.ops_database
    places = {
        f"quarantine.{pipeline.name}": settings.quarantine_path(pipeline.name),
        f"quarantine.{pipeline.name}_loads": settings.load_quarantine_path(pipeline.name),
        f"{ops}.runs": settings.ledger_path,
        f"{ops}.quality": settings.quality_path,
    }
    for table in (pipeline.bronze, pipeline.silver):
        if table is not None:
            places[table.table] = settings.table_path(table.table, table.path)
    return places


def _quote(name: str) -> str:
    return ".".join(f"`{part}`" for part in name.split("."))


def _literal(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def same_location(a: str, b: str) -> bool:
    """Whether two table locations name the same folder (``file:/x`` = ``file:///x`` = ``/x``)."""

    def norm(uri: str) -> str:
        parts = urlsplit(uri)
        if parts.scheme in ("", "file"):
            return "file:" + unquote(parts.path).rstrip("/")
        return f"{parts.scheme}://{parts.netloc}{unquote(parts.path).rstrip('/')}"

    return norm(a) == norm(b)


def _location(spark: SparkSession, name: str) -> str | None:
    for row in spark.sql(f"DESCRIBE TABLE EXTENDED {_quote(name)}").collect():
        if (row[0] or "").strip() == "Location":
            return str(row[1]).strip()
    return None


def _ensure_database(
    spark: SparkSession, settings: Settings, database: str, done: set[str]
) -> None:
    if database in done:
        return
    # a local lake keeps its databases' folders (only names and view texts: the
    # tables stay at their paths) in the lake; on object storage they go to the
    # metastore's warehouse, which the metastore itself can write
    where = f" LOCATION {_literal(settings.path('_catalog', f'{database}.db'))}"
    spark.sql(
        f"CREATE DATABASE IF NOT EXISTS `{database}`{where if settings.is_local_lake else ''}"
    )
    done.add(database)


def register_tables(spark: SparkSession, settings: Settings, pipeline: Pipeline) -> dict[str, Any]:
    """Register every Delta table of the pipeline that exists; returns what it did.

    Raises:
        CatalogError: a name already points at another location (exit 2).
    """
    from pyspark.errors import PySparkException

    from lakehouse.lake import fs

    registered: list[str] = []
    present = 0
    databases: set[str] = set()
    for name, path in table_locations(settings, pipeline).items():
        if not fs.exists(spark, f"{path.rstrip('/')}/_delta_log"):
            continue  # not written yet: the job that creates it registers it next time
        if spark.catalog.tableExists(name):
            _check_location(spark, name, path)
            present += 1
            continue
        if "." in name:
            _ensure_database(spark, settings, name.rsplit(".", 1)[0], databases)
        try:
            spark.sql(
                f"CREATE TABLE IF NOT EXISTS {_quote(name)} USING delta LOCATION {_literal(path)}"
            )
        except PySparkException:
            if not spark.catalog.tableExists(name):
                raise
            _check_location(spark, name, path)  # another job registered it a moment ago
            present += 1
            continue
        registered.append(name)
    return {"registered": registered, "already_registered": present}


def _check_location(spark: SparkSession, name: str, path: str) -> None:
    location = _location(spark, name)
    if location is None or not same_location(location, path):
        raise CatalogError(
            f"catalog: {name} points at {location or 'no location'}, not at the lake's "
            f"table {path}; drop or rename it (DROP TABLE {name} leaves an external "
            "table's data in place) and run again"
        )


def create_views(spark: SparkSession, settings: Settings, pipeline: Pipeline) -> list[str]:
    """``CREATE OR REPLACE VIEW`` every gold view, in file order; their names.

    Raises:
        CatalogError: Spark refused a view (a column that does not exist,
            a type error); the ones before it stand, silver is untouched.
    """
    from pyspark.errors import PySparkException

    databases: set[str] = set()
    done: list[str] = []
    for view in pipeline.gold:
        _ensure_database(spark, settings, view.name.rsplit(".", 1)[0], databases)
        comment = f" COMMENT {_literal(view.description)}" if view.description else ""
        try:
            spark.sql(f"CREATE OR REPLACE VIEW {_quote(view.name)}{comment} AS {view.sql}")
        except PySparkException as exc:
            first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
            raise CatalogError(f"gold view {view.name} was not created: {first}") from None
        done.append(view.name)
    return done


def publish(spark: SparkSession, settings: Settings, pipeline: Pipeline) -> dict[str, Any]:
    """Register the pipeline's tables and (re)create its gold views."""
    details = register_tables(spark, settings, pipeline)
    if pipeline.gold:
        details["views"] = create_views(spark, settings, pipeline)
    return details
