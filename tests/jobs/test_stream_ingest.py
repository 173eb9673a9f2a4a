"""stream_ingest against a real broker and real Delta tables, run in-process."""

from __future__ import annotations

import dataclasses
import json
import shutil
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from datagen.orders import generate, produce
from lakehouse.stream import BronzeSink
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.stream import T0, StreamHarness, keys, order, raw

pytestmark = pytest.mark.kafka


@pytest.fixture
def harness(tmp_path, kafka_bootstrap, kafka_topic, capsys, monkeypatch):
    return StreamHarness(tmp_path, kafka_bootstrap, kafka_topic, capsys, monkeypatch)


def test_duplicates_within_and_across_batches_leave_one_row_per_key(spark, harness):
    events = generate(400, seed=3, start=T0, dup_share=0.2)
    distinct = sorted({e.order_id for e in events})
    harness.configure(kafka={"max_offsets_per_trigger": 60})  # ~7 batches: dups cross batches
    harness.produce(events)

    code, record = harness.run()

    assert code == 0 and record["status"] == "success"
    bronze = harness.bronze(spark)
    assert keys(bronze) == distinct  # one row per key, no key missing
    assert record["rows_in"] == 400 and record["rows_out"] == len(distinct)
    assert record["details"]["duplicates"] == 400 - len(distinct) == 80
    assert record["details"]["batches"] >= 7
    # Kafka metadata and the partition column are kept
    row = bronze.orderBy("order_id").first()
    assert row.kafka_topic == harness.topic and row.kafka_offset >= 0
    assert row.event_date == row.event_time.date() and row.ingested_at is not None


def test_bad_events_are_quarantined_and_good_ones_in_the_same_batch_land(spark, harness):
    good = [order(f"g{i}", T0 + timedelta(minutes=i)) for i in range(3)]
    bad = [
        raw(b"not json"),
        raw(None),
        raw(b'{"amount": 1, "event_time": "2026-11-25T10:00:00Z"}'),
        raw(b'{"order_id": "x1", "amount": "a lot", "event_time": "2026-11-25T10:00:00Z"}'),
        raw(b'{"order_id": "x2", "event_time": "yesterday"}'),
    ]
    harness.produce([good[0], *bad[:3], good[1], *bad[3:], good[2]])

    code, record = harness.run()

    assert code == 0
    assert keys(harness.bronze(spark)) == ["g0", "g1", "g2"]
    got = sorted(
        (r.raw_value or "", r.reason, r.detail) for r in harness.quarantine(spark).collect()
    )
    assert got == sorted(
        [
            ("not json", "malformed_json", "not a JSON object"),
            ("", "malformed_json", "empty value"),
            (
                '{"amount": 1, "event_time": "2026-11-25T10:00:00Z"}',
                "missing_field",
                "missing: order_id",
            ),
            (
                '{"order_id": "x1", "amount": "a lot", "event_time": "2026-11-25T10:00:00Z"}',
                "wrong_type",
                "not of the declared type: amount",
            ),
            (
                '{"order_id": "x2", "event_time": "yesterday"}',
                "wrong_type",
                "not of the declared type: event_time",
            ),
        ]
    )
    q = harness.quarantine(spark).first()
    assert q.kafka_topic == harness.topic and q.run_id == record["run_id"] and q.raw_key == "bad"
    assert record["details"]["quarantined_by_reason"] == {
        "malformed_json": 2,
        "missing_field": 1,
        "wrong_type": 2,
    }
    assert record["rows_quarantined"] == 5


@pytest.mark.parametrize("late_events", ["quarantine", "drop"])
def test_late_events_are_counted_and_handled_per_config(spark, harness, late_events):
    harness.configure(stream={"late_events": late_events})
    # first run: the newest event is 12:00, so the watermark becomes 11:00
    harness.produce([order("a", T0), order("b", T0 + timedelta(hours=2))])
    assert harness.run()[0] == 0
    late_wm = T0 + timedelta(hours=1)
    harness.produce(
        [
            order("late1", T0 + timedelta(minutes=10)),
            order("edge", late_wm),  # exactly at the watermark: late (Spark drops <= watermark)
            order("ontime", late_wm + timedelta(milliseconds=1)),
            order("b", T0 + timedelta(hours=2)),  # a duplicate, not late
        ]
    )

    code, record = harness.run()

    assert code == 0
    assert keys(harness.bronze(spark)) == ["a", "b", "ontime"]
    assert record["details"]["late"] == 2 and record["details"]["duplicates"] == 1
    quarantined = sorted(
        (json.loads(r.raw_value)["order_id"], r.reason) for r in harness.quarantine(spark).collect()
    )
    if late_events == "quarantine":
        assert quarantined == [("edge", "late"), ("late1", "late")]
        assert record["rows_quarantined"] == 2
    else:
        assert quarantined == [] and record["rows_quarantined"] == 0


