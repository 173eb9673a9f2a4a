"""The query's checkpoint: the one reader of its offset and commit logs, the marker that
says which config made it, and the guard that starts, resumes or resets it."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from pyspark.sql import SparkSession

from lakehouse.config.model import Pipeline
from lakehouse.core.errors import ConfigError
from lakehouse.lake import fs
from lakehouse.stream.kafka_meta import KafkaView
from lakehouse.stream.plan import PLAN_VERSION

log = logging.getLogger("lakehouse.stream")

FINGERPRINT_FILE = "_lakehouse_checkpoint.json"
REPLAY_CHOICES = ("earliest", "latest")


def numbered(names: list[str]) -> list[int]:
    """The batch numbers among a checkpoint folder's file names."""
    return sorted(int(n) for n in names if n.isdigit())


class CheckpointLog:
    """What Spark wrote in a checkpoint: ``offsets/N`` (batch N's planned end offsets
    and the watermark it ran with) and ``commits/N`` (batch N is done).

    An offset log entry is ``v1``, the batch's metadata (JSON, with
    ``batchWatermarkMs``), then one line per source: this query has one, the
    Kafka source, ``{topic: {partition: offset}}``. A commit log entry is
    ``v1`` then JSON with ``nextBatchWatermarkMs``.
    """

    def __init__(self, spark: SparkSession, path: str):
        self.spark = spark
        self.path = path.rstrip("/")

    def batches(self, folder: str) -> list[int]:
        """The batch numbers in ``offsets`` or ``commits`` (or any folder of batch files)."""
        return numbered(fs.list_names(self.spark, f"{self.path}/{folder}"))

    @property
    def logged(self) -> list[int]:
        """Batches Spark planned (their offsets are logged)."""
        return self.batches("offsets")

    @property
    def committed(self) -> list[int]:
        """Batches Spark committed."""
        return self.batches("commits")

    def pending(self) -> int | None:
        """The batch Spark logged but did not commit: it runs that one again first."""
        logged = self.logged
        if not logged:
            return None
        committed = self.committed
        last = logged[-1]
        return last if not committed or committed[-1] < last else None

    def last_done(self) -> int | None:
        """The last committed batch whose offsets are logged (None: none)."""
        logged = set(self.logged)
        done = [n for n in self.committed if n in logged]
        return done[-1] if done else None

    def _offset_entry(self, batch: int, lines: int) -> list[str]:
        text = fs.read_text(self.spark, f"{self.path}/offsets/{batch}")
        found = text.splitlines()
        if len(found) < lines:
            raise ConfigError(f"offset log entry {batch} of checkpoint {self.path} is damaged")
        return found

    def source_offsets(self, batch: int) -> dict[str, dict[str, int]]:
        """{topic: {partition: offset}} where batch ``batch`` ends (partitions as text)."""
        offsets = json.loads(self._offset_entry(batch, 3)[2])
        return {t: {str(p): int(o) for p, o in parts.items()} for t, parts in offsets.items()}

    def batch_watermark_ms(self, batch: int) -> int:
        """The event-time watermark batch ``batch`` ran with, in epoch milliseconds."""
        return int(json.loads(self._offset_entry(batch, 2)[1]).get("batchWatermarkMs", 0))

    def late_watermark_ms(self, batch: int) -> int:
        """The watermark below which batch ``batch`` drops rows as late.

        Spark filters late rows in batch N against the watermark recorded with
        batch N-1 (its offset log entry); 0 before that.
        """
        return self.batch_watermark_ms(batch - 1) if batch > 0 else 0

    def next_watermark_ms(self, batch: int) -> int:
        """``nextBatchWatermarkMs`` of batch ``batch``'s commit log entry (0 when absent)."""
        text = fs.read_text(self.spark, f"{self.path}/commits/{batch}")
        for line in text.splitlines()[1:]:
            try:
                value = json.loads(line)
            except ValueError:
                continue
            if isinstance(value, dict):
                return int(value.get("nextBatchWatermarkMs") or 0)
        return 0

    def committed_offsets(self) -> dict[str, dict[str, int]]:
        """Where the last committed batch ends (empty before the first commit)."""
        batch = self.last_done()
        return {} if batch is None else self.source_offsets(batch)


def stream_fingerprint(pipeline: Pipeline) -> dict[str, Any]:
    """What a checkpoint cannot survive: source, keys, event time, stateful plan, state schema."""
    kafka = pipeline.source.kafka
    types = {c.name: c.type_name for c in pipeline.columns}
    return {
        "source": {"topic": kafka.topic, "pattern": kafka.pattern} if kafka else None,
        "keys": list(pipeline.keys),
        "key_types": [types[k] for k in pipeline.keys],
        "event_time": pipeline.event_time,
        "event_time_type": types[pipeline.event_time],
        "plan": PLAN_VERSION,
    }


