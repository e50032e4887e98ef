"""Finds task YAMLs: the project's tasks/ folder (shipped in the wheel as csr_bench/task_configs)
plus any folder the user adds with --include-tasks or CSR_BENCH_TASKS_PATH. A benchmark is a folder
(``tasks/pope/pope.yaml``, code beside it); a YAML file directly in an added folder counts too."""

from __future__ import annotations

import os
from pathlib import Path

from csr_bench.errors import CsrBenchError
from csr_bench.tasks.config import TaskConfig, load_code, task_from_yaml


def builtin_task_dir() -> Path:
    package_copy = Path(__file__).resolve().parent.parent / "task_configs"
    if package_copy.is_dir():  # installed from a wheel
        return package_copy
    return Path(__file__).resolve().parents[2] / "tasks"  # source checkout / editable install


def task_dirs(extra: list[str | Path] | None = None) -> list[Path]:
    dirs = [builtin_task_dir()]
    env = os.environ.get("CSR_BENCH_TASKS_PATH", "")
    dirs += [Path(p) for p in env.split(os.pathsep) if p]
    dirs += [Path(p) for p in (extra or [])]
    for d in dirs[1:]:
        if not d.is_dir():
            raise CsrBenchError(f"task folder not found: {d}")
    return dirs


def task_files(folder: Path) -> list[Path]:
    """The YAML files under ``folder`` at any depth, in path order; hidden folders (an editor's
    or a notebook's copies) are skipped."""
    return sorted(path for path in folder.rglob("*.yaml")
                  if not any(part.startswith(".") for part in path.relative_to(folder).parts))


def load_registry(extra: list[str | Path] | None = None) -> dict[str, TaskConfig]:
    """All tasks by name; a later folder may not silently redefine an earlier task."""
    tasks: dict[str, TaskConfig] = {}
    for folder in task_dirs(extra):
        for path in task_files(folder):
            task = task_from_yaml(path)
            if task.name in tasks:
                raise CsrBenchError(
                    f"{path}: task '{task.name}' is already defined in {tasks[task.name].source_file}")
            tasks[task.name] = task
    return tasks


# "lmms:<task>" in --tasks: lmms-eval's task, run by csr_bench/evaluation/lmms_bridge.py; not a task here.
LMMS_PREFIX = "lmms:"


def split_task_names(names: str | list[str]) -> tuple[list[str], list[str]]:
    """(csr-bench task names, lmms-eval task names without "lmms:") of a comma-separated list or
    list, each in the order given; an "lmms:" entry without a name is refused."""
    if isinstance(names, str):
        names = names.split(",")
    names = [n.strip() for n in names if n.strip()]
    bridged = [n[len(LMMS_PREFIX):].strip() for n in names if n.startswith(LMMS_PREFIX)]
    if any(not n for n in bridged):
        raise CsrBenchError("--tasks: 'lmms:' needs an lmms-eval task name after it, e.g. lmms:mme")
    return [n for n in names if not n.startswith(LMMS_PREFIX)], list(dict.fromkeys(bridged))


def get_tasks(names: str | list[str], extra: list[str | Path] | None = None, *,
              kind: str | None = "generate") -> list[TaskConfig]:
    """Resolve a comma-separated list (or list) of task names, in the order given, their scorer and
    prompt code imported and checked. "lmms:" entries are lmms-eval's (split_task_names), not resolved here.
    A task of another ``kind`` is refused (None: any kind): a reward_pairs task (MJ-Bench) is graded by grade-reward."""
    names, bridged = split_task_names(names)
    if not names and not bridged:
        raise CsrBenchError("no task named (use --tasks, e.g. --tasks pope; `csr-bench tasks` lists them)")
    if not names:
        return []
    registry = load_registry(extra)
    unknown = [n for n in names if n not in registry]
    if unknown:
        raise CsrBenchError(
            f"unknown task(s): {', '.join(unknown)} (known: {', '.join(sorted(registry))})")
    chosen = [registry[n] for n in dict.fromkeys(names)]
    other = [task.name for task in chosen if kind is not None and task.kind != kind]
    if other and kind == "generate":
        raise CsrBenchError(f"{', '.join(other)}: reward-pair task(s), which no model answers; grade a reward "
                            f"function on them with csr-bench grade-reward --task {other[0]} --reward R")
    if other:
        raise CsrBenchError(f"{', '.join(other)}: not a {kind} task (csr-bench eval runs these)")
    for task in chosen:
        load_code(task)
    return chosen
