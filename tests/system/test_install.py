"""``pip install .`` into a new venv: the ``lakehouse`` command works with no checkout on the path.

The wheel is built from this checkout and installed with the tested pins
(constraints.txt); the commands then run from a folder outside the checkout
with ``PYTHONPATH`` unset, so only the installed package can answer.
"""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

from tests.harness.builders import base_yaml, write_conf
from tests.harness.env import ROOT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def installed(tmp_path_factory) -> Path:
    where = tmp_path_factory.mktemp("wheel-venv")
    venv.create(where / "venv", with_pip=True)
    py = where / "venv" / "bin" / "python"
    result = subprocess.run(
        [str(py), "-m", "pip", "install", "-q", "-c", str(ROOT / "constraints.txt"), str(ROOT)],
        capture_output=True,
        text=True,
        check=False,
        env=clean_env(),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return where / "venv" / "bin"


def clean_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "LAKEHOUSE_HOME")}
    env.pop("VIRTUAL_ENV", None)
    return env


def outside(bin_dir: Path, tmp_path: Path, *argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [str(bin_dir / argv[0]), *argv[1:]],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=clean_env(),
    )


def test_validate_and_list_work_from_the_installed_package(installed, tmp_path):
    result = outside(
        installed, tmp_path, "lakehouse", "validate", "--all", "--conf-dir", str(ROOT / "conf")
    )
    assert result.returncode == 0, result.stderr
    assert "1 pipeline(s) (orders): ok" in result.stdout
    listing = outside(installed, tmp_path, "lakehouse", "list", "--conf-dir", str(ROOT / "conf"))
    assert listing.returncode == 0, listing.stderr
    for job in ("backfill", "batch_load", "doctor", "health", "maintain", "stream_ingest"):
        assert f"  {job} " in listing.stdout


def test_the_installed_package_is_lakehouse_not_lib(installed, tmp_path):
    where = outside(
        installed, tmp_path, "python", "-c", "import lakehouse; print(lakehouse.__file__)"
    )
    assert where.returncode == 0 and "site-packages" in where.stdout
    bare = outside(installed, tmp_path, "python", "-c", "import lib")
    assert bare.returncode != 0 and "No module named 'lib'" in bare.stderr


def test_init_works_from_the_wheel_and_its_folder_validates(installed, tmp_path):
    made = outside(installed, tmp_path, "lakehouse", "init", "team-conf")
    assert made.returncode == 0, made.stderr
    checked = outside(installed, tmp_path, "lakehouse", "validate", "--conf-dir", "team-conf")
    assert checked.returncode == 0, checked.stderr


def test_the_runtime_carries_no_dev_tools(installed, tmp_path):
    for tool in ("pytest", "ruff", "chispa", "confluent_kafka"):
        probe = outside(installed, tmp_path, "python", "-c", f"import {tool}")
        assert probe.returncode != 0, f"{tool} is installed in the runtime venv"
    assert sys.prefix != str(installed.parent)


def test_the_wheel_alone_launches_a_job(installed, tmp_path):
    """``lakehouse run`` from the wheel: the job file is the package's own, checked first."""
    env = {**clean_env(), "XDG_CACHE_HOME": str(tmp_path / "cache")}
    base = base_yaml()
    base["spark"]["jars"] = "packages"  # no jar cache beside a wheel: Maven coordinates
    conf = write_conf(tmp_path, base=base)
    args = [str(installed / "lakehouse"), "run", "--conf-dir", str(conf)]
    shown = subprocess.run(
        [*args, "--print-command", "batch_load", "--pipeline", "orders", "--date", "2026-03-01"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert shown.returncode == 0, shown.stderr
    assert "site-packages/lakehouse/jobs/batch_load.py --pipeline orders" in shown.stdout
    assert "--packages io.delta:delta-spark_" in shown.stdout
    assert (tmp_path / "cache" / "lakehouse-jobs" / "lakehouse.zip").is_file()
    bad = subprocess.run(
        [*args, "batch_load", "--pipeline", "orders", "--date", "2026-02-30"],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
        env=env,
    )
    assert bad.returncode == 2
    assert "batch_load: error: argument --date: invalid date '2026-02-30'" in bad.stderr