def test_restart_continues_and_an_empty_rerun_changes_nothing(spark, harness):
    harness.produce([order(f"a{i}", T0 + timedelta(seconds=i)) for i in range(5)])
    assert harness.run()[0] == 0
    bronze_versions = harness.versions(spark)
    quarantine_versions = harness.versions(spark, str(harness.lake / "quarantine" / "orders"))

    code, record = harness.run()  # nothing new in the topic

    assert code == 0 and record["rows_in"] == 0
    assert harness.versions(spark) == bronze_versions
    assert harness.versions(spark, str(harness.lake / "quarantine" / "orders")) == (
        quarantine_versions
    )

    harness.produce([order(f"b{i}", T0 + timedelta(seconds=i)) for i in range(3)])
    code, record = harness.run()
    assert code == 0 and record["rows_in"] == 3 and record["rows_out"] == 3
    assert len(keys(harness.bronze(spark))) == 8


def test_a_replayed_batch_writes_nothing_twice(spark, harness):
    events = [order(f"r{i}", T0 + timedelta(seconds=i)) for i in range(20)] + [raw(b"{oops")]
    harness.produce(events)
    assert harness.run()[0] == 0
    # as if the driver died after batch 0 wrote its rows but before Spark recorded its
    # commit: Spark runs batch 0 again with the same offsets
    for folder in ("commits", "offsets"):
        for f in (harness.checkpoint / folder).iterdir():
            if f.name != "0" or folder == "commits":
                f.unlink()

    code, record = harness.run()

    assert code == 0 and record["rows_in"] == 21  # the events were read again...
    assert record["rows_out"] == 0 and record["rows_quarantined"] == 0  # ...and written once only
    assert len(keys(harness.bronze(spark))) == 20
    assert harness.quarantine(spark).count() == 1


def test_a_run_killed_before_its_first_batch_was_logged_does_not_wedge_the_checkpoint(
    spark, harness
):
    assert harness.run()[0] == 0  # an empty topic: the marker is written, bronze is not
    # as if kill -9 hit that first run while Spark wrote offsets/0: only the temporary
    # file of that write is left (found by chaos seed 203278)
    for folder in ("offsets", "commits", "state"):
        shutil.rmtree(harness.checkpoint / folder, ignore_errors=True)
    (harness.checkpoint / "offsets").mkdir()
    (harness.checkpoint / "offsets" / ".0.5f0c.tmp").write_text("v1\n{")
    marker = json.loads((harness.checkpoint / "_lakehouse_checkpoint.json").read_text())
    harness.produce([order(f"u{i}", T0 + timedelta(seconds=i)) for i in range(6)])

    code, record = harness.run()

    assert code == 0, record["error_message"]
    assert record["rows_in"] == 6 and record["rows_out"] == 6
    assert len(keys(harness.bronze(spark))) == 6
    (aside,) = harness.checkpoint.glob("_unlogged-*")
    assert (aside / "offsets" / ".0.5f0c.tmp").is_file()
    assert (harness.checkpoint / "commits" / "0").is_file()
    after = json.loads((harness.checkpoint / "_lakehouse_checkpoint.json").read_text())
    # batch numbering starts at 0 again: bronze's appends get a new transaction app id
    assert after["bronze_app_id"] != marker["bronze_app_id"] and after["written"] is True


def test_a_checkpoint_that_wrote_but_lost_its_whole_log_is_refused(spark, harness):
    harness.produce([order(f"w{i}", T0 + timedelta(seconds=i)) for i in range(4)])
    assert harness.run()[0] == 0
    for folder in ("offsets", "commits", "state"):  # everything but the marker gone
        shutil.rmtree(harness.checkpoint / folder)
    versions = harness.versions(spark)

    code, record = harness.run()

    assert code == 2 and "written to bronze but no offset log" in record["error_message"]
    assert harness.versions(spark) == versions and len(keys(harness.bronze(spark))) == 4


