"""Models by name. Listing them imports nothing heavy; loading imports torch/transformers."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from csr_bench.errors import CsrBenchError
from csr_bench.world_at_chance import WORLD_AT_CHANCE


@dataclass(frozen=True)
class ModelSpec:
    name: str
    description: str
    loader: Callable[..., object]  # (name, device, dtype) -> VisionLanguageModel
    # "bundled" for embedded models that only make sense on csr-bench's own small data;
    # None for real models, whose default data is the benchmark's hub dataset.
    default_data_root: str | None = None
    # A method's prompt images when --prompt-source is not given ("bundled": csr-bench's own small
    # images; "world": the world's unlabelled training images).
    default_prompt_source: str | None = None
    hub_id: str | None = None  # the hub checkpoint behind a registered name
    # The folder training starts from, given the run folder: the hub checkpoint's snapshot, the
    # embedded model saved to disk (None: the --model folder itself).
    training_checkpoint: Callable[[Path], str] | None = None
    # What `run` evaluates when --tasks is not given (None: csr_bench.run.DEFAULT_RUN_TASKS).
    default_tasks: tuple[str, ...] | None = None
    # Per method, the config fields this model needs other than the method's defaults (nested dicts
    # for nested configs, e.g. CsrConfig's "search" and "training"); explicit flags still win. The
    # reference's values suit a 7B model, not a tiny one; the embedded models score R_I with their own CLIP.
    method_presets: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    # "transformers" (LlavaModel), or "vllm" (``vllm:MODEL``: generation only, no CSR search/training).
    backend: str = "transformers"
    # Generation batch size when --batch-size is not given (it never changes predictions, only speed).
    eval_batch_size: int = 8
    # Preference sets this model provides, for `--preferences <model>:<name>` (e.g. world:rlhf-v): name ->
    # "module:function", a function (context: preference_data.base.SourceContext) -> PreferenceSet, loaded
    # with csr_bench.lazy.load_target only when the set is asked for.
    preference_sets: Mapping[str, str] = field(default_factory=dict)
    # Prompt sets with ground-truth answers this model's data provides, for `<model>:<name>` (e.g.
    # SIMA's --sima-prompts world:captions): name -> "module:function", (data_root) -> [{"id", "image"
    # (absolute path), "question", "ground_truth"}].
    prompt_sets: Mapping[str, str] = field(default_factory=dict)
    # "module:function", (data_root) -> {absolute image path: COCO category names of its objects}: the
    # annotations of the images methods make pairs on, so reports can score each pair (pair accuracy).
    image_objects: str | None = None


def _hub_llava(repo: str) -> Callable[..., object]:
    def load(name: str, device: str | None = None, dtype: str | None = None):
        from csr_bench.models.llava import LlavaModel

        return LlavaModel.from_pretrained(repo, name=name, device=device, dtype=dtype)

    return load


def _hub_snapshot(repo: str) -> Callable[[Path], str]:
    def snapshot(run_dir: Path) -> str:  # downloaded once, cached by huggingface_hub
        from huggingface_hub import snapshot_download

        try:
            return snapshot_download(repo, allow_patterns=["*.json", "*.safetensors", "*.model", "*.txt"])
        except Exception as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise CsrBenchError(f"cannot fetch {repo} for training: {reason}") from None

    return snapshot


def _tiny_llava_checkpoint(run_dir: Path) -> str:
    """The tiny LLaVA saved once into the run's ``iter_0/model`` (by the main process)."""
    import shutil

    from csr_bench import distributed

    target = run_dir / "iter_0" / "model"
    if not (target / "config.json").exists() and distributed.is_main():
        from csr_bench.models.tiny_llava import save_tiny_llava

        partial = target.with_name("model.partial")
        shutil.rmtree(partial, ignore_errors=True)
        save_tiny_llava(partial)
        partial.rename(target)
    distributed.barrier()
    return str(target)


def _world_checkpoint(run_dir: Path) -> str:
    return str(world_model_dir())


def _tiny_llava(name: str, device: str | None = None, dtype: str | None = None):
    from csr_bench.models.llava import LlavaModel
    from csr_bench.models.tiny_llava import build_tiny_llava

    model, processor = build_tiny_llava(seed=0)
    return LlavaModel(model, processor, name=name, source="tiny-llava(seed=0)", device=device, dtype=dtype)


