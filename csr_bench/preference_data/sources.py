"""``--preferences SOURCE`` to a PreferenceSet: a named preset of the paper's rows (a hub data set and
its schema), a hub id, a local file or folder (its schema detected from its fields, or forced), or a
model's own set ("world:rlhf-v": ``ModelSpec.preference_sets``). ``limit`` keeps a subset of the
usable rows drawn with the run's seed."""

from __future__ import annotations

import importlib
import re
from dataclasses import dataclass
from pathlib import Path

from csr_bench.errors import CsrBenchError
from csr_bench.preference_data.base import PreferenceSet, SourceContext
from csr_bench.preference_data.records import TABLE_SUFFIXES, first_keys, table_files
from csr_bench.preference_data.rows import build_set

# schema -> its reader module (``matches(keys)``, ``read(path, context) -> Reading``); detection tries
# them in this order (the most specific field sets first)
SCHEMAS: dict[str, str] = {
    "povid": "csr_bench.preference_data.povid",
    "vlfeedback": "csr_bench.preference_data.vlfeedback",
    "rlaif-v": "csr_bench.preference_data.rlaif_v",
    "rlhf-v": "csr_bench.preference_data.rlhf_v",
    "csr-bench": "csr_bench.preference_data.csr_bench_pairs",
}


@dataclass(frozen=True)
class Preset:
    """A released set by the name of its row in the CSR paper's Table 1."""

    repo: str  # hub data set id
    schema: str
    files: tuple[str, ...] = ()  # the files to fetch (none: the data set's parquet files)
    images: str | None = None  # the image collection its rows name by file (--prompt-images); None: embedded


PRESETS: dict[str, Preset] = {
    "rlhf-v": Preset("openbmb/RLHF-V-Dataset", "rlhf-v", ("RLHF-V-Dataset.parquet",)),
    "rlaif-v": Preset("openbmb/RLAIF-V-Dataset", "rlaif-v"),  # its *.parquet files (names unverified)
    "vlfeedback": Preset("MMInstruction/VLFeedback", "vlfeedback", ("vlfeedback_80k.jsonl", "merged_images.zip")),
    "povid": Preset("YiyangAiLab/POVID_preference_data_for_VLLMs", "povid",
                    ("POVID_preference_data_for_VLLMs_version_1.json",), images="COCO train2014"),
}
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
MODEL_SET = re.compile(r"^([\w.-]+):([\w.-]+)$")  # world:rlhf-v


def source_help() -> str:
    return ", ".join(PRESETS) + ", world:rlhf-v, world:povid, a hub data set id, or a local file/folder"


def _reader(schema: str):
    if schema not in SCHEMAS:
        raise CsrBenchError(f"unknown preference schema {schema!r} (known: {', '.join(SCHEMAS)})")
    return importlib.import_module(SCHEMAS[schema])


def detect_schema(path: Path) -> str:
    """The schema of a local file or folder, from its first row's fields (a parquet's columns)."""
    path = Path(path)
    reader = _reader("csr-bench")
    if path.is_dir() and reader.pairs_file(path) is not None:
        return "csr-bench"
    files = table_files(path)
    if not files:
        raise CsrBenchError(f"{path}: no preference file in it ({', '.join(TABLE_SUFFIXES)})")
    if files[0].suffix not in TABLE_SUFFIXES:
        raise CsrBenchError(f"{files[0]}: not a preference file (expected {', '.join(TABLE_SUFFIXES)})")
    keys = first_keys(files[0])
    for schema in SCHEMAS:
        if _reader(schema).matches(keys):
            return schema
    shown = ", ".join(sorted(keys)[:8]) or "none"
    raise CsrBenchError(f"{files[0]}: unknown preference schema (fields: {shown}); pass its schema "
                        f"({', '.join(SCHEMAS)})")


def read_local(path: Path, context: SourceContext, limit: int | None, schema: str | None,
               source: str | None = None) -> PreferenceSet:
    path = Path(path).expanduser()
    if not path.exists():
        raise CsrBenchError(f"--preferences {path}: no such file or folder (presets: {source_help()})")
    schema = schema or detect_schema(path)
    reading = _reader(schema).read(path, context)
    return build_set(source or str(path), schema, reading, context, limit, where=str(path))


