"""Waiting for a job started in its own session, and saying why when it hangs.

:func:`communicate` is ``Popen.communicate`` with a timeout that, instead of
a bare ``TimeoutExpired``, fails with what the hung job was doing: the
stack of every Python thread of its drivers (they dump them on SIGUSR1,
see ``lakehouse.runtime.job``; under spark-submit they land on stdout), the
JVMs' main and streaming threads (``jstack``), and the ends of its stderr
and stdout. The job's process group is killed
afterwards, so nothing of it outlives the test.
"""

from __future__ import annotations

import os
import re
import shutil
import signal
import subprocess
import time
from pathlib import Path

DUMP_WAIT_S = 3.0
KEEP_CHARS = 12000


def session_pids(sid: int) -> list[int]:
    """Every process of session ``sid`` (what ``start_new_session=True`` started)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[3]) == sid:  # after the name: state, ppid, pgrp, session
            pids.append(int(entry.name))
    return sorted(pids)


def _cmdline(pid: int) -> str:
    try:
        return (Path("/proc") / str(pid) / "cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return ""


def _interesting_threads(jstack_out: str) -> str:
    """The main thread and the query's threads of a jstack dump (the rest is noise)."""
    blocks = re.split(r"\n(?=\")", jstack_out)
    keep = [
        b
        for b in blocks
        if b.startswith('"main"') or "stream execution" in b or "Thread-" in b[:40]
    ]
    return "\n".join(keep)


def communicate(proc: subprocess.Popen, timeout: float) -> tuple[str, str]:
    """``proc.communicate(timeout=...)``; on timeout, an AssertionError saying what hung."""
    try:
        return proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        pass
    pids = session_pids(proc.pid)
    jvm_dumps = []
    for pid in pids:
        command = _cmdline(pid)
        if "java" in command.split(" ", 1)[0] and shutil.which("jstack"):
            result = subprocess.run(
                ["jstack", str(pid)], capture_output=True, text=True, timeout=60, check=False
            )
            jvm_dumps.append(f"--- jstack {pid}\n{_interesting_threads(result.stdout)}")
        elif "python" in command.split(" ", 1)[0] and "lakehouse.launch" not in command:
            # a driver (the launcher has no SIGUSR1 handler: it would die, and with it
            # the relay of the drivers' output)
            with_suppressed_kill(pid, signal.SIGUSR1)
    time.sleep(DUMP_WAIT_S)  # the drivers write their stacks
    with_suppressed_kill(-proc.pid, signal.SIGKILL)
    out, err = proc.communicate(timeout=60)
    processes = "\n".join(f"{pid} {_cmdline(pid)[:200]}" for pid in pids)
    report = f"processes:\n{processes}\n" + "\n".join(jvm_dumps)
    raise AssertionError(
        f"no exit within {timeout:.0f}s; killed.\n"
        f"stderr (end):\n{(err or '')[-KEEP_CHARS:]}\n"
        f"stdout (end; the drivers' stacks land here under spark-submit):\n"
        f"{(out or '')[-KEEP_CHARS:]}\n{report[-KEEP_CHARS:]}"
    )


def with_suppressed_kill(pid: int, sig: int) -> None:
    """``os.kill`` (a negative pid: the group) that ignores a process already gone."""
    try:
        os.kill(pid, sig)
    except ProcessLookupError:
        pass
