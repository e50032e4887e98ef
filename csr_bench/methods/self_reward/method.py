"""``--method self-reward``: CSR's "Self-rewarding" baseline (Yuan et al., 2024). Per prompt of CSR's
prompt set the current model samples N responses (seeded per response, so a batch never changes
one), judges each itself, with the image, through the LLM-as-a-Judge prompt (judge_prompt.py), and
the best- vs worst-scored response is the pair (pairs.py); the shared driver trains DPO + LoRA.

Its files, under ``<run>/iter_<k>/self-reward/``, each resumed on rerun: candidates.jsonl and
judgements.jsonl (KeyedStores appended a batch of prompts at a time) with candidates_settings.json
and judgements_settings.json (a rerun with other settings is refused; the batch size is ignored).
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any, Callable

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.methods.base import IterationInput, PairSet, mean_words, method_dir
from csr_bench.methods.keyed_stage import run_keyed_stage
from csr_bench.methods.prompts import PromptItem, configured_prompt_set
from csr_bench.methods.self_reward.config import JUDGES, SelfRewardConfig
from csr_bench.methods.self_reward.judge_prompt import JUDGE_PROMPT, judge_prompt
from csr_bench.methods.self_reward.pairs import TIE, candidate_score, pick_pair
from csr_bench.methods.self_reward.score import SCORES, expected_score, parse_score, verdict
from csr_bench.progress import get_logger
from csr_bench.storage.keyed_store import KeyedStore
from csr_bench.storage.settings import require_same_settings, run_relative

log = get_logger()
CANDIDATES, JUDGEMENTS = "candidates.jsonl", "judgements.jsonl"
CANDIDATE_SETTINGS, JUDGE_SETTINGS = "candidates_settings.json", "judgements_settings.json"
BATCHING_ONLY = ("batch_size",)  # how the work is batched, never its result (seeded per request)
# Room the likelihood judge's longest verdict ("Score: 5") takes after the prompt, in tokens (a bound:
# a Llama tokenizer writes it in 4 to 5)
VERDICT_ROOM = 8


def stable_seed(*parts: Any) -> int:
    """A seed that depends on ``parts`` alone (sha256; Python's hash() changes between processes)."""
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") % (2 ** 63)


class SelfRewardMethod:
    name = "self-reward"
    default_iterations = 3  # iterated as Yuan et al.'s M1 -> M3 and as CSR runs its three rounds
    config_class = SelfRewardConfig

    def __init__(self, config: SelfRewardConfig | None = None, device: str | None = None):
        self.config = config or SelfRewardConfig()
        self.device = device
        c = self.config
        if c.judge not in JUDGES:
            raise CsrBenchError(f"--self-reward-judge must be one of {', '.join(JUDGES)}, got {c.judge!r}")
        if c.candidates < 2:
            raise CsrBenchError(f"--candidates must be at least 2 (a pair needs two responses), got {c.candidates}")
        for flag, value in (("--candidate-temperature", c.temperature), ("--judge-temperature", c.judge_temperature)):
            if not value > 0:
                raise CsrBenchError(f"{flag} must be above 0 (sampled), got {value}")
        for flag, value in (("--candidate-top-p", c.top_p), ("--judge-top-p", c.judge_top_p)):
            if not 0 < value <= 1:
                raise CsrBenchError(f"{flag} must be in (0, 1], got {value}")

    @property
    def seed(self) -> int:
        """The run's --seed (csr-bench run puts it in training.seed): every candidate's and judgement's
        seed derives from it."""
        return int(self.config.training.seed)

    # -- settings ------------------------------------------------------------------------------
    def candidate_settings(self, current: IterationInput) -> dict[str, Any]:
        c = self.config
        return {"model": run_relative(current.model_source, current.run_dir), "model_settings": current.model_settings,
                "prompt_source": c.prompt_source, "prompt_images": c.prompt_images, "prompts": c.prompts,
                "prompt_seed": c.prompt_seed, "seed": self.seed, "iteration": current.iteration,
                "candidates": c.candidates, "temperature": c.temperature, "top_p": c.top_p,
                "max_new_tokens": c.max_new_tokens, "batch_size": c.batch_size}

    def judge_settings(self, current: IterationInput) -> dict[str, Any]:
        c = self.config
        prompt_digest = hashlib.sha256(JUDGE_PROMPT.encode("utf-8")).hexdigest()
        judge: dict[str, Any] = {"judge": c.judge, "judge_prompt_sha256": prompt_digest}
        if c.judge == "generate":
            judge.update(judge_samples=c.judge_samples, judge_temperature=c.judge_temperature,
                         judge_top_p=c.judge_top_p, judge_max_new_tokens=c.judge_max_new_tokens)
        return {**self.candidate_settings(current), **judge}

    def require_same_settings(self, current: IterationInput) -> None:
        """Recorded the first time; afterwards finished work is used, and unfinished work resumed, only
        under the same settings (never relabelled, never mixed)."""
        folder = method_dir(current, self.name)
        require_same_settings(folder / CANDIDATE_SETTINGS, self.candidate_settings(current),
                              f"iteration {current.iteration}'s self-reward candidates", ignore=BATCHING_ONLY)
        require_same_settings(folder / JUDGE_SETTINGS, self.judge_settings(current),
                              f"iteration {current.iteration}'s self-reward judgements", ignore=BATCHING_ONLY)

    # -- stages --------------------------------------------------------------------------------
    def _prompts(self) -> list[PromptItem]:
        return configured_prompt_set(self.config, "self-reward")

    def _stage(self, store: KeyedStore, prompts: list[PromptItem], work: Callable[[list[PromptItem]], list[dict]],
               desc: str) -> dict[str, dict[str, Any]]:
        """``work`` over the prompts the store lacks (methods/keyed_stage.py); every prompt's record."""
        run_keyed_stage(store, prompts, work, batch_size=self.config.batch_size, desc=desc)
        return {p.prompt_id: store[p.prompt_id] for p in prompts}

    def _chunks(self, items: list) -> list[list]:
        step = self.config.batch_size
        return [items[start:start + step] for start in range(0, len(items), step)]

    def _generate_candidates(self, model: Any, current: IterationInput, batch: list[PromptItem]) -> list[dict]:
        from csr_bench.models.base import GenerationRequest
        from csr_bench.tasks.config import GenerationSettings

        c = self.config
        settings = GenerationSettings(max_new_tokens=c.max_new_tokens, do_sample=True, temperature=c.temperature,
                                      top_p=c.top_p)
        requests = []
        for prompt in batch:
            image = prompt.load_image()
            requests += [GenerationRequest(image, prompt.question,
                                           seed=stable_seed("candidate", self.seed, current.iteration,
                                                            prompt.prompt_id, index))
                         for index in range(c.candidates)]
        texts = [text for chunk in self._chunks(requests) for text in model.generate(chunk, settings)]
        n = c.candidates
        return [{"prompt_id": p.prompt_id, "image": str(p.image_path), "question": p.question,
                 "candidates": texts[i * n:(i + 1) * n]} for i, p in enumerate(batch)]

    def _judge(self, model: Any, current: IterationInput, batch: list[PromptItem],
               candidates: dict[str, dict[str, Any]]) -> list[dict]:
        """Each candidate's judgements: those whose judge prompt would not fit the model's context are
        skipped (with the reason), the others judged by generation or by likelihood."""
        c = self.config
        context = model.context_length()
        room = c.judge_max_new_tokens if c.judge == "generate" else VERDICT_ROOM
        records, jobs = [], []  # jobs: (record's judgement dict, image, judge prompt, prompt id, candidate index)
        for prompt in batch:
            image = prompt.load_image()
            judged = []
            for index, response in enumerate(candidates[prompt.prompt_id]["candidates"]):
                text = judge_prompt(prompt.question, response)
                judgement: dict[str, Any] = {"score": None}
                needed = model.input_length(text) + room
                if context is not None and needed > context:
                    judgement["skipped"] = (f"judge prompt {needed - room} tokens (image included) + {room} to "
                                            f"{'generate' if c.judge == 'generate' else 'score'} > context {context}")
                else:
                    jobs.append((judgement, image, text, prompt.prompt_id, index))
                judged.append(judgement)
            records.append({"prompt_id": prompt.prompt_id, "judgements": judged})
        if c.judge == "generate":
            self._judge_by_generation(model, current, jobs)
        else:
            self._judge_by_likelihood(model, jobs)
        return records

    def _judge_by_generation(self, model: Any, current: IterationInput, jobs: list[tuple]) -> None:
        from csr_bench.models.base import GenerationRequest
        from csr_bench.tasks.config import GenerationSettings

        c = self.config
        settings = GenerationSettings(max_new_tokens=c.judge_max_new_tokens, do_sample=True,
                                      temperature=c.judge_temperature, top_p=c.judge_top_p)
        requests = [GenerationRequest(image, text, seed=stable_seed("judge", self.seed, current.iteration, prompt_id,
                                                                    index, sample))
                    for _, image, text, prompt_id, index in jobs for sample in range(c.judge_samples)]
        texts = [text for chunk in self._chunks(requests) for text in model.generate(chunk, settings)]
        for number, (judgement, *_rest) in enumerate(jobs):
            own = texts[number * c.judge_samples:(number + 1) * c.judge_samples]
            parsed = [parse_score(text) for text in own]
            judgement.update(texts=own, scores=[score for score, _ in parsed], dropped=[why for _, why in parsed],
                             score=candidate_score([score for score, _ in parsed]))

    def _judge_by_likelihood(self, model: Any, jobs: list[tuple]) -> None:
        from csr_bench.models.base import ContinuationRequest

        requests = [ContinuationRequest(image, text, verdict(score))
                    for _, image, text, _, _ in jobs for score in SCORES]
        logprobs = [value for chunk in self._chunks(requests) for value in model.continuation_logprobs(chunk)]
        for number, (judgement, *_rest) in enumerate(jobs):
            own = logprobs[number * len(SCORES):(number + 1) * len(SCORES)]
            judgement.update(verdict_logprobs=own, score=expected_score(own))

    # -- pairs ---------------------------------------------------------------------------------
    def _pairs(self, prompts: list[PromptItem], candidates: dict[str, dict], judgements: dict[str, dict]) -> PairSet:
        pairs, skipped = [], []
        for prompt in prompts:
            responses = candidates[prompt.prompt_id]["candidates"]
            scores = [j["score"] for j in judgements[prompt.prompt_id]["judgements"]]
            picked = pick_pair(responses, scores)
            if isinstance(picked, str):
                skipped.append({"prompt_id": prompt.prompt_id, "reason": picked})
                continue
            chosen, rejected = picked
            pairs.append({"prompt_id": prompt.prompt_id, "image": str(prompt.image_path), "prompt": prompt.question,
                          "chosen": responses[chosen], "rejected": responses[rejected],
                          "chosen_score": scores[chosen], "rejected_score": scores[rejected],
                          "candidate_scores": scores})
        if skipped and distributed.is_main():
            log.warning("self-reward: %d of %d prompts give no preference pair (reasons in pairs/summary.json); "
                        "first: %s", len(skipped), len(prompts), skipped[0]["reason"])
        stats = self._summary(prompts, candidates, judgements, pairs, skipped)
        why = f"from {len(prompts)} prompts ({skipped[0]['reason'] if skipped else 'none given'})"
        return PairSet(pairs, stats, why_none=why)

    def _summary(self, prompts, candidates, judgements, pairs, skipped) -> dict[str, Any]:
        every = [j for p in prompts for j in judgements[p.prompt_id]["judgements"]]
        dropped: dict[str, int] = {}
        parsed = 0
        for judgement in every:
            if self.config.judge == "likelihood":
                parsed += judgement["score"] is not None
            for why in judgement.get("dropped", []):
                if why is None:
                    parsed += 1
                else:
                    dropped[why] = dropped.get(why, 0) + 1
        no_pair: dict[str, int] = {}
        for item in skipped:
            no_pair[item["reason"]] = no_pair.get(item["reason"], 0) + 1

        def mean(values: list[float]) -> float | None:
            return sum(values) / len(values) if values else None

        return {
            "prompts": len(prompts), "pairs": len(pairs), "judge": self.config.judge,
            "candidates": sum(len(candidates[p.prompt_id]["candidates"]) for p in prompts),
            "judgements_parsed": parsed, "judgements_dropped": dropped,
            "judge_prompts_skipped": {"context": sum("skipped" in j for j in every)},
            "unscored_candidates": sum(j["score"] is None for j in every),
            "ties": no_pair.get(TIE, 0), "no_pair": no_pair, "skipped": skipped,
            "mean_candidate_score": mean([j["score"] for j in every if j["score"] is not None]),
            "mean_chosen_reward": mean([p["chosen_score"] for p in pairs]),
            "mean_rejected_reward": mean([p["rejected_score"] for p in pairs]),
            **mean_words(pairs),
        }

    def make_pairs(self, current: IterationInput) -> PairSet:
        prompts = self._prompts()
        folder = method_dir(current, self.name)
        self.require_same_settings(current)  # both stages' settings, before any work
        model = functools.cache(current.load_model)  # loaded on first use: finished stages load none
        it = current.iteration
        candidate_store = KeyedStore(folder / CANDIDATES, key="prompt_id")
        candidates = self._stage(candidate_store, prompts,
                                 lambda batch: self._generate_candidates(model(), current, batch),
                                 f"iter {it} self-reward candidates")
        judge_store = KeyedStore(folder / JUDGEMENTS, key="prompt_id")
        judgements = self._stage(judge_store, prompts, lambda batch: self._judge(model(), current, batch, candidates),
                                 f"iter {it} self-reward judge")
        model.cache_clear()  # the model goes before the driver trains
        return self._pairs(prompts, candidates, judgements)
