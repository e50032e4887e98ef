"""One CSR iteration as an alignment method: search -> calibrated rewards -> preference pairs -> DPO.

Stages and their files under ``<run>/iter_<k>/``, each resumed on rerun:
  csr/search_settings.json  every setting the search depends on; a rerun with others is refused
  csr/trees.jsonl        candidate trees, appended a batch of prompts at a time (finished prompts skipped)
  csr/preferences.jsonl  one chosen/rejected pair per prompt (image, prompt once, rewards, tree stats)
  csr/summary.json       mean chosen/rejected reward (the paper's reward trend), mean chosen/rejected
                         length in words (mean_chosen_words / mean_rejected_words), skips
  dpo_inputs.json        what the DPO training depends on (model, pairs' digest, hyper-parameters), likewise
  trainer/, model/       DPO + LoRA checkpoints, then the merged model (safetensors) of iteration k
"""

from __future__ import annotations

import functools
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from csr_bench import distributed
from csr_bench.alignment import IterationInput
from csr_bench.csr.prompts import PromptItem, build_prompt_set
from csr_bench.csr.rewards import DEFAULT_LAMBDA, no_pair_reason, prune, select_pair
from csr_bench.csr.search import SearchConfig, SearchRequest, SentenceBeamSearch
from csr_bench.csr.training import DpoLoraConfig, completed_model, require_same_training, train_dpo
from csr_bench.csr.tree import CandidateTree
from csr_bench.errors import CsrBenchError
from csr_bench.io import append_jsonl, atomic_write_json, atomic_write_text
from csr_bench.progress import get_logger, progress_bar
from csr_bench.stage_settings import require_same_settings, run_relative

log = get_logger()
SEARCH_SETTINGS = "search_settings.json"
# Search settings that change how the work is batched, never its result (batch-invariance is tested).
BATCHING_ONLY = ("prompts_per_batch", "search.batch_tokens")


@dataclass
class CsrConfig:
    """Everything a CSR iteration needs; defaults are the reference's."""

    prompt_source: str | None = None  # an image folder, or the reference's prompt JSON (with prompt_images)
    prompt_images: str | None = None
    prompts: int | None = None  # cap on prompts per iteration (--prompts)
    prompt_seed: int = 0
    prompts_per_batch: int = 8  # prompts searched together (and saved together, for resume)
    calibration: str = "reference"  # "reference" (rank-based, as the code) or "paper" (lambda R_I + (1-lambda) R_T)
    lam: float = DEFAULT_LAMBDA  # 0: only R_T; 1: only R_I
    clip_model: str = "ViT-L-14-336-quickgelu"  # LLaVA-1.5's CLIP tower (OpenAI weights: QuickGELU); "tiny": the toy CLIP
    clip_pretrained: str = "openai"
    search: SearchConfig = field(default_factory=SearchConfig)
    training: DpoLoraConfig = field(default_factory=DpoLoraConfig)


