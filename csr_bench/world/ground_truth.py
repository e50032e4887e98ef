"""What the world knows about its prompt images, for the methods and reports that need ground truth:

- ``caption_prompts``: each prompt image with CSR's question for it and the scene's ground-truth
  detailed caption: SIMA's prompts with reference answers (SIMA_prompts' image/text/ground_truth),
  made offline from the scenes.
- ``prompt_objects``: each prompt image's objects (COCO category names), against which any response
  about it can be scored with CHAIR: what a preference pair's "pair accuracy" is measured against.

Both regenerate the scenes from the world's seed (world/preferences.py ``prompt_scenes``, checked
byte for byte against the images). The model registry names them (``ModelSpec.prompt_sets`` and
``ModelSpec.image_objects``), so no method or report imports the world.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from csr_bench.world.preferences import PROMPT_SEED, prompt_scenes
from csr_bench.world.text import detailed_caption


def caption_prompts(data_root: str | Path) -> list[dict[str, Any]]:
    """[{"id", "image" (absolute path), "question", "ground_truth"}] over the prompt images, sorted."""
    return [{"id": item.prompt_id, "image": str(item.image), "question": item.question,
             "ground_truth": detailed_caption(item.scene)} for item in prompt_scenes(Path(data_root))]


def prompt_objects(data_root: str | Path) -> dict[str, frozenset[str]]:
    """{absolute image path: the COCO category names of its objects} over the prompt images."""
    return {str(item.image): frozenset(item.scene.categories) for item in prompt_scenes(Path(data_root))}


CAPTION_PROMPTS_RULE = (f"the world's prompt images, each with CSR's description question (drawn with seed "
                        f"{PROMPT_SEED}) and its scene's ground-truth detailed caption (world/text.py, variant 0)")

__all__ = ["CAPTION_PROMPTS_RULE", "caption_prompts", "prompt_objects"]