def _model_set(model: str, name: str, context: SourceContext, limit: int | None) -> PreferenceSet:
    from csr_bench.lazy import load_target
    from csr_bench.models.registry import resolve_model

    sets = dict(getattr(resolve_model(model), "preference_sets", None) or {})
    if name not in sets:
        known = ", ".join(f"{model}:{n}" for n in sorted(sets)) or "none"
        raise CsrBenchError(f"--preferences {model}:{name}: model {model} has no preference set {name!r} "
                            f"(known: {known})")
    try:
        make = load_target(sets[name])
    except (ImportError, AttributeError, ValueError) as exc:
        raise CsrBenchError(f"--preferences {model}:{name}: cannot load {sets[name]}: {exc}") from None
    found = make(context)
    if not isinstance(found, PreferenceSet):
        raise CsrBenchError(f"--preferences {model}:{name}: {sets[name]} returned {type(found).__name__}, "
                            "not a PreferenceSet")
    return limited(found, limit, context.seed)


def limited(found: PreferenceSet, limit: int | None, seed: int) -> PreferenceSet:
    """A generated set's pairs cut to ``limit``, drawn as a file's rows are (random.Random(seed))."""
    import random

    if limit is None or limit >= len(found.pairs):
        return found
    keep = sorted(random.Random(seed).sample(range(len(found.pairs)), limit))
    return PreferenceSet(found.source, found.schema, [found.pairs[i] for i in keep], found.rows,
                         found.skipped, {**found.details, "limit": limit, "seed": seed})


def check_source(source: str, images_dir: str | Path | None = None) -> str:
    """What ``source`` is ("file", "preset", "model set", "hub id"), checked without reading it whole:
    a local file's schema from its first row, a model set's name; a run calls it before any work, so
    a wrong --preferences stops before iteration 0 is evaluated."""
    source = str(source).strip()
    if not source:
        raise CsrBenchError(f"--preferences is empty (presets: {source_help()})")
    local = Path(source).expanduser()
    if local.exists():
        detect_schema(local)
        return "file"
    if source in PRESETS:
        if PRESETS[source].images and images_dir is None:
            raise CsrBenchError(f"--preferences {source}: its rows name {PRESETS[source].images} images by file: "
                                "pass the folder holding them as --prompt-images DIR")
        return "preset"
    model_set = MODEL_SET.match(source)
    if model_set:
        from csr_bench.models.registry import resolve_model

        model, name = model_set.groups()
        sets = dict(getattr(resolve_model(model), "preference_sets", None) or {})
        if name not in sets:
            known = ", ".join(f"{model}:{n}" for n in sorted(sets)) or "none"
            raise CsrBenchError(f"--preferences {source}: model {model} has no preference set {name!r} (known: {known})")
        return "model set"
    if HUB_ID.match(source) and not source.startswith((".", "/", "~")):
        return "hub id"
    raise CsrBenchError(f"--preferences {source}: no such file or folder, preset or hub id (presets: {source_help()})")


def load_preference_set(source: str, context: SourceContext, limit: int | None = None,
                        schema: str | None = None) -> PreferenceSet:
    """The pairs ``source`` names (see the module docstring), bad rows counted by reason and skipped;
    ``schema`` forces how a local file or hub id is read. A source with no usable row is an error."""
    if limit is not None and limit < 1:
        raise CsrBenchError(f"--preferences-limit must be at least 1, got {limit}")
    if schema is not None:
        _reader(schema)
    source = str(source).strip()
    if not source:
        raise CsrBenchError(f"--preferences is empty (presets: {source_help()})")
    local = Path(source).expanduser()
    if local.exists():
        return read_local(local, context, limit, schema, source)
    if source in PRESETS:
        from csr_bench.preference_data.hub import fetch_preset

        preset = PRESETS[source]
        return read_local(fetch_preset(preset, context), context, limit, schema or preset.schema, source)
    model_set = MODEL_SET.match(source)
    if model_set:
        return _model_set(model_set.group(1), model_set.group(2), context, limit)
    if HUB_ID.match(source) and not source.startswith((".", "/", "~")):
        from csr_bench.preference_data.hub import fetch_dataset

        path = fetch_dataset(source, context)
        return read_local(path, context, limit, schema, source)
    raise CsrBenchError(f"--preferences {source}: no such file or folder, preset or hub id "
                        f"(presets: {source_help()})")
