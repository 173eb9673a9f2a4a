"""Settings and pipeline files: the typed model, the loader (files, overlays, ``${VAR}``) and its
checks.
"""

from __future__ import annotations

from lakehouse.config.model import (
    Config,
    FilesSource,
    Pipeline,
    ProcessingTime,
    QualityRule,
    Settings,
    Sources,
    list_pipelines,
    load_config,
    load_pipeline,
    load_settings,
)
from lakehouse.config.typed import SECRET_KEY

__all__ = [
    "SECRET_KEY",
    "Config",
    "FilesSource",
    "Pipeline",
    "ProcessingTime",
    "QualityRule",
    "Settings",
    "Sources",
    "list_pipelines",
    "load_config",
    "load_pipeline",
    "load_settings",
]
