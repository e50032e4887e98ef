"""SIMA as an alignment method (Wang et al., arXiv 2405.15973; umd-huang-lab/SIMA @ ba9e7ed): per
prompt a greedy and a sampled response (generate_samples.py), the same model judging them with the
image against the ground truth (critic.py; model_self_rewarding.py), [[1]]/[[2]] -> one pair
(dataset_for_dpo.py), DPO (the shared driver; loss.py for the reference trainer's rejected term).

Its own files, under ``<run>/iter_<k>/sima/``, each resumed on rerun: responses.jsonl (+
responses_settings.json), verdicts.jsonl (+ verdicts_settings.json), settings.json (what the pairs
and the training depend on besides); a rerun with other settings is refused, the batch size ignored.
"""

from __future__ import annotations

import functools
from collections import Counter
from dataclasses import asdict
from typing import Any

from csr_bench import distributed
from csr_bench.errors import CsrBenchError
from csr_bench.methods.base import IterationInput, PairSet, mean_words, method_dir
from csr_bench.methods.keyed_stage import run_keyed_stage
from csr_bench.methods.sima.config import HUB_PROMPTS, REJECTED_MODES, VERDICT_MODES, SimaConfig
from csr_bench.methods.sima.critic import VERDICT_LINE, VERDICTS, critic_prompt, parse_verdict
from csr_bench.methods.sima.prompts import SimaPrompt, load_prompts, prompts_digest, sample_seed
from csr_bench.progress import get_logger
from csr_bench.storage.keyed_store import KeyedStore
from csr_bench.storage.settings import require_same_settings, run_relative

log = get_logger()
RESPONSES, VERDICTS_FILE = "responses.jsonl", "verdicts.jsonl"
RESPONSES_SETTINGS, VERDICTS_SETTINGS, SETTINGS_FILE = "responses_settings.json", "verdicts_settings.json", "settings.json"
BATCHING_ONLY = ("batch_size",)
EXAMPLES_KEPT = 5  # unparsable critic outputs shown in pairs/summary.json


