"""What the brokers say about a pipeline's source: are they there, cluster id, partitions.

Read with the Kafka admin client that Spark's Kafka connector ships (through
the driver's JVM), with the pipeline's ``source.kafka.options`` (security
settings: SASL PLAIN/SCRAM, OAUTHBEARER, TLS with client certificates), so
it reaches every broker the stream itself reaches, the way the stream does.

:func:`check_brokers` is the pre-check of ``stream_ingest`` (before each
start of the query) and of ``doctor``. A failure says what to do about it:
credentials the brokers refuse are a :class:`ConfigError` (exit 2, not
retried: a retry cannot fix them); brokers that do not answer are a
:class:`TransientError` (exit 75 after the retry budget).

The checkpoint guard uses :func:`describe` to refuse resuming offsets on
another cluster (a checkpoint's offsets mean nothing on a cluster it was not
made on) and to start a reset checkpoint at the offsets the old one had
committed.
"""

from __future__ import annotations

import re
import socket
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.config.model import KafkaSource
from lakehouse.config.typed import SECRET_KEY
from lakehouse.core.errors import ConfigError, LakehouseError, TransientError, one_line

TIMEOUT_S = 15
CONNECT_TIMEOUT_S = 3.0

# Java exception classes (simple names) that mean the brokers refuse these
# credentials or this principal: SaslAuthenticationException,
# SslAuthenticationException, AuthenticationException, AuthorizationException
# and its Topic/Group/Cluster... subclasses.
_AUTH_SUFFIXES = ("AuthenticationException", "AuthorizationException")
# the client refused its own settings (a bad option value, a JAAS line it cannot parse)
_CLIENT_CONFIG = ("ConfigException",)
# the admin client's loggers that report a failed connection or metadata update
_CLIENT_LOGGERS = (
    "org.apache.kafka.clients.NetworkClient",
    "org.apache.kafka.clients.admin.internals.AdminMetadataManager",
    "org.apache.kafka.clients.admin.KafkaAdminClient",
)
# a password inside a JAAS line (option keys that look secret: config's SECRET_KEY)
_JAAS_SECRET = re.compile(r'(?:password|secret|token)\w*\s*=\s*"((?:[^"\\]|\\.)*)"', re.I)


@dataclass(frozen=True)
class KafkaView:
    """The source as the brokers see it now."""

    cluster_id: str | None
    partitions: dict[str, list[int]] = field(default_factory=dict)  # topic -> partitions


def subscribed_topics(kafka: KafkaSource, existing: list[str], matches) -> list[str]:
    """The existing topics the source reads: its ``topic`` list, or those ``pattern`` matches."""
    if kafka.topic is not None:
        wanted = [t.strip() for t in kafka.topic.split(",") if t.strip()]
        return [t for t in wanted if t in existing]
    return sorted(t for t in existing if matches(t))


class BrokersUnreachable(TransientError):
    """No broker of a bootstrap list answered; ``reason`` says how it failed."""

    def __init__(self, servers: str, reason: str):
        self.servers = servers
        self.reason = reason
        super().__init__(f"Kafka at {servers} is unreachable ({reason})")


# ---------------------------------------------------------------- failures


def simple_name(class_name: str) -> str:
    """``org.apache.kafka.common.errors.SaslAuthenticationException`` -> its last part."""
    return class_name.rsplit(".", 1)[-1]


def auth_failure(class_names: Iterable[str]) -> str | None:
    """The first authentication or authorization failure among Java exception classes."""
    for name in map(simple_name, class_names):
        if name.endswith(_AUTH_SUFFIXES):
            return name
    return None


def client_config_failure(class_names: Iterable[str]) -> str | None:
    """The first exception class saying the client refused its own settings."""
    for name in map(simple_name, class_names):
        if name in _CLIENT_CONFIG:
            return name
    return None


def secrets(options: Mapping[str, str]) -> list[str]:
    """The secret strings in ``options``: passwords, tokens, JAAS lines and what they hold."""
    found: list[str] = []
    for key, value in options.items():
        if value and SECRET_KEY.search(key):
            found.append(value)
            found.extend(m.group(1) for m in _JAAS_SECRET.finditer(value) if m.group(1))
    # longest first: a whole JAAS line is hidden before the password inside it
    return sorted(set(found), key=len, reverse=True)


