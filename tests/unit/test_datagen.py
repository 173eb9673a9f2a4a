"""The sample-event generator: counts per kind, duplicates that really repeat, bad knobs."""

from __future__ import annotations

import json
from collections import Counter
from datetime import datetime, timezone

import pytest

from datagen.orders import generate, main


def test_kinds_come_in_the_asked_shares_and_duplicates_repeat_a_sent_event():
    events = generate(1000, seed=5, dup_share=0.1, late_share=0.02, malformed_share=0.03)
    kinds = Counter(e.kind for e in events)
    assert kinds["duplicate"] == 100 and kinds["late"] == 20
    assert kinds["malformed_json"] + kinds["missing_field"] + kinds["wrong_type"] == 30
    assert kinds["valid"] == 850 and len(events) == 1000
    valid = {e.order_id: e.value for e in events if e.kind == "valid"}
    for dup in (e for e in events if e.kind == "duplicate"):
        assert dup.value == valid[dup.order_id]  # same key, same payload
    assert all(e.kind == "late" for e in events[-20:])  # late ones come last


def test_same_seed_and_start_same_events():
    start = datetime(2026, 11, 25, 10, tzinfo=timezone.utc)
    assert generate(200, seed=9, start=start) == generate(200, seed=9, start=start)
    assert generate(200, seed=9, start=start) != generate(200, seed=10, start=start)


def test_valid_events_parse_with_increasing_event_times():
    times = [json.loads(e.value)["event_time"] for e in generate(50, seed=1, dup_share=0)]
    assert times == sorted(times)


@pytest.mark.parametrize("args", [["--count", "0"], ["--dup-share", "1.5"], ["--late-by", "soon"]])
def test_bad_knobs_exit_2_with_one_line(capsys, args):
    assert main(["--topic", "x", *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("datagen: error:")
