"""The launcher: ``lakehouse run JOB ...`` and ``./spark-submit.sh JOB ...`` (one code path).

1. Parses its own options (``--env``, ``--conf-dir``, ``--conf k=v``,
   ``--master``, ``--print-command``) and the job's name (did-you-mean on a
   typo); the rest goes to the job.
2. Turns the environment's config into spark-submit options
   (:mod:`lakehouse.launch.submit`); ``--conf`` and ``--master`` given here
   come after those and win, in spark-submit and in the driver's session
   (:data:`lakehouse.lake.session.OVERRIDES_ENV`).
3. Runs the job's own argument and config checks without a JVM (the job in
   check-only mode): a bad date or pipeline file exits 2 in about a second.
4. Starts spark-submit and relays the driver's output as it comes, line by
   line: stdout stays stdout (its last line is the run's JSON record), the
   lines the job marked as stderr go to stderr, and progress-bar fragments
   are written without a line break. Signals go to the Python driver, which
   stops cleanly and records the run (see :func:`_run_client`).

In cluster deploy mode (YARN, Kubernetes) the driver's output stays on the
cluster: spark-submit waits for the application, and the run's exit code and
record are then read from the ledger (:mod:`lakehouse.launch.runstatus`).
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from lakehouse.config import load_settings, resolve_conf_dir
from lakehouse.core import EXIT_CODE_TABLE, ExitCode, LakehouseError, exit_code_for, one_line
from lakehouse.core.errors import UsageError, did_you_mean
from lakehouse.lake.session import OVERRIDES_ENV
from lakehouse.launch.submit import CONF_ALIAS, PACKAGE_DIR, printable_command, submit_args

PROG_ENV = "LAKEHOUSE_PROG"  # the name errors and usage show (spark-submit.sh sets it)
STDERR_MARK = b"\x1f"  # a whole stderr line of the driver (lakehouse.runtime.job)
FRAGMENT_MARK = b"\x1e"  # a stderr fragment without its line break (a progress bar)
LOG4J_FILE = Path(__file__).resolve().parent / "log4j2.properties"
SPARK_LOG_ENV = "LAKEHOUSE_SPARK_LOG"
CHECKOUT = PACKAGE_DIR.parents[1]  # lib/lakehouse -> the repository, when run from one


def job_names() -> list[str]:
    """The jobs the package can run: the module files of ``lakehouse/jobs`` (not imported)."""
    folder = PACKAGE_DIR / "jobs"
    return sorted(p.stem for p in folder.glob("*.py") if not p.stem.startswith("_"))


def usage(prog: str) -> str:
    return f"""usage: {prog} [--env ENV] [--conf-dir DIR] [--conf KEY=VALUE ...] [--master M]
       {" " * len(prog)} [--print-command] JOB [job args...]

Run a lakehouse job with spark-submit, configured from the config folder.
Arguments and config are checked before the JVM starts (exit 2, nothing run).

