"""Settings and pipeline files: the typed model, the loader (files, overlays, ``${VAR}``) and its
checks.

Callers outside the wing import from here. Inside: ``model`` (frozen
dataclasses, each field checked as it is built), ``typed`` (YAML, overlays,
``${VAR}``, the builder), ``checks`` (cross-field checks of a pipeline),
``loader`` (a config folder in, typed objects out) and ``validation``
(every file of a folder, every problem at once).
"""

from __future__ import annotations

from lakehouse.config.loader import (
    list_envs,
    list_pipelines,
    load_config,
    load_pipeline,
    load_settings,
    resolve_conf_dir,
)
from lakehouse.config.model import (
    Config,
    FilesSource,
    Pipeline,
    ProcessingTime,
    QualityRule,
    Settings,
    Sources,
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