# The embedded world is reached only through these functions (csr_bench.world imports models, tasks and
# scorers, so they never import it back); each builds the world on first use.
def _built_world(clip: bool = True) -> Path:
    from csr_bench.world.build import require_built

    return require_built(clip=clip)


def world_data_root() -> Path:
    """The world's benchmarks (``--data-root world``); evaluation needs no CLIP, so none is built."""
    return _built_world(clip=False) / "data"


def world_model_dir() -> Path:
    """The world VLM's checkpoint folder, for training (built with the CLIP that CSR's reward needs)."""
    return _built_world() / "model"


def world_prompt_images() -> Path:
    """The world's unlabelled prompt images (CSR's default prompt source for the world model)."""
    return _built_world() / "data" / "prompts" / "images"


def named_prompt_source(name: str) -> str:
    """The folder of a model's ``default_prompt_source``: "world" (the world's unlabelled prompt
    images) or "bundled" (csr-bench's own small images)."""
    if name == "world":
        return str(world_prompt_images())
    if name == "bundled":
        from csr_bench.tasks.data import BUNDLED_DATA_ROOT

        return str(BUNDLED_DATA_ROOT / "pope" / "images")
    raise CsrBenchError(f"unknown default_prompt_source {name!r} (world, bundled)")


def load_clip(model_name: str, pretrained: str, device: str | None = None):
    """The CLIP scorer named by a method preset (``clip_model``): "tiny" (built from a seed), "world" (the world's
    trained CLIP) or an open_clip model with its ``pretrained`` weights."""
    from csr_bench.models.clip import ClipScorer, build_tiny_clip

    if model_name == "tiny":
        return build_tiny_clip(seed=0, device=device or "cpu")
    if model_name == "world":
        from csr_bench.world.train_clip import load_world_clip

        return load_world_clip(_built_world() / "clip", device=device or "cpu")
    return ClipScorer.from_pretrained(model_name, pretrained, device=device)


def _world_llava(name: str, device: str | None = None, dtype: str | None = None):
    from csr_bench.models.llava import LlavaModel

    return LlavaModel.from_pretrained(str(_built_world(clip=False) / "model"), name=name, device=device, dtype=dtype)


def _local_llava(path: Path) -> Callable[..., object]:
    def load(name: str, device: str | None = None, dtype: str | None = None):
        from csr_bench.models.llava import LlavaModel, check_llava_checkpoint

        check_llava_checkpoint(path)
        return LlavaModel.from_pretrained(str(path), name=name, device=device, dtype=dtype)

    return load


# Every task the embedded world has data for (the judge tasks MM-Vet and LLaVA-W have none).
WORLD_DATA_TASKS = ("pope", "chair", "mme", "seed", "mmbench", "scienceqa", "vizwiz", "gqa", "amber_world",
                    "unicorn_world")
# Those the shipped world VLM is at chance on leave its default set (csr_bench.world_at_chance).
# What `csr-bench run` evaluates on the world when --tasks is not given.
WORLD_TASKS = tuple(task for task in WORLD_DATA_TASKS if task not in WORLD_AT_CHANCE)


# CSR on the world's tiny model: the reference's search, rewards and DPO, with a prompt count and a
# DPO step size for a 1M-parameter model (docs/world-benchmarks.md has the measurements: 1e-4 left
# CHAIR_S's 3-iteration change within the noise, 2e-4 moves CHAIR_S and CHAIR_I beyond it with POPE F1
# not worse, two epochs name fewer objects instead; at 5e-4 the descriptions degrade).
# DPO on the world: a step size for a tiny model (the reference's 1e-7 suits a 7B one; docs/world-benchmarks.md)
WORLD_TRAINING = MappingProxyType({"learning_rate": 2e-4, "lora_r": 16, "lora_alpha": 32,
                                   "gradient_checkpointing": False})