def key_back_after_its_state_expired(harness, first: datetime, back: datetime):
    """k at ``first``; the watermark moves past k's state; k again at ``back``."""
    harness.produce([order("k", first), order("x", first + timedelta(hours=3))])
    assert harness.run()[0] == 0
    harness.produce([order("y", first + timedelta(hours=4))])
    assert harness.run()[0] == 0
    harness.produce([order("k", back)])
    return harness.run()


def test_keys_mode_a_key_back_after_its_dedup_state_expired_is_not_inserted_again(spark, harness):
    harness.configure(bronze={"table": "bronze.orders", "dedup": "keys"})
    # same day, newer than the late watermark: only the key MERGE can catch it now
    code, record = key_back_after_its_state_expired(
        harness, T0, T0 + timedelta(hours=3, minutes=30)
    )

    assert code == 0 and record["details"]["late"] == 0
    assert record["rows_out"] == 0 and record["details"]["duplicates"] == 1
    rows = harness.bronze(spark).filter("order_id = 'k'").collect()
    assert len(rows) == 1 and rows[0].event_time == T0.replace(tzinfo=None)


def test_keys_mode_a_key_back_on_a_later_day_is_not_inserted_again(spark, harness):
    harness.configure(bronze={"table": "bronze.orders", "dedup": "keys", "key_lookback": "1d"})
    late_evening = datetime(2026, 11, 25, 23, 30, tzinfo=timezone.utc)
    # k first seen in the last hour of the 25th; a copy past its dedup state can only be
    # newer by at least the watermark delay: the 26th
    code, record = key_back_after_its_state_expired(
        harness, late_evening, late_evening + timedelta(hours=3, minutes=30)
    )

    assert code == 0 and record["details"]["late"] == 0
    assert record["rows_out"] == 0 and record["details"]["duplicates"] == 1
    rows = harness.bronze(spark).filter("order_id = 'k'").collect()
    assert [str(r.event_date) for r in rows] == ["2026-11-25"]


def test_watermark_mode_keeps_each_event_once_within_the_watermark_only(spark, harness):
    # the default: idempotent appends; a key re-sent after its state expired is a second
    # row, as documented (bronze.dedup: keys catches it)
    code, record = key_back_after_its_state_expired(
        harness, T0, T0 + timedelta(hours=3, minutes=30)
    )
    assert code == 0 and record["rows_out"] == 1
    assert harness.bronze(spark).filter("order_id = 'k'").count() == 2


def test_checkpoint_the_config_cannot_resume_is_refused_then_reset(spark, harness):
    harness.produce([order(f"c{i}", T0 + timedelta(seconds=i)) for i in range(4)])
    assert harness.run()[0] == 0
    harness.configure(keys=["order_id", "status"])
    versions = harness.versions(spark)

    code, record = harness.run()

    assert code == 2
    assert (
        "was made for key_types" in record["error_message"] or "keys=" in (record["error_message"])
    )
    assert "--reset-checkpoint" in record["error_message"]
    assert harness.versions(spark) == versions  # nothing written

    code, record = harness.run("--reset-checkpoint")

    assert code == 0
    archived = record["details"]["checkpoint_archived"]
    assert archived and Path(archived).is_dir()
    # the new checkpoint starts where the old one stopped: nothing to read again
    assert record["rows_in"] == 0 and record["details"]["checkpoint_start"]["batch"] >= 0
    assert len(keys(harness.bronze(spark))) == 4


def test_a_reset_reads_what_was_produced_since_the_last_commit_even_with_latest(spark, harness):
    harness.produce([order(f"a{i}", T0 + timedelta(seconds=i)) for i in range(4)])
    assert harness.run()[0] == 0
    harness.produce([order(f"b{i}", T0 + timedelta(minutes=1, seconds=i)) for i in range(3)])
    harness.configure(keys=["order_id", "status"], kafka={"starting_offsets": "latest"})
    assert harness.run()[0] == 2  # a change the checkpoint cannot survive

    code, record = harness.run("--reset-checkpoint")

    assert code == 0, record["error_message"]
    assert record["rows_in"] == 3 and record["rows_out"] == 3  # not skipped by `latest`
    assert len(keys(harness.bronze(spark))) == 7


