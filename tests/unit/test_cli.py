"""The ``lakehouse`` command: validate, list, init, did-you-mean; no JVM anywhere."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from lakehouse.cli import main
from lakehouse.config import load_config
from lakehouse.core import ConfigProblems
from tests.harness.builders import pipeline_yaml, write_conf
from tests.harness.env import ROOT

BROKEN_PIPELINE = pipeline_yaml(
    "orders",
    keys=["order_id", "customer"],  # customer: not a column
    stream={"watermark": "soon", "late_events": "keep"},  # two bad values
    silver={"table": "silver.orders", "mode": "upsert", "colour": "blue"},  # bad mode, unknown key
    quality=[
        {"rule": "range", "column": "amount"},  # needs min or max
        {"rule": "not_null", "column": "amount"},
    ],
)


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_the_repositorys_own_config_validates(capsys):
    code, out, err = run(capsys, "validate", "--all", "--conf-dir", str(ROOT / "conf"))
    assert code == 0, err
    assert "3 environment(s) (cluster, local, s3), 1 pipeline(s) (orders): ok" in out
    # cluster.yaml's and s3.yaml's variables are the scheduler's to set: a note, not a problem
    assert "KAFKA_BOOTSTRAP_SERVERS" in err and "LAKEHOUSE_LAKE_ROOT" in err
    assert "S3_SECRET_KEY" in err


def test_every_problem_of_every_file_is_reported_at_once(tmp_path, capsys):
    conf = write_conf(
        tmp_path,
        envs={"local": {"spark": {"deploy_mode": "yarn"}}, "prod": {"lake_rot": "/x"}},
        pipelines={"orders": BROKEN_PIPELINE},
    )
    code, out, err = run(capsys, "validate", "--conf-dir", str(conf))
    assert code == 2
    lines = err.strip().splitlines()
    expected = [
        ("local.yaml", "spark.deploy_mode", "must be one of"),
        ("prod.yaml", "lake_rot", "unknown key"),
        ("orders.yaml", "stream.watermark", ""),
        ("orders.yaml", "stream.late_events", "must be one of"),
        ("orders.yaml", "silver.mode", "must be one of"),
        ("orders.yaml", "silver.colour", "unknown key"),
    ]
    for file, key, what in expected:
        assert any(file in line and f": {key}: " in line and what in line for line in lines), (
            file,
            key,
            lines,
        )
    assert "6 problem(s)" in out


def test_cross_field_problems_are_all_reported_once_the_file_builds(tmp_path, capsys):
    pipeline = pipeline_yaml(
        "orders",
        keys=["order_id", "customer"],
        quality=[
            {"rule": "range", "column": "amount"},
            {"rule": "not_null", "column": "colour"},
        ],
        freshness={"silver.other": {"column": "event_time", "warn_after": "1h"}},
    )
    conf = write_conf(tmp_path, pipelines={"orders": pipeline})
    code, _, err = run(capsys, "validate", "--conf-dir", str(conf), "--pipeline", "orders")
    assert code == 2
    for key in ("keys[1]", "quality[0]", "quality[1]", "freshness[silver.other]"):
        assert f": {key}: " in err, (key, err)


def test_a_job_reports_the_first_problem_and_how_many_more(tmp_path):
    conf = write_conf(tmp_path, pipelines={"orders": BROKEN_PIPELINE})
    with pytest.raises(ConfigProblems) as caught:
        load_config("orders", conf_dir=conf, environ={})
    assert len(caught.value.problems) == 4
    assert ": stream.watermark: bad duration 'soon'" in str(caught.value)
    assert str(caught.value).endswith("(and 3 more: `lakehouse validate` lists them)")


def test_strict_env_makes_an_unset_variable_a_problem(capsys):
    code, _, err = run(
        capsys, "validate", "--conf-dir", str(ROOT / "conf"), "--env", "cluster", "--strict-env"
    )
    assert code == 2
    assert (
        "conf/cluster.yaml: lake_root: environment variable LAKEHOUSE_LAKE_ROOT is not set" in err
    )


def test_json_report_for_ci(tmp_path, capsys):
    import json

    conf = write_conf(tmp_path, envs={"local": {"spark": {"deploy_mode": "yarn"}}})
    code, out, _ = run(capsys, "validate", "--conf-dir", str(conf), "--json")
    report = json.loads(out)
    assert code == 2 and report["ok"] is False
    assert [p["key"] for p in report["problems"]] == ["spark.deploy_mode"]


def test_a_mistyped_pipeline_or_command_gets_a_did_you_mean(capsys):
    code, _, err = run(capsys, "validate", "--conf-dir", str(ROOT / "conf"), "--pipeline", "ordrs")
    assert code == 2 and "unknown pipeline 'ordrs' (did you mean 'orders'?)" in err
    code, _, err = run(capsys, "valdate")
    assert code == 2 and "did you mean 'validate'?" in err


def test_list_names_jobs_with_a_line_each_pipelines_and_environments(capsys):
    code, out, _ = run(capsys, "list", "--conf-dir", str(ROOT / "conf"))
    assert code == 0
    jobs = out.split("pipelines")[0]
    for job in ("backfill", "batch_load", "doctor", "health", "maintain", "stream_ingest"):
        line = next(line for line in jobs.splitlines() if line.split()[:1] == [job])
        assert len(line.split()) > 3  # the job's one-line description follows its name
    assert "  orders" in out.split("pipelines")[1]
    assert "  cluster" in out.split("environments")[1] and "  local" in out


def test_init_scaffolds_a_folder_that_validate_accepts(tmp_path, capsys):
    target = tmp_path / "my-conf"
    code, out, _ = run(capsys, "init", str(target))
    assert code == 0
    assert sorted(str(p.relative_to(target)) for p in target.rglob("*.yaml")) == [
        "base.yaml",
        "local.yaml",
        "pipelines/example.yaml",
    ]
    code, out, err = run(capsys, "validate", "--conf-dir", str(target), "--strict-env")
    assert code == 0, err
    assert "1 pipeline(s) (example): ok" in out


def test_init_refuses_a_folder_that_has_files(tmp_path, capsys):
    (tmp_path / "keep.txt").write_text("mine")
    code, _, err = run(capsys, "init", str(tmp_path))
    assert code == 2 and "not an empty folder" in err
    assert [p.name for p in tmp_path.iterdir()] == ["keep.txt"]


def test_help_shows_examples_and_the_exit_codes(capsys):
    code, out, _ = run(capsys, "--help")
    assert code == 0 and "examples:" in out and "75  transient" in out
    code, out, _ = run(capsys, "validate", "--help")
    assert code == 0 and "--strict-env" in out and "exit codes:" in out


def test_python_dash_m_lakehouse_is_the_same_command():
    result = subprocess.run(
        [sys.executable, "-m", "lakehouse", "validate", "--conf-dir", str(ROOT / "conf")],
        capture_output=True,
        text=True,
        check=False,
        cwd=ROOT,
    )
    assert result.returncode == 0, result.stderr
    assert ": ok" in result.stdout


@pytest.mark.parametrize(
    ("argv", "code"),
    # argparse drops a help text it cannot write, and exits 0 as for any --help
    [(["list"], 141), (["--help"], 0), (["validate", "--help"], 0)],
)
def test_a_reader_that_goes_away_stops_the_command_quietly(argv, code):
    """`lakehouse list | head -1`: the pipe is closed before the output is written."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # every write to the pipe now fails (EPIPE)
    try:
        done = subprocess.run(
            [sys.executable, "-m", "lakehouse", *argv, "--conf-dir", str(ROOT / "conf")]
            if argv == ["list"]
            else [sys.executable, "-m", "lakehouse", *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=60,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert done.stderr == ""  # no traceback, no "Exception ignored" line
    assert done.returncode == code
