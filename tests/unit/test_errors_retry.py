"""Exit-code mapping, one-line messages, and the retry loop."""

from __future__ import annotations

import random

import pytest

from lakehouse.core.errors import (
    ConfigError,
    ExitCode,
    QualityGateError,
    StaleError,
    TransientError,
    UsageError,
    exit_code_for,
    is_transient,
    one_line,
)
from lakehouse.core.retry import Backoff, retry

# what a Py4J error from a Delta conflict looks like once it reaches Python
PY4J_CONFLICT = (
    "An error occurred while calling o123.execute.\n"
    ": io.delta.exceptions.ConcurrentAppendException: [DELTA_CONCURRENT_APPEND] "
    "Files were added to partition [event_date=2026-11-01] by a concurrent update.\n"
    "\tat org.apache.spark.sql.delta.ConflictChecker.foo(ConflictChecker.scala:10)\n"
)


def test_exit_codes_are_the_documented_ones():
    assert [int(c) for c in ExitCode] == [0, 1, 2, 3, 4, 75]
    assert exit_code_for(UsageError("x")) == 2
    assert exit_code_for(ConfigError("x", file="f", key="k")) == 2
    assert exit_code_for(QualityGateError("x")) == 3
    assert exit_code_for(StaleError("x")) == 4
    assert exit_code_for(TransientError("x")) == 75
    assert exit_code_for(RuntimeError(PY4J_CONFLICT)) == 75
    assert exit_code_for(ValueError("a bug")) == 1


def test_transient_is_found_through_the_cause_chain():
    try:
        try:
            raise RuntimeError(PY4J_CONFLICT)
        except RuntimeError as inner:
            raise ValueError("wrapped") from inner
    except ValueError as outer:
        assert is_transient(outer)
    assert not is_transient(QualityGateError("ConcurrentAppendException in a message"))


def test_one_line_drops_the_java_stack_and_py4j_preamble():
    assert one_line(RuntimeError(PY4J_CONFLICT)) == (
        "io.delta.exceptions.ConcurrentAppendException: [DELTA_CONCURRENT_APPEND] Files were "
        "added to partition [event_date=2026-11-01] by a concurrent update."
    )
    assert one_line(ValueError("")) == "ValueError"
    assert len(one_line(ValueError("x" * 2000))) == 500


def test_config_error_names_file_and_key():
    err = ConfigError("bad duration 'x'", file="conf/p.yaml", key="stream.watermark")
    assert str(err) == "conf/p.yaml: stream.watermark: bad duration 'x'"


def test_retry_retries_transient_errors_with_capped_growing_delays():
    calls, waits = [], []

    def flaky():
        calls.append(1)
        if len(calls) < 4:
            raise TransientError("conflict")
        return "done"

    backoff = Backoff(attempts=5, base_delay=1.0, max_delay=3.0)
    assert retry(flaky, backoff, sleep=waits.append, rng=random.Random(7)) == "done"
    assert len(calls) == 4 and len(waits) == 3
    ceilings = [1.0, 2.0, 3.0]  # 1, 2, then capped at 3 instead of 4
    assert all(0 <= w <= c for w, c in zip(waits, ceilings, strict=True))


def test_retry_gives_up_after_the_last_attempt():
    waits: list[float] = []
    with pytest.raises(TransientError):
        retry(
            lambda: (_ for _ in ()).throw(TransientError("still")),
            Backoff(attempts=3),
            sleep=waits.append,
        )
    assert len(waits) == 2


def test_retry_does_not_retry_permanent_errors():
    calls: list[int] = []

    def broken():
        calls.append(1)
        raise QualityGateError("bad data")

    with pytest.raises(QualityGateError):
        retry(broken, Backoff(attempts=5), sleep=lambda _: None)
    assert calls == [1]


def test_backoff_rejects_nonsense():
    with pytest.raises(ValueError):
        Backoff(attempts=0)
    with pytest.raises(ValueError):
        Backoff(base_delay=-1)


def test_a_lost_executor_named_only_in_the_message_is_transient():
    from lakehouse.core.errors import is_transient

    assert is_transient(RuntimeError("Job aborted: ExecutorLostFailure (executor 2 exited)"))
    assert not is_transient(RuntimeError("NotAnExecutorLostFailureX"))
    # an executor lost with the blocks of a materialized frame: load again
    lost = RuntimeError("[CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND] Checkpoint block rdd_3_0")
    assert is_transient(lost)
    from lakehouse.batch.writers import retry_in_load

    # ...but not by another write attempt inside the load: those rows are gone
    assert not retry_in_load(lost)
    assert retry_in_load(RuntimeError("io.delta.exceptions.ConcurrentAppendException: x"))
