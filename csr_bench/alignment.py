"""The harness's view of an alignment method: the current model in, the next model out.

``csr-bench run`` evaluates iteration 0, then asks the method for each next iteration's model and
evaluates it. A method is registered here by name (``--method``); CSR is the first. POVID or SIMA
plug in the same way, without touching the harness.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol

from csr_bench.errors import CsrBenchError
from csr_bench.lazy import load_target


@dataclass
class IterationInput:
    iteration: int  # the iteration to produce (1 = after the first round of training)
    model_source: str  # what trainers load: a hub id or a llava-hf checkpoint folder
    load_model: Callable[[], Any]  # loads the current model for generation (a VisionLanguageModel)
    work_dir: Path  # <run>/iter_<k>: the method's artefacts go here, the next model in work_dir/"model"
    # How load_model loads it (dtype, device type): settings a method's generation stage depends on,
    # so they belong in its recorded settings (csr_bench.stage_settings).
    model_settings: dict[str, Any] = field(default_factory=dict)


class AlignmentMethod(Protocol):
    name: str

    def run_iteration(self, current: IterationInput) -> Path:
        """Produce the next model (a llava-hf checkpoint folder) and return its path. Must resume:
        called again after a crash, it redoes only the stages that had not finished."""
        ...


# name -> "module:factory"; imported only when a run uses it (the CLI stays light).
METHODS: dict[str, str] = {"csr": "csr_bench.csr.method:CsrMethod"}


def get_method(name: str, **options: Any) -> AlignmentMethod:
    if name not in METHODS:
        raise CsrBenchError(f"unknown --method {name} (known: {', '.join(sorted(METHODS))})")
    return load_target(METHODS[name])(**options)
