"""Cluster deploy mode: ``./spark-submit.sh`` exits with the job's own code.

In cluster deploy mode the driver runs on the cluster and spark-submit
returns only "succeeded" or "failed". The launcher names the run, waits for
the application and reads the run's exit code back from the ledger.

YARN cannot run here; ``tests/harness/yarn_submit.py`` stands in for the YARN
client (the driver in its own container folder with only the environment the
launcher sends, its output kept away from the submitter, exit 0 or 1) and runs
the driver with the real spark-submit. Everything else — launcher, config
archive, jobs, Delta, ledger — is the real thing. A standalone master, which
refuses Python applications in cluster mode, is refused up front.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.harness.builders import base_yaml, pipeline_yaml, write_conf
from tests.harness.env import ROOT

LAUNCHER = str(ROOT / "spark-submit.sh")
STANDIN = ROOT / "tests" / "harness" / "yarn_submit.py"
DAY = "2026-03-01"

pytestmark = [pytest.mark.slow]


@pytest.fixture
def yarn(tmp_path):
    """A SPARK_HOME whose spark-submit is the YARN stand-in; its working folder."""
    home = tmp_path / "spark-home"
    (home / "bin").mkdir(parents=True)
    submit = home / "bin" / "spark-submit"
    submit.write_text(f'#!/bin/sh\nexec {sys.executable} {STANDIN} "$@"\n')
    submit.chmod(0o755)
    work = tmp_path / "yarn"
    work.mkdir()
    real = ROOT / ".venv" / "bin" / "spark-submit"
    return {"SPARK_HOME": str(home), "STANDIN_DIR": str(work), "REAL_SPARK_SUBMIT": str(real)}


def cluster_conf(tmp_path: Path, lake: Path, *, master: str = "yarn", quality=None) -> Path:
    pipe = pipeline_yaml(
        source={"kafka": {"topic": "orders"}, "files": {"path": "landing/date={date}"}},
        **({"quality": quality} if quality else {}),
    )
    pipe["source"]["files"]["format"] = "json"
    base = base_yaml(lake_root="${LAKE_ON_SHARED_STORAGE}")
    return write_conf(
        tmp_path,
        base=base,
        envs={"local": {}, "yarn": {"spark": {"master": master, "deploy_mode": "cluster"}}},
        pipelines={"orders": pipe},
    )


def land(lake: Path, amounts: list[str]) -> None:
    folder = lake / "landing" / f"date={DAY}"
    folder.mkdir(parents=True)
    rows = [
        {"order_id": f"o{i}", "amount": a, "status": "paid", "event_time": f"{DAY}T10:{i:02d}:00"}
        for i, a in enumerate(amounts)
    ]
    (folder / "part-0.json").write_text("".join(json.dumps(r) + "\n" for r in rows))


def launch(conf: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [LAUNCHER, "--conf-dir", str(conf), "--env", "yarn", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **env},
        check=False,
    )


def calls(yarn: dict[str, str]) -> list[list[str]]:
    log = Path(yarn["STANDIN_DIR"]) / "calls.jsonl"
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


def load(conf: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return launch(
        conf, env, "batch_load", "--pipeline", "orders", "--date", DAY, "--source", "files"
    )


def test_the_launcher_exits_with_the_jobs_own_code_in_yarn_cluster_mode(tmp_path, yarn):
    lake = tmp_path / "shared-lake"
    land(lake, ["1.50", "2.25", "-3.00"])
    env = {**yarn, "LAKE_ON_SHARED_STORAGE": str(lake), "LAKEHOUSE_RUN_ID": "ok-1"}
    ok_conf = cluster_conf(tmp_path / "ok", lake)

    result = load(ok_conf, env)

    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert (record["run_id"], record["status"], record["rows_out"]) == ("ok-1", "success", 3)
    assert len(result.stdout.strip().splitlines()) == 1  # the driver's output stayed on "YARN"
    (argv,) = calls(yarn)
    assert argv[argv.index("--deploy-mode") + 1] == "cluster"
    assert "spark.yarn.submit.waitAppCompletion=true" in argv
    assert "spark.yarn.appMasterEnv.LAKEHOUSE_RUN_ID=ok-1" in argv
    assert f"spark.yarn.appMasterEnv.LAKE_ON_SHARED_STORAGE={lake}" in argv
    assert argv[argv.index("--conf-dir") + 1] == "lakehouse-conf"
    assert not list((ROOT / ".build").glob("conf-ok-1.zip"))  # the archive is cleaned up

    # the same id again, and this time the driver is lost: the old row does not answer for it
    result = load(ok_conf, {**env, "STANDIN_LOSE_DRIVER": "1"})
    assert result.returncode == 1 and "run ok-1 is not in the ledger" in result.stderr

    # a quality gate that fails on the cluster: YARN says only "failed" (1), the launcher 3
    gate_conf = cluster_conf(
        tmp_path / "gate",
        lake,
        quality=[{"rule": "range", "column": "amount", "min": 0, "on_fail": "fail"}],
    )
    result = load(gate_conf, {**env, "LAKEHOUSE_RUN_ID": "gate-1"})

    assert result.returncode == 3, result.stderr[-3000:]
    record = json.loads(result.stdout.strip().splitlines()[-1])
    assert (record["run_id"], record["exit_code"]) == ("gate-1", 3)
    assert "quality gate" in record["error_message"]


def test_bad_arguments_are_refused_before_anything_is_submitted(tmp_path, yarn):
    lake = tmp_path / "shared-lake"
    conf = cluster_conf(tmp_path, lake)
    env = {**yarn, "LAKE_ON_SHARED_STORAGE": str(lake)}

    result = launch(conf, env, "batch_load", "--pipeline", "orders", "--date", "2026-02-30")

    assert result.returncode == 2
    assert "invalid date '2026-02-30'" in result.stderr
    assert calls(yarn) == [] and not lake.exists()


def test_a_driver_lost_before_recording_its_run_exits_with_spark_submits_failure(tmp_path, yarn):
    lake = tmp_path / "shared-lake"
    land(lake, ["1.00"])
    conf = cluster_conf(tmp_path, lake)
    env = {**yarn, "LAKE_ON_SHARED_STORAGE": str(lake), "STANDIN_LOSE_DRIVER": "1"}

    result = load(conf, {**env, "LAKEHOUSE_RUN_ID": "lost-1"})

    assert result.returncode == 1
    assert "run lost-1 is not in the ledger (spark-submit exited 1)" in result.stderr
    assert result.stdout.strip() == ""


@pytest.mark.parametrize(
    ("master", "message"),
    [
        ("spark://127.0.0.1:7077", "runs Python applications in client mode only"),
        ("local[2]", "cluster needs a cluster master (yarn or k8s://...), not local[2]"),
    ],
)
def test_cluster_mode_where_spark_cannot_do_it_exits_2(tmp_path, master, message):
    conf = cluster_conf(tmp_path, tmp_path / "lake", master=master)
    result = launch(
        conf, {"LAKE_ON_SHARED_STORAGE": str(tmp_path / "lake")}, "batch_load", "--help"
    )
    assert result.returncode == 0  # help needs no config
    result = load(conf, {"LAKE_ON_SHARED_STORAGE": str(tmp_path / "lake")})
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1
