"""Alignment methods by name, imported only when used: one line per built-in method, plus any
third-party package that declares the ``csr_bench.methods`` entry-point group.

    [project.entry-points."csr_bench.methods"]
    mymethod = "my_package.method:MyMethod"
"""

from __future__ import annotations

import dataclasses
from importlib.metadata import entry_points
from typing import Any, Mapping

from csr_bench.errors import CsrBenchError
from csr_bench.lazy import load_target

ENTRY_POINT_GROUP = "csr_bench.methods"
DEFAULT_METHOD = "csr"

# name -> "module:class"; the module must stay light (its heavy imports inside functions): the CLI
# loads it to build the method's flags.
METHODS: dict[str, str] = {
    "csr": "csr_bench.methods.csr.method:CsrMethod",
    "dpo": "csr_bench.methods.dpo.method:DpoMethod",
    "povid": "csr_bench.methods.povid.method:PovidMethod",
    "sima": "csr_bench.methods.sima.method:SimaMethod",
    "self-reward": "csr_bench.methods.self_reward.method:SelfRewardMethod",
}


def known_methods() -> dict[str, str]:
    """Built-in methods and those of installed packages (a built-in name cannot be taken over)."""
    found = {ep.name: ep.value for ep in entry_points(group=ENTRY_POINT_GROUP)}
    return {**found, **METHODS}


def method_class(name: str) -> type:
    known = known_methods()
    if name not in known:
        raise CsrBenchError(f"unknown --method {name} (known: {', '.join(sorted(known))})")
    try:
        cls = load_target(known[name])
    except (ImportError, AttributeError, ValueError) as exc:
        raise CsrBenchError(f"--method {name}: cannot load {known[name]}: {exc}") from None
    for attribute in ("config_class", "make_pairs"):
        if not hasattr(cls, attribute):
            raise CsrBenchError(f"--method {name}: {known[name]} has no {attribute} (docs/methods.md says what a "
                                "method provides)")
    if not dataclasses.is_dataclass(cls.config_class):
        raise CsrBenchError(f"--method {name}: its config_class {cls.config_class.__name__} is not a dataclass")
    return cls


def default_iterations(name: str) -> int:
    """How many iterations ``run`` gives the method when --iterations is not given: its class's
    ``default_iterations`` (CSR: the paper's 3; a method that trains once on a released set: 1)."""
    return int(getattr(method_class(name), "default_iterations", 3))


def with_overrides(config: Any, overrides: Mapping[str, Any]) -> Any:
    """``config`` with ``overrides`` on top; a nested dataclass field takes a mapping of its own fields."""
    names = {f.name for f in dataclasses.fields(config)}
    unknown = sorted(set(overrides) - names)
    if unknown:
        raise CsrBenchError(f"{type(config).__name__} has no field {', '.join(unknown)}")
    changes = {key: with_overrides(getattr(config, key), value)
               if dataclasses.is_dataclass(getattr(config, key)) and isinstance(value, Mapping) else value
               for key, value in overrides.items()}
    return dataclasses.replace(config, **changes)


def default_config(name: str, presets: Mapping[str, Mapping[str, Any]] | None = None) -> Any:
    """The method's config: its dataclass defaults with a model's presets for it on top
    (``ModelSpec.method_presets[name]``)."""
    return with_overrides(method_class(name).config_class(), (presets or {}).get(name, {}))


def make_method(name: str, config: Any = None, device: str | None = None):
    cls = method_class(name)
    return cls(config=config if config is not None else cls.config_class(), device=device)
