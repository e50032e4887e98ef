"""Tasks: one folder per benchmark (tasks/<name>/<name>.yaml), their registry and their data loading."""

from csr_bench.tasks.config import GenerationSettings, TaskConfig, task_from_yaml
from csr_bench.tasks.registry import get_tasks, load_registry

__all__ = ["GenerationSettings", "TaskConfig", "get_tasks", "load_registry", "task_from_yaml"]
