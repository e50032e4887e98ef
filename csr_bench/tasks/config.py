"""A task is a small declarative YAML file (tasks/<name>/<name>.yaml); this is its typed, validated form.

Like lm-evaluation-harness task configs: where the data comes from, how a document becomes a
prompt, how to generate, and which scorer turns predictions into the benchmark's official metrics.
"""

from __future__ import annotations

import os
import string
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Callable

from csr_bench.errors import CsrBenchError


@dataclass(frozen=True)
class HubSource:
    """A Hugging Face hub dataset, for users with the network."""

    path: str
    split: str
    name: str | None = None
    revision: str | None = None  # a commit, where the hub copy changed under the same name (MJ-Bench, Unicorn)

    def pinned(self) -> dict[str, str]:
        """``revision=`` for datasets.load_dataset when one is pinned, else nothing."""
        return {"revision": self.revision} if self.revision else {}


@dataclass(frozen=True)
class DatasetSource:
    hub: HubSource | None
    # Relative to --data-root: a .jsonl/.json/.parquet file (extension optional), a folder of such
    # files, or a folder written by datasets' save_to_disk.
    local: str


@dataclass(frozen=True)
class ImageSource:
    """Images kept in a dataset of their own, joined to documents on a key (GQA's testdev images)."""

    hub: HubSource | None
    # Under --data-root: a dataset (as DatasetSource.local) or a folder of image files named <key>.<ext>.
    local: str
    key: str  # key column of the image dataset; documents hold the key in their image_field
    column: str = "image"


@dataclass(frozen=True)
class GenerationSettings:
    """Decoding settings. Greedy by default, as LLaVA-1.5's evaluation scripts run (temperature 0)."""

    max_new_tokens: int = 128
    do_sample: bool = False
    temperature: float | None = None
    top_p: float | None = None
    num_beams: int = 1


KINDS = ("generate", "reward_pairs")  # a task's ``kind:``; generate is every task a model answers
# A reward_pairs task (csr-bench grade-reward, MJ-Bench) names its pair's columns in ``fields``: one
# caption and two images, or one image and two captions; with the label (the preferred side).
PAIR_SHAPES = {"images": ("caption", "image0", "image1"), "captions": ("image", "caption0", "caption1")}


def pair_shape_of(record_fields) -> str | None:
    """The PAIR_SHAPES entry whose columns ``record_fields`` name, or None."""
    return next((shape for shape, columns in PAIR_SHAPES.items() if set(columns) <= set(record_fields)), None)


@dataclass(frozen=True)
class TaskConfig:
    name: str
    description: str
    dataset: DatasetSource
    doc_id: str  # a unique column, or "@index" (the row's position) where the data has none
    image_field: str
    prompt: str | None  # a str.format template over the fields ...
    scorer: str  # a registered name, or "/abs/folder/scorer.py:Class" (as the YAML names it: "scorer.py:Class")
    fields: tuple[str, ...]
    generation: GenerationSettings = field(default_factory=GenerationSettings)
    images: ImageSource | None = None
    annotations: str | None = None  # COCO-format annotation folder under --data-root (CHAIR)
    prompt_builder: str | None = None  # ... or a builder: a name in csr_bench/tasks/prompts.py, or code like scorer
    filter: dict[str, Any] = field(default_factory=dict)  # keep rows whose columns equal these values
    # --limit N spreads its documents over this column's values (tasks/subset.py); strata_unit keeps
    # documents sharing that column's value within a stratum together (MME's image pairs).
    strata: str | None = None
    strata_unit: str | None = None
    aspects: tuple[str, ...] = ()  # what the task measures (tasks/aspects.py); reporting only
    source_file: str = ""
    kind: str = "generate"  # or "reward_pairs": a reward function ranks pairs (csr-bench grade-reward)

    @property
    def is_reward_pairs(self) -> bool:
        return self.kind == "reward_pairs"

    @property
    def pair_shape(self) -> str | None:
        """"images" (one caption, two images) or "captions" (one image, two captions) for a reward_pairs task."""
        return pair_shape_of(self.fields) if self.is_reward_pairs else None

    def render_prompt(self, doc: dict[str, Any]) -> str:
        if self.prompt_builder:
            return prompt_builder(self.prompt_builder)(doc)
        return self.prompt.format(**doc)

    def to_dict(self) -> dict[str, Any]:
        """What makes a task's samples (their fingerprint in task_run.json). The strata only choose
        which documents --limit takes and the aspects only label the task, never a document's sample,
        so they are left out; code beside
        the YAML is named as the YAML names it, so a moved task folder keeps its samples."""
        data = asdict(self)
        for key in ("source_file", "strata", "strata_unit", "aspects", "kind"):
            data.pop(key)
        for key in ("scorer", "prompt_builder"):
            if data[key] and _names_file(data[key]):
                file, _, attribute = data[key].rpartition(":")
                data[key] = f"{Path(os.path.relpath(file, Path(self.source_file).parent)).as_posix()}:{attribute}"
        return data


