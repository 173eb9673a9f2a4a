"""lakehouse.ops.alerts: routing, duplicate suppression, the three sinks, a real HTTP webhook."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from lakehouse.config.model import AlertSink
from lakehouse.core.durations import Duration
from lakehouse.ops.alerts import (
    Alert,
    Alerter,
    AlertReport,
    FileState,
    MemoryState,
    redact_url,
    sink_id,
)
from tests.harness.ports import closed_port
from tests.harness.webhook import Hook, webhook_server

T0 = datetime(2026, 11, 25, 6, 0, tzinfo=timezone.utc)


# --------------------------------------------------------------------------
# Fixtures


@pytest.fixture
def hook() -> Iterator[Hook]:
    with webhook_server() as server:
        yield server


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, start: datetime = T0):
        self.at = start

    def __call__(self) -> datetime:
        return self.at

    def advance(self, **kwargs: float) -> None:
        self.at += timedelta(**kwargs)


def webhook(url: str, on: tuple[str, ...] = ("failure",), every: str = "10m") -> AlertSink:
    return AlertSink(sink="webhook", url=url, on=on, min_interval=Duration.parse(every))  # type: ignore[arg-type]


def failure(**overrides: Any) -> Alert:
    values: dict[str, Any] = {
        "event": "failure",
        "job": "batch_load",
        "pipeline": "orders",
        "title": "batch_load failed for 2026-11-25",
        "text": "QualityGateError: 12 rows broke not_null(order_id)",
        "run_id": "run-42",
        "fields": {"logical_date": "2026-11-25", "exit_code": 3},
    }
    values.update(overrides)
    return Alert(**values)


# --------------------------------------------------------------------------
# Alert


def test_alert_defaults_and_to_dict_is_json_safe() -> None:
    alert = Alert(
        event="stale",
        job="freshness",
        pipeline="orders",
        title="orders is stale\nsince 3h",
        fields={"when": T0, "ratio": float("nan"), "path": Path("/x"), "tags": ("a", "b")},
        at=T0,
    )
    assert alert.key == "stale:orders:freshness"
    assert alert.level == "warning"
    assert alert.title == "orders is stale since 3h"
    data = json.loads(json.dumps(alert.to_dict(), allow_nan=False))
    assert data["event"] == "stale"
    assert data["at"] == "2026-11-25T06:00:00Z"
    assert data["fields"] == {
        "when": "2026-11-25T06:00:00Z",
        "ratio": "nan",
        "path": "/x",
        "tags": ["a", "b"],
    }
    assert Alert(event="success", job="j", pipeline=None, title="t").level == "info"
    with pytest.raises(ValueError, match="unknown alert event"):
        Alert(event="boom", job="j", pipeline=None, title="t")  # type: ignore[arg-type]


def test_sink_id_is_stable_and_hides_the_url() -> None:
    one = webhook("https://hooks.example.com/services/SECRET123")
    again = webhook("https://hooks.example.com/services/SECRET123", on=("all",))
    other = webhook("https://hooks.example.com/services/OTHER")
    assert sink_id(one) == sink_id(again)
    assert sink_id(one) != sink_id(other)
    assert "SECRET123" not in sink_id(one) and "example" not in sink_id(one)
    assert redact_url("https://u:p@hooks.example.com/services/SECRET123?t=1") == (
        "https://hooks.example.com:443"
    )


def test_report_details() -> None:
    assert AlertReport(sent=1).as_details() == {
        "alerts_sent": 1,
        "alerts_suppressed": 0,
        "alerts_failed": 0,
    }
    assert AlertReport(failed=1, errors=["x"]).as_details()["alert_errors"] == ["x"]


# --------------------------------------------------------------------------
# Webhook


def test_webhook_payload_shape(hook: Hook) -> None:
    url = hook.url("/hooks/T000/B000/SECRET123?channel=ops")
    report = Alerter([webhook(url)], now=Clock()).send([failure()])

    assert report == AlertReport(sent=1)
    [request] = hook.requests
    assert request["path"] == "/hooks/T000/B000/SECRET123?channel=ops"
    assert request["headers"]["Content-Type"] == "application/json"
    body = request["body"]
    assert "batch_load failed for 2026-11-25" in body["text"]
    assert body["text"].startswith(":red_circle:")
    assert "12 rows broke" in body["text"]
    [attachment] = body["attachments"]
    assert attachment["footer"] == "lakehouse-jobs"
    assert attachment["ts"] == int(T0.timestamp())
    assert attachment["color"].startswith("#")
    facts = {f["title"]: f["value"] for f in attachment["fields"]}
    assert facts["logical_date"] == "2026-11-25"
    assert facts["exit_code"] == "3"
    assert facts["job"] == "batch_load" and facts["pipeline"] == "orders"
    assert all(f["short"] is True for f in attachment["fields"])
    assert body["lakehouse"] == {
        "event": "failure",
        "level": "error",
        "job": "batch_load",
        "pipeline": "orders",
        "run_id": "run-42",
        "key": "failure:orders:batch_load",
        "fields": {"logical_date": "2026-11-25", "exit_code": 3},
        "at": "2026-11-25T06:00:00Z",
    }


def test_webhook_success_marker(hook: Hook) -> None:
    sink = webhook(hook.url(), on=("success",))
    ok = Alert(event="success", job="batch_load", pipeline="orders", title="loaded")
    assert Alerter([sink], now=Clock()).send([ok]).sent == 1
    assert hook.requests[0]["body"]["text"].startswith(":white_check_mark:")


def _assert_failed_without_secret(report: AlertReport) -> None:
    assert report.sent == 0 and report.failed == 1
    assert len(report.errors) == 1
    assert "SECRET123" not in report.errors[0]
    assert "hooks" not in report.errors[0]
    assert "\n" not in report.errors[0]


def test_webhook_down_does_not_raise_and_is_retried(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{closed_port()}/hooks/SECRET123?token=SECRET123"
    state = MemoryState()
    alerter = Alerter([webhook(url)], state=state, now=Clock())

    with caplog.at_level(logging.WARNING, logger="lakehouse.ops.alerts"):
        report = alerter.send([failure()])
    _assert_failed_without_secret(report)
    assert report.errors[0].startswith("webhook http://127.0.0.1:")
    assert "SECRET123" not in caplog.text
    assert state.data == {}  # not recorded: the next send tries again
    _assert_failed_without_secret(alerter.send([failure()]))


def test_webhook_500_fails_and_is_retried(hook: Hook) -> None:
    hook.status = 500
    state = MemoryState()
    alerter = Alerter([webhook(hook.url())], state=state, now=Clock())

    report = alerter.send([failure()])
    _assert_failed_without_secret(report)
    assert "HTTP 500" in report.errors[0]
    assert state.data == {}

    hook.status = 200
    assert alerter.send([failure()]).sent == 1
    assert len(hook.requests) == 2


def test_webhook_redirect_is_a_failure(hook: Hook) -> None:
    hook.status = 302
    report = Alerter([webhook(hook.url())], now=Clock()).send([failure()])
    _assert_failed_without_secret(report)
    assert len(hook.requests) == 1


def test_webhook_that_hangs_is_bounded_by_timeout(hook: Hook) -> None:
    hook.delay = 10
    alerter = Alerter([webhook(hook.url())], now=Clock(), timeout=0.5)
    alerts = [failure(key="a"), failure(key="b"), failure(key="c")]

    started = time.monotonic()
    report = alerter.send(alerts)
    elapsed = time.monotonic() - started

    assert elapsed < 3  # one timeout, then the sink is skipped for this send
    assert report.failed == 3 and report.sent == 0
    assert len(hook.requests) == 1
    assert all("SECRET123" not in e for e in report.errors)


def test_bad_webhook_url_is_a_failure_without_the_url() -> None:
    sink = webhook("ftp://files.example.com/SECRET123")
    report = Alerter([sink], now=Clock()).send([failure()])
    _assert_failed_without_secret(report)


# --------------------------------------------------------------------------
# Duplicate suppression


def test_same_key_is_suppressed_within_min_interval(hook: Hook) -> None:
    clock = Clock()
    alerter = Alerter([webhook(hook.url(), every="10m")], now=clock)

    assert alerter.send([failure()]).sent == 1
    clock.advance(minutes=9)
    second = alerter.send([failure()])
    assert (second.sent, second.suppressed, second.failed) == (0, 1, 0)
    assert len(hook.requests) == 1

    other = alerter.send([failure(key="failure:orders:batch_load:2026-11-24")])
    assert other.sent == 1 and other.suppressed == 0

    clock.advance(minutes=1)  # exactly min_interval after the first: due again
    assert alerter.send([failure()]).sent == 1
    assert len(hook.requests) == 3


def test_duplicates_within_one_send_go_once(hook: Hook) -> None:
    report = Alerter([webhook(hook.url())], now=Clock()).send([failure(), failure()])
    assert (report.sent, report.suppressed) == (1, 1)
    assert len(hook.requests) == 1


def test_state_persists_across_runs_in_a_file(hook: Hook, tmp_path: Path) -> None:
    clock = Clock()
    state_file = tmp_path / "ops" / "nested" / "alert_state.json"
    sinks = [webhook(hook.url(), every="1h")]

    first_run = Alerter(sinks, state=FileState(state_file), now=clock)
    assert first_run.send([failure()]).sent == 1
    saved = json.loads(state_file.read_text())
    assert list(saved) == [f"{sink_id(sinks[0])}|failure:orders:batch_load"]
    assert "SECRET123" not in state_file.read_text()
    assert [p.name for p in state_file.parent.iterdir()] == ["alert_state.json"]

    clock.advance(minutes=30)
    second_run = Alerter(sinks, state=FileState(state_file), now=clock)
    assert second_run.send([failure()]).suppressed == 1
    assert len(hook.requests) == 1

    clock.advance(minutes=31)
    third_run = Alerter(sinks, state=FileState(state_file), now=clock)
    assert third_run.send([failure()]).sent == 1
    assert len(hook.requests) == 2


def test_old_state_entries_are_pruned(tmp_path: Path) -> None:
    state = MemoryState({"log|old": "2026-01-01T00:00:00Z", "log|junk": "not a time"})
    sink = AlertSink(sink="log", on=("all",))
    Alerter([sink], state=state, now=Clock()).send([failure()])
    assert state.data == {"log|failure:orders:batch_load": "2026-11-25T06:00:00Z"}


def test_file_state_corrupt_or_missing_is_empty(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    assert FileState(tmp_path / "missing.json").load() == {}
    corrupt = tmp_path / "state.json"
    corrupt.write_text('{"webhook:abc|k": "2026-')
    with caplog.at_level(logging.WARNING, logger="lakehouse.ops.alerts"):
        assert FileState(corrupt).load() == {}
    assert "corrupt" in caplog.text
    corrupt.write_text("[1, 2]")
    assert FileState(corrupt).load() == {}

    # a corrupt state does not stop alerts, and the next save repairs it
    corrupt.write_text("{{{")
    sink = AlertSink(sink="log", on=("all",))
    report = Alerter([sink], state=FileState(corrupt), now=Clock()).send([failure()])
    assert report.sent == 1 and report.errors == []
    assert FileState(corrupt).load() == {"log|failure:orders:batch_load": "2026-11-25T06:00:00Z"}


def test_failing_state_save_is_reported_not_raised() -> None:
    class Broken(MemoryState):
        def save(self, state: dict[str, str]) -> None:
            raise OSError("disk full")

    report = Alerter([AlertSink(sink="log")], state=Broken(), now=Clock()).send([failure()])
    assert report.sent == 1 and report.failed == 0
    assert report.errors == ["alert state not saved: disk full"]


# --------------------------------------------------------------------------
# Routing


def test_routing_by_event(hook: Hook) -> None:
    failures_only = webhook(hook.url("/failures"), on=("failure",))
    everything = webhook(hook.url("/all"), on=("all",))
    alerter = Alerter([failures_only, everything], now=Clock())

    success = Alert(event="success", job="batch_load", pipeline="orders", title="loaded")
    report = alerter.send([success, failure()])

    assert report.sent == 3
    paths = sorted(r["path"] for r in hook.requests)
    assert paths == ["/all", "/all", "/failures"]
    failure_bodies = [r["body"] for r in hook.requests if r["path"] == "/failures"]
    assert [b["lakehouse"]["event"] for b in failure_bodies] == ["failure"]


def test_inactive_webhook_sends_and_fails_nothing(hook: Hook, tmp_path: Path) -> None:
    inactive = webhook("", on=("all",))
    assert not inactive.active
    state_file = tmp_path / "state.json"
    report = Alerter([inactive], state=FileState(state_file), now=Clock()).send([failure()])
    assert report == AlertReport()
    assert not state_file.exists()


def test_no_sinks_no_alerts() -> None:
    assert Alerter([]).send([failure()]) == AlertReport()
    assert Alerter([AlertSink(sink="log")]).send([]) == AlertReport()


# --------------------------------------------------------------------------
# File and log sinks


def test_file_sink_appends_json_lines_under_base_dir(tmp_path: Path) -> None:
    lake = tmp_path / "lake"
    sink = AlertSink(sink="file", path="_ops/alerts.jsonl", on=("all",))
    clock = Clock()
    alerter = Alerter([sink], base_dir=str(lake), now=clock)

    assert alerter.send([failure()]).sent == 1
    clock.advance(hours=2)
    stale = Alert(event="stale", job="freshness", pipeline="orders", title="stale", at=T0)
    assert alerter.send([failure(), stale]).sent == 2

    lines = (lake / "_ops" / "alerts.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["event"] for r in records] == ["failure", "failure", "stale"]
    assert records[0]["sent_at"] == "2026-11-25T06:00:00Z"
    assert records[1]["sent_at"] == "2026-11-25T08:00:00Z"
    assert records[2]["at"] == "2026-11-25T06:00:00Z"
    assert records[0]["fields"] == {"logical_date": "2026-11-25", "exit_code": 3}


def test_file_sink_absolute_path_and_file_uri_base(tmp_path: Path) -> None:
    absolute = AlertSink(sink="file", path=str(tmp_path / "abs" / "a.jsonl"), on=("all",))
    relative = AlertSink(sink="file", path="rel/a.jsonl", on=("all",))
    alerter = Alerter([absolute, relative], base_dir=f"file://{tmp_path}/lake", now=Clock())
    assert alerter.send([failure()]).sent == 2
    assert (tmp_path / "abs" / "a.jsonl").exists()
    assert (tmp_path / "lake" / "rel" / "a.jsonl").exists()


def test_file_sink_on_remote_lake_fails_cleanly() -> None:
    sink = AlertSink(sink="file", path="_ops/alerts.jsonl")
    report = Alerter([sink], base_dir="s3a://bucket/lake", now=Clock()).send([failure()])
    assert report.failed == 1 and "local base folder" in report.errors[0]


def test_log_sink(caplog: pytest.LogCaptureFixture) -> None:
    sink = AlertSink(sink="log", on=("all",))
    warn = Alert(event="sla_miss", job="batch_load", pipeline=None, title="late by 20m")
    with caplog.at_level(logging.INFO, logger="lakehouse.ops.alerts"):
        report = Alerter([sink], now=Clock()).send([failure(), warn])
    assert report.sent == 2
    records = [(r.levelno, r.getMessage()) for r in caplog.records]
    assert records == [
        (logging.ERROR, "[error] failure orders/batch_load: batch_load failed for 2026-11-25"),
        (logging.WARNING, "[warning] sla_miss -/batch_load: late by 20m"),
    ]


def test_send_never_raises_on_bugs(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    class Weird:
        def __str__(self) -> str:
            raise RuntimeError("no str for you")

    logger = logging.getLogger("test.alerts")
    sinks = [
        AlertSink(sink="file", path=str(tmp_path / "alerts.jsonl")),
        webhook(f"http://127.0.0.1:{closed_port()}/hooks/SECRET123"),
        AlertSink(sink="log"),
    ]
    alerter = Alerter(sinks, now=Clock(), logger=logger)
    with caplog.at_level(logging.WARNING, logger="test.alerts"):
        report = alerter.send([failure(fields={"x": Weird()})])
    assert (report.sent, report.failed) == (1, 2)
    assert len(report.errors) == 2
    assert all("no str for you" in e and "SECRET123" not in e for e in report.errors)
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 2

    def explode() -> Iterator[Alert]:
        raise RuntimeError("generator bug")
        yield  # pragma: no cover

    broken = alerter.send(explode())
    assert broken.errors and "generator bug" in broken.errors[0]


def test_relative_file_sink_of_a_remote_lake_lands_in_its_local_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lake on S3 has no local root: relative file sinks go below LAKEHOUSE_LOCAL_DIR.

    Before, the path was taken relative to the working folder, so a demo run
    from a checkout wrote ``_ops/alerts.jsonl`` into the repository.
    """
    from types import SimpleNamespace

    from lakehouse.config.model import Settings
    from lakehouse.ops.notify import alerter

    monkeypatch.setenv("LAKEHOUSE_LOCAL_DIR", str(tmp_path / "state"))
    monkeypatch.chdir(tmp_path)
    remote = Settings(lake_root="s3a://lake-bucket/prod")
    local = Settings(lake_root=str(tmp_path / "lake"))
    sink = AlertSink(sink="file", path="a.jsonl", on=("all",))
    pipeline: Any = SimpleNamespace(alerts=(sink,))  # alerter reads only .alerts

    remote_file = alerter(None, remote, pipeline).file_path(sink)
    assert remote_file == tmp_path / "state" / "s3a_lake-bucket_prod" / "a.jsonl"
    assert alerter(None, local, pipeline).file_path(sink) == tmp_path / "lake" / "a.jsonl"
    assert alerter(None, remote, pipeline).send([failure()]).sent == 1
    assert remote_file.read_text().count("\n") == 1
    assert not (tmp_path / "a.jsonl").exists()
