"""From YAML text to frozen, typed config objects, with errors that name file and key.

The generic half of the config loader (``lakehouse.config.model`` holds the models):

- :func:`read_yaml` reads one file strictly (duplicate keys refused, only
  ``true``/``false`` are booleans) and fills ``${VAR}`` / ``${VAR:-default}``;
- :class:`Builder` turns plain data into dataclasses by their type hints,
  refusing unknown keys, missing required keys and wrong types;
- :class:`KeySources` remembers which file each key came from after an
  overlay merge, so every error names the right file.
"""

from __future__ import annotations

import contextlib
import contextvars
import dataclasses
import re
import types
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from lakehouse.core.durations import Duration
from lakehouse.core.errors import ConfigError, ConfigProblems

SECRET_KEY = re.compile(
    r"password|secret|token|jaas|credential|api[._-]?key|access[._-]?key|url", re.IGNORECASE
)


def field_meta(alias: str | None = None, check: Callable[[Any], None] | None = None) -> Any:
    """Dataclass field metadata: the YAML key (when it differs) and a value check."""
    return {"alias": alias, "check": check}


class Interpolated(str):
    """A string that came (partly) from the environment: may be coerced to int/bool."""


class KeyProblem(ValueError):
    """A problem with a sub-key, raised from a dataclass's __post_init__."""

    def __init__(self, key: str | tuple[str, ...], message: str):
        super().__init__(message)
        self.key = (key,) if isinstance(key, str) else key


