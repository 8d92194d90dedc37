"""Read YAML files and `--override_args a.b=value` into the typed `Config` tree.

Every mistake becomes one `CourseError` line that names the key, where it came from and
what would have been valid: unknown keys (with a close-match suggestion), wrong types,
invalid choices, malformed YAML, a missing file.
"""

from __future__ import annotations

import dataclasses
import types
from difflib import get_close_matches
from pathlib import Path
from typing import Any, Literal, Union, get_args, get_origin, get_type_hints

import yaml

from starter.config import Config
from starter.errors import CourseError, choice_error


def load_config(paths: list[str], overrides: list[str]) -> Config:
    """Merge the YAML files in order, then apply the overrides. Raises CourseError."""
    cfg = Config()
    for path in paths:
        apply_mapping(cfg, read_yaml(path), source=path)
    for item in overrides:
        apply_override(cfg, item)
    return cfg


def read_yaml(path: str) -> dict:
    p = Path(path)
    if not p.is_file():
        raise CourseError(f"config file not found: {path}")
    try:
        data = yaml.safe_load(p.read_text())
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise CourseError(f"{path}: malformed YAML{where}: {problem}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise CourseError(f"{path}: the top level must be a mapping of sections, got {type(data).__name__}")
    return data


def apply_mapping(cfg: Config, data: dict, source: str) -> None:
    """Set every `section: {key: value}` of a parsed YAML file onto cfg."""
    for section, values in data.items():
        target = _section(cfg, str(section), source)
        if values is None:
            continue
        if not isinstance(values, dict):
            raise CourseError(f"'{section}' (in {source}) must be a mapping of keys, got {values!r}")
        for key, value in values.items():
            _set(cfg, target, f"{section}.{key}", value, source)


def apply_override(cfg: Config, item: str) -> None:
    """Apply one `section.key=value`; the value is parsed as YAML (1, 0.5, true, null, text)."""
    source = "--override_args"
    dotted, sep, text = item.partition("=")
    if not sep or dotted.count(".") != 1:
        raise CourseError(f"override '{item}' must look like section.key=value, e.g. train.epochs=5")
    section, key = dotted.strip().split(".")
    target = _section(cfg, section, source)
    field_type = get_type_hints(type(target)).get(key)
    # Text fields keep the literal text (run.name=007 stays "007"); others parse as YAML.
    if field_type is str:
        value: Any = text
    else:
        try:
            value = yaml.safe_load(text) if text.strip() else None
        except yaml.YAMLError:
            value = text
    _set(cfg, target, dotted.strip(), value, source)


def all_keys(cfg: Config | None = None) -> list[str]:
    """Every valid dotted key, for suggestions and documentation."""
    cfg = cfg or Config()
    return [f"{s.name}.{k.name}" for s in dataclasses.fields(cfg) for k in dataclasses.fields(getattr(cfg, s.name))]


def _section(cfg: Config, section: str, source: str):
    names = [f.name for f in dataclasses.fields(cfg)]
    if section not in names:
        raise _unknown(section, names, source, what="config section")
    return getattr(cfg, section)


def _set(cfg: Config, target, dotted: str, value: Any, source: str) -> None:
    section, key = dotted.split(".")
    types_ = get_type_hints(type(target))
    if key not in types_:
        close = get_close_matches(dotted, all_keys(cfg), n=1, cutoff=0.6)
        hint = f" did you mean '{close[0]}'?" if close else ""
        raise CourseError(
            f"unknown config key '{dotted}' (in {source});{hint} valid keys in {section}: {', '.join(sorted(types_))}"
        )
    setattr(target, key, coerce(value, types_[key], dotted, source))


def _unknown(name: str, valid: list[str], source: str, what: str) -> CourseError:
    close = get_close_matches(name, valid, n=1, cutoff=0.6)
    hint = f" did you mean '{close[0]}'?" if close else ""
    return CourseError(f"unknown {what} '{name}' (in {source});{hint} valid: {', '.join(valid)}")


def coerce(value: Any, tp: Any, key: str, source: str) -> Any:
    """Check `value` against the annotation `tp`; convert only where it loses nothing."""
    origin = get_origin(tp)
    if origin is Literal:
        choices = get_args(tp)
        if value not in choices:
            raise choice_error(key, value, list(choices), source)
        return value
    if origin in (Union, types.UnionType):
        args = [a for a in get_args(tp) if a is not type(None)]
        if value is None:
            return None
        return coerce(value, args[0], key, source)
    if tp is bool:
        if isinstance(value, bool):
            return value
        raise _type_error(key, value, "true or false", source)
    if tp is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        raise _type_error(key, value, "an integer", source)
    if tp is float:
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return float(value)
        if isinstance(value, str):  # PyYAML reads 1e-4 (no dot) as text: YAML 1.1's float rule
            try:
                return float(value)
            except ValueError:
                pass
        raise _type_error(key, value, "a number", source)
    if tp is str:
        if isinstance(value, str):
            return value
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            return str(value)
        raise _type_error(key, value, "a string", source)
    raise TypeError(f"config schema uses an unsupported type for {key}: {tp!r}")  # our bug


def _type_error(key: str, value: Any, expected: str, source: str) -> CourseError:
    return CourseError(f"{key}={value!r} (in {source}) has the wrong type: expected {expected}")


def to_dict(cfg: Config) -> dict:
    """Plain nested dict of the config: for config.yaml, checkpoints and loggers."""
    return dataclasses.asdict(cfg)


__all__ = ["load_config", "apply_override", "apply_mapping", "read_yaml", "all_keys", "to_dict"]
