"""An Airflow operator that runs one lakehouse job through ``spark-submit.sh``.

It keeps the jobs' exit-code contract (docs/jobs.md, "Exit codes"):

==========  ===========================================  ==================
exit code   meaning                                      Airflow does
==========  ===========================================  ==================
0           success                                      task succeeds
1           anything else (a bug, an unexpected error)   retries (backoff)
75          transient failure after the job's retries    retries (backoff)
2           bad arguments or config                      fails, no retry
3           data-quality gate failed                     fails, no retry
4           freshness or SLA breached                    fails, no retry
==========  ===========================================  ==================

"Fails, no retry" is ``AirflowFailException``, the way Airflow marks a
failure that another try cannot mend. The job's last stdout line (its run
record) is the task's XCom value. Each try runs with
``LAKEHOUSE_RUN_ID=airflow.<dag>.<task>.<date>.try<n>``, so its ledger row
names the Airflow try it came from. The launcher runs in a process group of
its own; killing the task (timeout, mark failed) sends SIGTERM to that whole
group (launcher, spark-submit, driver): a stream stops at a batch boundary, a
batch job cancels its Spark work, and every job still records its run. What
is still running after ``stop_grace`` is killed, the whole group again, so no
spark-submit or driver outlives the task.

Works with Airflow 3 (``airflow.sdk``) and, for teams still on it, Airflow 2.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
from collections.abc import Sequence
from pathlib import Path
from typing import Any

try:  # Airflow 3
    from airflow.sdk import BaseOperator
    from airflow.sdk.exceptions import AirflowException, AirflowFailException
except ImportError:  # Airflow 2
    from airflow.exceptions import AirflowException, AirflowFailException
    from airflow.models import BaseOperator

NO_RETRY = {
    2: "bad arguments or config",
    3: "data-quality gate failed",
    4: "freshness or SLA breached",
}
RETRY = {1: "unexpected failure", 75: "transient failure after the job's own retries"}


def lakehouse_home() -> str:
    """The repository: ``$LAKEHOUSE_HOME``, else three folders above this file."""
    return os.environ.get("LAKEHOUSE_HOME") or str(Path(__file__).resolve().parents[3])


class LakehouseJobOperator(BaseOperator):
    """Run ``spark-submit.sh [--env ENV] JOB ARGS...`` and map its exit code.

    :param job: the job (``stream_ingest``, ``batch_load``, ``backfill``, ``health``)
    :param arguments: the job's arguments; templated (``{{ ds }}`` and the like); an
        argument that renders to an empty string is left out
    :param env: the config overlay (``conf/<env>.yaml``); templated
    :param stop_grace: seconds a killed task gives the job to stop cleanly
    """

    template_fields: Sequence[str] = ("arguments", "env")
    ui_color = "#d6eaf8"

    def __init__(
        self,
        *,
        job: str,
        arguments: Sequence[str] = (),
        env: str | None = None,
        stop_grace: float = 120.0,
        **kwargs: Any,
    ):
        super().__init__(**kwargs)
        self.job = job
        self.arguments = list(arguments)
        self.env = env
        self.stop_grace = stop_grace
        self._process: subprocess.Popen | None = None

    def command(self) -> list[str]:
        """The launcher's command line for this task."""
        launcher = str(Path(lakehouse_home()) / "spark-submit.sh")
        arguments = [a for a in self.arguments if a != ""]  # a template that rendered to nothing
        return [launcher, *(["--env", self.env] if self.env else []), self.job, *arguments]

    def run_id(self, context: Any) -> str:
        """This try's run id in the ledger (letters, digits and ``._+:-`` only)."""
        ti = context["ti"]
        day = context.get("ds_nodash") or "manual"
        raw = f"airflow.{ti.dag_id}.{ti.task_id}.{day}.try{ti.try_number}"
        return "".join(c if c.isalnum() or c in "._+:-" else "-" for c in raw)[:128]

    def execute(self, context: Any) -> dict[str, Any] | None:
        command = self.command()
        if not os.access(command[0], os.X_OK):  # a wrong LAKEHOUSE_HOME: no retry mends it
            raise AirflowFailException(
                f"{command[0]} is not an executable launcher: set LAKEHOUSE_HOME to the "
                "lakehouse-jobs repository on the workers"
            )
        self.log.info("running %s", " ".join(command))
        env = {**os.environ, "LAKEHOUSE_RUN_ID": self.run_id(context)}
        record: dict[str, Any] | None = None
        self._process = subprocess.Popen(
            command,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            cwd=lakehouse_home(),
            start_new_session=True,  # its own process group: on_kill stops all of it
        )
        assert self._process.stdout is not None
        for line in self._process.stdout:
            line = line.rstrip("\n")
            self.log.info("%s", line)
            record = _record(line) or record
        code = self._process.wait()
        if code == 0:
            return record
        why = (record or {}).get("error_message") or "see the log above"
        if code in NO_RETRY:
            raise AirflowFailException(
                f"{self.job} exited {code} ({NO_RETRY[code]}; not retried): {why}"
            )
        meaning = RETRY.get(code, "unexpected exit code")
        raise AirflowException(f"{self.job} exited {code} ({meaning}): {why}")

    def on_kill(self) -> None:
        process = self._process
        if process is None or process.poll() is not None:
            return
        _signal_group(process.pid, signal.SIGTERM)  # the driver stops and records its run
        try:
            process.wait(timeout=self.stop_grace)
        except subprocess.TimeoutExpired:
            pass
        _signal_group(process.pid, signal.SIGKILL)  # whatever outlived the grace period


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except ProcessLookupError:  # the group is gone already
        pass


def _record(line: str) -> dict[str, Any] | None:
    """The run record, when ``line`` is one (the launcher prints it last)."""
    if not line.startswith("{"):
        return None
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) and "run_id" in value else None


def deadline_missed(pipeline: str, env: str | None = None, **context: Any) -> None:
    """Deadline callback: the chain is late, so run ``health`` for the pipeline.

    ``health`` judges freshness and SLAs from the ledger and sends the
    pipeline's own alerts (``alerts:`` in its config): the same channel a
    late run reports through when no orchestrator is involved.
    """
    launcher = str(Path(lakehouse_home()) / "spark-submit.sh")
    command = [launcher, *(["--env", env] if env else []), "health", "--pipeline", pipeline]
    subprocess.run(command, cwd=lakehouse_home(), check=False, timeout=1800)
