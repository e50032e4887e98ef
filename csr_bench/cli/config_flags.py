"""Command-line flags made from a config dataclass, as trl's ``TrlParser`` does: a method's
``csr-bench run`` flags come from its Config's fields, so a new method needs no edit of the CLI.

A field's flag is ``--field-name`` (nested dataclasses flattened) unless its metadata says
otherwise: ``flag`` (the name), ``help``, ``shown_default`` (the default as help shows it, where
the command line sets another), ``choices``, ``min`` (smallest allowed int), ``also``
(fields of the same dataclass that take the same value), ``cli: False`` (no flag). A flag not
given leaves the field as it was, so a model's presets stay unless a flag says otherwise.
"""

from __future__ import annotations

import argparse
import dataclasses
import types
import typing
from typing import Any, Iterator

from csr_bench.errors import CsrBenchError

DEST_PREFIX = "config:"  # argparse dests of generated flags: "config:search.num_beams"


def comma_list(what: str):
    """An argparse type: "a,b" -> ["a", "b"]; an empty list is refused, naming ``what`` it lists."""
    def parse(value: str) -> list[str]:
        names = [n.strip() for n in value.split(",") if n.strip()]
        if not names:
            raise argparse.ArgumentTypeError(f"expected a comma-separated list of {what}")
        return names

    parse.__name__ = "list"  # argparse names the type in its messages
    return parse


def at_least(minimum: int):
    """An argparse type: an int no smaller than ``minimum``."""
    def parse(value: str) -> int:
        number = int(value)
        if number < minimum:
            raise argparse.ArgumentTypeError(f"must be at least {minimum}, got {number}")
        return number

    parse.__name__ = "int"
    return parse


def _base_type(annotation: Any) -> Any:
    """``int | None`` -> int; ``list[str]`` stays a list type."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else str
    return annotation


def config_fields(config_class: type, prefix: str = "") -> Iterator[tuple[str, dataclasses.Field, Any]]:
    """(dotted path, field, its type) of every leaf field that has a flag, nested dataclasses flattened."""
    hints = typing.get_type_hints(config_class)
    for item in dataclasses.fields(config_class):
        kind = _base_type(hints[item.name])
        if dataclasses.is_dataclass(kind):
            yield from config_fields(kind, f"{prefix}{item.name}.")
        elif item.metadata.get("cli", True) and typing.get_origin(kind) is not dict and kind is not dict:
            yield f"{prefix}{item.name}", item, kind


def _attribute(config: Any, path: str) -> Any:
    for part in path.split("."):
        config = getattr(config, part)
    return config


def flag_name(path: str, item: dataclasses.Field) -> str:
    return item.metadata.get("flag") or "--" + path.rpartition(".")[2].replace("_", "-")


def add_config_flags(group: argparse._ActionsContainer, config_class: type,
                     presets: dict[str, dict[str, Any]] | None = None) -> None:
    """One flag per field of ``config_class``; its help ends with the default and any model's
    preset of the field (``presets``: model name -> that model's overrides)."""
    defaults = config_class()
    for path, item, kind in config_fields(config_class):
        notes = [f"default {item.metadata.get('shown_default') or _shown(_attribute(defaults, path))}"]
        for model, overrides in (presets or {}).items():
            value = _preset(overrides, path)
            if value is not _MISSING:
                notes.append(f"{_shown(value)} for {model}")
        help_text = f"{item.metadata.get('help', path)} ({'; '.join(notes)})".replace("%", "%%")
        options: dict[str, Any] = {"dest": DEST_PREFIX + path, "default": argparse.SUPPRESS, "help": help_text}
        if kind is bool:
            options["action"] = argparse.BooleanOptionalAction
        else:
            if "choices" not in item.metadata:
                options["metavar"] = path.rpartition(".")[2].upper()
            if typing.get_origin(kind) is list:
                options.update(type=comma_list("names"), metavar="A,B")
            elif kind is int:
                options["type"] = at_least(item.metadata["min"]) if "min" in item.metadata else int
            elif kind is float:
                options["type"] = float
            if "choices" in item.metadata:
                options["choices"] = list(item.metadata["choices"])
        try:
            group.add_argument(flag_name(path, item), **options)
        except argparse.ArgumentError:
            raise CsrBenchError(f"{config_class.__name__}.{path}: its flag {flag_name(path, item)} is another "
                                "option's too; give the field metadata={'flag': '--another-name'}") from None


_MISSING = object()


def _preset(overrides: dict[str, Any], path: str) -> Any:
    value: Any = overrides
    for part in path.split("."):
        if not isinstance(value, typing.Mapping) or part not in value:
            return _MISSING
        value = value[part]
    return value


def _shown(value: Any) -> str:
    if value is None:
        return "none"
    if isinstance(value, list):
        return ",".join(map(str, value))
    return str(value) if value != "" else "''"


def given_values(args: argparse.Namespace) -> dict[str, Any]:
    """The generated flags that were given: dotted field path -> value."""
    return {key[len(DEST_PREFIX):]: value for key, value in vars(args).items() if key.startswith(DEST_PREFIX)}


def apply_flags(config: Any, args: argparse.Namespace) -> Any:
    """``config`` with every given flag on top (and the fields each one's ``also`` names)."""
    nested: dict[str, Any] = {}
    for path, value in given_values(args).items():
        target = nested
        *parents, name = path.split(".")
        for part in parents:
            target = target.setdefault(part, {})
        target[name] = value
    return _replace(config, nested)


def _replace(config: Any, values: dict[str, Any]) -> Any:
    changes = {}
    for item in dataclasses.fields(config):
        if item.name not in values:
            continue
        value = values[item.name]
        if isinstance(value, dict) and dataclasses.is_dataclass(getattr(config, item.name)):
            changes[item.name] = _replace(getattr(config, item.name), value)
        else:
            changes[item.name] = value
            for other in item.metadata.get("also", ()):
                changes.setdefault(other, value)
    return dataclasses.replace(config, **changes)