class _StrictLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys instead of keeping the last one."""


def _construct_mapping(loader: _StrictLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)
# YAML 1.2 booleans: only true/false. YAML 1.1 also reads on/off/yes/no as
# booleans, which turns the alert key `on:` into True and a country code NO
# into False.
_StrictLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:bool"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:bool", re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)

_UNSET: contextvars.ContextVar[dict[str, list[str]] | None] = contextvars.ContextVar(
    "lakehouse_unset_variables", default=None
)


@contextlib.contextmanager
def noting_unset_variables() -> Iterator[dict[str, list[str]]]:
    """Inside: an unset ``${VAR}`` without default becomes ``<VAR>`` and is noted (name -> where).

    ``lakehouse validate`` checks config files away from the environment they
    run in (a laptop, CI): a variable the scheduler sets is not a problem of the file.
    """
    noted: dict[str, list[str]] = {}
    token = _UNSET.set(noted)
    try:
        yield noted
    finally:
        _UNSET.reset(token)


_VAR = re.compile(r"\$\$\{|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}$]*))?\}")


def interpolate(text: str, env: Mapping[str, str], *, file: str, key: str) -> str:
    """Fill ``${VAR}`` / ``${VAR:-default}`` from ``env``; ``$${`` is a literal ``${``."""
    if "$" not in text:
        return text

    def fill(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "\0{"
        name, default = match.group(1), match.group(2)
        if name in env:
            return env[name]
        if default is not None:
            return default
        unset = _UNSET.get()
        if unset is not None:  # validating without the run's environment: note it, go on
            unset.setdefault(name, []).append(f"{file}: {key}")
            return f"<{name}>"
        raise ConfigError(
            f"environment variable {name} is not set (and no default: write ${{{name}:-value}})",
            file=file,
            key=key,
        )

    result = _VAR.sub(fill, text)
    if "${" in result:
        raise ConfigError(f"malformed ${{...}} reference in {text!r}", file=file, key=key)
    return Interpolated(result.replace("\0{", "${"))


def _interpolate_tree(node: Any, env: Mapping[str, str], file: str, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _interpolate_tree(v, env, file, join_key(path, k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_interpolate_tree(v, env, file, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str):
        return interpolate(node, env, file=file, key=path or "(top)")
    return node


def read_yaml(path: Path, env: Mapping[str, str], *, display: str | None = None) -> dict:
    """Read one YAML file into a dict, interpolated; errors name the file."""
    name = display or str(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", file=name) from None
    except OSError as exc:
        raise ConfigError(f"cannot read: {exc.strerror}", file=name) from None
    try:
        data = yaml.load(text, Loader=_StrictLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}: " if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"malformed YAML: {where}{problem}", file=name) from None
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError("the top level must be a mapping of keys", file=name)
    return _interpolate_tree(data, env, name, "")


def join_key(path: str, key: Any) -> str:
    key = str(key)
    if "." in key or " " in key:
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


# --------------------------------------------------------------------------
# Building typed objects from plain data


class KeySources:
    """Which file each key path came from, for error messages after a merge."""

    def __init__(self, default: str):
        self.default = default
        self.by_path: dict[str, str] = {}

    def record(self, node: Any, file: str, path: str = "") -> None:
        if path:
            self.by_path[path] = file
        if isinstance(node, dict):
            for k, v in node.items():
                self.record(v, file, join_key(path, k))

    def file_for(self, path: str) -> str:
        while path:
            if path in self.by_path:
                return self.by_path[path]
            cut = max(path.rfind("."), path.rfind("["))
            path = path[:cut] if cut > 0 else ""
        return self.default


def deep_merge(base: dict, overlay: dict) -> dict:
    merged = dict(base)
    for key, value in overlay.items():
        if isinstance(value, dict) and isinstance(merged.get(key), dict):
            merged[key] = deep_merge(merged[key], value)
        else:
            merged[key] = value
    return merged


def _type_name(tp: Any) -> str:
    origin = get_origin(tp)
    if origin is Literal:
        return " | ".join(repr(a) for a in get_args(tp))
    if origin in (Union, types.UnionType):
        return " or ".join(_type_name(a) for a in get_args(tp) if a is not type(None))
    if origin is tuple:
        inner = get_args(tp)[0]
        plural = {str: "strings", int: "integers", float: "numbers"}.get(inner)
        if plural is None:
            plural = "mappings" if dataclasses.is_dataclass(inner) else f"({_type_name(inner)})"
        return f"a list of {plural}"
    if origin is Mapping or origin is dict:
        return "a mapping"
    if tp is Duration:
        return "a duration (e.g. 30s, 15m, 2h, 1d)"
    if dataclasses.is_dataclass(tp):
        return "a mapping"
    return {str: "a string", int: "an integer", float: "a number", bool: "true or false"}.get(
        tp, getattr(tp, "__name__", str(tp))
    )


def _describe(value: Any) -> str:
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if value is None:
        return "null"
    return f"{type(value).__name__} {value!r}"


class _Recorded(ConfigError):
    """A part failed and its problems are already in :attr:`Builder.problems`."""


class Builder:
    """Builds frozen dataclasses from YAML data, collecting every problem it meets.

    A key that fails (wrong type, unknown key, missing key, a failed check) is
    recorded in :attr:`problems` and the build goes on with the next key, so
    one pass reports all of a file's problems; :meth:`build_all` raises
    :class:`ConfigProblems` with them. Inside a union the options are tried
    fail-fast (a failed option is not a problem of the file).
    """

    def __init__(self, source: KeySources):
        self.source = source
        self.problems: list[ConfigError] = []
        self._trying = 0  # > 0 while trying the options of a union

    def build_all(self, tp: Any, value: Any) -> Any:
        """Build the whole file; raises :class:`ConfigProblems` naming every problem."""
        try:
            return self.build(tp, value, "")
        except _Recorded:
            raise ConfigProblems(self.problems) from None
        except ConfigError as exc:
            raise ConfigProblems([*self.problems, exc]) from None

    def _record(self, exc: ConfigError) -> None:
        if self._trying or isinstance(exc, _Recorded):
            if self._trying:
                raise exc
            return
        self.problems.append(exc)

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(message, file=self.source.file_for(path), key=path or "(top)")

    def build(self, tp: Any, value: Any, path: str) -> Any:
        origin = get_origin(tp)
        if origin in (Union, types.UnionType):
            options = [a for a in get_args(tp) if a is not type(None)]
            if value is None:
                if type(None) in get_args(tp):
                    return None
                raise self.fail(path, f"must be {_type_name(tp)}, not null")
            if len(options) == 1:  # Optional[X]: X's own problems are the file's problems
                return self.build(options[0], value, path)
            errors = []
            for option in options:
                self._trying += 1
                try:
                    return self.build(option, value, path)
                except ConfigError as exc:
                    errors.append(exc)
                finally:
                    self._trying -= 1
            if len(errors) == 1 or (
                dataclasses.is_dataclass(options[-1]) and isinstance(value, dict)
            ):
                raise errors[-1]
            raise self.fail(path, f"must be {_type_name(tp)}, got {_describe(value)}")
        if origin is Literal:
            if value not in get_args(tp):
                raise self.fail(path, f"must be one of {_type_name(tp)}, got {_describe(value)}")
            return value
        if origin is tuple:
            if not isinstance(value, list):
                raise self.fail(path, f"must be {_type_name(tp)}, got {_describe(value)}")
            return tuple(self._build_items(get_args(tp)[0], enumerate(value), path, "list"))
        if origin in (Mapping, dict):
            if not isinstance(value, dict):
                raise self.fail(path, f"must be a mapping, got {_describe(value)}")
            for k in value:
                if not isinstance(k, str):
                    raise self.fail(path, f"keys must be strings, got {_describe(k)}")
            item_type = get_args(tp)[1]
            if item_type is str:
                value = {
                    k: (str(v).lower() if isinstance(v, bool) else str(v))
                    if isinstance(v, (int, float, bool))
                    else v
                    for k, v in value.items()
                }
            built = self._build_items(item_type, value.items(), path, "mapping")
            return types.MappingProxyType(dict(zip(value, built, strict=True)))
        if dataclasses.is_dataclass(tp) and tp is not Duration:
            return self.build_dataclass(tp, value, path)
        return self.build_scalar(tp, value, path)

    def build_scalar(self, tp: Any, value: Any, path: str) -> Any:
        from_env = isinstance(value, Interpolated)
        if tp is str:
            if isinstance(value, str):
                return str(value)
        elif tp is bool:
            if isinstance(value, bool):
                return value
            if from_env and value.lower() in ("true", "false", "1", "0", "yes", "no"):
                return value.lower() in ("true", "1", "yes")
        elif tp is int:
            if isinstance(value, int) and not isinstance(value, bool):
                return value
            if from_env and re.fullmatch(r"-?\d+", value.strip()):
                return int(value)
        elif tp is float:
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                return float(value)
            if from_env:
                try:
                    return float(value)
                except ValueError:
                    pass
        elif tp is Duration:
            if isinstance(value, str):
                try:
                    return Duration.parse(value)
                except ValueError as exc:
                    raise self.fail(path, str(exc)) from None
            raise self.fail(path, f"bad duration {_describe(value)}: write a unit, e.g. 30s, 15m")
        raise self.fail(path, f"must be {_type_name(tp)}, got {_describe(value)}")

    def build_dataclass(self, cls: Any, value: Any, path: str) -> Any:
        if not isinstance(value, dict):
            raise self.fail(path, f"must be a mapping, got {_describe(value)}")
        hints = get_type_hints(cls)
        fields = [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]
        by_key = {(f.metadata.get("alias") or f.name): f for f in fields}
        failed = False
        allowed = ", ".join(sorted(by_key))
        for key in value:
            if key not in by_key:
                self._record(
                    self.fail(join_key(path, key), f"unknown key (allowed here: {allowed})")
                )
                failed = True
        kwargs = {}
        for key, fld in by_key.items():
            try:
                built = self._build_field(fld, hints[fld.name], value, key, join_key(path, key))
            except ConfigError as exc:
                self._record(exc)
                failed = True
                continue
            if built is not _ABSENT:
                kwargs[fld.name] = built
        if failed:
            raise _Recorded("(recorded)")
        try:
            return cls(**kwargs)
        except KeyProblem as exc:
            for part in exc.key:
                path = join_key(path, part)
            raise self.fail(path, str(exc)) from None
        except ValueError as exc:
            raise self.fail(path, str(exc)) from None

    def _build_items(self, tp: Any, items: Any, path: str, kind: str) -> list:
        """Each item of a list (``path[i]``) or mapping (``path.key``); every failure recorded."""
        out, failed = [], False
        for k, v in items:
            sub = f"{path}[{k}]" if kind == "list" else join_key(path, k)
            try:
                out.append(self.build(tp, v, sub))
            except ConfigError as exc:
                self._record(exc)
                failed = True
        if failed:
            raise _Recorded("(recorded)")
        return out

    def _build_field(self, fld: Any, tp: Any, value: dict, key: str, sub: str) -> Any:
        if key not in value:
            if fld.default is dataclasses.MISSING and fld.default_factory is dataclasses.MISSING:
                raise self.fail(sub, "missing required key")
            return _ABSENT
        built = self.build(tp, value[key], sub)
        check = fld.metadata.get("check")
        if check is not None and built is not None:
            try:
                check(built)
            except ValueError as exc:
                raise self.fail(sub, str(exc)) from None
        return built


_ABSENT = object()


def to_plain(obj: Any, *, shaping_only: bool = False) -> Any:
    """A config object as plain YAML-shaped data (keys as written in the files).

    ``shaping_only`` leaves out fields whose metadata says ``shapes_data:
    False`` (settings of how a run goes, not of the rows it writes).
    """
    if isinstance(obj, Duration):
        return obj.text
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return {
            (f.metadata.get("alias") or f.name): to_plain(
                getattr(obj, f.name), shaping_only=shaping_only
            )
            for f in dataclasses.fields(obj)
            if not f.metadata.get("internal")
            and not (shaping_only and f.metadata.get("shapes_data") is False)
        }
    if isinstance(obj, Mapping):
        return {k: to_plain(v, shaping_only=shaping_only) for k, v in obj.items()}
    if isinstance(obj, (tuple, list)):
        return [to_plain(v, shaping_only=shaping_only) for v in obj]
    return obj


def redact(data: Any, key: str = "") -> Any:
    """A copy of plain config data with secret-looking values masked."""
    if isinstance(data, Mapping):
        return {k: redact(v, str(k)) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [redact(v, key) for v in data]
    if isinstance(data, str) and data and SECRET_KEY.search(key):
        return "***"
    return data


def as_plain(obj: Any, *, secrets: bool = False) -> Any:
    """Config objects as plain JSON-able data; secrets masked unless asked for."""
    plain = to_plain(obj)
    return plain if secrets else redact(plain)