def test_a_reset_keeps_late_events_late_and_out_of_bronze(spark, harness):
    harness.produce([order("x", T0 + timedelta(hours=3))])
    assert harness.run()[0] == 0  # the watermark moves to T0 + 2h
    harness.produce([order("late", T0)])
    code, record = harness.run()
    assert code == 0 and record["details"]["late"] == 1
    harness.configure(keys=["order_id", "status"])
    assert harness.run()[0] == 2

    code, record = harness.run("--reset-checkpoint")

    assert code == 0 and record["rows_in"] == 0  # the late event is not read again
    assert keys(harness.bronze(spark)) == ["x"]
    assert [r.reason for r in harness.quarantine(spark).collect()] == ["late"]
    # the old watermark is carried: an event the old query would call late is late now too
    harness.produce([order("late2", T0 + timedelta(hours=1)), order("y", T0 + timedelta(hours=4))])
    code, record = harness.run()
    assert code == 0 and record["details"]["late"] == 1 and record["rows_out"] == 1
    assert keys(harness.bronze(spark)) == ["x", "y"]
    assert sorted(r.reason for r in harness.quarantine(spark).collect()) == ["late", "late"]


def test_a_replay_from_earliest_reads_the_topic_again_as_a_new_stream(spark, harness):
    harness.produce([order("x", T0 + timedelta(hours=3))])
    assert harness.run()[0] == 0
    harness.produce([order("late", T0)])
    assert harness.run()[0] == 0
    code, record = harness.run("--replay-from", "earliest")
    assert code == 2 and "--replay-from goes with --reset-checkpoint" in record["error_message"]

    code, record = harness.run("--reset-checkpoint", "--replay-from", "earliest")

    assert code == 0 and record["rows_in"] == 2
    # as documented: the replay's first batch has no watermark, so the event once
    # quarantined as late is on time now; its quarantine row stays
    assert keys(harness.bronze(spark)) == ["late", "x"]
    assert harness.quarantine(spark).count() == 1


def test_a_checkpoint_with_commits_but_no_offset_log_is_refused_not_restarted(spark, harness):
    harness.produce([order(f"d{i}", T0 + timedelta(seconds=i)) for i in range(3)])
    assert harness.run()[0] == 0
    for f in (harness.checkpoint / "offsets").iterdir():  # e.g. a partial restore
        f.unlink()
    versions = harness.versions(spark)

    code, record = harness.run()

    assert code == 2 and "has committed batches" in record["error_message"]
    assert "damaged" in record["error_message"]
    assert (harness.checkpoint / "commits" / "0").is_file()  # nothing moved aside
    assert not list(harness.checkpoint.glob("_unlogged-*"))
    assert harness.versions(spark) == versions
    code, record = harness.run("--reset-checkpoint")  # where it stopped is unknown
    assert code == 2 and "--replay-from" in record["error_message"]
    code, record = harness.run("--reset-checkpoint", "--replay-from", "earliest")
    assert code == 0 and record["rows_in"] == 3 and record["rows_out"] == 0


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trigger", "sometimes"], "invalid trigger 'sometimes'"),
        (["--trigger", "processing_time=soon"], "bad duration 'soon'"),
        (["--max-batches", "0"], "at least 1"),
    ],
)
def test_bad_arguments_exit_2_and_write_nothing(harness, args, message):
    code, record = harness.run(*args)
    assert code == 2 and message in record["error_message"]
    assert not harness.lake.exists()


def test_a_pipeline_without_a_stream_section_is_refused(harness):
    pipe = pipeline_yaml()
    del pipe["stream"]
    harness.conf = write_conf(harness.tmp_path, pipelines={"orders": pipe})
    code, record = harness.run()
    assert code == 2 and "cannot be streamed" in record["error_message"]
    assert not (harness.lake / "bronze").exists()


def test_unreachable_broker_exits_75_after_the_retry_budget(harness, tmp_path):
    harness.configure(kafka={"bootstrap_servers": "127.0.0.1:9"})  # nothing listens on port 9
    code, record = harness.run()
    assert code == 75
    assert record["error_message"].startswith("gave up after 2 attempt(s): Kafka at 127.0.0.1:9")
    assert not (harness.lake / "bronze").exists()
    assert not harness.checkpoint.exists()


