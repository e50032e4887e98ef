"""What a preference source yields, whatever its schema: pairs in the trainer's format (image path,
prompt, chosen, rejected) and an account of the rows it could not use, reason by reason."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class SourceContext:
    """Where a source may look and write while it is read."""

    cache_dir: Path  # a folder the source may write: images taken out of a parquet, a generated set
    images_dir: Path | None = None  # --prompt-images: the folder a set's image file names are resolved in
    data_root: str | None = None  # the run's data root (the world's folder for world:* sets)
    device: str | None = None  # for sets a model generates (world:rlhf-v)
    seed: int = 0  # the run's --seed: which rows a --preferences-limit keeps


@dataclass
class PreferenceSet:
    """Pairs ready for training, from ``source`` read as ``schema``.

    Each pair: "id" (the row's own id, or its index), "image" (an absolute path), "prompt" (the user
    text, no template, no ``<image>``), "chosen", "rejected"; other keys are kept as they are.
    """

    source: str  # as the user named it: a preset, a hub id, a file, world:<set>
    schema: str  # rlhf-v | rlaif-v | vlfeedback | povid | csr-bench | world
    pairs: list[dict[str, Any]]
    rows: int = 0  # rows read, before skipping and before a limit
    skipped: Counter = field(default_factory=Counter)  # reason -> rows skipped for it
    details: dict[str, Any] = field(default_factory=dict)  # hub revision, file, rule used: what reports show

    def stats(self) -> dict[str, Any]:
        """What iter_<k>/pairs/summary.json records about the source."""
        return {"source": self.source, "schema": self.schema, "rows": self.rows,
                "skipped": dict(sorted(self.skipped.items())), **self.details}