class CsrMethod:
    name = "csr"

    def __init__(self, config: CsrConfig | None = None, device: str | None = None):
        self.config = config or CsrConfig()
        self.device = device
        if self.config.calibration not in ("reference", "paper"):
            raise CsrBenchError(f"--calibration must be 'reference' or 'paper', got {self.config.calibration!r}")
        if not 0.0 <= self.config.lam <= 1.0:
            raise CsrBenchError(f"--lambda must be in [0, 1], got {self.config.lam}")

    # -- stages --------------------------------------------------------------------------------
    def _prompts(self) -> list[PromptItem]:
        if not self.config.prompt_source:
            raise CsrBenchError("CSR needs prompt images: pass --prompt-source (an image folder, or the reference's "
                                "prompt JSON with --prompt-images)")
        return build_prompt_set(self.config.prompt_source, images=self.config.prompt_images,
                                limit=self.config.prompts, seed=self.config.prompt_seed)

    def _clip(self):
        from csr_bench.models.registry import load_clip

        return load_clip(self.config.clip_model, self.config.clip_pretrained, device=self.device)

    def _search(self, current: IterationInput, prompts: list[PromptItem], path: Path) -> list[CandidateTree]:
        """Candidate trees of every prompt, resumed from ``path``; in a data-parallel run each process
        searches an interleaved shard into its own file and every process then reads them all."""
        done = {record["prompt_id"]: CandidateTree.from_dict(record) for record in distributed.read_with_shards(path)}
        distributed.barrier()  # every process has read the finished trees before any process adds more
        pending = distributed.shard([p for p in prompts if p.prompt_id not in done])
        own = distributed.own_file(path)
        if done:
            log.info("csr: %d of %d prompts already searched in %s, resuming", len(prompts) - len(pending),
                     len(prompts), path)
        if pending:
            model, clip = current.load_model(), self._clip()
            search = SentenceBeamSearch(model, self.config.search)
            prune_nodes = functools.partial(prune, mode=self.config.calibration, lam=self.config.lam,
                                            num_beams=self.config.search.num_beams,
                                            keep_top=self.config.search.keep_top,
                                            keep_bottom=self.config.search.keep_bottom)
            step = self.config.prompts_per_batch
            # one bar over the iteration's prompts (this process's share of them in a data-parallel run),
            # those searched before a resume counted as done, fed by the searches of every batch
            with progress_bar(total=len(done) + len(pending), initial=len(done), unit="prompt",
                              desc=f"iter {current.iteration} csr search") as bar:
                for start in range(0, len(pending), step):
                    batch = pending[start:start + step]
                    requests = [SearchRequest(p.prompt_id, p.load_image(), str(p.image_path), p.question)
                                for p in batch]
                    trees = search.search(requests, lambda nodes, tree: prune_nodes(nodes, tree=tree),
                                          image_scorer=clip, progress=bar.update)
                    append_jsonl(own, [tree.to_dict() for tree in trees])
                    done.update((tree.prompt_id, tree) for tree in trees)
            del model, clip, search
        if distributed.is_distributed():
            distributed.barrier()  # every process's trees are written: read them all
            done.update((record["prompt_id"], CandidateTree.from_dict(record))
                        for record in distributed.read_with_shards(path))
            distributed.barrier()
            if distributed.is_main():  # merged into trees.jsonl, prompt order
                distributed.merge_shards(path, [done[p.prompt_id].to_dict() for p in prompts])
        return [done[p.prompt_id] for p in prompts]

    def _pairs(self, trees: list[CandidateTree], folder: Path) -> list[dict[str, Any]]:
        pairs, skipped = [], []
        for tree in trees:
            pair = select_pair(tree, mode=self.config.calibration, lam=self.config.lam)
            if pair is None:
                skipped.append({"prompt_id": tree.prompt_id,
                                "reason": no_pair_reason(tree, self.config.calibration, self.config.lam)})
            else:
                pairs.append(pair.to_dict())
        if distributed.is_main():  # every process made the same pairs; the main one writes them
            if skipped:
                log.warning("csr: %d of %d prompts give no preference pair (reasons in %s); first: %s",
                            len(skipped), len(trees), folder / "summary.json", skipped[0]["reason"])
            if pairs:
                atomic_write_text(folder / "preferences.jsonl", "".join(json.dumps(p) + "\n" for p in pairs))
            atomic_write_json(folder / "summary.json", self._summary(trees, pairs, skipped))
        if not pairs:
            raise CsrBenchError(f"csr: no preference pair from {len(trees)} prompts "
                                f"({skipped[0]['reason'] if skipped else 'no prompts'}); nothing to train on")
        return pairs

    def _summary(self, trees: list[CandidateTree], pairs: list[dict[str, Any]],
                 skipped: list[dict[str, str]]) -> dict[str, Any]:
        def mean(key: str) -> float | None:
            values = [p[key] for p in pairs if p.get(key) is not None]
            return sum(values) / len(values) if values else None

        def mean_words(key: str) -> float | None:
            return sum(len(p[key].split()) for p in pairs) / len(pairs) if pairs else None

        return {
            "prompts": len(trees), "pairs": len(pairs), "skipped": skipped,
            "calibration": self.config.calibration, "lambda": self.config.lam,
            "mean_chosen_reward": mean("chosen_reward"), "mean_rejected_reward": mean("rejected_reward"),
            "mean_chosen_r_i": mean("chosen_mean_r_i"), "mean_rejected_r_i": mean("rejected_mean_r_i"),
            "mean_chosen_r_t": mean("chosen_mean_r_t"), "mean_rejected_r_t": mean("rejected_mean_r_t"),
            "mean_chosen_words": mean_words("chosen"), "mean_rejected_words": mean_words("rejected"),
        }

    def search_settings(self, current: IterationInput) -> dict[str, Any]:
        """Every setting the candidate trees depend on: the model searched (and how it is loaded),
        the prompts, the search, the CLIP of R_I and the calibration its pruning uses."""
        config = asdict(self.config)
        return {"model": run_relative(current.model_source, Path(current.work_dir).parent),
                "model_settings": current.model_settings,
                **{key: config[key] for key in ("prompt_source", "prompt_images", "prompts", "prompt_seed",
                                                "prompts_per_batch", "calibration", "lam", "clip_model",
                                                "clip_pretrained", "search")}}

    def run_iteration(self, current: IterationInput) -> Path:
        work = Path(current.work_dir)
        folder = work / "csr"
        stage = f"iteration {current.iteration}'s CSR search"
        settings = self.search_settings(current)
        # Recorded the first time; afterwards a finished iteration is returned, and an unfinished one
        # resumed, only if it was made with these settings (never relabelled, never mixed).
        require_same_settings(folder / SEARCH_SETTINGS, settings, stage, ignore=BATCHING_ONLY)
        finished = completed_model(work)
        if finished is not None:
            require_same_training(work, current.model_source, self.config.training)
            return finished
        atomic_write_json(folder / "config.json", {"iteration": current.iteration, **settings,
                                                   **asdict(self.config)})
        trees = self._search(current, self._prompts(), folder / "trees.jsonl")
        pairs = self._pairs(trees, folder)
        log.info("csr: %d preference pairs, training DPO + LoRA", len(pairs))
        return train_dpo(Path(current.model_source), pairs, None, work, self.config.training, device=self.device,
                         label=f"iter {current.iteration} dpo")