def test_max_batches_stops_after_that_many(spark, harness):
    harness.configure(kafka={"max_offsets_per_trigger": 10})
    harness.produce([order(f"m{i}", T0 + timedelta(seconds=i)) for i in range(50)])
    code, record = harness.run("--max-batches", "2")
    assert code == 0 and record["details"]["ended_by"] == "max_batches"
    # maxOffsetsPerTrigger is an upper bound: Spark floors each partition's share of it
    per_batch = [b["input_rows"] for b in record["details"]["batch_metrics"]]
    assert record["details"]["batches"] == 2 and len(per_batch) == 2
    assert all(0 < n <= 10 for n in per_batch) and record["rows_in"] == sum(per_batch)
    code, record = harness.run()  # the rest, without losing or repeating any
    assert code == 0
    assert len(keys(harness.bronze(spark))) == 50


# ---------------------------------------------------------------- quality rules per micro-batch

STREAM_RULES = [
    {"rule": "range", "column": "amount", "min": 0, "on_fail": "quarantine"},
    {"rule": "accepted_values", "column": "status", "values": ["paid", "placed"]},
    {"rule": "regex", "column": "order_id", "pattern": "^[a-z]", "on_fail": "drop"},
    {"rule": "row_count", "min": 1000, "on_fail": "fail"},  # dataset rule: batch_load only
]


def test_row_rules_quarantine_with_rule_names_drop_and_warn(spark, harness):
    harness.configure(quality=STREAM_RULES)
    harness.produce(
        [
            order("g1", T0),
            order("neg", T0, amount=-3, status="lost"),  # range + accepted_values
            order("9up", T0 + timedelta(minutes=1)),  # regex: dropped
            order("g2", T0, status="lost"),  # accepted_values: warned, kept
        ]
    )
    code, record = harness.run()
    assert code == 0, record
    assert keys(harness.bronze(spark)) == ["g1", "g2"]
    q = harness.quarantine(spark).collect()
    assert [(r.reason, r.detail) for r in q] == [
        ("quality", "rules: range_amount, accepted_values_status")
    ]
    assert json.loads(q[0].raw_value)["order_id"] == "neg" and q[0].kafka_offset >= 0
    d = record["details"]
    assert d["quarantined_by_reason"] == {"quality": 1} and record["rows_quarantined"] == 1
    assert d["quality_dropped"] == 1 and d["duplicates"] == 0
    assert d["quality"]["broken"] == {
        "range_amount": 1,
        "accepted_values_status": 2,
        "regex_order_id": 1,
    }
    stored = spark.read.format("delta").load(str(harness.lake / "_ops" / "quality"))
    assert stored.where(f"run_id = '{record['run_id']}'").count() == 3  # row rules only

    # the same bad event again: the rules judge it before the dedup (its refused first
    # copy never entered the dedup state), so it is quarantined again under its own
    # offset, not counted as a duplicate; bronze is not touched
    bronze_versions = harness.versions(spark)
    harness.produce([order("neg", T0, amount=-3, status="lost")])
    code, again = harness.run()
    assert code == 0 and again["details"]["duplicates"] == 0
    assert again["rows_quarantined"] == 1 and again["details"]["quarantined_by_reason"] == {
        "quality": 1
    }
    assert harness.versions(spark) == bronze_versions and harness.quarantine(spark).count() == 2


@pytest.mark.parametrize("dedup", ["watermark", "keys"])
def test_a_corrected_resend_of_a_quarantined_event_lands_in_bronze(spark, harness, dedup):
    harness.configure(
        bronze={"table": "bronze.orders", "dedup": dedup},
        quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "quarantine"}],
    )
    bad = order("neg", T0, amount=-3)
    harness.produce([order("a", T0), bad])
    code, record = harness.run()
    assert code == 0, record
    assert keys(harness.bronze(spark)) == ["a"] and record["rows_quarantined"] == 1

    # the producer fixes the amount and sends the event again, well within the
    # watermark delay (1 hour): the refused copy never entered the dedup state
    harness.produce([order("neg", T0, amount=3)])
    code, record = harness.run()

    assert code == 0, record
    fixed = harness.bronze(spark).filter("order_id = 'neg'").collect()
    assert [float(r.amount) for r in fixed] == [3.0], "the correction is not in bronze"
    assert record["rows_out"] == 1 and record["details"]["duplicates"] == 0
    (q,) = harness.quarantine(spark).collect()  # the bad copy, as it was sent
    assert (q.raw_key, q.raw_value, q.reason, q.detail) == (
        "neg",
        bad.value.decode(),
        "quality",
        "rules: range_amount",
    )


