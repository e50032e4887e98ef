"""The documents' images for the report's sample browser: each task's data reloaded as the run's
evaluation read it (the run's task configs, its --include-tasks folders too, under the data root its
results.json recorded), so the page shows what the model saw. Reporting reads files only; the
commands that write a report (`csr-bench report`, the end of `csr-bench run`) pass this in.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.reporting.report.sample_browser import ImageSource, image_data_uri
from csr_bench.reporting.run_data import load_run


def data_root_of(source: str, local: str) -> Path | str | None:
    """The --data-root under which a task read ``source`` ("local:/root/pope", "bundled:pope/pope.jsonl");
    None for a hub dataset, whose images are not files the report can read."""
    kind, _, where = source.partition(":")
    if kind == "bundled":
        return "bundled"
    if kind != "local":
        return None
    parts = Path(local).parts
    for candidate in (Path(where), Path(where).with_suffix("")):  # a data file's extension is optional in YAML
        if candidate.parts[-len(parts):] == parts:
            return Path(*candidate.parts[:-len(parts)])
    return None


class TaskImages:
    """A task's document images by doc_id; ``problem`` says why there are none."""

    def __init__(self, task: str, entry: dict[str, Any], registry: dict[str, Any]):
        self.data = None
        self.rows: dict[str, int] = {}
        self.problem: str | None = None
        source = str(entry.get("data_source", ""))
        if task not in registry:
            self.problem = f"images not shown: no task config named '{task}'"
            return
        root = data_root_of(source, registry[task].dataset.local)
        if root is None:
            self.problem = f"images not shown: the task read {source or 'an unrecorded source'}, not local files"
            return
        from csr_bench.tasks.data import load_task_data

        try:
            self.data = load_task_data(registry[task], root)
        except (CsrBenchError, OSError) as exc:
            self.problem = f"images not shown: {exc}"
            return
        self.rows = {json.dumps(self.data.doc_id(i)): i for i in range(len(self.data))}

    def uri(self, doc_id: Any) -> str | None:
        index = self.rows.get(json.dumps(doc_id))
        if index is None:
            return None
        try:
            return image_data_uri(self.data.image(index))
        except (CsrBenchError, OSError):
            return None


def run_images(run_dir: str | Path) -> ImageSource:
    """The image source of the run in ``run_dir``: the task configs it used (loaded on first use;
    without them, no images) and each task's recorded data source."""
    include_tasks = load_run(run_dir).config.get("include_tasks") or None
    registry: dict[str, Any] | None = None

    def images_of(task: str, entry: dict[str, Any]) -> TaskImages:
        nonlocal registry
        if registry is None:
            from csr_bench.tasks.registry import load_registry

            try:
                registry = load_registry(include_tasks)
            except CsrBenchError:
                registry = {}
        return TaskImages(task, entry, registry)

    return images_of


__all__ = ["TaskImages", "data_root_of", "run_images"]
