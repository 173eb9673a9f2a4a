"""Turn the env config into spark-submit options (for :mod:`lakehouse.launch.launcher`).

:func:`submit_args` gives ``--master``, ``--deploy-mode``, ``--jars`` or
``--packages``, ``--py-files`` (a fresh zip of the ``lakehouse`` package) and a
``--conf`` pair for every setting the in-process session builder would set,
so both ways of starting a job run with the same settings; the command line's
own ``--conf`` pairs come last and win. :func:`printable_command` shows a
command line with its secrets masked (``--print-command``).
"""

from __future__ import annotations

import os
import re
import shlex
import zipfile
from pathlib import Path

from lakehouse.config import SECRET_KEY, Settings
from lakehouse.core import ConfigError
from lakehouse.lake import check_run_id, jar_settings, spark_conf
from lakehouse.lake.session import OVERRIDES_ENV

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


def cluster_mode_args(
    settings: Settings, run_id: str, build_dir: Path, extra_env: dict[str, str] | None = None
) -> list[str]:
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
    env = {"LAKEHOUSE_RUN_ID": run_id, "TZ": "UTC", **(extra_env or {})}
    env.update({name: os.environ[name] for name in names if name in os.environ})
    args = ["--conf", f"{wait}=true"]
    for name, value in env.items():
        args += ["--conf", f"{driver_env}{name}={value}"]
    archive = _zip_folder(conf_dir, build_dir / f"conf-{run_id}.zip")  # removed by the launcher
    return [*args, "--archives", f"{archive}#{CONF_ALIAS}"]


def submit_args(
    job: str,
    settings: Settings,
    zip_path: Path,
    run_id: str | None = None,
    confs: dict[str, str] | None = None,
) -> list[str]:
    """spark-submit options (everything before the application file).

    ``run_id`` is needed in cluster deploy mode (see :func:`cluster_mode_args`);
    ``confs`` are the command line's ``--conf`` pairs, passed after the env
    file's and named in :data:`OVERRIDES_ENV` so the driver's session keeps them.

    Raises:
        ConfigError: the settings cannot be launched (cluster mode on a local master).
    """
    confs = dict(confs or {})
    args = ["--master", settings.spark.master, "--deploy-mode", settings.spark.deploy_mode]
    if settings.spark.deploy_mode == "cluster":
        if not run_id:
            raise ConfigError("cluster deploy mode needs a run id (--run-id)")
        run_id = check_run_id(run_id, "LAKEHOUSE_RUN_ID")  # it names a file and a setting
        driver_env = {OVERRIDES_ENV: ",".join(sorted(confs))} if confs else {}
        args += cluster_mode_args(settings, run_id, zip_path.parent, driver_env)
    args += ["--name", f"lakehouse-jobs:{job}"]
    jars = jar_settings(settings)
    if "spark.jars.packages" in jars:
        args += ["--packages", jars.pop("spark.jars.packages")]
    if "spark.jars.repositories" in jars:
        args += ["--repositories", jars.pop("spark.jars.repositories")]
    if "spark.jars" in jars:
        args += ["--jars", jars.pop("spark.jars")]
    for key, value in {**jars, **spark_conf(settings, with_jars=False), **confs}.items():
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