class SimaMethod:
    name = "sima"
    default_iterations = 1  # the reference runs one round of self-generation, critic and DPO
    config_class = SimaConfig

    def __init__(self, config: SimaConfig | None = None, device: str | None = None):
        self.config = config or SimaConfig()
        self.device = device
        if self.config.verdict not in VERDICT_MODES:
            raise CsrBenchError(f"--sima-verdict must be one of {', '.join(VERDICT_MODES)}, got {self.config.verdict!r}")
        if self.config.rejected not in REJECTED_MODES:
            raise CsrBenchError(f"--sima-rejected must be one of {', '.join(REJECTED_MODES)}, "
                                f"got {self.config.rejected!r}")
        if self.config.prompts == HUB_PROMPTS and not self.config.prompt_images:
            raise CsrBenchError(f"--sima-prompts {HUB_PROMPTS} names COCO train2017 images: pass --prompt-images DIR "
                                "(or another --sima-prompts, e.g. world:captions)")
        self._prompts: list[SimaPrompt] | None = None

    # -- settings --------------------------------------------------------------------------------
    @property
    def seed(self) -> int:
        """The sampled responses' seed: the run's --seed (training.seed), as DpoMethod.seed."""
        return int(self.config.training.seed)

    def prompts(self, current: IterationInput) -> list[SimaPrompt]:
        if self._prompts is None:
            self._prompts = load_prompts(self.config.prompts, images=self.config.prompt_images,
                                         data_root=current.data_root, limit=self.config.prompts_limit,
                                         seed=self.config.prompts_seed)
        return self._prompts

    def response_settings(self, current: IterationInput) -> dict[str, Any]:
        """What the responses depend on: the model (and how it is loaded), the prompts, the decoding."""
        config = asdict(self.config)
        return {"model": run_relative(current.model_source, current.run_dir), "model_settings": current.model_settings,
                **{key: config[key] for key in ("prompts", "prompt_images", "prompts_limit", "prompts_seed",
                                                "max_new_tokens", "temperature", "top_p", "batch_size")},
                "sample_seed": self.seed, "prompts_sha256": prompts_digest(self.prompts(current))}

    def verdict_settings(self, current: IterationInput) -> dict[str, Any]:
        """The responses' settings and the critic's."""
        return {**self.response_settings(current), "verdict": self.config.verdict,
                "critic_max_new_tokens": self.config.critic_max_new_tokens, "context": self.config.context}

    def pair_settings(self) -> dict[str, Any]:
        """What the pairs and the training depend on besides the verdicts (trl's settings: training/dpo.py)."""
        return {"drop_identical": self.config.drop_identical, "rejected": self.config.rejected}

    def require_same_settings(self, current: IterationInput) -> None:
        """Recorded the first time; afterwards finished work is used, and unfinished work resumed, only
        under the same settings (never relabelled, never mixed)."""
        folder = method_dir(current, self.name)
        stage = f"iteration {current.iteration}'s SIMA"
        require_same_settings(folder / RESPONSES_SETTINGS, self.response_settings(current), f"{stage} responses",
                              ignore=BATCHING_ONLY)
        require_same_settings(folder / VERDICTS_SETTINGS, self.verdict_settings(current), f"{stage} critic",
                              ignore=BATCHING_ONLY)
        require_same_settings(folder / SETTINGS_FILE, self.pair_settings(), f"{stage} pairs")

    @property
    def loss_term(self):
        """The reference trainer's rejected log-probs (--sima-rejected code), or none: plain DPO (paper)."""
        if self.config.rejected != "code":
            return None
        from csr_bench.methods.sima.loss import SimaRejectedTerm

        return SimaRejectedTerm(beta=self.config.training.beta)

    # -- stages ----------------------------------------------------------------------------------
    def _run_stage(self, current: IterationInput, store: KeyedStore, todo: list[SimaPrompt], stage: str,
                   work, model) -> None:
        """``work(model(), batch) -> records`` over the prompts not in ``store`` (methods/keyed_stage.py);
        ``model`` loads the model on its first call, so a finished stage loads none."""
        run_keyed_stage(store, todo, lambda batch: work(model(), batch), batch_size=self.config.batch_size,
                        desc=f"iter {current.iteration} sima {stage}")

    def _respond(self, model, batch: list[SimaPrompt]) -> list[dict[str, Any]]:
        """generate_samples.py: a greedy response and a sampled one (T 0.8, top-p 0.9) per prompt."""
        from csr_bench.models.base import GenerationRequest
        from csr_bench.tasks.config import GenerationSettings

        images = [p.load_image() for p in batch]
        greedy = model.generate([GenerationRequest(image, p.question) for image, p in zip(images, batch)],
                                GenerationSettings(max_new_tokens=self.config.max_new_tokens))
        sampled = model.generate(
            [GenerationRequest(image, p.question, seed=sample_seed(self.seed, p.prompt_id))
             for image, p in zip(images, batch)],
            GenerationSettings(max_new_tokens=self.config.max_new_tokens, do_sample=True,
                               temperature=self.config.temperature, top_p=self.config.top_p))
        return [{"prompt_id": p.prompt_id, "greedy": g.strip(), "sample": s.strip()}
                for p, g, s in zip(batch, greedy, sampled)]

    def _context(self, model) -> int | None:
        return self.config.context if self.config.context is not None else model.context_length()

    def _judge(self, responses: KeyedStore, model, batch: list[SimaPrompt]) -> list[dict[str, Any]]:
        """model_self_rewarding.py: the critic prompt with the image, greedy, its verdict parsed; or the
        likelihood verdict. A prompt whose critic prompt leaves no room for a verdict is skipped."""
        from csr_bench.models.base import ContinuationRequest, GenerationRequest
        from csr_bench.tasks.config import GenerationSettings

        context = self._context(model)
        endings = [VERDICT_LINE.format(v) for v in VERDICTS]
        verdict_tokens = max(model.prompt_length(e) for e in endings) - model.prompt_length("")
        records, fitting = [], []
        for prompt in batch:
            answer = responses[prompt.prompt_id]
            text = critic_prompt(prompt.question, prompt.ground_truth, answer["sample"], answer["greedy"])
            length = model.input_length(text)
            if context is not None and length + verdict_tokens > context:
                records.append({"prompt_id": prompt.prompt_id,
                                "skipped": f"critic prompt + image does not fit the context of {context}",
                                "reason": f"critic prompt of {length} tokens + image does not fit the context of "
                                          f"{context}"})
            else:
                fitting.append((prompt, text, length))
        if not fitting:
            return records
        images = [prompt.load_image() for prompt, _, _ in fitting]
        lengths = [length for _, _, length in fitting]  # the critic prompt's tokens with the image's
        if self.config.verdict == "generate":
            by_room: dict[int, list[int]] = {}  # max_new_tokens capped to what each prompt's context leaves
            for index, (_, _, length) in enumerate(fitting):
                room = self.config.critic_max_new_tokens
                if context is not None:
                    room = min(room, context - length)
                by_room.setdefault(room, []).append(index)
            texts: dict[int, str] = {}
            for room, indices in by_room.items():
                outputs = model.generate([GenerationRequest(images[i], fitting[i][1]) for i in indices],
                                         GenerationSettings(max_new_tokens=room))
                texts.update(zip(indices, outputs))
            for index, (prompt, _, _) in enumerate(fitting):
                critic = texts[index].strip()
                records.append({"prompt_id": prompt.prompt_id, "critic": critic, "verdict": parse_verdict(critic),
                                "critic_tokens": lengths[index]})
        else:
            requests = [ContinuationRequest(image, text, ending) for image, (_, text, _) in zip(images, fitting)
                        for ending in endings]
            scores = model.continuation_logprobs(requests)
            for index, (prompt, _, _) in enumerate(fitting):
                one, two = scores[2 * index], scores[2 * index + 1]
                verdict = "1" if one > two else "2" if two > one else "tie"
                records.append({"prompt_id": prompt.prompt_id, "logprobs": [one, two], "verdict": verdict,
                                "critic_tokens": lengths[index]})
        return records

    # -- pairs -----------------------------------------------------------------------------------
    def make_pairs(self, current: IterationInput) -> PairSet:
        self.require_same_settings(current)  # every stage's settings, before any work
        prompts = self.prompts(current)
        folder = method_dir(current, self.name)
        model = functools.cache(current.load_model)
        responses = KeyedStore(folder / RESPONSES, key="prompt_id")
        self._run_stage(current, responses, prompts, "responses", self._respond, model)
        judged = [p for p in prompts
                  if not (self.config.drop_identical and responses[p.prompt_id]["greedy"]
                          == responses[p.prompt_id]["sample"])]
        verdicts = KeyedStore(folder / VERDICTS_FILE, key="prompt_id")
        self._run_stage(current, verdicts, judged, "critic",
                        lambda loaded, batch: self._judge(responses, loaded, batch), model)
        model.cache_clear()  # the model goes before the driver trains
        return self._pairs(prompts, responses, verdicts)

    def _pairs(self, prompts: list[SimaPrompt], responses: KeyedStore, verdicts: KeyedStore) -> PairSet:
        """dataset_for_dpo.py: "1" -> chosen = the sample, rejected = greedy; "2" -> the reverse;
        anything else dropped and counted."""
        pairs: list[dict[str, Any]] = []
        skipped, dropped, counts = Counter(), Counter(), Counter()
        unparsable: list[dict[str, str]] = []
        skipped_examples: list[dict[str, str]] = []
        identical = 0
        critic_tokens = [verdicts[p.prompt_id]["critic_tokens"] for p in prompts
                         if p.prompt_id in verdicts and "critic_tokens" in verdicts[p.prompt_id]]
        for prompt in prompts:
            answer = responses[prompt.prompt_id]
            if answer["greedy"] == answer["sample"]:
                identical += 1
                if self.config.drop_identical:
                    dropped["identical responses"] += 1
                    continue
            record = verdicts[prompt.prompt_id]
            if "skipped" in record:
                skipped[record["skipped"]] += 1
                if len(skipped_examples) < EXAMPLES_KEPT:
                    skipped_examples.append({"prompt_id": prompt.prompt_id, "reason": record.get("reason", "")})
                continue
            verdict = record["verdict"]
            if verdict not in VERDICTS:
                reason = "tie" if verdict == "tie" else "no [[1]] or [[2]] verdict"
                dropped[reason] += 1
                if reason != "tie" and len(unparsable) < EXAMPLES_KEPT:
                    unparsable.append({"prompt_id": prompt.prompt_id, "parsed": verdict[:200],
                                       "critic": record.get("critic", "")[:1000]})
                continue
            counts[verdict] += 1
            sample_wins = verdict == "1"
            pairs.append({"prompt_id": prompt.prompt_id, "image": prompt.image, "prompt": prompt.question,
                          "chosen": answer["sample"] if sample_wins else answer["greedy"],
                          "rejected": answer["greedy"] if sample_wins else answer["sample"],
                          "verdict": verdict, "sampled": "chosen" if sample_wins else "rejected",
                          "critic": record.get("critic"), "verdict_logprobs": record.get("logprobs"),
                          "ground_truth": prompt.ground_truth})
        stats = {
            "prompts": len(prompts), "generated": len(prompts), "skipped": dict(skipped),
            "skipped_examples": skipped_examples,
            "verdicts": {v: counts[v] for v in VERDICTS}, "dropped": dict(dropped), "identical_responses": identical,
            "unparsable_examples": unparsable, "verdict": self.config.verdict, "rejected": self.config.rejected,
            "critic_tokens_range": [min(critic_tokens), max(critic_tokens)] if critic_tokens else None,
            **mean_words(pairs),
        }
        reasons = {**skipped, **dropped}
        why = ", ".join(f"{n} {reason}" for reason, n in reasons.items()) or "none given"
        if reasons and distributed.is_main():
            log.warning("sima: %d of %d prompts give no preference pair (%s)", sum(reasons.values()), len(prompts), why)
        return PairSet(pairs, stats, images_root=None, why_none=f"from {len(prompts)} prompts ({why})")