WORLD_CSR_PRESETS = MappingProxyType({
    "clip_model": "world", "clip_pretrained": "",  # the world's own CLIP (world/train_clip.py)
    "prompts": 512,
    # a forward pass of this small model holds ~60 search nodes (SearchConfig.batch_tokens): 16 prompts
    # (~48 nodes a step) fill it where the reference-sized 8 leave it half empty
    "prompts_per_batch": 16,
    "training": WORLD_TRAINING,
})
# The methods CSR is compared with train as CSR does on the world (the same DPO settings) and on as
# many pairs as CSR's prompts, from the world's ground-truth sets (world/preferences.py).
WORLD_DPO_PRESETS = MappingProxyType({"preferences_limit": 512, "training": WORLD_TRAINING})
WORLD_POVID_PRESETS = MappingProxyType({"preferences": "world:povid", "preferences_limit": 512,
                                        "training": WORLD_TRAINING})
# SIMA and Self-rewarding on the world: CSR's prompt images and count, CSR's world DPO settings;
# what else differs from their references on the world, and why, is said beside each value.
WORLD_SIMA_PRESETS = MappingProxyType({
    "prompts": "world:captions",  # the world's prompt images with their scenes' ground-truth captions (offline)
    "prompts_limit": 512,  # CSR's world prompt count, drawn as CSR draws them (seed 0): the same 512 images
    # ours, labelled: the world VLM cannot write a judgement (its critic output is "center in in in ..."), so
    # the verdict is the likelier of the two verdict lines after the critic prompt (docs: where SIMA differs)
    "verdict": "likelihood",
    # SIMA's critic prompt is 1,230-1,310 world tokens + the image, over the world VLM's 1,024 positions; its
    # rotary positions have no hard limit, but it never saw more than ~100 tokens: a labelled stretch
    "context": 2048,
    # the world's CHAIR task's max_new_tokens (tasks/chair/chair.yaml): the reference's 1,024 only lets a 2-layer
    # model's runaway repetition loop run on, which is no description
    "max_new_tokens": 512,
    "training": WORLD_TRAINING,  # CSR's world DPO step size; SIMA's 3 epochs (run_dpo.sh) kept
})
WORLD_SELF_REWARD_PRESETS = MappingProxyType({
    "prompts": 512,  # CSR's world prompt count (WORLD_CSR_PRESETS): the same prompts as CSR's world run
    # ours, not Yuan et al.'s: the world VLM cannot write a judgement (its 384-word vocabulary turns the
    # judge prompt into <unk>s and it was trained on captions and short answers only), so it judges by the
    # likelihood of "Score: 0".."Score: 5" after the judge prompt (docs: where we differ)
    "judge": "likelihood",
    "max_new_tokens": 512,  # as the world's CHAIR task generates its descriptions (tasks/chair/chair.yaml)
    "training": WORLD_TRAINING,  # CSR's world DPO settings (a step size for a 1M-parameter model)
})

MODELS: dict[str, ModelSpec] = {
    spec.name: spec
    for spec in [
        ModelSpec("tiny-llava", "Toy LlavaForConditionalGeneration built offline from a seed (tests, offline default)",
                  _tiny_llava, default_data_root="bundled", default_prompt_source="bundled",
                  training_checkpoint=_tiny_llava_checkpoint,
                  method_presets={"csr": {"clip_model": "tiny", "clip_pretrained": ""}}),
        # world: a forward pass of its model is mostly overhead: 128 evaluates CHAIR and POPE ~1.5x faster than 32
        # (same predictions); 256 is no faster and waits longer on a rare caption that runs to max_new_tokens
        ModelSpec("world", "Tiny LLaVA trained on the embedded world, hallucinates by design (built offline once)",
                  _world_llava, default_data_root="world", default_prompt_source="world", default_tasks=WORLD_TASKS,
                  training_checkpoint=_world_checkpoint,
                  method_presets={"csr": WORLD_CSR_PRESETS, "dpo": WORLD_DPO_PRESETS, "povid": WORLD_POVID_PRESETS,
                                  "sima": WORLD_SIMA_PRESETS, "self-reward": WORLD_SELF_REWARD_PRESETS},
                  eval_batch_size=128,
                  preference_sets={"rlhf-v": "csr_bench.world.preferences:rlhf_v_set",
                                   "povid": "csr_bench.world.preferences:povid_set"},
                  prompt_sets={"captions": "csr_bench.world.ground_truth:caption_prompts"},
                  image_objects="csr_bench.world.ground_truth:prompt_objects"),
        ModelSpec("llava15", "LLaVA-1.5-7B, llava-hf/llava-1.5-7b-hf from the Hugging Face hub",
                  _hub_llava("llava-hf/llava-1.5-7b-hf"), hub_id="llava-hf/llava-1.5-7b-hf",
                  training_checkpoint=_hub_snapshot("llava-hf/llava-1.5-7b-hf")),
        ModelSpec("llava15-13b", "LLaVA-1.5-13B, llava-hf/llava-1.5-13b-hf from the Hugging Face hub",
                  _hub_llava("llava-hf/llava-1.5-13b-hf"), hub_id="llava-hf/llava-1.5-13b-hf",
                  training_checkpoint=_hub_snapshot("llava-hf/llava-1.5-13b-hf")),
    ]
}
DEFAULT_MODEL = "world"
# Written by `csr-bench run` into each checkpoint a method makes: the run, the iteration, the model
# the run started from and its data root (csr_bench.run.record_origin).
ORIGIN_FILE = "csr_bench_origin.json"


