"""Sample order events for the demo, the tests and the benchmarks.

:func:`generate` is pure and seeded: it returns the events *and* what each
one is (valid, duplicate, late, malformed_json, missing_field, wrong_type),
so a test can compare what the job wrote with what was sent. :func:`produce`
sends them to a real broker with a fast, batching client.

Usage: python -m datagen.orders --topic orders --count 20000 [--dup-share 0.05]
           [--late-share 0.01] [--malformed-share 0.01] [--rate 0] [--seed 1]
           [--bootstrap 127.0.0.1:9092] [--partitions 2]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

STATUSES = ("placed", "paid", "shipped", "cancelled")
BAD_KINDS = ("malformed_json", "missing_field", "wrong_type")


@dataclass(frozen=True)
class Event:
    """One Kafka message and what it is meant to be."""

    key: str | None
    value: bytes | None
    kind: str  # valid | duplicate | late | malformed_json | missing_field | wrong_type
    order_id: str | None = None
    headers: tuple[tuple[str, bytes], ...] = ()  # Kafka record headers


def _iso(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _order(rng: random.Random, order_id: str, ts: datetime) -> dict:
    return {
        "order_id": order_id,
        "customer_id": f"c-{rng.randrange(1, 5000):05d}",
        "amount": round(rng.uniform(1, 500), 2),
        "status": rng.choice(STATUSES),
        "event_time": _iso(ts),
    }


def _bad(rng: random.Random, kind: str, n: int, ts: datetime) -> Event:
    order_id = f"bad-{n:08d}"
    if kind == "malformed_json":
        value = rng.choice(
            [b'{"order_id": "%s", "amount": ' % order_id.encode(), b"not json at all", b"[1, 2, 3]"]
        )
    elif kind == "missing_field":
        body = _order(rng, order_id, ts)
        del body[rng.choice(["order_id", "event_time"])]
        value = json.dumps(body).encode()
    else:
        body = _order(rng, order_id, ts)
        if rng.random() < 0.5:
            body["amount"] = "a lot"
        else:
            body["event_time"] = "yesterday"
        value = json.dumps(body).encode()
    return Event(order_id, value, kind)


def generate(
    count: int,
    *,
    seed: int = 1,
    start: datetime | None = None,
    spread: timedelta = timedelta(minutes=30),
    dup_share: float = 0.05,
    late_share: float = 0.0,
    malformed_share: float = 0.0,
    late_by: timedelta = timedelta(hours=3),
    id_prefix: str = "o",
) -> list[Event]:
    """``count`` events in send order.

    Valid events have increasing event times from ``start`` over ``spread``
    (so the watermark advances); each duplicate repeats an earlier valid
    event a few positions later (same key, same payload); bad events are
    scattered; late candidates (new keys, event time ``late_by`` before
    ``start``) come last, after the watermark has moved.
    """
    for name, share in (("dup", dup_share), ("late", late_share), ("malformed", malformed_share)):
        if not 0 <= share < 1:
            raise ValueError(f"{name}_share must be in [0, 1), not {share}")
    rng = random.Random(seed)
    start = start or datetime.now(timezone.utc) - spread
    n_dup = round(count * dup_share)
    n_late = round(count * late_share)
    n_bad = round(count * malformed_share)
    n_valid = count - n_dup - n_late - n_bad
    if n_valid < 1:
        raise ValueError("the shares leave no valid events")
    step = spread / max(n_valid, 1)
    stream: list[Event] = []
    valid_bodies: list[tuple[str, bytes]] = []
    dup_at = sorted(rng.sample(range(n_valid), n_dup)) if n_dup <= n_valid else []
    dup_iter = iter(dup_at)
    next_dup = next(dup_iter, None)
    pending: list[tuple[int, Event]] = []
    for i in range(n_valid):
        order_id = f"{id_prefix}-{seed}-{i:09d}"
        body = json.dumps(_order(rng, order_id, start + step * i)).encode()
        stream.append(Event(order_id, body, "valid", order_id))
        valid_bodies.append((order_id, body))
        while pending and pending[0][0] <= i:
            stream.append(pending.pop(0)[1])
        while next_dup is not None and next_dup <= i:
            original_id, original = valid_bodies[next_dup]
            pending.append(
                (i + rng.randint(1, 20), Event(original_id, original, "duplicate", original_id))
            )
            next_dup = next(dup_iter, None)
    stream.extend(e for _, e in pending)
    for n in range(n_bad):
        position = rng.randrange(len(stream) + 1)
        stream.insert(position, _bad(rng, BAD_KINDS[n % len(BAD_KINDS)], n, start))
    for n in range(n_late):
        order_id = f"{id_prefix}-{seed}-late-{n:07d}"
        body = json.dumps(_order(rng, order_id, start - late_by)).encode()
        stream.append(Event(order_id, body, "late", order_id))
    return stream


def produce(
    bootstrap: str,
    topic: str,
    events: Iterable[Event],
    *,
    rate: float = 0.0,
    partitions: int | None = None,
) -> int:
    """Send events (keyed by order id) and wait until the broker has them all."""
    from confluent_kafka import Producer

    if partitions:
        create_topic(bootstrap, topic, partitions)
    producer = Producer(
        {
            "bootstrap.servers": bootstrap,
            "linger.ms": 20,
            "batch.num.messages": 10000,
            "queue.buffering.max.messages": 500000,
            "compression.type": "lz4",
            "enable.idempotence": True,
        }
    )
    sent = 0
    began = time.monotonic()
    for event in events:
        while True:
            try:
                if event.headers:
                    producer.produce(
                        topic, key=event.key, value=event.value, headers=list(event.headers)
                    )
                else:
                    producer.produce(topic, key=event.key, value=event.value)
                break
            except BufferError:
                producer.poll(0.05)
        sent += 1
        if rate > 0:
            ahead = sent / rate - (time.monotonic() - began)
            if ahead > 0:
                time.sleep(ahead)
        if sent % 10000 == 0:
            producer.poll(0)
    remaining = producer.flush(60)
    if remaining:
        raise RuntimeError(f"{remaining} events were not delivered to {bootstrap}")
    return sent


def create_topic(bootstrap: str, topic: str, partitions: int) -> None:
    """Create ``topic`` unless it exists."""
    from confluent_kafka.admin import AdminClient, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    if topic in admin.list_topics(timeout=10).topics:
        return
    futures = admin.create_topics(
        [NewTopic(topic, num_partitions=partitions, replication_factor=1)]
    )
    try:
        futures[topic].result(timeout=30)
    except Exception as exc:  # a concurrent creator is fine
        if "TOPIC_ALREADY_EXISTS" not in str(exc):
            raise


def expected(events: Sequence[Event]) -> dict[str, int]:
    """How many events of each kind were generated."""
    return dict(Counter(e.kind for e in events))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m datagen.orders", description=__doc__)
    parser.add_argument("--bootstrap", default="127.0.0.1:9092")
    parser.add_argument("--topic", default="orders")
    parser.add_argument("--count", type=int, default=20000)
    parser.add_argument("--dup-share", type=float, default=0.05)
    parser.add_argument("--late-share", type=float, default=0.0)
    parser.add_argument("--malformed-share", type=float, default=0.0)
    parser.add_argument(
        "--rate", type=float, default=0.0, help="events per second, 0 = as fast as possible"
    )
    parser.add_argument("--seed", type=int, default=int(time.time()))
    parser.add_argument("--partitions", type=int, default=2, help="when the topic is created")
    parser.add_argument("--late-by", default="3h", help="how far before the others late events lie")
    args = parser.parse_args(argv)
    from lakehouse.core import Duration

    try:
        events = generate(
            args.count,
            seed=args.seed,
            dup_share=args.dup_share,
            late_share=args.late_share,
            malformed_share=args.malformed_share,
            late_by=timedelta(seconds=Duration.parse(args.late_by).seconds),
        )
    except ValueError as exc:
        print(f"datagen: error: {exc}", file=sys.stderr)
        return 2
    began = time.monotonic()
    sent = produce(args.bootstrap, args.topic, events, rate=args.rate, partitions=args.partitions)
    took = time.monotonic() - began
    print(
        json.dumps(
            {
                "topic": args.topic,
                "sent": sent,
                "seconds": round(took, 2),
                "kinds": expected(events),
            }
        )
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())


def topic_size(bootstrap: str, topic: str) -> int:
    """Messages in ``topic`` (sum of high watermarks), 0 when it does not exist."""
    from confluent_kafka import Consumer, TopicPartition

    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "datagen-size"})
    try:
        meta = consumer.list_topics(topic, timeout=10).topics.get(topic)
        if meta is None or meta.error is not None:
            return 0
        total = 0
        for partition in meta.partitions:
            low, high = consumer.get_watermark_offsets(TopicPartition(topic, partition), timeout=10)
            total += high - low
        return total
    finally:
        consumer.close()