@dataclass(frozen=True)
class CheckpointInfo:
    """The checkpoint a run uses, and where a new one starts reading."""

    path: str
    checkpoint_id: str
    created: bool
    archived: str | None = None
    start: dict[str, Any] | None = None  # see CheckpointGuard: carried offsets or a replay
    app_id: str | None = None  # txnAppId of bronze's idempotent appends

    @property
    def rewrite_until(self) -> dict[str, dict[str, int]] | None:
        """After ``--replay-from``: offsets below which bronze already held rows."""
        return (self.start or {}).get("rewrite_until")

    @property
    def starting_offsets(self) -> str | None:
        """``startingOffsets`` for the query (None: the configured one)."""
        if not self.start:
            return None
        offsets = self.start.get("starting_offsets")
        return json.dumps(offsets, sort_keys=True) if isinstance(offsets, dict) else offsets

    @property
    def watermark_floor_ms(self) -> int:
        """The old checkpoint's next-batch watermark, carried over a reset (0: none)."""
        return int((self.start or {}).get("watermark_floor_ms") or 0)


class CheckpointGuard:
    """Refuses a checkpoint the config cannot resume; starts, resumes or resets one.

    - A checkpoint made for another source, other keys or another stateful
      plan cannot be resumed: :meth:`verify` raises a ConfigError naming the
      difference and ``--reset-checkpoint``, before anything is written.
    - A checkpoint made on another Kafka cluster (its id is kept in the
      marker) cannot be resumed either: its offsets mean nothing there.
    - A checkpoint with committed batches but no offset log (a partial
      restore, a cleanup job) is refused, never restarted: re-reading from
      ``starting_offsets`` would skip or repeat what it had committed.
    - ``reset`` archives the old checkpoint and starts the new one where the
      old one had committed its last batch (the last ``offsets/N`` that has
      ``commits/N``): nothing produced since is skipped and nothing already
      written is read again. Partitions the old checkpoint did not know
      start from their earliest offset (as Spark would read a new
      partition), topics it did not read from ``starting_offsets``. The old
      checkpoint's next-batch watermark is carried over, so an event the old
      query would have judged late is judged late by the new one too.
    - ``replay_from`` (``earliest``/``latest``, with ``reset``) starts the new
      checkpoint there instead, as a new stream: with ``earliest`` the topic
      is read again, and its first micro-batch has no watermark yet, so
      events quarantined as late before are judged on time this time and go
      to bronze (their quarantine rows stay).
    """

    def __init__(
        self,
        spark: SparkSession,
        path: str,
        pipeline: Pipeline,
        *,
        reset: bool = False,
        replay_from: str | None = None,
    ):
        if replay_from is not None and replay_from not in REPLAY_CHOICES:
            raise ConfigError(f"replay from {replay_from!r}: use earliest or latest")
        self.spark = spark
        self.path = path.rstrip("/")
        self.marker = f"{self.path}/{FINGERPRINT_FILE}"
        self.pipeline = pipeline
        self.reset = reset
        self.replay_from = replay_from
        self.wanted = stream_fingerprint(pipeline)
        self.log = CheckpointLog(spark, self.path)

    def _stored(self) -> dict[str, Any] | None:
        if not fs.exists(self.spark, self.marker):
            return None
        return json.loads(fs.read_text(self.spark, self.marker))

    def verify(self) -> dict[str, Any] | None:
        """The stored marker when it matches (None for a new checkpoint); reads only."""
        if self.reset:
            return None
        stored = self._stored()
        if stored is not None:
            if stored.get("fingerprint") != self.wanted:
                changes = _differences(stored.get("fingerprint") or {}, self.wanted)
                raise ConfigError(
                    f"checkpoint {self.path} was made for {changes}; it cannot be resumed with "
                    "this config: run again with --reset-checkpoint to archive it and start "
                    "where it stopped"
                )
            return stored
        if self.log.logged or self.log.committed:
            raise ConfigError(
                f"checkpoint {self.path} has progress but no {FINGERPRINT_FILE}: it was not made "
                "by this job; run with --reset-checkpoint to archive it and start a new one"
            )
        return None

    def open(
        self,
        kafka: KafkaView | None = None,
        now: datetime | None = None,
        written_offsets: Callable[[], dict[str, dict[str, int]]] | None = None,
    ) -> CheckpointInfo:
        """Resume the checkpoint, or start one (new, or reset: archive the old one first).

        ``kafka`` is what the brokers say now (cluster id, partitions).
        ``written_offsets`` tells, for a replay, the offsets bronze holds up to
        (so the replay does not append them again).

        Bronze's appends use the marker's ``bronze_app_id``: new with every
        new checkpoint and whenever batch numbering starts again at 0 (the
        unlogged start set aside), or Delta would skip every batch up to the
        old id's last version in silence.
        """
        now = now or datetime.now(timezone.utc)
        stored = self.verify()
        if stored is not None:
            self._same_cluster(stored, kafka)
            changed = False
            if self._set_aside_unlogged_start(now, stored) is not None:
                stored["bronze_app_id"] = uuid.uuid4().hex  # numbering starts at 0 again
                changed = True
            if kafka is not None and kafka.cluster_id and not stored.get("kafka_cluster_id"):
                stored["kafka_cluster_id"] = kafka.cluster_id  # made before ids were kept
                changed = True
            if changed:
                self._write_marker(stored)
            checkpoint_id = stored.get("checkpoint_id", "unknown")
            return CheckpointInfo(
                self.path,
                checkpoint_id,
                created=False,
                start=stored.get("start"),
                app_id=stored.get("bronze_app_id") or checkpoint_id,
            )
        archived = None
        start: dict[str, Any] | None = None
        if self.reset and fs.exists(self.spark, self.path):
            start = self._start_after_reset(kafka)
            archived = f"{self.path}.archived-{now.strftime('%Y%m%dT%H%M%SZ')}"
            fs.rename(self.spark, self.path, archived)
            start["archived"] = archived
            log.warning(
                "checkpoint %s archived to %s; the new one starts %s",
                self.path,
                archived,
                _describe_start(start),
            )
        elif self.replay_from is not None:
            start = {"starting_offsets": self.replay_from, "replay_from": self.replay_from}
        replay = start is not None and start.get("replay_from") and not start.get("new_cluster")
        if replay and written_offsets is not None:
            start["rewrite_until"] = written_offsets()
        checkpoint_id = uuid.uuid4().hex
        body = {
            "pipeline": self.pipeline.name,
            "checkpoint_id": checkpoint_id,
            "bronze_app_id": checkpoint_id,
            "created_at": now.isoformat(),
            "fingerprint": self.wanted,
            "kafka_cluster_id": kafka.cluster_id if kafka is not None else None,
            "start": start,
        }
        self._write_marker(body)
        self.reset = False  # a restart after a transient failure resumes this new checkpoint
        return CheckpointInfo(
            self.path,
            checkpoint_id,
            created=True,
            archived=archived,
            start=start,
            app_id=checkpoint_id,
        )

    def mark_written(self) -> None:
        """Note in the marker, before the sink's first write, that this checkpoint writes:
        from then on a checkpoint without an offset log is damaged, not unlogged."""
        stored = self._stored() or {}
        if not stored.get("written"):
            stored["written"] = True
            self._write_marker(stored)

    def pending_batch(self) -> int | None:
        """The batch Spark logged but did not commit: it runs that one again first."""
        return self.log.pending()

    def _write_marker(self, body: dict[str, Any]) -> None:
        fs.write_text(self.spark, self.marker, json.dumps(body, indent=2, sort_keys=True) + "\n")

    def _same_cluster(self, stored: dict[str, Any], kafka: KafkaView | None) -> None:
        made_on = stored.get("kafka_cluster_id")
        if kafka is None or not made_on or not kafka.cluster_id or made_on == kafka.cluster_id:
            return
        raise ConfigError(
            f"checkpoint {self.path} was made on Kafka cluster {made_on}, but the brokers of "
            f"`source.kafka` are cluster {kafka.cluster_id}: its offsets mean nothing there; "
            "run with --reset-checkpoint --replay-from earliest (or latest) to read this "
            "cluster's topic as a new stream"
        )

    def _start_after_reset(self, kafka: KafkaView | None) -> dict[str, Any]:
        """Where the checkpoint that replaces this one starts (read before archiving it)."""
        if self.replay_from is not None:
            made_on = (self._stored() or {}).get("kafka_cluster_id")
            moved = bool(kafka and kafka.cluster_id and made_on and made_on != kafka.cluster_id)
            return {
                "starting_offsets": self.replay_from,
                "replay_from": self.replay_from,
                "new_cluster": moved,  # bronze's offsets are another cluster's: no overlap
            }
        if not self.log.committed:  # nothing reached the sink: a new stream from starting_offsets
            return {"starting_offsets": None, "batch": None}
        batch = self.log.last_done()
        if batch is None:
            raise ConfigError(
                f"checkpoint {self.path} has committed batches but not their offset log, so "
                "where it stopped is unknown: run with --reset-checkpoint --replay-from "
                "earliest (read the topic again) or latest (skip to its end)"
            )
        stored = self._stored() or {}
        made_on = stored.get("kafka_cluster_id")
        if kafka is not None and made_on and kafka.cluster_id and made_on != kafka.cluster_id:
            raise ConfigError(
                f"checkpoint {self.path} was made on Kafka cluster {made_on}, now it is "
                f"{kafka.cluster_id}: its offsets cannot be carried over; add --replay-from "
                "earliest (or latest)"
            )
        carried = self.log.source_offsets(batch)
        floor = self.log.next_watermark_ms(batch)
        return {
            "batch": batch,
            "carried_offsets": carried,
            "starting_offsets": _starting_offsets(
                carried,
                kafka,
                self.pipeline.source.kafka.starting_offsets,  # type: ignore[union-attr]
            ),
            "watermark_floor_ms": floor,
        }

    def _set_aside_unlogged_start(self, now: datetime, stored: dict[str, Any]) -> str | None:
        """Move aside what a query killed before logging its first batch left behind.

        Spark writes ``offsets/0`` (a temporary file, then a rename) before batch
        0 reads a row. A kill in between leaves only temporary files there;
        Spark then starts the query as new and refuses the folder because it is
        not empty (STATE_STORE_CHECKPOINT_LOCATION_NOT_EMPTY), on every restart.
        With no batch logged nothing reached the sink, so those folders are
        moved into ``_unlogged-<time>/`` and the query starts from where this
        checkpoint was set to start, as it would have. Returns that folder, if
        any. A checkpoint whose ``commits/`` has numbered files did reach the
        sink: without its offset log it is damaged, and it is refused.
        """
        if self.log.logged:
            return None
        committed = self.log.committed
        if committed or stored.get("written"):
            what = (
                f"committed batches ({len(committed)}, last {committed[-1]})"
                if committed
                else "written to bronze"
            )
            raise ConfigError(
                f"checkpoint {self.path} has {what} but no offset log: it is damaged (a "
                "partial restore or a cleanup?); restore its offsets/ folder, or run with "
                "--reset-checkpoint --replay-from earliest|latest"
            )
        leftovers = [
            folder
            for folder in ("offsets", "state", "commits")
            if fs.list_names(self.spark, f"{self.path}/{folder}")
        ]
        if not leftovers:
            return None
        aside = f"{self.path}/_unlogged-{now.strftime('%Y%m%dT%H%M%S%fZ')}"
        fs.mkdirs(self.spark, aside)
        for folder in leftovers:
            fs.rename(self.spark, f"{self.path}/{folder}", f"{aside}/{folder}")
        log.warning(
            "checkpoint %s: a run was killed before it logged its first batch; "
            "moved its leftover %s to %s",
            self.path,
            ", ".join(leftovers),
            aside,
        )
        return aside


