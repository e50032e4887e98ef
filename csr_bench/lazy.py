"""Registry entries written as ``"module:attribute"``, imported only when one is used: the CLI stays
light and a lower layer can name a provider above it without importing it (``--method``, ``--data-root``).
An entry may also name a Python file (``"/path/scorer.py:ToyScorer"``): a task folder's own code."""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any


def load_target(target: str) -> Any:
    """The attribute ``target`` ("package.module:name" or "path/file.py:name") names, its module imported now."""
    module, _, name = target.rpartition(":")
    if not module or not name:
        raise ValueError(f"{target!r} is not 'module:attribute'")
    found = load_file(Path(module)) if module.endswith(".py") else importlib.import_module(module)
    return getattr(found, name)


def load_file(path: Path) -> ModuleType:
    """The module in ``path``, executed once per process under a name of its own (every task folder
    may hold a ``scorer.py``), registered in sys.modules as an import would be (dataclasses need it)."""
    path = path.resolve()
    name = f"csr_bench_file_{path.stem}_{hashlib.sha1(str(path).encode()).hexdigest()[:12]}"
    if name in sys.modules:
        return sys.modules[name]
    if not path.is_file():
        raise FileNotFoundError(f"no such file: {path}")
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
