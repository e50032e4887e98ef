"""Make ``import torchvision`` work next to a CPU-only torch when torchvision is a CUDA build, by
declaring the operator schemas it registers fake kernels for (only where its compiled library
cannot load). Details: docs/lmms-eval.md, "csr_bench/compat/torchvision_ops.py".
"""

from __future__ import annotations

import importlib.machinery
import importlib.util
import sys
from pathlib import Path

# Schemas as torchvision's C++ library declares them (torchvision/csrc/ops/nms.cpp).
_SCHEMAS = (
    "nms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
    "qnms(Tensor dets, Tensor scores, float iou_threshold) -> Tensor",
)

# The torch.library.Library holding our definitions: dropping it would unregister them.
_LIBRARY = None
_STATE: str | None = None


def ensure_torchvision_importable() -> str:
    """Declare torchvision's missing operator schemas if (and only if) its compiled library cannot load.

    Call it before anything imports torchvision (transformers image processors, open_clip,
    lmms-eval). Idempotent. Returns what it found, for logs and tests:
    ``"absent"`` (torchvision not installed; it is not imported), ``"already-imported"`` (too late
    to matter: it was imported before), ``"native"`` (the compiled operators load; nothing done),
    ``"shimmed"`` (the schemas were declared).
    """
    global _STATE, _LIBRARY
    if _STATE is not None:
        return _STATE
    if "torchvision" in sys.modules:
        _STATE = "already-imported"
        return _STATE
    spec = importlib.util.find_spec("torchvision")  # finds the package without importing it
    if spec is None or not spec.submodule_search_locations:
        _STATE = "absent"
        return _STATE

    import torch

    if _has_operator(torch, "nms") or _load_compiled_ops(torch, Path(spec.submodule_search_locations[0])):
        _STATE = "native"
        return _STATE
    library = torch.library.Library("torchvision", "DEF")
    for schema in _SCHEMAS:
        name = schema.split("(", 1)[0]
        if not _has_operator(torch, name):
            library.define(schema)
    _LIBRARY = library
    _STATE = "shimmed"
    return _STATE


def _has_operator(torch, name: str) -> bool:
    try:
        getattr(torch.ops.torchvision, name)
    except (AttributeError, RuntimeError):
        return False
    return True


def _load_compiled_ops(torch, package_dir: Path) -> bool:
    """Load torchvision's ``_C`` the way torchvision.extension does; False where it cannot be loaded."""
    finder = importlib.machinery.FileFinder(
        str(package_dir), (importlib.machinery.ExtensionFileLoader, importlib.machinery.EXTENSION_SUFFIXES))
    spec = finder.find_spec("_C")
    if spec is None or spec.origin is None:
        return False
    try:
        torch.ops.load_library(spec.origin)
    except (ImportError, OSError):
        return False
    return True
