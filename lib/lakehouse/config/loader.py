"""The one config loader: a config folder in, checked typed objects out.

Layout of a config folder::

    conf/base.yaml               settings shared by every environment
    conf/<env>.yaml              overlay for one environment (local, cluster, ...)
    conf/pipelines/<name>.yaml   one file per pipeline

``${VAR}`` and ``${VAR:-default}`` in any string are filled from the
environment (``$${`` writes a literal ``${``). Every problem raises
:class:`~lakehouse.core.errors.ConfigError` naming the file and the key path, before any
Spark work, so a job with a bad config exits 2 having written nothing.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from pathlib import Path

from lakehouse.config.checks import pipeline_problems
from lakehouse.config.model import IDENTIFIER, Config, Pipeline, Settings
from lakehouse.config.typed import Builder, KeySources, deep_merge, read_yaml
from lakehouse.core.errors import ConfigError, ConfigProblems, did_you_mean
from lakehouse.core.paths import project_root


def default_conf_dir() -> Path:
    """``conf/`` next to ``lib/`` (the repository's own config)."""
    return project_root() / "conf"


def resolve_conf_dir(conf_dir: str | os.PathLike[str] | None, env: Mapping[str, str]) -> Path:
    """``--conf-dir`` wins over ``LAKEHOUSE_CONF_DIR``, which wins over ``./conf``."""
    chosen = conf_dir or env.get("LAKEHOUSE_CONF_DIR") or default_conf_dir()
    path = Path(chosen).expanduser().resolve()
    if not path.is_dir():
        raise ConfigError(f"config folder {str(chosen)!r} does not exist")
    return path


def list_envs(conf_dir: Path) -> list[str]:
    """Environment overlays available in a config folder."""
    return sorted(p.stem for p in conf_dir.glob("*.yaml") if p.stem != "base")


def list_pipelines(conf_dir: Path) -> list[str]:
    """Pipelines defined in a config folder."""
    return sorted(p.stem for p in (conf_dir / "pipelines").glob("*.yaml"))


def load_settings(
    env_name: str | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Load ``base.yaml`` overlaid by ``<env>.yaml`` into :class:`Settings`."""
    environ = os.environ if environ is None else environ
    folder = resolve_conf_dir(conf_dir, environ)
    name = env_name or environ.get("LAKEHOUSE_ENV") or "local"
    if not IDENTIFIER.fullmatch(name):
        raise ConfigError(f"invalid environment name {name!r}")
    base_file = folder / "base.yaml"
    env_file = folder / f"{name}.yaml"
    if name == "base" or not env_file.is_file():
        known = list_envs(folder)
        raise ConfigError(
            f"unknown environment {name!r}{did_you_mean(name, known)} "
            f"(environments in {folder}: {', '.join(known) or 'none'})"
        )
    base = read_yaml(base_file, environ, display=_display(base_file))
    overlay = read_yaml(env_file, environ, display=_display(env_file))
    source = KeySources(_display(base_file))
    source.record(base, _display(base_file))
    source.record(overlay, _display(env_file))
    merged = deep_merge(base, overlay)
    settings = Builder(source).build_all(Settings, merged)
    lake_root = _resolve_path(settings.lake_root, folder.parent)
    checkpoint_root = (
        _resolve_path(settings.checkpoint_root, folder.parent) if settings.checkpoint_root else None
    )
    for key, value in settings.spark.conf.items():
        if "\n" in value:
            raise ConfigError("values must be one line", file=source.file_for("spark"), key=key)
    return dataclasses.replace(
        settings,
        lake_root=lake_root,
        checkpoint_root=checkpoint_root,
        env=name,
        conf_dir=str(folder),
    )


def load_pipeline(
    name: str, settings: Settings, environ: Mapping[str, str] | None = None
) -> Pipeline:
    """Load and check ``pipelines/<name>.yaml`` of the settings' config folder."""
    environ = os.environ if environ is None else environ
    folder = Path(settings.conf_dir)
    if not IDENTIFIER.fullmatch(name or ""):
        raise ConfigError(f"invalid pipeline name {name!r} (letters, digits and _ only)")
    path = folder / "pipelines" / f"{name}.yaml"
    if not path.is_file():
        known = list_pipelines(folder)
        raise ConfigError(
            f"unknown pipeline {name!r}{did_you_mean(name, known)} "
            f"(pipelines in {folder}: {', '.join(known) or 'none'})"
        )
    display = _display(path)
    data = read_yaml(path, environ, display=display)
    builder = Builder(KeySources(display))
    pipeline = builder.build_all(Pipeline, data)
    problems = []
    if pipeline.name != name:
        problems.append(builder.fail("name", f"is {pipeline.name!r} but the file is {name}.yaml"))
    problems += pipeline_problems(
        pipeline, builder.fail, ops_database=settings.catalog.ops_database
    )
    if problems:
        raise ConfigProblems(problems)
    kafka = pipeline.source.kafka
    if kafka is not None and kafka.bootstrap_servers is None:
        kafka = dataclasses.replace(kafka, bootstrap_servers=settings.kafka.bootstrap_servers)
        pipeline = dataclasses.replace(
            pipeline, source=dataclasses.replace(pipeline.source, kafka=kafka)
        )
    return pipeline


def load_config(
    pipeline: str | None = None,
    *,
    env: str | None = None,
    conf_dir: str | os.PathLike[str] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Config:
    """Load the environment settings and, if named, one pipeline. Raises ConfigError."""
    settings = load_settings(env, conf_dir, environ)
    loaded = load_pipeline(pipeline, settings, environ) if pipeline is not None else None
    return Config(settings=settings, pipeline=loaded)


def _display(path: Path) -> str:
    """A path as it is best shown in messages: relative to the cwd when below it."""
    try:
        return str(path.resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def _resolve_path(value: str, base: Path) -> str:
    """Absolute local paths and URIs stay; relative paths are relative to the project."""
    if "://" in value or value.startswith("file:"):
        return value
    path = Path(value).expanduser()
    return str(path if path.is_absolute() else (base / path).resolve())
