"""lmms-eval interop: ``python -m csr_bench.interop.lmms_eval export|run|compare`` (docs/lmms-eval.md).

- export.py: our results.json in lmms-eval's results layout (both POPE scorings);
- run.py: lmms-eval's own POPE on a csr-bench checkpoint, offline (needs the ``lmms`` extra), through
  launch.py (lmms-eval's command line with the torchvision shim);
- compare.py: the two side by side.
No torch import here: only the lmms-eval run, a separate process, loads a model.
"""

from __future__ import annotations

from csr_bench.interop.lmms_eval.compare import compare_pope, format_comparison
from csr_bench.interop.lmms_eval.export import (LMMS_EVAL_FILTER, OFFICIAL_FILTER, export_lmms_eval_results,
                                                lmms_eval_pope_metrics, metrics_of, sanitize_model_name,
                                                write_lmms_eval_results)
from csr_bench.interop.lmms_eval.run import (LOCAL_POPE_TASK, LmmsEvalRun, lmms_eval_command, run_lmms_eval,
                                             write_pope_task)

__all__ = [
    "LMMS_EVAL_FILTER", "LOCAL_POPE_TASK", "OFFICIAL_FILTER", "LmmsEvalRun", "compare_pope",
    "export_lmms_eval_results", "format_comparison", "lmms_eval_command", "lmms_eval_pope_metrics",
    "metrics_of", "run_lmms_eval", "sanitize_model_name", "write_lmms_eval_results", "write_pope_task",
]
