"""Where a pipeline keeps its data: the one owner of its tables, checkpoints and landed files.

Every job, check and report asks :class:`PipelineTables` for a location
rather than putting a path together: a table's own ``path:`` wins over the
lake layout, a stream's own ``checkpoint:`` over the checkpoint root, and a
relative ``source.files.path`` is below the lake root. Nothing here touches
storage.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date

from lakehouse.config.model import Pipeline, Settings
from lakehouse.core.errors import ConfigError

STREAM_JOB = "stream_ingest"  # the streaming query whose checkpoint a pipeline has
_SCHEME = re.compile(r"^[a-zA-Z][a-zA-Z0-9+.-]*:")


@dataclass(frozen=True)
class PipelineTables:
    """The locations of one pipeline's data under one settings file."""

    settings: Settings
    pipeline: Pipeline

    @property
    def bronze(self) -> str:
        """The bronze table (raw events as ingested)."""
        return self._own_table("bronze")

    @property
    def silver(self) -> str:
        """The silver table (typed, deduplicated, one row per key and date)."""
        return self._own_table("silver")

    def _own_table(self, which: str) -> str:
        """The pipeline's ``bronze`` or ``silver`` table (its own ``path:`` wins)."""
        table = getattr(self.pipeline, which)
        if table is None:
            raise ConfigError(f"pipeline {self.pipeline.name} has no `{which}` table", key=which)
        return self.settings.table_path(table.table, table.path)

    @property
    def quarantine(self) -> str:
        """Events ``stream_ingest`` refused."""
        return self.settings.quarantine_path(self.pipeline.name)

    @property
    def load_quarantine(self) -> str:
        """Rows ``batch_load`` refused, partitioned by logical date."""
        return self.settings.load_quarantine_path(self.pipeline.name)

    @property
    def checkpoint(self) -> str:
        """The streaming query's checkpoint folder (``stream.checkpoint`` wins)."""
        stream = self.pipeline.stream
        own = stream.checkpoint if stream is not None else None
        return own or self.settings.checkpoint_path(self.pipeline.name, STREAM_JOB)

    def files(self, day: date) -> str:
        """Where the landed files of ``day`` are (relative paths are below the lake root)."""
        files = self.pipeline.source.files
        if files is None:
            raise ConfigError(
                f"pipeline {self.pipeline.name} has no `source.files`", key="source.files"
            )
        path = files.path.replace("{date}", day.isoformat())
        if path.startswith("/") or _SCHEME.match(path):
            return path
        return self.settings.path(path)

    def table(self, name: str) -> str:
        """Where a table named in the pipeline lives (bronze's or silver's own ``path:``
        wins); any other name by the lake layout."""
        for t in (self.pipeline.bronze, self.pipeline.silver):
            if t is not None and t.table == name:
                return self.settings.table_path(t.table, t.path)
        return self.settings.table_path(name)
