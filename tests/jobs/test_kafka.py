"""A real broker: the protocol probe, the admin-client pre-check, and a round trip through
Spark's Kafka sink and source."""

from __future__ import annotations

import socket

import pytest
from pyspark.sql import functions as F

from lakehouse.core.errors import ConfigError
from lakehouse.stream.kafka_meta import BrokersUnreachable, check_brokers
from lakehouse.stream.probe import parse_bootstrap, probe
from tests.harness.ports import closed_port

pytestmark = pytest.mark.kafka


def test_probe_finds_the_broker(kafka_bootstrap):
    result = probe(kafka_bootstrap)
    assert result.ok and result.brokers == 1


def test_probe_reports_a_closed_port():
    result = probe(f"127.0.0.1:{closed_port()}", timeout=1.0)
    assert not result.ok and "refused" in result.detail


def test_probe_tries_every_bootstrap_server(kafka_bootstrap):
    assert probe(f"127.0.0.1:{closed_port()},{kafka_bootstrap}", timeout=1.0).ok


def test_probe_rejects_a_bad_server_list():
    with pytest.raises(ValueError, match="use host:port"):
        parse_bootstrap("127.0.0.1")


def test_probe_is_not_fooled_by_a_non_kafka_server():
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(1)
        port = server.getsockname()[1]
        # accepts, then closes without answering
        import threading

        def serve():
            conn, _ = server.accept()
            conn.recv(100)
            conn.close()

        threading.Thread(target=serve, daemon=True).start()
        result = probe(f"127.0.0.1:{port}", timeout=2.0)
    assert not result.ok


def test_check_brokers_asks_the_cluster_through_the_jvm_admin_client(spark, kafka_bootstrap):
    assert check_brokers(spark, kafka_bootstrap, {}).endswith(", 1 broker(s), PLAINTEXT")


def test_check_brokers_reports_a_closed_port_at_once(spark):
    port = closed_port()
    with pytest.raises(BrokersUnreachable, match=f"127.0.0.1:{port} is unreachable") as caught:
        check_brokers(spark, f"127.0.0.1:{port}", {})
    assert caught.value.reason == "connection refused"


def test_check_brokers_refuses_options_the_client_refuses(spark, kafka_bootstrap):
    with pytest.raises(ConfigError, match=r"the client refuses source\.kafka\.options"):
        check_brokers(spark, kafka_bootstrap, {"security.protocol": "NO_SUCH_PROTOCOL"})


def test_round_trip_through_spark_kafka_sink_and_source(
    spark, kafka_bootstrap, kafka_topic, tmp_path
):
    events = [(f"k{i % 7}", f'{{"n": {i}}}') for i in range(50)] + [(None, "no key")]
    (
        spark.createDataFrame(events, "key STRING, value STRING")
        .write.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .option("topic", kafka_topic)
        .save()
    )

    def read_batch():
        return (
            spark.read.format("kafka")
            .option("kafka.bootstrap.servers", kafka_bootstrap)
            .option("subscribe", kafka_topic)
            .option("startingOffsets", "earliest")
            .load()
        )

    got = read_batch().select(
        F.col("key").cast("string"), F.col("value").cast("string"), "partition", "offset"
    )
    rows = got.collect()
    assert sorted(((r.key or ""), r.value) for r in rows) == sorted(
        ((k or ""), v) for k, v in events
    )
    # both partitions were used and offsets are dense per partition
    by_partition: dict[int, list[int]] = {}
    for r in rows:
        by_partition.setdefault(r.partition, []).append(r.offset)
    assert set(by_partition) == {0, 1}
    assert all(sorted(o) == list(range(len(o))) for o in by_partition.values())

    # the streaming source reads the same messages (available-now, checkpointed)
    seen: list[tuple] = []
    query = (
        spark.readStream.format("kafka")
        .option("kafka.bootstrap.servers", kafka_bootstrap)
        .option("subscribe", kafka_topic)
        .option("startingOffsets", "earliest")
        .load()
        .select(F.col("value").cast("string").alias("value"))
        .writeStream.foreachBatch(lambda df, _id: seen.extend(tuple(r) for r in df.collect()))
        .option("checkpointLocation", str(tmp_path / "checkpoint"))
        .trigger(availableNow=True)
        .start()
    )
    query.awaitTermination(120)
    assert query.exception() is None
    assert sorted(v for (v,) in seen) == sorted(v for _, v in events)