def _names_file(reference: str) -> bool:
    return ":" in reference and reference.rpartition(":")[0].endswith(".py")


def _code_beside(where: str, key: str, value: str, folder: Path) -> str:
    """``value`` with a file it names ("scorer.py:ToyScorer", relative to the YAML's folder) made
    absolute, as the registry and the run's results record it; "package.module:name" as given."""
    if not _names_file(value):
        return value
    file, _, attribute = value.rpartition(":")
    path = (folder / file).resolve()
    if not attribute.isidentifier():
        raise CsrBenchError(f"{where}: '{key}: {value}' must name file.py:attribute")
    if not path.is_file():
        raise CsrBenchError(f"{where}: '{key}: {value}': no file {path}")
    return f"{path}:{attribute}"


def prompt_builder(name: str) -> Callable[[dict], str]:
    """A built-in prompt builder (csr_bench/tasks/prompts.py) by name, or the function a reference names."""
    from csr_bench.scorers import is_reference

    if is_reference(name):
        from csr_bench.lazy import load_target

        return load_target(name)
    from csr_bench.tasks.prompts import PROMPT_BUILDERS

    return PROMPT_BUILDERS[name]


def load_code(task: TaskConfig) -> None:
    """Import the task's scorer and prompt code now and check the scorer's fields: a one-line error
    naming the YAML before any data or model loads (listing tasks imports none of it)."""
    from csr_bench.scorers import SCORERS

    where = task.source_file or task.name
    try:
        scorer = SCORERS.load(task.scorer)
    except CsrBenchError as exc:
        raise CsrBenchError(f"{where}: {exc}") from None
    lacking = [f for f in scorer.required_fields if f not in task.fields]
    if lacking:
        raise CsrBenchError(f"{where}: scorer '{task.scorer}' needs field(s) {', '.join(lacking)} in 'fields'")
    if task.prompt_builder:
        try:
            builder = prompt_builder(task.prompt_builder)
        except Exception as exc:  # a task folder's code may fail in any way; say which and how
            raise CsrBenchError(f"{where}: prompt_builder {task.prompt_builder}: cannot load it "
                                f"({type(exc).__name__}: {exc})") from None
        if not callable(builder):
            raise CsrBenchError(f"{where}: prompt_builder {task.prompt_builder} is not a function")


def _check_keys(where: str, data: dict, allowed: set[str], required: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise CsrBenchError(f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(allowed))})")
    missing = sorted(required - set(data))
    if missing:
        raise CsrBenchError(f"{where}: missing key(s) {', '.join(missing)}")


