"""The embedded offline world: small procedural images where object hallucination is real and
measurable, so CSR has a hallucination to reduce with no download. Build one with
``python -m csr_bench.world OUT [--seed S]``. Details: docs/world.md, "csr_bench/world/__init__.py".
"""

from csr_bench.world.benchmarks import BenchmarkSizes, write_world, write_world_benchmarks
from csr_bench.world.scenes import (CATEGORIES, PAIRS, Scene, SceneObject, World, cooccurrence, generate_world,
                                    partner_rate, png_bytes, render)
from csr_bench.world.text import coco_captions, detailed_caption, qa_pairs, short_captions

WORLD_VERSION = 7  # bumped when the data or the trained models change: a new cache folder (5: 2,000 CHAIR images, 2,700 POPE questions; 6: amber_world; 7: unicorn_world, MJ-Bench's world pairs)
# bumped when what the world VLM and CLIP are trained on, or how, changes: shipped checkpoints carry it,
# so a change of the evaluation data alone (WORLD_VERSION) keeps them
MODELS_VERSION = 4

__all__ = ["BenchmarkSizes", "CATEGORIES", "PAIRS", "Scene", "SceneObject", "MODELS_VERSION", "WORLD_VERSION", "World",
           "coco_captions", "cooccurrence", "detailed_caption", "generate_world", "partner_rate", "png_bytes",
           "qa_pairs", "render", "short_captions", "write_world", "write_world_benchmarks"]