@pytest.mark.parametrize("dedup", ["watermark", "keys"])
def test_a_corrected_resend_of_a_dropped_event_lands_in_bronze(spark, harness, dedup):
    harness.configure(
        bronze={"table": "bronze.orders", "dedup": dedup},
        quality=[
            {
                "rule": "expression",
                "name": "has_status",
                "expr": "status IS NOT NULL",
                "on_fail": "drop",
            }
        ],
    )
    harness.produce([order("a", T0), order("s1", T0, status=None)])
    code, record = harness.run()
    assert code == 0, record
    assert keys(harness.bronze(spark)) == ["a"] and record["details"]["quality_dropped"] == 1

    harness.produce([order("s1", T0 + timedelta(minutes=5), status="paid")])
    code, record = harness.run()

    assert code == 0, record
    assert keys(harness.bronze(spark)) == ["a", "s1"], "the correction is not in bronze"
    assert record["rows_out"] == 1 and record["details"]["duplicates"] == 0
    assert record["details"]["quality_dropped"] == 0 and harness.quarantine(spark).count() == 0


def test_a_refused_event_does_not_move_the_watermark_and_a_late_one_stays_late(spark, harness):
    harness.configure(
        quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "quarantine"}]
    )
    # x moves the watermark to T0 + 2h; the refused event, far ahead, does not move it
    harness.produce(
        [order("x", T0 + timedelta(hours=3)), order("ahead", T0 + timedelta(hours=10), amount=-1)]
    )
    assert harness.run()[0] == 0
    harness.produce(
        [
            order("ontime", T0 + timedelta(hours=2, minutes=30)),
            order("latebad", T0, amount=-1),  # late and out of range: late wins
        ]
    )

    code, record = harness.run()

    assert code == 0, record
    assert keys(harness.bronze(spark)) == ["ontime", "x"]
    got = sorted(
        (json.loads(r.raw_value)["order_id"], r.reason) for r in harness.quarantine(spark).collect()
    )
    assert got == [("ahead", "quality"), ("latebad", "late")]
    d = record["details"]
    assert d["late"] == 1 and d["quarantined_by_reason"] == {"late": 1}
    assert d["quality"]["rows_checked"] == 1 and d["quality"]["broken"] == {}


def test_unique_rules_judge_the_kept_events_of_a_micro_batch(spark, harness):
    harness.configure(
        quality=[
            {"rule": "range", "column": "amount", "min": 0, "on_fail": "quarantine"},
            {"rule": "unique", "column": "status", "on_fail": "quarantine"},
        ]
    )
    harness.produce(
        [
            order("a", T0, status="one"),
            order("b", T0, status="two"),
            order("c", T0, status="two"),  # b and c share a status: both break `unique`
            order("b", T0, status="two"),  # a duplicate of b: not judged by `unique`
            order("neg", T0, amount=-1, status="two"),  # refused by `range` before `unique`
        ]
    )

    code, record = harness.run()

    assert code == 0, record
    assert keys(harness.bronze(spark)) == ["a"]
    got = sorted(
        (json.loads(r.raw_value)["order_id"], r.detail) for r in harness.quarantine(spark).collect()
    )
    assert got == [
        ("b", "rules: unique_status"),
        ("c", "rules: unique_status"),
        ("neg", "rules: range_amount"),
    ]
    d = record["details"]
    assert d["batch_metrics"][0]["input_rows"] == 5  # one micro-batch (then a no-data one)
    assert d["duplicates"] == 1 and d["quarantined_by_reason"] == {"quality": 3}
    assert d["quality"]["broken"] == {"range_amount": 1, "unique_status": 2}


def test_a_fail_rule_stops_the_stream_with_exit_3_and_writes_nothing(spark, harness):
    harness.configure(
        quality=[{"rule": "not_null", "column": "status", "on_fail": "fail"}],
    )
    harness.produce([order("g1", T0), order("n1", T0, status=None)])
    code, record = harness.run()
    assert code == 3 and "not_null_status (1 of 2 rows" in record["error_message"]
    assert harness.bronze(spark).count() == 0  # the batch is not committed: read again next run
    assert not list((harness.checkpoint / "commits").glob("[0-9]*"))
    stored = spark.read.format("delta").load(str(harness.lake / "_ops" / "quality"))
    failed = stored.where(f"run_id = '{record['run_id']}'").collect()
    assert [(r.rule, r.rows_failed, r.passed) for r in failed] == [("not_null_status", 1, False)]
    harness.configure(quality=[{"rule": "not_null", "column": "status", "on_fail": "quarantine"}])
    code, record = harness.run()
    assert code == 0 and keys(harness.bronze(spark)) == ["g1"]
    assert record["rows_quarantined"] == 1


