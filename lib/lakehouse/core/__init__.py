"""The floor under everything: errors and exit codes, retries, durations, DDL, column names,
stopping. No SparkSession, no I/O.
"""

from __future__ import annotations

from lakehouse.core.durations import Duration
from lakehouse.core.errors import (
    EXIT_CODE_TABLE,
    ConfigError,
    ConfigProblems,
    ExitCode,
    LakehouseError,
    QualityGateError,
    UsageError,
    did_you_mean,
    exit_code_for,
    one_line,
)
from lakehouse.core.paths import project_root
from lakehouse.core.retry import Backoff

__all__ = [
    "EXIT_CODE_TABLE",
    "Backoff",
    "ConfigError",
    "ConfigProblems",
    "Duration",
    "ExitCode",
    "LakehouseError",
    "QualityGateError",
    "UsageError",
    "did_you_mean",
    "exit_code_for",
    "one_line",
    "project_root",
]
