"""CSR as an alignment method: sentence-level beam search -> calibrated rewards -> one preference
pair per prompt (the shared driver saves them and trains DPO + LoRA). Its own files, under
``<run>/iter_<k>/csr/``, each resumed on rerun (docs/csr.md, "Files"): search_settings.json (a rerun
with other settings is refused), config.json, trees.jsonl (appended a batch of prompts at a time).
"""

from __future__ import annotations

import functools
from dataclasses import asdict
from pathlib import Path
from typing import Any

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import atomic_write_json
from csr_bench.storage.keyed_store import KeyedStore
from csr_bench.methods.base import IterationInput, PairSet, mean_words, method_dir
from csr_bench.methods.csr.config import CALIBRATIONS, CsrConfig
from csr_bench.methods.csr.rewards import no_pair_reason, prune, select_pair
from csr_bench.methods.csr.tree import CandidateTree
from csr_bench.methods.prompts import PromptItem, configured_prompt_set
from csr_bench.progress import get_logger, progress_bar
from csr_bench.storage.settings import require_same_settings, run_relative

log = get_logger()
SEARCH_SETTINGS = "search_settings.json"
# Search settings that change how the work is batched, never its result (batch-invariance is tested).
BATCHING_ONLY = ("prompts_per_batch", "search.batch_tokens")


