"""A Delta table's commit history, read as data commits and upkeep commits.

``maintain`` compacts files (OPTIMIZE), removes old ones (VACUUM) and sets
retention properties: commits that change no row. Whatever judges a table
by its commits (commit-based freshness, a batch load's "did anyone write
my dates since I planned?") asks this module and skips them, so a stale
table stays stale after maintenance and a load planned before an OPTIMIZE
does not start over.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

# Delta's operation names of commits that add or remove no row.
UPKEEP_OPERATIONS = frozenset(
    {
        "OPTIMIZE",
        "VACUUM START",
        "VACUUM END",
        "SET TBLPROPERTIES",
        "UNSET TBLPROPERTIES",
        "REORG",
        "ADD CONSTRAINT",
        "DROP CONSTRAINT",
        "UPGRADE PROTOCOL",
        "CLUSTER BY",
        "ADD FEATURE",
        "DROP FEATURE",
    }
)

_FIRST_READ = 50  # commits read before falling back to the whole history


def is_data_commit(operation: str | None) -> bool:
    """True unless the operation is one that changes no row (OPTIMIZE, VACUUM, properties)."""
    return (operation or "").upper() not in UPKEEP_OPERATIONS


@dataclass(frozen=True)
class Commit:
    """One entry of a table's history."""

    version: int
    at: datetime
    operation: str
    user_metadata: str | None
    # the version the writer's transaction started from (Delta checked conflicts after it)
    read_version: int | None = None

    @property
    def is_data(self) -> bool:
        """Whether this commit may have changed rows."""
        return is_data_commit(self.operation)


def _commits(spark: Any, path: str, limit: int | None) -> list[Commit]:
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    table = DeltaTable.forPath(spark, path)
    history = table.history(limit) if limit else table.history()
    rows = history.select(
        "version",
        F.col("timestamp").cast("double").alias("s"),
        "operation",
        "userMetadata",
        "readVersion",
    ).collect()
    commits = [
        Commit(
            int(r["version"]),
            datetime.fromtimestamp(r["s"], timezone.utc),
            r["operation"] or "",
            r["userMetadata"],
            None if r["readVersion"] is None else int(r["readVersion"]),
        )
        for r in rows
    ]
    return sorted(commits, key=lambda c: c.version, reverse=True)


def last_data_commit(spark: Any, path: str) -> Commit | None:
    """The newest commit that may have changed rows (None: the table has none).

    Reads the last few commits first and the whole history only when all of
    them are upkeep.
    """
    recent = _commits(spark, path, _FIRST_READ)
    for commit in recent:
        if commit.is_data:
            return commit
    if len(recent) < _FIRST_READ:
        return None
    return next((c for c in _commits(spark, path, None) if c.is_data), None)


def commits_since(spark: Any, path: str, version: int, newest: int | None = None) -> list[Commit]:
    """Every commit after ``version`` up to ``newest`` (default: the latest), oldest
    first, however many.

    The history is read newest first, in growing windows until the range is
    covered (when the table moved past ``newest`` since, or ``newest`` is not
    given).
    """
    wanted = max(1, newest - version) if newest is not None else 8
    while True:
        commits = _commits(spark, path, wanted)
        if len(commits) < wanted or commits[-1].version <= version + 1:
            break
        wanted *= 4
    rows = [c for c in commits if version < c.version and (newest is None or c.version <= newest)]
    return sorted(rows, key=lambda c: c.version)
