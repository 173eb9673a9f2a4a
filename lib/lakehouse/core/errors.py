"""Exit codes and the project's named errors: the contract with orchestrators.

Every job maps its outcome to exactly one of these codes; docs/jobs.md carries
the same table. An orchestrator retries only ``TRANSIENT`` (and, if it
likes, ``FAILURE``); the others need a human or a fix.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable
from enum import IntEnum


class ExitCode(IntEnum):
    """Process exit codes shared by every job."""

    OK = 0
    FAILURE = 1  # anything else: a bug, an unexpected Spark error
    USAGE = 2  # bad arguments or config: do not retry
    QUALITY = 3  # data-quality gate failed: do not retry, look at quarantine
    STALE = 4  # freshness or SLA breached
    TRANSIENT = 75  # transient failure after retries (EX_TEMPFAIL): retry later


EXIT_CODE_TABLE = """exit codes:
  0   ok
  1   the run failed (no source for the date, an unexpected error)
  2   bad arguments or config: fix them, do not retry
  3   a data-quality gate failed: look at the quarantine, do not retry
  4   stale: a freshness threshold or SLA is breached (health)
  75  transient (broker down, lost a commit race, interrupted): retry later"""


class LakehouseError(Exception):
    """Base of the project's own errors; carries the exit code it maps to."""

    exit_code: ExitCode = ExitCode.FAILURE


class UsageError(LakehouseError):
    """Bad command-line arguments (unknown job, bad date, unknown pipeline)."""

    exit_code = ExitCode.USAGE


class ConfigError(LakehouseError):
    """Invalid configuration; the message names the file and the key path."""

    exit_code = ExitCode.USAGE

    def __init__(self, message: str, *, file: str | None = None, key: str | None = None):
        self.file = file
        self.key = key
        self.reason = message
        where = ": ".join(part for part in (file, key) if part)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigProblems(ConfigError):
    """Every problem found in one pass over the config; the message is the first one.

    ``problems`` holds them all (``lakehouse validate`` prints each); a job
    reports the first and how many more there are.
    """

    def __init__(self, problems: list[ConfigError]):
        self.problems = list(problems)
        first = self.problems[0]
        more = len(self.problems) - 1
        reason = first.reason + (
            f" (and {more} more: `lakehouse validate` lists them)" if more else ""
        )
        super().__init__(reason, file=first.file, key=first.key)


class SchemaDriftError(LakehouseError):
    """The source or the target no longer matches the pipeline schema (new columns, new types)."""

    exit_code = ExitCode.USAGE


class MissingSourceError(LakehouseError):
    """No source data for the logical date (``on_missing_source: fail``)."""

    exit_code = ExitCode.FAILURE


class QualityGateError(LakehouseError):
    """A data-quality rule with ``on_fail: fail`` was broken."""

    exit_code = ExitCode.QUALITY


class StaleError(LakehouseError):
    """A freshness threshold or an SLA was breached."""

    exit_code = ExitCode.STALE


class TransientError(LakehouseError):
    """Worth retrying later: a conflict, a lost executor, a broker that is down."""

    exit_code = ExitCode.TRANSIENT


# Class names (Java or Python) that mean "try again later". Matched against
# the exception chain, including the Java class named in a Py4J error.
_TRANSIENT_NAMES = (
    "ConcurrentAppendException",
    "ConcurrentDeleteReadException",
    "ConcurrentDeleteDeleteException",
    "ConcurrentTransactionException",
    "ConcurrentWriteException",
    "MetadataChangedException",
    "ProtocolChangedException",
    "DeltaConcurrentModificationException",
    "SocketTimeoutException",
    "TimeoutException",
    "ConnectException",
    "ExecutorLostFailure",
)

_JAVA_CLASS = re.compile(r"\b((?:[a-z_][a-z0-9_]*\.)+([A-Z][A-Za-z0-9_$]*(?:Exception|Error)))\b")


def java_class_names(exc: BaseException) -> list[str]:
    """Simple names of the Java exception classes mentioned in ``exc``'s message."""
    return [m.group(2) for m in _JAVA_CLASS.finditer(str(exc))]


# Spark names task failures bare; a lost executor also loses the blocks of
# materialized frames (lakehouse.lake.delta_io.materialize) it held
_HELD_ROWS_LOST = "CHECKPOINT_RDD_BLOCK_ID_NOT_FOUND"
_TRANSIENT_IN_TEXT = re.compile(rf"\b(?:ExecutorLostFailure|{_HELD_ROWS_LOST})\b")


def held_rows_lost(exc: BaseException) -> bool:
    """The rows of a materialized frame are gone (executor lost): compute them again."""
    return _HELD_ROWS_LOST in str(exc)


def is_transient(exc: BaseException) -> bool:
    """True when ``exc`` (or an exception it wraps) is worth retrying."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, TransientError):
            return True
        if isinstance(current, LakehouseError):
            return False
        names = [type(current).__name__, *java_class_names(current)]
        if any(name in _TRANSIENT_NAMES for name in names):
            return True
        if _TRANSIENT_IN_TEXT.search(str(current)):
            return True
        current = current.__cause__ or current.__context__
    return False


def exit_code_for(exc: BaseException) -> ExitCode:
    """The exit code a job returns when it stops because of ``exc``."""
    if isinstance(exc, LakehouseError):
        return exc.exit_code
    if is_transient(exc):
        return ExitCode.TRANSIENT
    return ExitCode.FAILURE


def one_line(exc: BaseException, limit: int = 500) -> str:
    """A one-line, human-readable summary of ``exc`` (no Java stack trace)."""
    text = str(exc).strip()
    # Py4J errors start with "An error occurred while calling o42.save.\n: <java msg>"
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    useful = [
        line
        for line in lines
        if not line.startswith(("at ", "An error occurred while calling", "..."))
        and not line.startswith("JVM stacktrace")
    ]
    first = (useful or lines or [type(exc).__name__])[0].lstrip(": ")
    if len(first) > limit:
        first = first[: limit - 3] + "..."
    return first


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the closest known name, or nothing."""
    close = difflib.get_close_matches(name, list(known), n=1, cutoff=0.6)
    return f" (did you mean {close[0]!r}?)" if close else ""
