"""The embedded world's benchmarks its shipped VLM is at chance on, and why each leaves the world's
default task set: a constant of the shipped world that the model registry (the default set) and
reporting (Table 1's footnote, read for any world run, old ones too) share.
"""

from __future__ import annotations

from types import MappingProxyType

# Those the shipped world VLM does no better than chance on at iteration 0: its 95% interval's lower
# bound is not above the task's chance level (docs/world-benchmarks.md has the measurement and the
# command). They leave the world's default set (still runnable with --tasks); Table 1 shows '–' for
# them with this reason, never 0.
WORLD_AT_CHANCE = MappingProxyType({
    "mme": "MME-P 246.7 [200.0, 306.7] against a chance of 300.0: a coin per question, acc 50 + acc+ 25 "
           "in each of its 4 categories",
    "mmbench": "circular accuracy 0.0 [0.0, 0.0] against a chance of 0.4: a group counts only if all 4 "
               "rotations are right, 1/4^4",
    "vizwiz": "VQA accuracy 11.2 [5.0, 18.8] against a chance of 20.0: always 'unanswerable', the best "
              "constant answer",
})


def world_left_out_reason(task: str) -> str | None:
    """Why the world's default set leaves ``task`` out (a table footnote), or None when it does not."""
    if task not in WORLD_AT_CHANCE:
        return None
    return (f"{task} is not in the world's default set: the world VLM is at chance on it at iteration 0 "
            f"({WORLD_AT_CHANCE[task]}; docs/world-benchmarks.md); run it with --tasks {task}")


__all__ = ["WORLD_AT_CHANCE", "world_left_out_reason"]
