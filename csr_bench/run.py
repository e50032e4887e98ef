"""The main job, ``csr-bench run``: evaluate the starting model (iteration 0), then CSR iterations.

The CSR iterations (generate -> calibrated self-reward -> preference pairs -> DPO) plug in here
through the alignment-method interface; until that plugin lands, a run is iteration 0 only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields

from csr_bench.errors import CsrBenchError
from csr_bench.evaluation import EvalConfig, evaluate
from csr_bench.evaluation.evaluator import iteration_dir
from csr_bench.io import atomic_write_json
from csr_bench.models.registry import DEFAULT_MODEL

# Tasks a run evaluates after every iteration unless --tasks says otherwise.
DEFAULT_RUN_TASKS = ["pope"]


@dataclass
class RunConfig(EvalConfig):
    """An evaluation config plus the iteration count; the model defaults to the embedded one."""

    model: str = DEFAULT_MODEL
    tasks: list[str] = field(default_factory=lambda: list(DEFAULT_RUN_TASKS))
    iterations: int = 0

    def eval_config(self, iteration: int) -> EvalConfig:
        shared = {f.name: getattr(self, f.name) for f in fields(EvalConfig)}
        return EvalConfig(**{**shared, "iteration": iteration})


def run(config: RunConfig) -> dict:
    if config.iterations < 0:
        raise CsrBenchError(f"--iterations must be 0 or more (got {config.iterations})")
    if config.iterations > 0:
        raise CsrBenchError("CSR training iterations are not available yet in this version; "
                            "run with --iterations 0 to evaluate the starting model")
    first = config.eval_config(0)
    results = evaluate(first)
    run_dir = iteration_dir(first).parent
    atomic_write_json(run_dir / "run.json", {
        "config": asdict(config),
        "iterations": [{"iteration": 0, "results": "iter_0/results.json"}],
    })
    return {"run_dir": str(run_dir), "iterations": [results]}
