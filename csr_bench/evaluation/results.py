"""results.json of one evaluation: metrics per task, the full config, versions, seed and timing."""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

from csr_bench.storage.files import atomic_write_json
from csr_bench.redaction import redact_config

TRACKED_PACKAGES = ("csr-bench", "torch", "transformers", "tokenizers", "datasets", "accelerate",
                    "trl", "peft", "open_clip_torch")


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version()}
    for name in TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return versions


def write_results(path: Path, *, run: dict[str, Any], model: dict[str, Any], config: dict[str, Any],
                  task_results: dict[str, dict[str, Any]], seconds: float) -> dict[str, Any]:
    """Write results.json, keeping tasks evaluated earlier in the same iteration folder.

    ``model`` is the model's ``identity()``: ``results["model"]["dtype"]`` is the dtype it ran in
    (fp16 by default on a GPU, fp32 on the CPU), ``["device"]`` where."""
    path = Path(path)
    merged: dict[str, Any] = {}
    if path.exists():
        try:
            merged = json.loads(path.read_text(encoding="utf-8")).get("results", {})
        except ValueError:
            merged = {}
    merged.update(task_results)
    results = {
        "run": run,
        "model": model,
        "results": merged,
        "config": config,
        "seed": config.get("seed"),
        "timing": {"seconds": round(seconds, 3),
                   "per_task_seconds": {name: r["seconds"] for name, r in task_results.items()}},
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    results = redact_config(results)  # e.g. a judge URL's api-key, a task error quoting a token
    atomic_write_json(path, results)
    return results
