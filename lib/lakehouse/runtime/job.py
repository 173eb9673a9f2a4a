"""What every job's ``main`` shares: argument parsing, the run frame, the last line.

A job module builds its parser with :func:`job_parser`, then hands its
``run`` function to :func:`run_job`, which

1. parses the arguments (bad ones: exit 2),
2. loads the config once (bad: exit 2, nothing written),
3. checks the lake root is writable (not: exit 2, nothing written),
4. builds the SparkSession,
5. calls ``run(ctx)`` and maps its outcome or exception to an exit code,
6. judges the run against its SLA and sends its alerts (lib/notify),
7. appends the run to the ledger and prints it as the last stdout line.
"""

from __future__ import annotations

import argparse
import contextlib
import faulthandler
import logging
import os
import signal
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, NoReturn

from lakehouse.config import Config, Pipeline, Settings, load_config
from lakehouse.core.errors import (
    ConfigError,
    ExitCode,
    UsageError,
    exit_code_for,
    one_line,
)
from lakehouse.core.stopping import Interrupted, StopToken
from lakehouse.lake.ledger import Ledger, Outcome, RunRecord, check_run_id, new_run_id, utcnow

log = logging.getLogger("lakehouse")


class ArgumentParser(argparse.ArgumentParser):
    """argparse that raises :class:`UsageError` instead of printing usage and exiting."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{message} (see --help)")


def iso_date(text: str) -> date:
    """argparse type for ``YYYY-MM-DD`` logical dates."""
    try:
        if len(text) != 10:
            raise ValueError
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"invalid date {text!r}: use a real date as YYYY-MM-DD"
        ) from None


def whole_number(minimum: int) -> Callable[[str], int]:
    """argparse type for counts of at least ``minimum`` (``--max-batches``, ``--parallel``)."""

    def parse(text: str) -> int:
        if not text.isdigit() or int(text) < minimum:
            raise argparse.ArgumentTypeError(
                f"must be a whole number of at least {minimum}, not {text!r}"
            )
        return int(text)

    return parse


def job_parser(
    job: str, doc: str | None, *, pipeline: bool = True, or_all: bool = False
) -> ArgumentParser:
    """A parser with the options every job takes (``--env``, ``--conf-dir``, ``--pipeline``;
    with ``or_all``, ``--pipeline P`` or ``--all``, one of them required)."""
    summary = (doc or "").strip().splitlines()[0] if doc else None
    parser = ArgumentParser(prog=f"spark-submit.sh {job}", description=summary)
    parser.add_argument(
        "--env", help="config overlay conf/<ENV>.yaml (default: $LAKEHOUSE_ENV or local)"
    )
    parser.add_argument("--conf-dir", help="config folder (default: $LAKEHOUSE_CONF_DIR or ./conf)")
    if or_all:
        which = parser.add_mutually_exclusive_group(required=True)
        which.add_argument("--pipeline", help="pipeline name: conf/pipelines/NAME.yaml")
        which.add_argument("--all", action="store_true", help="every pipeline of the config folder")
    elif pipeline:
        parser.add_argument(
            "--pipeline", required=True, help="pipeline name: conf/pipelines/NAME.yaml"
        )
    return parser


@dataclass
class JobContext:
    """Everything ``run`` needs: args, config, session, the run's record."""

    job: str
    args: argparse.Namespace
    config: Config
    spark: Any
    record: RunRecord
    ledger: Ledger
    alerts: list[Any] = field(
        default_factory=list
    )  # more alerts to send (lakehouse.ops.alerts.Alert)
    # SIGTERM/SIGINT: poll ``stop.requested`` / call ``stop.check()`` between steps
    stop: StopToken = field(default_factory=StopToken)

    @property
    def settings(self) -> Settings:
        """The environment's settings."""
        return self.config.settings

    @property
    def pipeline(self) -> Pipeline:
        """The pipeline the job was asked for (jobs without one must not call this)."""
        if self.config.pipeline is None:
            raise RuntimeError(f"{self.job} was started without a pipeline")
        return self.config.pipeline


