"""A signal that lands while the main thread holds a lock must not hang the job.

Python runs a signal handler on the main thread between any two bytecodes,
also inside a ``with lock:`` block of that very thread. Each case runs in a
child process (a real ``os.kill``), so a deadlock fails the test by its
timeout instead of hanging the suite.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap

from tests.harness.env import ROOT

TIMEOUT_S = 60


def run_child(body: str) -> subprocess.CompletedProcess:
    script = textwrap.dedent(
        """
        import logging, os, signal, sys, threading
        from lakehouse.core.stopping import StopToken
        from lakehouse.runtime.job import _MarkedStderr
        logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
        """
    ) + textwrap.dedent(body)
    try:
        return subprocess.run(
            [sys.executable, "-c", script],
            capture_output=True,
            text=True,
            timeout=TIMEOUT_S,
            cwd=ROOT,
            env={"PYTHONPATH": str(ROOT / "lib"), "PATH": "/usr/bin:/bin"},
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise AssertionError(f"the child hung (a deadlock): {exc.stderr!r}") from None


def test_a_signal_while_the_main_thread_writes_a_log_line_is_handled():
    # The launcher's stderr wrapper holds its lock while it writes a line; the
    # handler's own log line must not wait for that lock on the same thread.
    done = run_child(
        """
        class SignalOnWrite:
            def __init__(self):
                self.sent = 0
            def write(self, text):
                if self.sent < 2:  # the process group's SIGTERM and the forwarded one
                    self.sent += 1
                    os.kill(os.getpid(), signal.SIGTERM)
                sys.__stdout__.write(text)
            def flush(self):
                sys.__stdout__.flush()

        handler = logging.getLogger().handlers[0]
        handler.setStream(_MarkedStderr("M:", SignalOnWrite()))
        token = StopToken()
        with token.installed():
            logging.getLogger("job").info("a line from the main thread")
            assert token.wait(30), "the stop never arrived"
        print("requested", token.requested, token.reason)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "requested True SIGTERM" in done.stdout
    assert "M:WARNING SIGTERM received: stopping" in done.stdout
    assert "M:INFO a line from the main thread" in done.stdout


def test_a_signal_while_the_main_thread_holds_the_tokens_lock_is_handled():
    done = run_child(
        """
        class SignalInside:
            def __init__(self):
                self.lock = threading.Lock()
                self.sent = False
            def __enter__(self):
                self.lock.acquire()
                if not self.sent and threading.current_thread() is threading.main_thread():
                    self.sent = True
                    os.kill(os.getpid(), signal.SIGTERM)  # the handler runs inside this block
                return self
            def __exit__(self, *exc):
                self.lock.release()

        token = StopToken()
        token._lock = SignalInside()
        with token.installed():
            token.on_stop(lambda reason: print("listener", reason, flush=True))
            assert token.wait(30), "the stop never arrived"
        print("requested", token.requested, token.reason)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "listener SIGTERM" in done.stdout
    assert "requested True SIGTERM" in done.stdout


def test_signals_are_seen_at_once_and_the_handlers_restored_after():
    done = run_child(
        """
        token = StopToken()
        before = signal.getsignal(signal.SIGTERM)
        with token.installed():
            os.kill(os.getpid(), signal.SIGINT)
            seen = token.requested  # right after the handler ran, before any other thread
            try:
                token.check()
                raised = None
            except Exception as exc:
                raised = type(exc).__name__
            os.kill(os.getpid(), signal.SIGTERM)  # a second one: already stopping
            assert token.wait(30)
        print("seen", seen, raised, token.reason, signal.getsignal(signal.SIGTERM) is before)
        """
    )
    assert done.returncode == 0, done.stderr
    assert "seen True Interrupted SIGINT True" in done.stdout
    assert "SIGINT received: stopping" in done.stderr
    assert "SIGTERM received again: already stopping" in done.stderr
