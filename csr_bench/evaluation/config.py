"""Settings of one evaluation (one model, some tasks), as a dataclass like trl's trainer configs."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EvalConfig:
    model: str
    tasks: list[str]
    output: str = "results"
    run_name: str | None = None  # default: derived from the model name
    iteration: int = 0
    limit: int | None = None  # first N documents of each task
    batch_size: int | None = None  # never changes predictions, only speed (None: the model's eval_batch_size)
    num_workers: int = 1  # DataLoader processes decoding images ahead of the model (0: in the main process)
    data_root: str | None = None  # None: the model's default (bundled for embedded models, else the hub)
    seed: int = 0
    device: str | None = None
    dtype: str | None = None
    max_new_tokens: int | None = None  # override the tasks' generation length (quick smoke runs)
    include_tasks: list[str] = field(default_factory=list)
    overwrite: bool = False  # discard earlier samples of this iteration instead of resuming
    annotations: str | None = None  # COCO-format annotation folder for CHAIR (default: the task's, under data_root)
    judge_url: str | None = None  # OpenAI-compatible judge endpoint (default: $CSR_BENCH_JUDGE_URL)
    judge_model: str | None = None  # judge model name (default: $CSR_BENCH_JUDGE_MODEL); key only from the env
    lmms_python: str | None = None  # lmms: tasks: lmms-eval's interpreter (default $CSR_BENCH_LMMS_PYTHON, ...)
    lmms_include: str | None = None  # lmms: tasks: a folder of lmms-eval task YAMLs (its --include_path)