class _MarkedStderr:
    """Under spark-submit, Python's stderr is merged into stdout by Spark's
    PythonRunner. The launcher (:mod:`lakehouse.launch.launcher`) sets
    LAKEHOUSE_STDERR_MARKER and sends every stdout line starting with that
    marker back to stderr, so errors and logs still reach stderr and stdout
    keeps only the report and the JSON line.

    A flushed piece of a line (a progress bar redrawn with ``\\r``) goes out
    at once behind LAKEHOUSE_FRAGMENT_MARKER, which the launcher writes
    without a line break. ``isatty()`` is the launcher's own stderr's
    (LAKEHOUSE_TERMINAL), so the backfill draws its bar only for a person.
    """

    def __init__(self, marker: str, out: Any, fragment_marker: str = "", terminal: bool = False):
        self.marker = marker
        self.fragment_marker = fragment_marker
        self.out = out
        self.terminal = terminal
        self.pending = ""
        self._lock = threading.Lock()

    def write(self, text: str) -> int:
        with self._lock:
            self.pending += text
            *lines, self.pending = self.pending.split("\n")
            for line in lines:
                self.out.write(f"{self.marker}{line}\n")
            if lines:
                self.out.flush()
        return len(text)

    def flush(self) -> None:
        with self._lock:
            if self.pending:
                mark = self.fragment_marker or self.marker
                self.out.write(f"{mark}{self.pending}\n")
                self.pending = ""
            self.out.flush()

    def isatty(self) -> bool:
        return self.terminal


def route_stderr() -> None:
    """Mark stderr lines when the launcher asked for it (see :class:`_MarkedStderr`)."""
    marker = os.environ.get("LAKEHOUSE_STDERR_MARKER")
    if (
        marker
        and os.environ.get("PYSPARK_GATEWAY_PORT")
        and not isinstance(sys.stderr, _MarkedStderr)
    ):
        sys.stderr = _MarkedStderr(
            marker,
            sys.stdout,
            os.environ.get("LAKEHOUSE_FRAGMENT_MARKER", ""),
            terminal=os.environ.get("LAKEHOUSE_TERMINAL") == "1",
        )


def write_driver_pid() -> None:
    """Tell the launcher which process to forward SIGTERM/SIGINT to."""
    pidfile = os.environ.get("LAKEHOUSE_DRIVER_PIDFILE")
    if pidfile and os.environ.get("PYSPARK_GATEWAY_PORT"):
        with contextlib.suppress(OSError), open(pidfile, "w") as fh:
            fh.write(str(os.getpid()))


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


def restore_default_signals() -> None:
    """Undo the launcher's "ignore SIGTERM/SIGINT" (meant for the JVM) in the driver.

    Jobs then stop like any process; :func:`run_job` and the streaming job
    install their own, gentler handlers around the work.
    """
    if not _in_main_thread():
        return
    if signal.getsignal(signal.SIGTERM) == signal.SIG_IGN:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


def dump_stacks_on_sigusr1() -> None:
    """``kill -USR1 <driver pid>`` prints every Python thread's stack.

    For a job that seems stuck: ``jstack`` shows the JVM's side, this the driver's.
    It goes to the process's own stderr, which spark-submit merges into the
    job's stdout (no marker can be added from a signal).
    """
    if not _in_main_thread() or not hasattr(signal, "SIGUSR1"):
        return
    with contextlib.suppress(AttributeError, OSError, RuntimeError, ValueError):
        faulthandler.register(signal.SIGUSR1, file=sys.__stderr__, all_threads=True)


def setup_logging() -> None:
    """Log lines to stderr; stdout stays for the report and the JSON last line."""
    route_stderr()
    write_driver_pid()
    restore_default_signals()
    dump_stacks_on_sigusr1()
    level = os.environ.get("LAKEHOUSE_LOG_LEVEL", "INFO").upper()
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("py4j").setLevel(logging.WARNING)


def say(line: str) -> None:
    """A line of the job's report on stdout, now (what domain code hands back to print)."""
    print(line, flush=True)