def _vllm_llava(source: str, local: bool) -> Callable[..., object]:
    def load(name: str, device: str | None = None, dtype: str | None = None):
        from csr_bench.models.vllm_llava import load_vllm_llava

        return load_vllm_llava(source, name=name, local=local, device=device, dtype=dtype)

    return load


def resolve_model(name: str) -> ModelSpec:
    """A registered name, or a folder holding a llava-hf format checkpoint (``--model /path/dir``);
    ``vllm:`` before a registered hub model, a folder or a hub id selects the vLLM backend (docs/vllm.md)."""
    if name in MODELS:
        return MODELS[name]
    if name.startswith("vllm:"):
        from csr_bench.models.vllm_llava import resolve_vllm_source

        label, source, local = resolve_vllm_source(name[len("vllm:"):], MODELS)
        return ModelSpec(f"vllm:{label}", f"LLaVA {source} through vLLM", _vllm_llava(source, local),
                         backend="vllm")
    path = Path(name).expanduser()
    if path.is_dir():
        origin = _origin_spec(path.resolve())
        if origin is not None:
            return origin
        return ModelSpec(path.resolve().name, f"LLaVA checkpoint at {path}", _local_llava(path.resolve()))
    hint = " (no such folder)" if ("/" in name or name.startswith(".")) else ""
    raise CsrBenchError(f"unknown model '{name}'{hint}; known: {', '.join(MODELS)}, a checkpoint folder, "
                      f"or vllm:MODEL")


def _origin_spec(path: Path, depth: int = 0) -> ModelSpec | None:
    """A checkpoint that a run wrote (it holds ORIGIN_FILE): the defaults of the model the run started
    from (data root, tasks, CLIP, CSR settings), named ``<run>-iter<k>``; None for any other folder."""
    import json

    try:
        origin = json.loads((path / ORIGIN_FILE).read_text(encoding="utf-8"))
        run, iteration, base = str(origin["run"]), int(origin["iteration"]), str(origin["base_model"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if base in MODELS:
        spec = MODELS[base]
    elif depth < 8 and (Path(base) / ORIGIN_FILE).is_file():  # a run that started from another run's checkpoint
        spec = _origin_spec(Path(base), depth + 1)
    else:
        spec = None
    # every default of the base model (data root, tasks, method presets, batch size) carries over;
    # what the checkpoint is and how it loads are its own
    own = {"name": f"{run}-iter{iteration}", "description": f"iteration {iteration} of run {run} (from {base}), at {path}",
           "loader": _local_llava(path), "hub_id": None, "training_checkpoint": None,
           "backend": "transformers"}
    if origin.get("data_root") is not None:
        own["default_data_root"] = str(origin["data_root"])
    return replace(spec, **own) if spec is not None else ModelSpec(**own)


def run_name_for(model_name: str) -> str:
    """A file-system safe default run name derived from the model name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", model_name).strip("-") or "run"