def task_from_yaml(path: Path) -> TaskConfig:
    """Parse and validate one task YAML; every problem is a one-line error naming the file."""
    import yaml

    where = str(path)
    try:
        data = yaml.safe_load(Path(path).read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        at = f":{mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise CsrBenchError(f"{where}{at}: malformed YAML ({problem})") from None
    except OSError as exc:
        raise CsrBenchError(f"{where}: cannot read task file ({exc.strerror})") from None
    if not isinstance(data, dict):
        raise CsrBenchError(f"{where}: a task file must be a YAML mapping")

    optional = {"generation", "images", "annotations", "prompt", "prompt_builder", "filter", "strata", "strata_unit",
                "aspects", "kind"}
    top = {"task", "description", "dataset", "doc_id", "image_field", "scorer", "fields"} | optional
    kind = data.get("kind", "generate")
    if kind not in KINDS:
        raise CsrBenchError(f"{where}: 'kind' must be one of {', '.join(KINDS)} (got {kind!r})")
    generate = kind == "generate"
    if generate:
        _check_keys(where, data, top, top - optional)
    else:  # reward_pairs: no prompt and no generation; a reward function scores the pairs as they are
        _check_keys(where, data, top - {"generation", "images", "annotations", "prompt", "prompt_builder"},
                    top - optional - {"image_field"})

    dataset = data["dataset"]
    if not isinstance(dataset, dict):
        raise CsrBenchError(f"{where}: 'dataset' must be a mapping")
    _check_keys(f"{where}: dataset", dataset, {"hub", "local"}, {"local"})
    hub = _hub_source(f"{where}: dataset.hub", dataset.get("hub"))

    images = data.get("images")
    if images is not None:
        if not isinstance(images, dict):
            raise CsrBenchError(f"{where}: 'images' must be a mapping")
        _check_keys(f"{where}: images", images, {"hub", "local", "key", "column"}, {"local", "key"})
        images = ImageSource(hub=_hub_source(f"{where}: images.hub", images.get("hub")), local=str(images["local"]),
                             key=str(images["key"]), column=str(images.get("column", "image")))

    generation = data.get("generation") or {}
    if not isinstance(generation, dict):
        raise CsrBenchError(f"{where}: 'generation' must be a mapping")
    allowed_gen = {f.name for f in fields(GenerationSettings)}
    _check_keys(f"{where}: generation", generation, allowed_gen, set())

    record_fields = data["fields"]
    if not isinstance(record_fields, list) or not all(isinstance(f, str) for f in record_fields):
        raise CsrBenchError(f"{where}: 'fields' must be a list of column names")
    if not generate and pair_shape_of(record_fields) is None:
        raise CsrBenchError(f"{where}: a reward_pairs task's 'fields' name its pair: "
                            + " or ".join(f"[{', '.join(cols)}, label]" for cols in PAIR_SHAPES.values()))
    for key in ("task", "description", "doc_id", "image_field", "scorer") if generate else (
            "task", "description", "doc_id", "scorer"):
        if not isinstance(data[key], str) or not data[key]:
            raise CsrBenchError(f"{where}: '{key}' must be a non-empty string")
    if generate:  # a reward_pairs task has no prompt (its YAML may not give one)
        if ("prompt" in data) == ("prompt_builder" in data):
            raise CsrBenchError(f"{where}: give exactly one of 'prompt' (a template) or 'prompt_builder'")
        if "prompt" in data:
            if not isinstance(data["prompt"], str) or not data["prompt"]:
                raise CsrBenchError(f"{where}: 'prompt' must be a non-empty string")
            placeholders = {name for _, name, _, _ in string.Formatter().parse(data["prompt"]) if name}
            unknown = sorted(placeholders - set(record_fields))
            if unknown:
                raise CsrBenchError(f"{where}: prompt uses {', '.join(unknown)}, which are not listed in 'fields'")
        else:
            from csr_bench.tasks.prompts import PROMPT_BUILDERS

            if not isinstance(data["prompt_builder"], str) or not data["prompt_builder"]:
                raise CsrBenchError(f"{where}: 'prompt_builder' must be a non-empty string")
            if ":" not in data["prompt_builder"] and data["prompt_builder"] not in PROMPT_BUILDERS:
                raise CsrBenchError(f"{where}: unknown prompt_builder '{data['prompt_builder']}' "
                                    f"(known: {', '.join(sorted(PROMPT_BUILDERS))}; or file.py:function beside the YAML)")
    row_filter = data.get("filter") or {}
    if not isinstance(row_filter, dict):
        raise CsrBenchError(f"{where}: 'filter' must be a mapping of column: value")
    for key in ("strata", "strata_unit"):
        if key in data and (not isinstance(data[key], str) or data[key] not in record_fields):
            raise CsrBenchError(f"{where}: '{key}' must be one of the columns listed in 'fields' (got {data[key]!r})")
    if "strata_unit" in data and "strata" not in data:
        raise CsrBenchError(f"{where}: 'strata_unit' needs 'strata'")
    from csr_bench.tasks.aspects import ASPECTS

    aspects = data.get("aspects", [])
    if not isinstance(aspects, list) or not all(isinstance(a, str) for a in aspects):
        raise CsrBenchError(f"{where}: 'aspects' must be a list of aspect names")
    unknown_aspects = sorted(set(aspects) - set(ASPECTS))
    if unknown_aspects:
        raise CsrBenchError(f"{where}: unknown aspect(s) {', '.join(unknown_aspects)} (known: {', '.join(ASPECTS)})")

    from csr_bench.scorers import SCORERS

    if ":" not in data["scorer"] and data["scorer"] not in SCORERS:
        raise CsrBenchError(f"{where}: unknown scorer '{data['scorer']}' "
                            f"(known: {', '.join(sorted(SCORERS))}; or file.py:Class beside the YAML)")
    folder = Path(path).resolve().parent

    return TaskConfig(
        name=data["task"],
        description=data["description"],
        dataset=DatasetSource(hub=hub, local=str(dataset["local"])),
        doc_id=data["doc_id"],
        image_field=data.get("image_field", ""),
        scorer=_code_beside(where, "scorer", data["scorer"], folder),
        fields=tuple(record_fields),
        generation=GenerationSettings(**generation),
        images=images,
        annotations=str(data["annotations"]) if data.get("annotations") else None,
        prompt=data.get("prompt"),
        prompt_builder=_code_beside(where, "prompt_builder", data["prompt_builder"], folder)
        if "prompt_builder" in data else None,
        filter=dict(row_filter),
        strata=data.get("strata"),
        strata_unit=data.get("strata_unit"),
        aspects=tuple(dict.fromkeys(aspects)),
        source_file=where,
        kind=kind,
    )


def _hub_source(where: str, hub: Any) -> HubSource | None:
    if hub is None:
        return None
    if not isinstance(hub, dict):
        raise CsrBenchError(f"{where} must be a mapping")
    _check_keys(where, hub, {"path", "name", "split", "revision"}, {"path", "split"})
    return HubSource(**hub)
