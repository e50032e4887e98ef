"""The commands that list what is registered: tasks, models."""

from __future__ import annotations

import argparse


def cmd_tasks(args: argparse.Namespace) -> int:
    from csr_bench.tasks.registry import load_registry

    registry = load_registry(args.include_tasks)
    width = max(len(name) for name in registry)
    for name, task in sorted(registry.items()):
        marker = "[reward] " if task.kind == "reward_pairs" else ""  # graded by grade-reward, not eval
        print(f"{name:<{width}}  {marker}{task.description}")
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    from csr_bench.models.registry import MODELS

    width = max(len(name) for name in MODELS)
    for name, spec in MODELS.items():
        print(f"{name:<{width}}  {spec.description}")
    print(f"{'DIR':<{width}}  any folder with a llava-hf format checkpoint (save_pretrained, safetensors)")
    return 0