class CsrMethod:
    name = "csr"
    default_iterations = 3  # the paper's three rounds (run --iterations overrides)
    config_class = CsrConfig

    def __init__(self, config: CsrConfig | None = None, device: str | None = None):
        self.config = config or CsrConfig()
        self.device = device
        if self.config.calibration not in CALIBRATIONS:
            raise CsrBenchError(f"--calibration must be 'reference' or 'paper', got {self.config.calibration!r}")
        if not 0.0 <= self.config.lam <= 1.0:
            raise CsrBenchError(f"--lambda must be in [0, 1], got {self.config.lam}")

    # -- stages --------------------------------------------------------------------------------
    def _prompts(self) -> list[PromptItem]:
        return configured_prompt_set(self.config, "CSR")

    def _clip(self):
        from csr_bench.models.registry import load_clip

        return load_clip(self.config.clip_model, self.config.clip_pretrained, device=self.device)

    def _search(self, current: IterationInput, prompts: list[PromptItem], path: Path) -> list[CandidateTree]:
        """Candidate trees of every prompt, resumed from the store ``path`` (refused if searched with
        other settings); in a data-parallel run each process searches an interleaved shard into its
        own file and every process then reads them all."""
        store = KeyedStore(path, key="prompt_id", settings=self.search_settings(current),
                           settings_file=path.with_name(SEARCH_SETTINGS),
                           stage=f"iteration {current.iteration}'s CSR search", ignore=BATCHING_ONLY)
        distributed.barrier()  # every process has read the finished trees before any process adds more
        pending = distributed.shard([p for p in prompts if p.prompt_id not in store])
        done = len(store)
        if done:
            log.info("csr: %d of %d prompts already searched in %s, resuming", len(prompts) - len(pending),
                     len(prompts), path)
        searched: dict[str, CandidateTree] = {}  # this process's trees, as searched
        if pending:
            from csr_bench.methods.csr.search import SearchRequest, SentenceBeamSearch

            model, clip = current.load_model(), self._clip()
            search = SentenceBeamSearch(model, self.config.search)
            prune_nodes = functools.partial(prune, mode=self.config.calibration, lam=self.config.lam,
                                            num_beams=self.config.search.num_beams,
                                            keep_top=self.config.search.keep_top,
                                            keep_bottom=self.config.search.keep_bottom)
            step = self.config.prompts_per_batch
            # one bar over the iteration's prompts (this process's share of them in a data-parallel run),
            # those searched before a resume counted as done, fed by the searches of every batch
            with progress_bar(total=done + len(pending), initial=done, unit="prompt",
                              desc=f"iter {current.iteration} csr search") as bar:
                for start in range(0, len(pending), step):
                    batch = pending[start:start + step]
                    requests = [SearchRequest(p.prompt_id, p.load_image(), str(p.image_path), p.question)
                                for p in batch]
                    trees = search.search(requests, lambda nodes, tree: prune_nodes(nodes, tree=tree),
                                          image_scorer=clip, progress=bar.update)
                    store.append([tree.to_dict() for tree in trees])
                    searched.update((tree.prompt_id, tree) for tree in trees)
            del model, clip, search
        if distributed.is_distributed():
            distributed.barrier()  # every process's trees are written: read them all
            store.reload()
            distributed.barrier()
            if distributed.is_main():  # merged into trees.jsonl, prompt order
                store.merge([p.prompt_id for p in prompts])
            searched = {}  # every process uses the trees as written, its own too
        return [searched[p.prompt_id] if p.prompt_id in searched else CandidateTree.from_dict(store[p.prompt_id])
                for p in prompts]

    def _pairs(self, trees: list[CandidateTree]) -> PairSet:
        pairs, skipped = [], []
        for tree in trees:
            pair = select_pair(tree, mode=self.config.calibration, lam=self.config.lam)
            if pair is None:
                skipped.append({"prompt_id": tree.prompt_id,
                                "reason": no_pair_reason(tree, self.config.calibration, self.config.lam)})
            else:
                pairs.append(pair.to_dict())
        if skipped and distributed.is_main():
            log.warning("csr: %d of %d prompts give no preference pair (reasons in pairs/summary.json); first: %s",
                        len(skipped), len(trees), skipped[0]["reason"])
        return PairSet(pairs, self._summary(trees, pairs, skipped),
                       why_none=f"from {len(trees)} prompts ({skipped[0]['reason'] if skipped else 'none given'})")

    def _summary(self, trees: list[CandidateTree], pairs: list[dict[str, Any]],
                 skipped: list[dict[str, str]]) -> dict[str, Any]:
        def mean(key: str) -> float | None:
            values = [p[key] for p in pairs if p.get(key) is not None]
            return sum(values) / len(values) if values else None

        return {
            "prompts": len(trees), "pairs": len(pairs), "skipped": skipped,
            "calibration": self.config.calibration, "lambda": self.config.lam,
            "mean_chosen_reward": mean("chosen_reward"), "mean_rejected_reward": mean("rejected_reward"),
            "mean_chosen_r_i": mean("chosen_mean_r_i"), "mean_rejected_r_i": mean("rejected_mean_r_i"),
            "mean_chosen_r_t": mean("chosen_mean_r_t"), "mean_rejected_r_t": mean("rejected_mean_r_t"),
            **mean_words(pairs),
        }

    def search_settings(self, current: IterationInput) -> dict[str, Any]:
        """Every setting the candidate trees depend on: the model searched (and how it is loaded),
        the prompts, the search, the CLIP of R_I and the calibration its pruning uses."""
        config = asdict(self.config)
        return {"model": run_relative(current.model_source, current.run_dir),
                "model_settings": current.model_settings,
                **{key: config[key] for key in ("prompt_source", "prompt_images", "prompts", "prompt_seed",
                                                "prompts_per_batch", "calibration", "lam", "clip_model",
                                                "clip_pretrained", "search")}}

    def require_same_settings(self, current: IterationInput) -> dict[str, Any]:
        """Recorded the first time; afterwards the finished trees are used, and unfinished ones resumed,
        only if they were made with these settings (never relabelled, never mixed)."""
        settings = self.search_settings(current)
        require_same_settings(method_dir(current, self.name) / SEARCH_SETTINGS, settings,
                              f"iteration {current.iteration}'s CSR search", ignore=BATCHING_ONLY)
        return settings

    def make_pairs(self, current: IterationInput) -> PairSet:
        folder = method_dir(current, self.name)
        trees = self._search(current, self._prompts(), folder / "trees.jsonl")  # its store checks the settings
        if distributed.is_main():
            atomic_write_json(folder / "config.json", {"iteration": current.iteration,
                                                       **self.search_settings(current), **asdict(self.config)})
        return self._pairs(trees)