options:
  --env ENV          config overlay <conf-dir>/ENV.yaml (default: $LAKEHOUSE_ENV or local)
  --conf-dir DIR     config folder (default: $LAKEHOUSE_CONF_DIR or ./conf)
  --conf KEY=VALUE   a Spark setting for this run; wins over the env file (repeat)
  --master M         the Spark master for this run (local[4], spark://host:7077, yarn)
  --print-command    print the spark-submit command line (secrets masked) and exit
  -h, --help         show this help

jobs: {",".join(job_names())}
      ({prog} JOB --help shows a job's own options)

examples:
  {prog} batch_load --pipeline orders --date 2026-03-01
  {prog} --env cluster --conf spark.executor.memory=8g backfill --pipeline orders \\
      --from 2026-03-01 --to 2026-03-31
  {prog} --print-command stream_ingest --pipeline orders

environment:
  LAKEHOUSE_SPARK_LOG   Spark's console log level (default WARN; INFO, DEBUG; "spark"
                        for Spark's own log4j2 file)
  LAKEHOUSE_RUN_ID      the run's id in the ledger (default: a new one)

{EXIT_CODE_TABLE}"""


@dataclass
class Launch:
    """What the command line asked for."""

    job: str
    job_args: list[str]
    env: str | None = None
    conf_dir: str | None = None
    confs: dict[str, str] = field(default_factory=dict)
    master: str | None = None
    print_command: bool = False


def _value(argv: list[str], i: int, name: str) -> tuple[str, int]:
    arg = argv[i]
    if arg.startswith(f"{name}="):
        return arg.split("=", 1)[1], i + 1
    if i + 1 >= len(argv):
        raise UsageError(f"{name} needs a value")
    return argv[i + 1], i + 2


def parse(argv: Sequence[str]) -> Launch | None:
    """The launcher's options up to the job name; None for ``--help``.

    Raises:
        UsageError: an unknown option, a missing value, no job or an unknown job.
    """
    argv = list(argv)
    env = os.environ.get("LAKEHOUSE_ENV") or None
    conf_dir = os.environ.get("LAKEHOUSE_CONF_DIR") or None
    confs: dict[str, str] = {}
    master = None
    print_command = False
    i = 0
    while i < len(argv):
        arg = argv[i]
        name = arg.split("=", 1)[0]
        if arg in ("-h", "--help"):
            return None
        if arg == "--print-command":
            print_command, i = True, i + 1
        elif name == "--env":
            env, i = _value(argv, i, name)
        elif name == "--conf-dir":
            conf_dir, i = _value(argv, i, name)
        elif name == "--master":
            master, i = _value(argv, i, name)
            if not master.strip():
                raise UsageError("--master needs a value")
        elif name == "--conf":
            pair, i = _value(argv, i, name)
            key, sep, value = pair.partition("=")
            if not sep or not key.strip() or key != key.strip():
                raise UsageError(f"--conf takes KEY=VALUE, not {pair!r}")
            confs[key] = value
        elif arg.startswith("-"):
            raise UsageError(f"unknown option {arg} (see --help)")
        else:
            break
    if i >= len(argv):
        raise UsageError(f"no job given (jobs: {','.join(job_names())})")
    job = argv[i]
    known = job_names()
    if job not in known:
        raise UsageError(f"unknown job {job!r}{did_you_mean(job, known)} (jobs: {','.join(known)})")
    return Launch(job, argv[i + 1 :], env, conf_dir, confs, master, print_command)


def entry_file(job: str) -> Path:
    """The file spark-submit runs: ``jobs/JOB.py`` of a checkout, else the package's module."""
    top = CHECKOUT / "jobs" / f"{job}.py"
    if (CHECKOUT / "pyproject.toml").is_file() and top.is_file():
        return top
    return PACKAGE_DIR / "jobs" / f"{job}.py"


def build_dir() -> Path:
    """Where the package zip and per-run archives are written."""
    if (CHECKOUT / "pyproject.toml").is_file():
        return CHECKOUT / ".build"
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "lakehouse-jobs"


def spark_submit_binary() -> str:
    """``$SPARK_HOME/bin/spark-submit``, else the one beside this Python, else on PATH.

    Raises:
        LakehouseError: none is found.
    """
    home = os.environ.get("SPARK_HOME")
    candidates = [Path(home) / "bin" / "spark-submit"] if home else []
    candidates.append(Path(sys.executable).parent / "spark-submit")
    for candidate in candidates:
        if os.access(candidate, os.X_OK):
            return str(candidate)
    found = shutil.which("spark-submit")
    if found is None:
        raise LakehouseError("spark-submit not found: install pyspark or set SPARK_HOME")
    return found


DEFAULT_JAVA_OPTIONS = "spark.driver.defaultJavaOptions"


def log_args(deploy_mode: str, given: str | None) -> list[str]:
    """The shipped log4j2 file for a client-mode driver (unless ``LAKEHOUSE_SPARK_LOG=spark``).

    It goes in ``spark.driver.defaultJavaOptions`` ahead of the options the
    config or command line gave there (``given``, kept); Spark puts those
    before ``spark.driver.extraJavaOptions``, so a team's driver options stay.
    """
    options = [given] if given else []
    level = os.environ.get(SPARK_LOG_ENV, "")
    if deploy_mode == "client" and level.lower() != "spark":
        options.insert(0, f"-Dlog4j2.configurationFile=file:{LOG4J_FILE}")
    return ["--conf", f"{DEFAULT_JAVA_OPTIONS}={' '.join(options)}"] if options else []


def _deploy_mode(args: list[str]) -> str:
    return args[args.index("--deploy-mode") + 1] if "--deploy-mode" in args else "client"


def main(argv: Sequence[str] | None = None) -> int:
    """Run the launcher; returns the job's exit code (2 for a bad launch)."""
    prog = os.environ.get(PROG_ENV) or "lakehouse run"
    name = prog.rsplit("/", 1)[-1]
    try:
        launch = parse(sys.argv[1:] if argv is None else argv)
    except UsageError as exc:
        print(f"{name}: error: {exc}", file=sys.stderr)
        return ExitCode.USAGE
    if launch is None:
        print(usage(prog))
        return ExitCode.OK
    if any(arg in ("-h", "--help") for arg in launch.job_args):  # a job's help needs no Spark
        return _run_python(launch, [str(entry_file(launch.job)), *launch.job_args])
    try:
        return _launch(launch, name)
    except LakehouseError as exc:
        print(f"{name}: error: {one_line(exc)}", file=sys.stderr)
        return int(exit_code_for(exc))


def _launch(launch: Launch, name: str) -> int:
    folder = resolve_conf_dir(launch.conf_dir, dict(os.environ))
    common = ["--conf-dir", str(folder), *(["--env", launch.env] if launch.env else [])]
    run_id = os.environ.get("LAKEHOUSE_RUN_ID") or _new_run_id()
    settings = load_settings(launch.env, str(folder))
    if launch.master is not None:
        settings = _replace_master(settings, launch.master)
    confs = {k: v for k, v in launch.confs.items() if k != DEFAULT_JAVA_OPTIONS}
    args = submit_args(launch.job, settings, build_dir() / "lakehouse.zip", run_id, confs)
    deploy_mode = _deploy_mode(args)
    given = launch.confs.get(DEFAULT_JAVA_OPTIONS) or settings.spark.conf.get(DEFAULT_JAVA_OPTIONS)
    args += log_args(deploy_mode, given)
    job_common = common
    if deploy_mode == "cluster":  # the driver reads the config shipped as an archive
        job_common = ["--conf-dir", CONF_ALIAS, *(["--env", launch.env] if launch.env else [])]
    app = [str(entry_file(launch.job)), *launch.job_args, *job_common]
    env = _child_env(launch)
    command = [spark_submit_binary(), *args, *app]
    if launch.print_command:  # for operators porting the launch to their own tooling
        shown = [f"{k}={env[k]}" for k in ("LAKEHOUSE_HOME", "PYSPARK_PYTHON") if k in env]
        shown.append(f"PYSPARK_DRIVER_PYTHON={env['PYSPARK_DRIVER_PYTHON']}")
        if OVERRIDES_ENV in env:
            shown.append(f"{OVERRIDES_ENV}={env[OVERRIDES_ENV]}")
        print(printable_command([*shown, *command]))
        return ExitCode.OK
    checked = _run_python(
        launch,
        [str(entry_file(launch.job)), *launch.job_args, *common],
        extra_env={"LAKEHOUSE_CHECK_ONLY": "1", "LAKEHOUSE_QUIET_CHECK": "1"},
    )
    if checked != ExitCode.OK:
        _remove_run_archive(run_id)
        return checked
    if deploy_mode == "cluster":
        try:
            return _run_cluster(command, env, run_id, common)
        finally:
            _remove_run_archive(run_id)
    return _run_client(command, env)


def _replace_master(settings, master: str):
    import dataclasses

    return dataclasses.replace(settings, spark=dataclasses.replace(settings.spark, master=master))


def _new_run_id() -> str:
    return f"{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{secrets.token_hex(6)}"


def _remove_run_archive(run_id: str) -> None:
    with contextlib.suppress(OSError):
        (build_dir() / f"conf-{run_id}.zip").unlink()


def _python_path() -> str:
    """PYTHONPATH for a Python the launcher starts: the package's source root first."""
    current = os.environ.get("PYTHONPATH")
    return os.pathsep.join([str(PACKAGE_DIR.parent), *([current] if current else [])])


def _child_env(launch: Launch) -> dict[str, str]:
    env = dict(os.environ)
    if (CHECKOUT / "pyproject.toml").is_file():
        env.setdefault("LAKEHOUSE_HOME", str(CHECKOUT))
    env.setdefault("PYSPARK_PYTHON", sys.executable)
    env.setdefault("PYSPARK_DRIVER_PYTHON", env["PYSPARK_PYTHON"])
    env["PYTHONUNBUFFERED"] = "1"  # the driver's prints reach the relay as they happen
    overrides = sorted(launch.confs)
    if overrides:
        env[OVERRIDES_ENV] = ",".join(overrides)
    else:
        env.pop(OVERRIDES_ENV, None)
    return env


def _run_python(launch: Launch, args: list[str], extra_env: dict[str, str] | None = None) -> int:
    """Run a job file with this Python, no JVM (its help, its check-only pass)."""
    env = {**os.environ, "PYTHONPATH": _python_path(), **(extra_env or {})}
    return subprocess.run([sys.executable, *args], env=env, check=False).returncode


def _run_cluster(command: list[str], env: dict[str, str], run_id: str, common: list[str]) -> int:
    """spark-submit waits for the application; the run's outcome is read from the ledger."""
    launched_at = int(time.time())
    status = subprocess.run(command, env=env, stdout=sys.stderr, check=False).returncode
    status = _exit_status(status)
    reader_env = {k: v for k, v in os.environ.items() if k != "SPARK_HOME"}  # this venv's pyspark
    reader_env["PYTHONPATH"] = _python_path()
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "lakehouse.launch.runstatus",
            "--run-id",
            run_id,
            "--submit-status",
            str(status),
            "--launched-at",
            str(launched_at),
            *common,
        ],
        env=reader_env,
        check=False,
    ).returncode


