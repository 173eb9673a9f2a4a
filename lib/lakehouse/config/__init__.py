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
    list_envs,
    list_pipelines,
    load_config,
    load_pipeline,
    load_settings,
    resolve_conf_dir,
)
from lakehouse.config.typed import SECRET_KEY
from lakehouse.config.validation import Problem, Validation, validate

__all__ = [
    "SECRET_KEY",
    "Config",
    "FilesSource",
    "Pipeline",
    "Problem",
    "ProcessingTime",
    "QualityRule",
    "Settings",
    "Sources",
    "Validation",
    "list_envs",
    "list_pipelines",
    "load_config",
    "load_pipeline",
    "load_settings",
    "resolve_conf_dir",
    "validate",
]