def redact(text: str, hidden: Iterable[str]) -> str:
    """``text`` with every secret in ``hidden`` replaced by ``****``."""
    for secret in hidden:
        text = text.replace(secret, "****")
    return text


def java_chain(exc: BaseException) -> list[tuple[str, str]]:
    """(class name, message) of each Java exception behind ``exc``, outermost first.

    Py4J wraps a Java exception in ``Py4JJavaError`` (``java_exception``); the
    Java causes are walked with ``getCause()``, the Python ones with
    ``__cause__``/``__context__``.
    """
    chain: list[tuple[str, str]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        java = getattr(current, "java_exception", None)
        while java is not None and len(chain) < 50:
            chain.append((str(java.getClass().getName()), str(java.getMessage() or "")))
            java = java.getCause()  # null at the root (a Throwable is not its own cause)
        current = current.__cause__ or current.__context__
    return chain


def failure(exc: BaseException, servers: str, options: Mapping[str, str]) -> LakehouseError:
    """What a failed admin call means (see :func:`classify`)."""
    return classify(java_chain(exc), servers, options, fallback=one_line(exc))


def classify(
    chain: list[tuple[str, str]], servers: str, options: Mapping[str, str], fallback: str = ""
) -> LakehouseError:
    """Refused credentials or refused options (ConfigError), else no broker (TransientError).

    ``chain`` is (Java class name, message) of each exception behind the
    failure, outermost first (:func:`java_chain`); the message is one line,
    with the secrets of ``options`` masked.
    """
    names = [name for name, _ in chain]
    hidden = secrets(options)

    def message_of(wanted: str) -> str:
        text = next(msg for name, msg in chain if simple_name(name) == wanted)
        return redact(first_line(text), hidden)

    auth = auth_failure(names)
    if auth is not None:
        return ConfigError(
            f"Kafka at {servers}: authentication failed ({auth}: {message_of(auth)}); "
            "check the credentials in source.kafka.options"
        )
    bad = client_config_failure(names)
    if bad is not None:
        return ConfigError(
            f"Kafka at {servers}: the client refuses source.kafka.options ({message_of(bad)})"
        )
    innermost = next((msg for _, msg in reversed(chain) if msg.strip()), fallback)
    return BrokersUnreachable(servers, redact(first_line(innermost) or "no answer", hidden))


def first_line(text: str, limit: int = 300) -> str:
    """The first non-empty line of ``text``, at most ``limit`` characters."""
    line = next((part.strip() for part in text.splitlines() if part.strip()), "")
    return line if len(line) <= limit else line[: limit - 3] + "..."


# ---------------------------------------------------------------- the admin client


def tcp_failure(servers: str, timeout: float = CONNECT_TIMEOUT_S) -> str | None:
    """Why no server of the list accepts a TCP connection, or None if one does.

    A quick first step, so a broker that is down is reported at once (the
    admin client would only time out); entries that are not ``host:port``
    are left to the client to judge.
    """
    reason = None
    for item in (part.strip() for part in servers.split(",") if part.strip()):
        host, sep, port = item.rpartition(":")
        if not sep or not port.isdigit():
            return None
        try:
            with socket.create_connection((host.strip("[]"), int(port)), timeout=timeout):
                return None
        except OSError as exc:
            reason = (exc.strerror or str(exc) or type(exc).__name__).lower()
    return reason


def admin_properties(jvm: Any, servers: str, options: Mapping[str, str]) -> Any:
    """The admin client's ``java.util.Properties``: the servers, timeouts, ``options``.

    ``options`` are the pipeline's ``source.kafka.options`` (a ``kafka.``
    prefix, as the Spark source takes them, is dropped).
    """
    props = jvm.java.util.Properties()
    props.setProperty("bootstrap.servers", servers)
    props.setProperty("request.timeout.ms", str(TIMEOUT_S * 1000))
    props.setProperty("default.api.timeout.ms", str(TIMEOUT_S * 1000))
    for key, value in options.items():
        props.setProperty(key.removeprefix("kafka."), value)
    return props


@contextmanager
def admin_client(spark: SparkSession, servers: str, options: Mapping[str, str]) -> Iterator[Any]:
    """A JVM ``Admin`` for ``servers``; a failure inside becomes :func:`failure`'s error."""
    jvm = spark._jvm  # type: ignore[attr-defined]
    try:
        admin = jvm.org.apache.kafka.clients.admin.Admin.create(
            admin_properties(jvm, servers, options)
        )
    except Exception as exc:
        raise_failure(exc, servers, options)
    try:
        yield admin
    except LakehouseError:
        raise
    except Exception as exc:
        raise_failure(exc, servers, options)
    finally:
        admin.close(jvm.java.time.Duration.ofSeconds(5))


def raise_failure(exc: BaseException, servers: str, options: Mapping[str, str]) -> None:
    """Raise what ``exc`` means (a ConfigError drops the Java error: it may quote options)."""
    error = failure(exc, servers, options)
    if isinstance(error, ConfigError):
        raise error from None
    raise error from exc


@contextmanager
def quiet_client_logs(jvm: Any) -> Iterator[None]:
    """The admin client's own log lines about a failed connection off, for the pre-check.

    Its verdict is the pre-check's one line; the client would log the same
    refusal or timeout again, with a stack trace, on stderr. The levels come
    back afterwards. Without log4j 2 in the JVM nothing is changed.
    """
    try:
        log4j = jvm.org.apache.logging.log4j
        before = {name: log4j.LogManager.getLogger(name).getLevel() for name in _CLIENT_LOGGERS}
        for name in _CLIENT_LOGGERS:
            log4j.core.config.Configurator.setLevel(name, log4j.Level.OFF)
    except Exception:  # another logging backend: leave it alone
        yield
        return
    try:
        yield
    finally:
        for name, level in before.items():
            log4j.core.config.Configurator.setLevel(name, level)


def check_brokers(spark: SparkSession, servers: str, options: Mapping[str, str]) -> str:
    """Do the brokers answer this client, with these options? What they said, in a line.

    Raises:
        ConfigError: the brokers refuse the credentials, or the client its options.
        TransientError: no broker answered (:class:`BrokersUnreachable`).
    """
    if not servers.strip():
        raise ConfigError("no Kafka bootstrap servers", key="source.kafka.bootstrap_servers")
    reason = tcp_failure(servers)
    if reason is not None:
        raise BrokersUnreachable(servers, reason)
    jvm = spark._jvm  # type: ignore[attr-defined]
    seconds = jvm.java.util.concurrent.TimeUnit.SECONDS
    with quiet_client_logs(jvm), admin_client(spark, servers, options) as admin:
        cluster = admin.describeCluster()
        cluster_id = cluster.clusterId().get(TIMEOUT_S, seconds)
        brokers = cluster.nodes().get(TIMEOUT_S, seconds).size()
    protocol = options.get("security.protocol", "PLAINTEXT").upper()
    return f"cluster {cluster_id}, {brokers} broker(s), {protocol}"


def check_source(spark: SparkSession, kafka: KafkaSource) -> str:
    """:func:`check_brokers` for a pipeline's ``source.kafka``."""
    return check_brokers(spark, kafka.bootstrap_servers or "", kafka.options)


def describe(spark: SparkSession, kafka: KafkaSource, bootstrap: str) -> KafkaView:
    """Cluster id and the partitions of every subscribed topic (errors as :func:`failure`)."""
    jvm = spark._jvm  # type: ignore[attr-defined]
    seconds = jvm.java.util.concurrent.TimeUnit.SECONDS
    with admin_client(spark, bootstrap, kafka.options) as admin:
        cluster_id = admin.describeCluster().clusterId().get(TIMEOUT_S, seconds)
        existing = [str(name) for name in admin.listTopics().names().get(TIMEOUT_S, seconds)]
        if kafka.pattern is not None:
            regex = jvm.java.util.regex.Pattern.compile(kafka.pattern)
            topics = subscribed_topics(kafka, existing, lambda t: regex.matcher(t).matches())
        else:
            topics = subscribed_topics(kafka, existing, lambda t: False)
        partitions: dict[str, list[int]] = {}
        if topics:
            names = jvm.java.util.ArrayList()
            for topic in topics:
                names.add(topic)
            found = admin.describeTopics(names).allTopicNames().get(TIMEOUT_S, seconds)
            for topic in topics:
                description = found.get(topic)
                if description is not None:
                    partitions[topic] = sorted(int(p.partition()) for p in description.partitions())
        return KafkaView(str(cluster_id) if cluster_id is not None else None, partitions)