def emit(record: RunRecord) -> None:
    """Print the run as the last line on stdout."""
    sys.stdout.flush()
    print(record.to_json(), flush=True)


def report_error(job: str, exc: BaseException, code: int) -> str:
    """One clear line on stderr (plus the Python traceback for unexpected errors)."""
    message = one_line(exc)
    if code == ExitCode.FAILURE:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"{job}: error: {message}", file=sys.stderr, flush=True)
    return message


def ensure_lake_writable(settings: Settings) -> None:
    """Create the lake root if needed and prove a file can be written there.

    A lake on object storage is not written here: its store must answer
    (a TCP connection to the endpoint, no JVM), the first Spark write does
    the rest.

    Raises:
        ConfigError: the lake root is not a writable folder (exit 2).
        TransientError: the lake's object store does not answer (exit 75).
    """
    if not settings.is_local_lake:
        from lakehouse.lake.storage import probe_store

        probe_store(settings)
        return
    root = Path(settings.lake_root.removeprefix("file:"))
    try:
        root.mkdir(parents=True, exist_ok=True)
        probe = root / f".write-probe-{uuid.uuid4().hex}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ConfigError(f"lake root {root} is not writable ({reason})", key="lake_root") from None


RUN_ID_ENV = "LAKEHOUSE_RUN_ID"
CHECK_ONLY_ENV = "LAKEHOUSE_CHECK_ONLY"


def check_only() -> bool:
    """True in the launcher's pass before spark-submit: check arguments and config, no JVM."""
    return os.environ.get(CHECK_ONLY_ENV) == "1"


def given_run_id() -> str | None:
    """The run id chosen by the launcher or an orchestrator (``$LAKEHOUSE_RUN_ID``).

    In cluster deploy mode the launcher cannot see the driver's stdout; it
    names the run up front and reads the run's exit code back from the
    ledger. Orchestrators can set it to tie a ledger row to their own try.

    Raises:
        UsageError: the id is not 1-128 characters of ``[A-Za-z0-9_.:+-]``.
    """
    value = os.environ.get(RUN_ID_ENV, "")
    return check_run_id(value, RUN_ID_ENV) if value else None


def use_utc() -> None:
    """Jobs live in UTC: PySpark turns timestamps into the process's local time,
    so a driver on a host in another zone would shift every time it reads."""
    if os.environ.get("TZ") != "UTC" and hasattr(time, "tzset"):
        os.environ["TZ"] = "UTC"
        time.tzset()


