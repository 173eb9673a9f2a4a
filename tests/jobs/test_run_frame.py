"""The run frame every job shares: exit codes, the ledger row, the JSON last line."""

from __future__ import annotations

import json

import pytest

from lakehouse.core.errors import QualityGateError, TransientError
from lakehouse.lake.ledger import Ledger
from lakehouse.runtime.job import Outcome, iso_date, job_parser, run_job
from tests.harness.builders import base_yaml, pipeline_yaml, write_conf


def last_json(capsys) -> dict:
    out = capsys.readouterr().out.strip().splitlines()
    return json.loads(out[-1])


def parser():
    p = job_parser("demo", "A demo job.")
    p.add_argument("--date", type=iso_date)
    return p


@pytest.fixture
def conf(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    return write_conf(tmp_path)


def test_success_is_recorded_and_printed_last(spark, conf, tmp_path, capsys):
    def body(ctx):
        print("a human-readable report line")
        assert ctx.pipeline.name == "orders"
        return Outcome(rows_in=5, rows_out=4, rows_quarantined=1, details={"batches": 2})

    code = run_job(
        "demo",
        ["--conf-dir", str(conf), "--pipeline", "orders", "--date", "2026-11-24"],
        parser(),
        body,
        logical_date=lambda a: a.date,
    )
    assert code == 0
    printed = last_json(capsys)
    assert printed["status"] == "success" and printed["logical_date"] == "2026-11-24"
    assert printed["conf_fingerprint"] and printed["env"] == "local"
    rows = spark.read.format("delta").load(str(tmp_path / "lake" / "_ops" / "runs")).collect()
    assert len(rows) == 1
    row = rows[0]
    assert (row.run_id, row.rows_in, row.rows_out, row.rows_quarantined) == (
        printed["run_id"],
        5,
        4,
        1,
    )
    assert json.loads(row.details) == {"batches": 2}


@pytest.mark.parametrize(
    ("error", "code", "error_class"),
    [
        (QualityGateError("3 rows broke unique(order_id)"), 3, "QualityGateError"),
        (TransientError("broker down"), 75, "TransientError"),
        (ZeroDivisionError("division by zero"), 1, "ZeroDivisionError"),
    ],
)
def test_failures_map_to_exit_codes_and_ledger_rows(
    spark, conf, tmp_path, capsys, error, code, error_class
):
    def body(ctx):
        raise error

    assert (
        run_job("demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), body) == code
    )
    captured = capsys.readouterr()
    printed = json.loads(captured.out.strip().splitlines()[-1])
    assert (printed["status"], printed["exit_code"], printed["error_class"]) == (
        "failed",
        code,
        error_class,
    )
    assert captured.err.strip().splitlines()[-1] == f"demo: error: {error}"
    row = spark.read.format("delta").load(str(tmp_path / "lake" / "_ops" / "runs")).first()
    assert (row.status, row.exit_code, row.error_message) == ("failed", code, str(error))


BAD_INPUTS = [
    (["--pipeline", "orders", "--date", "2026-02-30"], "invalid date '2026-02-30'"),
    (["--pipeline", "orders", "--date", "20261124"], "invalid date"),
    (["--pipeline", "orders", "--bogus"], "unrecognized arguments: --bogus"),
    ([], "the following arguments are required: --pipeline"),
    (["--pipeline", "payments"], "unknown pipeline 'payments'"),
    (["--pipeline", "../../etc/passwd"], "invalid pipeline name"),
    (["--pipeline", "orders", "--env", "prod"], "unknown environment 'prod'"),
]


@pytest.mark.parametrize(("args", "message"), BAD_INPUTS)
def test_bad_input_exits_2_with_one_line_and_writes_nothing(conf, tmp_path, capsys, args, message):
    called = []
    code = run_job(
        "demo",
        ["--conf-dir", str(conf), *args],
        parser(),
        lambda ctx: called.append(1) or Outcome(),
    )
    captured = capsys.readouterr()
    assert code == 2 and not called
    err_lines = captured.err.strip().splitlines()
    assert len(err_lines) == 1 and message in err_lines[0]
    assert json.loads(captured.out.strip().splitlines()[-1])["exit_code"] == 2
    assert not (tmp_path / "lake").exists()


@pytest.mark.parametrize(
    ("pipeline", "message"),
    [
        ("name: orders\nkeys: [order_id\n", "malformed YAML"),
        (pipeline_yaml(stream={"watermark": "soon"}), "stream.watermark: bad duration 'soon'"),
        (pipeline_yaml(bronze={"table": "bronze.or-ders"}), "invalid table name"),
        (
            pipeline_yaml(source={"kafka": {"topic": "${NOT_SET_ANYWHERE}"}}),
            "environment variable NOT_SET_ANYWHERE is not set",
        ),
    ],
)
def test_bad_config_exits_2_and_writes_nothing(tmp_path, monkeypatch, capsys, pipeline, message):
    monkeypatch.setenv("LAKEHOUSE_LAKE_ROOT", str(tmp_path / "lake"))
    conf = write_conf(tmp_path, pipelines={"orders": pipeline})
    code = run_job(
        "demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), lambda ctx: Outcome()
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and message in err[0] and "orders.yaml" in err[0]
    assert not (tmp_path / "lake").exists()


def test_lake_root_that_is_not_writable(tmp_path, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    conf = write_conf(tmp_path, base=base_yaml(lake_root=str(blocker / "lake")))
    code = run_job(
        "demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), lambda ctx: Outcome()
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1
    assert f"lake root {blocker / 'lake'} is not writable" in err[0]


def test_a_run_id_given_by_the_launcher_names_the_run(spark, conf, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_RUN_ID", "airflow.daily.batch_load.20261124.try2")
    code = run_job(
        "demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), lambda c: Outcome()
    )
    assert code == 0
    assert last_json(capsys)["run_id"] == "airflow.daily.batch_load.20261124.try2"
    ledger = Ledger(spark, str(tmp_path / "lake" / "_ops" / "runs"))
    found = ledger.find("airflow.daily.batch_load.20261124.try2")
    assert found is not None and found.status == "success" and found.job == "demo"
    assert ledger.find("no-such-run") is None


@pytest.mark.parametrize("run_id", ["../../etc/x", "a b", "-starts-with-dash", "x" * 129])
def test_a_bad_run_id_exits_2_and_writes_nothing(conf, tmp_path, capsys, monkeypatch, run_id):
    monkeypatch.setenv("LAKEHOUSE_RUN_ID", run_id)
    code = run_job(
        "demo", ["--conf-dir", str(conf), "--pipeline", "orders"], parser(), lambda c: Outcome()
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "is not a run id" in err[0]
    assert not (tmp_path / "lake").exists()


def test_check_only_validates_and_stops_before_spark(conf, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("LAKEHOUSE_CHECK_ONLY", "1")
    called = []
    args = ["--conf-dir", str(conf), "--pipeline", "orders"]
    assert run_job("demo", args, parser(), lambda c: called.append(1) or Outcome()) == 0
    assert "arguments and config are valid" in capsys.readouterr().err and not called
    assert run_job("demo", [*args, "--date", "2026-02-30"], parser(), lambda c: Outcome()) == 2