def _exit_status(returncode: int) -> int:
    """A child's exit status as a shell reports it (128 + N when killed by signal N)."""
    return 128 - returncode if returncode < 0 else returncode


def _run_client(command: list[str], env: dict[str, str]) -> int:
    """Start spark-submit, relay its output live, forward SIGTERM/SIGINT to the driver.

    Signals must reach the Python driver (which stops cleanly and records the
    run) but not the JVM (whose shutdown hooks would kill the SparkContext
    under it). spark-submit therefore starts with both ignored (the JVM keeps
    an inherited "ignore"; the driver installs its own handlers), and this
    process forwards them to the driver, whose pid the job writes to
    ``LAKEHOUSE_DRIVER_PIDFILE``. A signal that comes before the driver wrote
    its pid is forwarded once it has. Signalling the whole process group, as
    Airflow does, works the same way.
    """
    with tempfile.TemporaryDirectory(prefix="lakehouse-run.") as run_dir:
        pidfile = Path(run_dir) / "driver.pid"
        env = {
            **env,
            "LAKEHOUSE_STDERR_MARKER": STDERR_MARK.decode(),
            "LAKEHOUSE_FRAGMENT_MARKER": FRAGMENT_MARK.decode(),
            "LAKEHOUSE_DRIVER_PIDFILE": str(pidfile),
        }
        if _is_terminal(sys.stderr):
            env["LAKEHOUSE_TERMINAL"] = "1"
        pending: list[int] = []
        in_main = threading.current_thread() is threading.main_thread()
        previous = {}
        if in_main:
            for sig in (signal.SIGTERM, signal.SIGINT):
                previous[sig] = signal.signal(sig, signal.SIG_IGN)
        try:
            proc = subprocess.Popen(command, env=env, stdout=subprocess.PIPE)
        finally:
            if in_main:
                for sig in previous:
                    signal.signal(sig, lambda signum, _frame: pending.append(signum))
        try:
            assert proc.stdout is not None
            relay = threading.Thread(
                target=relay_lines, args=(proc.stdout, _binary(sys.stdout), _binary(sys.stderr))
            )
            relay.daemon = True
            relay.start()
            while True:
                try:
                    returncode = proc.wait(timeout=0.2)
                    break
                except subprocess.TimeoutExpired:
                    pass
                _forward(pending, pidfile)
            relay.join()
        finally:
            if in_main:
                for sig, handler in previous.items():
                    signal.signal(sig, handler)
    return _exit_status(returncode)


def _forward(pending: list[int], pidfile: Path) -> None:
    if not pending:
        return
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return  # the driver has not started yet: forwarded once it has
    while pending:
        with contextlib.suppress(OSError):
            os.kill(pid, pending.pop(0))


def _is_terminal(stream) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _binary(stream) -> BinaryIO:
    stream.flush()
    return getattr(stream, "buffer", stream)


def relay_lines(source: BinaryIO, out: BinaryIO, err: BinaryIO) -> None:
    """Copy the driver's output line by line as it arrives, each line flushed at once.

    A line starting with :data:`STDERR_MARK` goes to ``err`` without the mark;
    one starting with :data:`FRAGMENT_MARK` goes to ``err`` without the mark
    and without its line break (a progress bar redrawn with ``\\r``); any other
    line goes to ``out``.
    """
    for line in iter(source.readline, b""):
        if line.startswith(STDERR_MARK):
            err.write(line[1:])
            err.flush()
        elif line.startswith(FRAGMENT_MARK):
            err.write(line[1:].rstrip(b"\n"))
            err.flush()
        else:
            out.write(line)
            out.flush()
