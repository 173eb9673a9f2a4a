"""What the brokers say about a pipeline's source: cluster id and partitions.

Read with the Kafka admin client that Spark's Kafka connector ships (through
the driver's JVM), with the pipeline's ``source.kafka.options`` (security
settings), so it reaches every broker the stream itself reaches.

The checkpoint guard uses it to refuse resuming offsets on another cluster
(a checkpoint's offsets mean nothing on a cluster it was not made on) and to
start a reset checkpoint at the offsets the old one had committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from pyspark.sql import SparkSession

from lakehouse.config.model import KafkaSource
from lakehouse.core.errors import TransientError, one_line

TIMEOUT_S = 15


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


def describe(spark: SparkSession, kafka: KafkaSource, bootstrap: str) -> KafkaView:
    """Cluster id and the partitions of every subscribed topic (TransientError if unreachable)."""
    jvm = spark._jvm  # type: ignore[attr-defined]
    props = jvm.java.util.Properties()
    props.setProperty("bootstrap.servers", bootstrap)
    props.setProperty("request.timeout.ms", str(TIMEOUT_S * 1000))
    props.setProperty("default.api.timeout.ms", str(TIMEOUT_S * 1000))
    for key, value in kafka.options.items():
        props.setProperty(key.removeprefix("kafka."), value)
    seconds = jvm.java.util.concurrent.TimeUnit.SECONDS
    try:
        admin = jvm.org.apache.kafka.clients.admin.Admin.create(props)
    except Exception as exc:
        raise TransientError(f"Kafka at {bootstrap}: {one_line(exc)}") from exc
    try:
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
    except Exception as exc:
        raise TransientError(f"Kafka at {bootstrap}: {one_line(exc)}") from exc
    finally:
        admin.close()