def sigterm_while_a_batch_runs(monkeypatch) -> None:
    """A real SIGTERM to this process, sent once a micro-batch's write has begun."""
    import os
    import signal

    from lakehouse.stream.sink import BronzeBatchWriter

    write = BronzeBatchWriter._write

    def signalled_then_write(self, *args, **kwargs):
        os.kill(os.getpid(), signal.SIGTERM)  # the stop arrives while this batch runs
        return write(self, *args, **kwargs)

    monkeypatch.setattr(BronzeBatchWriter, "_write", signalled_then_write)


def test_a_stop_request_does_not_hide_a_failing_micro_batch(spark, harness, monkeypatch):
    harness.configure(quality=[{"rule": "not_null", "column": "status", "on_fail": "fail"}])
    harness.produce([order("g1", T0), order("n1", T0, status=None)])
    sigterm_while_a_batch_runs(monkeypatch)
    code, record = harness.run()

    assert code == 3, record  # the gate's verdict, not a clean "stopped"
    assert record["status"] == "failed" and "not_null_status" in record["error_message"]
    assert harness.bronze(spark).count() == 0


def test_a_stop_during_a_batch_with_row_rules_exits_0_and_keeps_the_rule_results(
    spark, harness, monkeypatch
):
    # after the graceful stop, the run's rule results are still written: a stop
    # must not cancel that write (it once did: exit 75, the results lost)
    harness.configure(quality=[{"rule": "not_null", "column": "status", "on_fail": "warn"}])
    harness.produce([order("g1", T0), order("n1", T0, status=None)])
    sigterm_while_a_batch_runs(monkeypatch)
    code, record = harness.run()

    assert code == 0, record
    assert (record["details"]["ended_by"], record["details"]["signal"]) == ("stopped", "SIGTERM")
    assert keys(harness.bronze(spark)) == ["g1", "n1"]
    stored = spark.read.format("delta").load(str(harness.lake / "_ops" / "quality"))
    (result,) = stored.where(f"run_id = '{record['run_id']}'").collect()
    assert (result.rule, result.rows_failed) == ("not_null_status", 1)


@pytest.mark.slow
def test_a_checkpoint_is_not_resumed_on_another_kafka_cluster(spark, harness, tmp_path):
    import os
    import subprocess

    from confluent_kafka.admin import AdminClient, NewTopic

    from tests.harness.env import ROOT
    from tests.harness.ports import free_port_pair

    harness.produce([order(f"c{i}", T0 + timedelta(seconds=i)) for i in range(5)])
    assert harness.run()[0] == 0
    port = free_port_pair()
    env = {**os.environ, "KAFKA_PORT": str(port), "LAKEHOUSE_KAFKA_DIR": str(tmp_path / "k2")}
    script = str(ROOT / "scripts" / "kafka.sh")
    try:
        started = subprocess.run([script, "start"], env=env, capture_output=True, text=True)
        assert started.returncode == 0, started.stderr
        other = f"127.0.0.1:{port}"
        admin = AdminClient({"bootstrap.servers": other})
        admin.create_topics([NewTopic(harness.topic, 2, 1)])[harness.topic].result(timeout=30)
        produce(other, harness.topic, [order(f"o{i}", T0 + timedelta(seconds=i)) for i in range(2)])
        # the same topic name on another cluster: the old offsets (2-3 per partition) mean
        # nothing here, where the partitions hold one event each
        harness.configure(kafka={"bootstrap_servers": other})
        versions = harness.versions(spark)

        code, record = harness.run()

        assert code == 2 and "was made on Kafka cluster" in record["error_message"]
        assert harness.versions(spark) == versions
        code, record = harness.run("--reset-checkpoint")  # offsets cannot be carried over
        assert code == 2 and "--replay-from" in record["error_message"]
        code, record = harness.run("--reset-checkpoint", "--replay-from", "earliest")
        assert code == 0 and record["rows_in"] == 2 and record["rows_out"] == 2
    finally:
        subprocess.run([script, "stop"], env=env, capture_output=True)


