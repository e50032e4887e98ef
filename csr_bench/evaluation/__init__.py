"""Evaluation: run tasks over a model, keep samples resumable, write results.json."""

from csr_bench.evaluation.config import EvalConfig
from csr_bench.evaluation.evaluator import evaluate

__all__ = ["EvalConfig", "evaluate"]
