"""Check a whole config folder at once, without a JVM: every settings and pipeline file.

The same loaders the jobs use, run over every environment overlay and every
pipeline file, keeping every problem instead of stopping at the first. A
``${VAR}`` the environment does not set is noted, not counted as a problem
(the scheduler sets it at run time) unless ``strict_env`` asks for it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from lakehouse.config.loader import (
    list_envs,
    list_pipelines,
    load_pipeline,
    load_settings,
    resolve_conf_dir,
)
from lakehouse.config.model import Settings
from lakehouse.config.typed import noting_unset_variables
from lakehouse.core.errors import ConfigError, ConfigProblems


@dataclass(frozen=True)
class Problem:
    """One thing wrong: the file, the key path inside it, what is wrong."""

    file: str | None
    key: str | None
    message: str

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.file, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


@dataclass
class Validation:
    """What a validation checked and found."""

    conf_dir: str
    environments: list[str] = field(default_factory=list)
    pipelines: list[str] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    unset: dict[str, list[str]] = field(default_factory=dict)  # variable -> where it is used

    @property
    def ok(self) -> bool:
        return not self.problems

    def add(self, exc: ConfigError) -> None:
        for one in exc.problems if isinstance(exc, ConfigProblems) else [exc]:
            problem = Problem(one.file, one.key, one.reason)
            if problem not in self.problems:
                self.problems.append(problem)


def validate(
    conf_dir: str | os.PathLike[str] | None = None,
    *,
    env: str | None = None,
    pipelines: Sequence[str] | None = None,
    environ: Mapping[str, str] | None = None,
    strict_env: bool = False,
) -> Validation:
    """Check the environments (``env`` or all) and pipelines (``pipelines`` or all)."""
    environ = os.environ if environ is None else environ
    folder = resolve_conf_dir(conf_dir, environ)
    report = Validation(conf_dir=str(folder))
    report.environments = [env] if env else list_envs(folder)
    report.pipelines = list(pipelines) if pipelines is not None else list_pipelines(folder)
    if not report.environments:
        report.add(ConfigError(f"no environment files (e.g. local.yaml) in {folder}"))
    with noting_unset_variables() as unset:
        settings = _check_settings(report, folder, environ)
        for name in report.pipelines:
            try:
                load_pipeline(name, settings, environ)
            except ConfigError as exc:
                report.add(exc)
    report.unset = {name: sorted(set(where)) for name, where in sorted(unset.items())}
    if strict_env:
        for name, where in report.unset.items():
            for place in where:
                file, _, key = place.partition(": ")
                report.add(
                    ConfigError(f"environment variable {name} is not set", file=file, key=key)
                )
    return report


def _check_settings(report: Validation, folder: Path, environ: Mapping[str, str]) -> Settings:
    """Load each environment; return the settings pipelines are checked against."""
    default = environ.get("LAKEHOUSE_ENV") or "local"
    chosen: Settings | None = None
    for name in report.environments:
        try:
            settings = load_settings(name, folder, environ)
        except ConfigError as exc:
            report.add(exc)
            continue
        if chosen is None or name == default:
            chosen = settings
    if chosen is None:  # no environment loads: the pipeline files are still worth checking
        chosen = Settings(lake_root=".", conf_dir=str(folder))
    return chosen