def _starting_offsets(
    carried: dict[str, dict[str, int]], kafka: KafkaView | None, configured: str
) -> dict[str, dict[str, int]] | str:
    """``startingOffsets`` JSON for a reset: every partition Spark will assign, from the
    carried offsets, else earliest (-2) for a new partition of a carried topic, else the
    configured start for a topic the old checkpoint did not read."""
    if kafka is None:
        return carried
    start_of = {"earliest": -2, "latest": -1}
    explicit: dict[str, dict[str, int]] = {}
    if configured not in start_of:
        explicit = json.loads(configured)
    out: dict[str, dict[str, int]] = {}
    for topic, parts in kafka.partitions.items():
        old = carried.get(topic)
        chosen = {}
        for part in parts:
            key = str(part)
            if old is not None:
                chosen[key] = old.get(key, -2)
            else:
                chosen[key] = int(explicit.get(topic, {}).get(key, start_of.get(configured, -2)))
        out[topic] = chosen
    return out


def _describe_start(start: dict[str, Any]) -> str:
    if start.get("replay_from"):
        return f"from the {start['replay_from']} offsets (a replay)"
    if start.get("batch") is None:
        return "from starting_offsets (the old one had committed nothing)"
    return f"after its batch {start['batch']}: {json.dumps(start.get('starting_offsets'))}"


def _differences(old: dict[str, Any], new: dict[str, Any]) -> str:
    parts = [
        f"{key}={json.dumps(old.get(key))} (now {json.dumps(new.get(key))})"
        for key in sorted(set(old) | set(new))
        if old.get(key) != new.get(key)
    ]
    return ", ".join(parts) or "another configuration"
