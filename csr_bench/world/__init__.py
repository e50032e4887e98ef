"""The embedded offline world: small procedural images where object hallucination is real and measurable.

Scenes hold 1-4 objects from 14 drawable COCO categories (fork, knife, cup, spoon, dog, sports ball,
laptop, mouse, apple, banana, car, traffic light, book, clock), each with a colour, a size and a cell
of a 3x3 grid, drawn with PIL on a 96-pixel canvas (scenes.py). The categories come in seven pairs
that co-occur strongly in the training scenes (an object's partner is in the image 85% of the time)
and much less in the evaluation scenes (about 50%; nine scenes in ten show an object without its
partner), so a small VLM trained on the training captions (text.py) learns the language prior "a
fork comes with a knife" and names the knife when it is absent, and CSR has a hallucination to
reduce. The object names are COCO category names and the captions use CHAIR's synonyms only for
objects in the image, so the world's COCO-format annotations (coco.py) feed the existing POPE and
CHAIR builders and CHAIR's text pipeline unchanged, and benchmarks.py writes every benchmark in its
real schema under one data root (``--data-root``). Everything is a deterministic function of the
seed: the same seed gives byte-identical images and identical annotations. Build one with
``python -m csr_bench.world OUT [--seed S]``.
"""

from csr_bench.world.benchmarks import BenchmarkSizes, write_world, write_world_benchmarks
from csr_bench.world.scenes import (CATEGORIES, PAIRS, Scene, SceneObject, World, cooccurrence, generate_world,
                                    partner_rate, png_bytes, render)
from csr_bench.world.text import coco_captions, detailed_caption, qa_pairs, short_captions

WORLD_VERSION = 5  # bumped when the data or the trained models change: a new cache folder (5: 2,000 CHAIR images, 2,700 POPE questions)
# bumped when what the world VLM and CLIP are trained on, or how, changes: shipped checkpoints carry it,
# so a change of the evaluation data alone (WORLD_VERSION) keeps them
MODELS_VERSION = 4

__all__ = ["BenchmarkSizes", "CATEGORIES", "PAIRS", "Scene", "SceneObject", "MODELS_VERSION", "WORLD_VERSION", "World",
           "coco_captions", "cooccurrence", "detailed_caption", "generate_world", "partner_rate", "png_bytes",
           "qa_pairs", "render", "short_captions", "write_world", "write_world_benchmarks"]
