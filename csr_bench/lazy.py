"""Registry entries written as ``"module:attribute"``, imported only when one is used: the CLI stays
light and a lower layer can name a provider above it without importing it (``--method``, ``--data-root``)."""

from __future__ import annotations

import importlib
from typing import Any


def load_target(target: str) -> Any:
    """The attribute ``target`` ("package.module:name") names, its module imported now."""
    module, name = target.split(":")
    return getattr(importlib.import_module(module), name)
