"""Copy tasks' hub datasets into a local --data-root (for users with the network), checking counts.

Each task's documents (and GQA's separate image set) are saved with ``save_to_disk`` under the
task's ``local`` path, the layout ``--data-root`` reads; row counts are checked against the
published sizes, so a truncated download is caught before it skews a score.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Callable

from csr_bench.errors import CsrBenchError
from csr_bench.tasks.config import HubSource, TaskConfig

# Published sizes (rows after the task's filter), from ../shared/protocols.md and the datasets' cards.
EXPECTED_ROWS = {"pope": 9000, "mme": 2374, "mmvet": 218, "scienceqa": 2017, "vizwiz": 4319,
                 "vizwiz_test": 8000, "gqa": 12578, "llava_bench": 60, "hallusionbench": 951, "mmhal": 96}


def _download(hub: HubSource, load: Callable[..., Any]):
    try:
        return load(hub.path, hub.name, split=hub.split, **hub.pinned())
    except Exception as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CsrBenchError(f"cannot download {hub.path} ({hub.name or 'default'}, {hub.split}): {reason}") from None


def prepare_task(task: TaskConfig, data_root: Path, load: Callable[..., Any] | None = None) -> dict[str, Any]:
    """Download, filter, save and count one task; returns what was written."""
    if load is None:
        import datasets

        load = datasets.load_dataset
    if task.dataset.hub is None:
        raise CsrBenchError(f"{task.name}: no hub dataset declared (build it with the scripts in scripts/)")
    dataset = _download(task.dataset.hub, load)
    if task.filter:
        wanted = task.filter
        dataset = dataset.filter(lambda *values: all(v == wanted[c] for c, v in zip(wanted, values)),
                                 input_columns=list(wanted))
    target = Path(data_root) / task.dataset.local
    dataset.save_to_disk(str(target))
    report = {"task": task.name, "rows": len(dataset), "path": str(target),
              "expected": EXPECTED_ROWS.get(task.name)}
    if task.images is not None:
        images = _download(task.images.hub, load)
        images_target = Path(data_root) / task.images.local
        images.save_to_disk(str(images_target))
        report["images"] = {"rows": len(images), "path": str(images_target)}
    report["ok"] = report["expected"] is None or report["expected"] == report["rows"]
    return report
