"""What Spark needs to reach the file system a lake lives on.

Local disks need nothing beyond the project's LogStore. ``s3a://`` lakes need
Hadoop's S3A connector jars, its endpoint and credential settings, and the
project's conditional-PUT LogStore, so that several Spark applications can
commit to one table without losing a commit (Delta's own S3 store is safe
inside one JVM only). Other Hadoop schemes (``hdfs``, ``abfss``, ``gs``)
come with their cluster's own connectors and atomic renames; nothing is set
for them.

The credentials never go on a command line: :func:`apply_storage` puts
them into the running session's Hadoop configuration, which Spark ships to
its tasks.
"""

from __future__ import annotations

import socket
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lakehouse.config.model import Settings
from lakehouse.core.errors import TransientError
from lakehouse.lake.jars import S3_LOGSTORE

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

S3A_FS = "org.apache.hadoop.fs.s3a.S3AFileSystem"
_KEYS = ("fs.s3a.access.key", "fs.s3a.secret.key")


def uses_s3a(settings: Settings) -> bool:
    """True when the lake or the checkpoints live on ``s3a://``, or an ``s3:``
    section is set (sources on S3 beside a lake elsewhere)."""
    return "s3a" in settings.schemes or settings.s3.configured


def s3a_conf(settings: Settings) -> dict[str, str]:
    """Spark settings for an ``s3a://`` lake, without credentials (empty otherwise)."""
    if not uses_s3a(settings):
        return {}
    s3 = settings.s3
    conf = {
        "spark.hadoop.fs.s3a.impl": S3A_FS,
        # the conditional PUT a commit is made of (Hadoop 3.4.2+; on by default)
        "spark.hadoop.fs.s3a.create.conditional.enabled": "true",
        # a store that stops answering fails the call in seconds, not minutes (S3A's
        # defaults retry each call 7 times, each SDK request 6): the run exits 75 and
        # the orchestrator retries it. Throttling (503) keeps S3A's own, longer limit.
        "spark.hadoop.fs.s3a.retry.limit": "3",
        "spark.hadoop.fs.s3a.attempts.maximum": "2",
        "spark.hadoop.fs.s3a.connection.establish.timeout": "5s",
    }
    if s3.conditional_commits:
        conf["spark.delta.logStore.s3a.impl"] = S3_LOGSTORE
    if s3.endpoint:
        conf["spark.hadoop.fs.s3a.endpoint"] = s3.endpoint.rstrip("/")
        secure = s3.endpoint.startswith("https://")
        conf["spark.hadoop.fs.s3a.connection.ssl.enabled"] = str(secure).lower()
    if s3.region:
        conf["spark.hadoop.fs.s3a.endpoint.region"] = s3.region
    if s3.path_style:
        conf["spark.hadoop.fs.s3a.path.style.access"] = "true"
    if s3.access_key is not None:
        # keys from the settings, not the default chain (environment, profile, role)
        conf["spark.hadoop.fs.s3a.aws.credentials.provider"] = (
            "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"
        )
    return conf


def s3a_secrets(settings: Settings) -> dict[str, str]:
    """The Hadoop settings that hold the S3 credentials (empty for the default chain)."""
    s3 = settings.s3
    if not uses_s3a(settings) or s3.access_key is None or s3.secret_key is None:
        return {}
    return dict(zip(_KEYS, (s3.access_key, s3.secret_key), strict=True))


def apply_storage(spark: SparkSession, settings: Settings) -> None:
    """Put the S3A settings and credentials into the running session's Hadoop configuration.

    The credentials go only this way, never on a command line. The other
    settings also travel as ``spark.hadoop.*`` at start; setting them here
    too makes a session that already existed (a notebook, the test suite)
    reach this environment's store.
    """
    values = {
        key.removeprefix("spark.hadoop."): value
        for key, value in s3a_conf(settings).items()
        if key.startswith("spark.hadoop.") and key not in settings.spark.conf  # the user's win
    }
    values.update(s3a_secrets(settings))
    if not values:
        return
    hadoop = spark._jsc.hadoopConfiguration()  # type: ignore[attr-defined]
    for key, value in values.items():
        hadoop.set(key, value)


def store_address(settings: Settings) -> tuple[str, int] | None:
    """Host and port of the S3 endpoint the lake is reached at (None: nothing to probe)."""
    if not uses_s3a(settings) or "spark.hadoop.fs.s3a.proxy.host" in settings.spark.conf:
        return None  # behind a proxy only S3A itself can tell
    endpoint = settings.s3.endpoint
    if endpoint:
        parts = urlsplit(endpoint)
        return parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    region = settings.s3.region
    return (f"s3.{region}.amazonaws.com" if region else "s3.amazonaws.com"), 443


def probe_store(settings: Settings, timeout: float = 5.0) -> None:
    """Fail fast, before any JVM, when the lake's object store does not answer.

    Raises:
        TransientError: no TCP connection to the endpoint within ``timeout`` (exit 75).
    """
    address = store_address(settings)
    if address is None:
        return
    host, port = address
    reason = unreachable(host, port, timeout)
    if reason is not None:
        raise TransientError(
            f"object store unreachable at {host}:{port} ({reason}) for "
            f"{settings.lake_root}: is the endpoint up and s3.endpoint right?"
        )


def unreachable(host: str, port: int, timeout: float) -> str | None:
    """Why no TCP connection to ``host:port`` opens within ``timeout`` (lower case), or None."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return None
    except OSError as exc:
        if isinstance(exc, socket.timeout):
            return f"no answer within {timeout:g}s"
        return (exc.strerror or type(exc).__name__).lower()