@pytest.mark.parametrize("dedup", ["watermark", "keys"])
def test_fields_outside_the_schema_are_counted_and_kept_with_keep_raw(spark, harness, dedup):
    harness.configure(bronze={"table": "bronze.orders", "dedup": dedup})
    harness.produce([order("a0", T0, coupon="C1"), order("a1", T0 + timedelta(seconds=1))])

    code, record = harness.run()

    assert code == 0, record
    d = record["details"]
    assert d["unknown_field_rows"] == 1 and d["unknown_fields"] == ["coupon"]
    assert d["batch_metrics"][0]["unknown_fields"] == ["coupon"]
    assert "raw_value" not in harness.bronze(spark).columns

    # switched on for the bronze that exists: the raw columns are added, the checkpoint kept
    harness.configure(bronze={"table": "bronze.orders", "dedup": dedup, "keep_raw": True})
    tagged = dataclasses.replace(
        order("b0", T0 + timedelta(seconds=2), coupon="C2", channel="app"),
        headers=(("trace-id", b"t-1"), ("source", b"web")),
    )
    plain = order("b1", T0 + timedelta(seconds=3))
    harness.produce([tagged, plain, raw(b"not json"), tagged])  # and b0 sent twice

    code, record = harness.run()

    assert code == 0, record
    d = record["details"]
    assert record["rows_in"] == 4 and record["rows_out"] == 2 and d["duplicates"] == 1
    assert d["unknown_field_rows"] == 2 and d["unknown_fields"] == ["channel", "coupon"]
    rows = {r.order_id: r for r in harness.bronze(spark).collect()}
    assert sorted(rows) == ["a0", "a1", "b0", "b1"]
    assert rows["a0"].raw_value is None and rows["a0"].raw_headers is None  # written before
    assert json.loads(rows["b0"].raw_value)["coupon"] == "C2"
    assert [(h.key, bytes(h.value)) for h in rows["b0"].raw_headers] == [
        ("trace-id", b"t-1"),
        ("source", b"web"),
    ]
    assert rows["b1"].raw_value == plain.value.decode() and not rows["b1"].raw_headers
    assert [r.reason for r in harness.quarantine(spark).collect()] == ["malformed_json"]

    # and off again: bronze keeps its columns, new rows leave them empty
    harness.configure(bronze={"table": "bronze.orders", "dedup": dedup})
    harness.produce([order("c0", T0 + timedelta(seconds=4))])
    code, record = harness.run()
    assert code == 0 and record["rows_out"] == 1, record
    c0 = harness.bronze(spark).where("order_id = 'c0'").first()
    assert c0.raw_value is None and c0.raw_headers is None


def _kafka_reads(spark) -> list[int]:
    """Rows each Kafka scan of the running query's current micro-batch has produced
    so far (its physical plan's ``MicroBatchScan`` leaves; metrics add up over every
    execution of the plan)."""
    (query,) = spark.streams.active
    plan = query._jsq.streamingQuery().lastExecution().executedPlan()
    leaves = plan.collectLeaves()
    rows = []
    for i in range(leaves.size()):
        leaf = leaves.apply(i)
        if leaf.nodeName() == "MicroBatchScan":
            rows.append(int(leaf.metrics().get("numOutputRows").get().value()))
    return rows


@pytest.mark.parametrize("dedup", ["watermark", "keys"])
def test_each_micro_batch_is_read_and_parsed_once(spark, harness, monkeypatch, dedup):
    """One Kafka read per micro-batch, counted after the sink wrote bronze (an idempotent
    append or a MERGE) and the quarantine (a MERGE): nothing in the sink ran the batch's
    plan again, and the `seen` branch reads the dedup's shuffle, not Kafka."""
    harness.configure(
        bronze={"table": "bronze.orders", "dedup": dedup},
        kafka={"max_offsets_per_trigger": 120},
        quality=STREAM_RULES,
    )
    events = generate(300, seed=5, start=T0, dup_share=0.1, malformed_share=0.05)
    harness.produce([*events, order("neg", T0, amount=-3, status="lost")])
    reads: list[tuple[int, list[int]]] = []
    call = BronzeSink.__call__

    def counted(sink, batch_df, batch_id):
        call(sink, batch_df, batch_id)
        reads.append((sink.batch_details()[-1]["input_rows"], _kafka_reads(spark)))

    monkeypatch.setattr(BronzeSink, "__call__", counted)

    code, record = harness.run()

    assert code == 0, record
    assert record["rows_in"] == 301 and record["rows_quarantined"] == 15 + 1
    with_rows = [(n, scans) for n, scans in reads if n]
    assert len(with_rows) == 3  # 120 + 120 + 61
    assert all(scans == [n] for n, scans in with_rows), reads
