"""Turn the env config into spark-submit options (used by ``spark-submit.sh``).

Prints one argument per line: ``--master``, ``--deploy-mode``, ``--jars`` or
``--packages``, ``--py-files`` (a fresh zip of the ``lakehouse`` package) and a ``--conf`` pair
for every setting the in-process session builder would set, so both ways of
starting a job run with the same settings. Exit 2 with one line on stderr
when the config is invalid.

With ``--quote -- ARG...`` it prints those arguments as one shell command
line instead, secret-looking ``--conf`` values and URL passwords masked
(``./spark-submit.sh --print-command``).

Usage: python -m lakehouse.launch.submit --job JOB [--env ENV] [--conf-dir DIR] [--zip PATH]
       python -m lakehouse.launch.submit --quote -- ARG...
"""

from __future__ import annotations

import argparse
import os
import re
import shlex
import sys
import zipfile
from pathlib import Path

from lakehouse.config import SECRET_KEY, Settings, load_settings
from lakehouse.core import ConfigError, LakehouseError, exit_code_for, one_line, project_root
from lakehouse.lake import check_run_id, jar_settings, spark_conf

PACKAGE_DIR = Path(__file__).resolve().parents[1]  # lib/lakehouse


def build_package_zip(target: Path) -> Path:
    """Zip the ``lakehouse`` package (sources only) for ``--py-files``; written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(PACKAGE_DIR.rglob("*.py")):
            if "__pycache__" not in path.parts:
                zf.write(path, Path("lakehouse") / path.relative_to(PACKAGE_DIR))
    tmp.replace(target)
    return target


CONF_ALIAS = "lakehouse-conf"  # where the config folder lands beside a cluster-mode driver
_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)")


def _zip_folder(folder: Path, target: Path) -> Path:
    """Zip a folder's files (its contents at the zip's root); written atomically."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in sorted(folder.rglob("*")):
            if path.is_file():
                zf.write(path, path.relative_to(folder))
    tmp.replace(target)
    return target


def cluster_mode_args(settings: Settings, run_id: str, build_dir: Path) -> list[str]:
    """What a driver running on the cluster needs that a local one has for free.

    The launcher waits for the application (``waitAppCompletion``), names the
    run (``LAKEHOUSE_RUN_ID``, so its exit code can be read back from the
    ledger), ships the config folder as an archive, and passes on the
    environment variables the config files refer to (``${VAR}``), as the
    driver's environment on the cluster is not this shell's.

    Raises:
        ConfigError: the master cannot run a Python driver in cluster mode.
    """
    master = settings.spark.master
    if master.startswith("yarn"):
        wait, driver_env = "spark.yarn.submit.waitAppCompletion", "spark.yarn.appMasterEnv."
    elif master.startswith("k8s://"):
        wait = "spark.kubernetes.submission.waitAppCompletion"
        driver_env = "spark.kubernetes.driverEnv."
    elif master.startswith("spark://"):
        raise ConfigError(
            "cluster: a Spark standalone master runs Python applications in client "
            "mode only (spark-submit refuses cluster mode for them); set deploy_mode: client",
            key="spark.deploy_mode",
        )
    else:
        raise ConfigError(
            f"cluster needs a cluster master (yarn or k8s://...), not {master}",
            key="spark.deploy_mode",
        )
    conf_dir = Path(settings.conf_dir)
    names = sorted(
        {name for f in conf_dir.rglob("*.yaml") for name in _VARIABLE.findall(f.read_text())}
    )
    env = {"LAKEHOUSE_RUN_ID": run_id, "TZ": "UTC"}
    env.update({name: os.environ[name] for name in names if name in os.environ})
    args = ["--conf", f"{wait}=true"]
    for name, value in env.items():
        args += ["--conf", f"{driver_env}{name}={value}"]
    archive = _zip_folder(conf_dir, build_dir / f"conf-{run_id}.zip")  # removed by the launcher
    return [*args, "--archives", f"{archive}#{CONF_ALIAS}"]


def submit_args(
    job: str, env: str | None, conf_dir: str | None, zip_path: Path, run_id: str | None = None
) -> list[str]:
    """spark-submit options (everything before the application file).

    ``run_id`` is needed in cluster deploy mode (see :func:`cluster_mode_args`).
    """
    settings = load_settings(env, conf_dir)
    args = ["--master", settings.spark.master, "--deploy-mode", settings.spark.deploy_mode]
    if settings.spark.deploy_mode == "cluster":
        if not run_id:
            raise ConfigError("cluster deploy mode needs a run id (--run-id)")
        run_id = check_run_id(run_id, "LAKEHOUSE_RUN_ID")  # it names a file and a setting
        args += cluster_mode_args(settings, run_id, zip_path.parent)
    args += ["--name", f"lakehouse-jobs:{job}"]
    jars = jar_settings(settings)
    if "spark.jars.packages" in jars:
        args += ["--packages", jars.pop("spark.jars.packages")]
    if "spark.jars.repositories" in jars:
        args += ["--repositories", jars.pop("spark.jars.repositories")]
    if "spark.jars" in jars:
        args += ["--jars", jars.pop("spark.jars")]
    for key, value in {**jars, **spark_conf(settings, with_jars=False)}.items():
        args += ["--conf", f"{key}={value}"]
    args += ["--py-files", str(build_package_zip(zip_path))]
    return args


_USERINFO = re.compile(r"(?<=://)[^/@\s]+@")


def printable_command(argv: list[str]) -> str:
    """``argv`` as one shell-quoted line, with secrets masked.

    Masked: the value of a ``--conf key=value`` or ``KEY=value`` whose key
    looks secret (password, token, secret, jaas, credential, api key, url)
    and the ``user:password@`` part of any URL.
    """
    shown: list[str] = []
    after_conf = False
    for arg in argv:
        text = _USERINFO.sub("****@", arg)
        key, sep, _ = text.partition("=")
        if (
            sep
            and (after_conf or re.fullmatch(r"[A-Z_][A-Z0-9_]*", key))
            and SECRET_KEY.search(key)
        ):
            text = f"{key}=****"
        after_conf = arg == "--conf"
        shown.append(text)
    return shlex.join(shown)


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:2] == ["--quote", "--"]:
        print(printable_command(argv[2:]))
        return 0
    parser = argparse.ArgumentParser(prog="python -m lakehouse.launch.submit")
    parser.add_argument("--job", required=True)
    parser.add_argument("--env")
    parser.add_argument("--conf-dir")
    parser.add_argument("--zip", default=str(project_root() / ".build" / "lakehouse.zip"))
    parser.add_argument("--run-id", help="the run's id (cluster deploy mode)")
    args = parser.parse_args(argv)
    try:
        out = submit_args(args.job, args.env, args.conf_dir, Path(args.zip), args.run_id)
    except LakehouseError as exc:
        print(f"spark-submit.sh: error: {one_line(exc)}", file=sys.stderr)
        return int(exit_code_for(exc))
    for arg in out:
        if "\n" in arg:
            print(f"spark-submit.sh: error: argument with a line break: {arg!r}", file=sys.stderr)
            return 2
        print(arg)
    return 0


if __name__ == "__main__":
    sys.exit(main())
