"""``--method dpo``: DPO + LoRA on a released preference set (``--preferences``: a preset, a hub id,
a local file or folder in one of the known schemas, or a model's own set such as world:rlhf-v).
make_pairs reads the set (csr_bench.preference_data.sources); the shared driver writes the pairs to
``iter_<k>/pairs/`` and trains. Its own files, under ``<run>/iter_<k>/dpo/``: settings.json (what
to read: a rerun with other settings is refused), read.json (what was read: schema, number and
sha256 of the pairs; a set that changed since is refused too), source/ (images taken out of the set).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.methods.base import IterationInput, PairSet, method_dir
from csr_bench.methods.dpo.config import DpoConfig
from csr_bench.storage.settings import require_same_settings, run_relative

SETTINGS_FILE = "settings.json"
READ_FILE = "read.json"
SOURCE_DIR = "source"


class DpoMethod:
    name = "dpo"
    default_iterations = 1  # one training on a released set, as the paper's comparison rows
    config_class = DpoConfig

    def __init__(self, config: DpoConfig | None = None, device: str | None = None):
        from csr_bench.preference_data.sources import check_source, source_help

        self.config = config or DpoConfig()
        self.device = device
        if not self.config.preferences:
            raise CsrBenchError(f"--method dpo needs --preferences SOURCE (presets: {source_help()})")
        if self.config.preferences_limit is not None and self.config.preferences_limit < 1:
            raise CsrBenchError(f"--preferences-limit must be at least 1, got {self.config.preferences_limit}")
        check_source(self.config.preferences, self.config.prompt_images)  # a wrong one stops the run before any work

    @property
    def seed(self) -> int:
        """The --preferences-limit draw's seed: --preferences-seed, else the run's --seed (training.seed)."""
        chosen = self.config.preferences_seed
        return int(chosen if chosen is not None else self.config.training.seed)

    def settings(self, current: IterationInput) -> dict[str, Any]:
        """What the iteration's pairs depend on (trl's settings are checked by training/dpo.py)."""
        config = asdict(self.config)
        return {"model": run_relative(current.model_source, current.run_dir),
                "preferences": config["preferences"], "prompt_images": config["prompt_images"],
                "preferences_limit": config["preferences_limit"], "preferences_seed": self.seed}

    def require_same_settings(self, current: IterationInput) -> dict[str, Any]:
        settings = self.settings(current)
        require_same_settings(method_dir(current, self.name) / SETTINGS_FILE, settings,
                              f"iteration {current.iteration}'s DPO preference set")
        return settings

    def make_pairs(self, current: IterationInput) -> PairSet:
        from csr_bench.preference_data.base import SourceContext
        from csr_bench.preference_data.rows import pairs_digest
        from csr_bench.preference_data.sources import load_preference_set

        self.require_same_settings(current)  # before reading: a changed --preferences never mixes
        folder = method_dir(current, self.name)
        images = Path(self.config.prompt_images).expanduser() if self.config.prompt_images else None
        context = SourceContext(cache_dir=folder / SOURCE_DIR, images_dir=images, data_root=current.data_root,
                                device=self.device, seed=self.seed)
        found = load_preference_set(self.config.preferences, context, limit=self.config.preferences_limit)
        read = {"source": found.source, "schema": found.schema, "limit": self.config.preferences_limit,
                "seed": self.seed, "pairs": len(found.pairs), "pairs_sha256": pairs_digest(found.pairs)}
        require_same_settings(folder / READ_FILE, read, f"iteration {current.iteration}'s DPO preference set "
                              f"(read from {self.config.preferences})")
        return PairSet(found.pairs, stats={**found.stats(), "pairs_sha256": read["pairs_sha256"]}, images_root=None,
                       why_none=f"in {self.config.preferences}")