def run_job(
    job: str,
    argv: Sequence[str] | None,
    parser: ArgumentParser,
    run: Callable[[JobContext], Outcome],
    *,
    logical_date: Callable[[argparse.Namespace], date | None] = lambda a: None,
    attempt: Callable[[argparse.Namespace], int] = lambda a: 1,
    validate: Callable[[argparse.Namespace], None] = lambda a: None,
) -> int:
    """Run one job from its arguments to its exit code (see the module doc)."""
    use_utc()
    setup_logging()
    record = RunRecord(run_id=new_run_id(), job=job, started_at=utcnow())
    try:
        record.run_id = given_run_id() or record.run_id
        args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))
        validate(args)  # checks across arguments (raise UsageError): before any Spark work
        record.pipeline = getattr(args, "pipeline", None)
        record.logical_date = logical_date(args)
        record.attempt = attempt(args)
        config = load_config(record.pipeline, env=args.env, conf_dir=args.conf_dir)
        record.env = config.settings.env
        if config.pipeline is not None:
            record.conf_fingerprint = config.pipeline.fingerprint()
        ensure_lake_writable(config.settings)
        from lakehouse.lake.catalog import probe_metastore

        probe_metastore(config.settings)
    except Exception as exc:  # arguments, config, lake: nothing written, no ledger row
        code = exit_code_for(exc)
        message = report_error(job, exc, code)
        emit(record.finish("failed", code, error=exc, error_message=message))
        return code
    if check_only():
        if os.environ.get("LAKEHOUSE_QUIET_CHECK") != "1":
            print(f"{job}: arguments and config are valid", file=sys.stderr, flush=True)
        return ExitCode.OK

    try:
        from lakehouse.lake.session import build_session

        spark = build_session(config.settings, job, record.pipeline)
    except Exception as exc:
        code = exit_code_for(exc)
        message = report_error(job, exc, code)
        emit(record.finish("failed", code, error=exc, error_message=message))
        return code

    ledger = Ledger(spark, config.settings.ledger_path)
    stop = StopToken(cancel=spark.sparkContext.cancelAllJobs)
    ctx = JobContext(job, args, config, spark, record, ledger, stop=stop)
    # the handlers stay until the ledger row is written: a second signal (the
    # process group's plus the launcher's forwarded copy) cannot kill the driver
    # before the run is recorded
    with stop.installed():
        try:
            with stop.working():
                outcome = run(ctx)
            record.rows_in = outcome.rows_in
            record.rows_out = outcome.rows_out
            record.rows_quarantined = outcome.rows_quarantined
            record.details.update(outcome.details)
            with stop.working():
                catalog = publish_to_catalog(ctx, outcome)  # raises: the data stays written
            if catalog:
                record.details["catalog"] = catalog
            record.finish(outcome.status, outcome.exit_code, error_message=outcome.message)
        except Exception as exc:
            failure = _stopped_failure(exc, stop, record)
            code = exit_code_for(failure)
            message = report_error(job, failure, code)
            record.finish("failed", code, error=failure, error_message=message)
        try:
            from lakehouse.ops.notify import finish_run

            finish_run(spark, config.settings, config.pipeline, record, ctx.alerts)
        except Exception as exc:  # SLA and alerts never change a run's outcome
            record.details["notify_error"] = one_line(exc)
        if stop.reason:
            record.details.setdefault("signal", stop.reason)
        return record_and_emit(ledger, record)


def publish_to_catalog(ctx: JobContext, outcome: Outcome) -> dict[str, Any] | None:
    """After a successful load: the pipeline's tables by name, and its gold views.

    Only with a catalog configured, only after the jobs that load silver and
    only when they wrote (exit 0, not a dry run). A view Spark refuses fails
    the run with exit 2; the data the run wrote stays.
    """
    from lakehouse.lake.catalog import PUBLISH_JOBS, publish

    settings = ctx.settings
    if not settings.catalog.enabled or ctx.config.pipeline is None or ctx.job not in PUBLISH_JOBS:
        return None
    if outcome.exit_code != ExitCode.OK or outcome.status == "dry_run":
        return None
    return publish(ctx.spark, settings, ctx.config.pipeline)


def _stopped_failure(exc: Exception, stop: StopToken, record: RunRecord) -> Exception:
    """What a run that failed while stopping is recorded as.

    A failure after the stop cancelled Spark jobs is, as a rule, the cancelled
    action: :class:`Interrupted` (exit 75). A verdict the job reached on its
    own (a quality gate, bad config) keeps its code, and so does any failure
    of a job that stopped without cancelling (a stream's graceful stop).
    """
    if not stop.cancelled or isinstance(exc, Interrupted):
        return exc  # no Spark job was cancelled (e.g. a stream stopping gracefully): as it is
    if exit_code_for(exc) not in (ExitCode.FAILURE, ExitCode.TRANSIENT):
        return exc
    record.details["error_while_stopping"] = one_line(exc)
    return Interrupted(stop.reason or "a stop request")


def record_and_emit(ledger: Ledger, record: RunRecord) -> int:
    """Append the finished record to the ledger, print it, return its exit code.

    A ledger that cannot be written does not change the run's exit code (the
    data work is done, and every job is idempotent): it is reported on stderr
    and in the printed record's details.
    """
    try:
        ledger.append(record)
    except Exception as exc:
        record.details["ledger_error"] = one_line(exc)
        print(
            f"{record.job}: warning: run not recorded in the ledger: {one_line(exc)}",
            file=sys.stderr,
            flush=True,
        )
    emit(record)
    return record.exit_code
