"""--method self-reward (Yuan et al., 2024, as CSR's "Self-rewarding" baseline): the judge prompt
pinned to a golden file, score parsing and the pair rules on hand-made cases, seeded candidates that a
batch never changes, resume after a kill in each stage, and one real iteration through the driver on
the shipped world VLM."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.methods.self_reward.config import SelfRewardConfig
from csr_bench.methods.self_reward.judge_prompt import JUDGE_PROMPT, judge_prompt
from csr_bench.methods.self_reward.pairs import IDENTICAL, TIE, TOO_FEW_SCORED, candidate_score, pick_pair
from csr_bench.methods.self_reward.score import NO_SCORE, OUT_OF_RANGE, expected_score, parse_score, verdict
from csr_bench.training.config import DpoLoraConfig
from fault_harness import WORLD_VLM

GOLDEN = Path(__file__).parent / "fixtures" / "self_reward_judge_prompt.txt"
FAST = DpoLoraConfig(learning_rate=1e-3, lora_r=8, lora_alpha=16, warmup_ratio=0.0, seed=0, logging_steps=1,
                     gradient_checkpointing=False)


# -- the judge prompt ----------------------------------------------------------------------------
def test_judge_prompt_is_the_papers_figure_as_typed_into_the_golden_file():
    # the golden file was typed from Yuan et al. (2024) Figure 2, not produced by the code; it ends in
    # one newline (a text file's), which the prompt does not have
    golden = GOLDEN.read_text(encoding="utf-8")
    filled = judge_prompt("Describe this image in detail.",
                          "A red square on a white background. <RESPONSE_HERE> is not a slot here.")
    assert filled + "\n" == golden
    for typographic in ("user’s", "Assistant’s", "we’ll", "“Score: <total points>”"):
        assert typographic in JUDGE_PROMPT
    assert JUDGE_PROMPT.count("<INSTRUCTION_HERE>") == JUDGE_PROMPT.count("<RESPONSE_HERE>") == 1


# -- scores --------------------------------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("The response is relevant (+1) and covers most of it (+1).\nScore: 2", (2.0, None)),
    ("Score: 4/5", (4.0, None)),
    ("score:3", (3.0, None)),
    ("SCORE : 0", (0.0, None)),
    ("**Score:** 5", (5.0, None)),
    ("Score: 4.5", (4.5, None)),
    # the last "Score:" wins: a justification may quote a draft or the format first
    ("First I thought Score: 1, but on reflection\nScore: 3", (3.0, None)),
    ("Conclude with “Score: <total points>”. Score: 2 points", (2.0, None)),
    ("Score: 7", (None, OUT_OF_RANGE)),
    ("Score: -1", (None, OUT_OF_RANGE)),
    ("Score: 1 ... final Score: 6", (None, OUT_OF_RANGE)),  # the last one decides, even out of range
    ("I would give it four points.", (None, NO_SCORE)),
    ("Score: <total points>", (None, NO_SCORE)),
    ("", (None, NO_SCORE)),
    ("center in in in in", (None, NO_SCORE)),
])
def test_parse_score(text, expected):
    assert parse_score(text) == expected


def test_expected_score_is_the_mean_score_under_the_six_verdicts_renormalised():
    assert [verdict(s) for s in (0, 5)] == ["Score: 0", "Score: 5"]
    # p proportional to 1, 1, 2, 0, 0, 4 (log-probs shifted by a constant must not matter)
    logprobs = [math.log(w) - 30 if w else -1e9 for w in (1, 1, 2, 0, 0, 4)]
    assert expected_score(logprobs) == pytest.approx((0 * 1 + 1 * 1 + 2 * 2 + 5 * 4) / 8)
    assert expected_score([-5.0] * 6) == pytest.approx(2.5)
    with pytest.raises(ValueError):
        expected_score([0.0] * 5)


# -- pairs ---------------------------------------------------------------------------------------
def test_candidate_score_is_the_mean_of_its_parsed_judgements():
    assert candidate_score([4.0, None, 2.0]) == 3.0
    assert candidate_score([None, None]) is None


@pytest.mark.parametrize("scores, expected", [
    ([3.0, 5.0, 1.0, 4.0], (1, 2)),  # highest vs lowest
    ([2.0, 4.0, 4.0, 2.0], (1, 0)),  # ties inside the top / bottom: the earliest
    ([None, 2.0, None, 1.0], (1, 3)),  # unscored candidates are left out
    ([3.0, 3.0, 3.0, 3.0], TIE),
    ([None, 3.0, None, None], TOO_FEW_SCORED),
    ([None, None, None, None], TOO_FEW_SCORED),
])
def test_pick_pair(scores, expected):
    assert pick_pair(["a", "b", "c", "d"], scores) == expected


def test_the_same_text_twice_gives_no_pair():
    assert pick_pair(["same", "other", " same "], [5.0, 3.0, 1.0]) == IDENTICAL


# -- the method on a hand-made model: judge-generation path, drops, ties, context ------------------
class CannedJudge:
    """A model whose candidates are 'answer <i>', i = the candidate's index (requests come prompt by prompt,
    candidate by candidate), and whose judgements are canned by the response."""

    def __init__(self, verdicts: dict[int, str], context: int | None = None, long_answer: int | None = None):
        self.verdicts, self.context, self.long_answer = verdicts, context, long_answer
        self.generated: list = []
        self.count = 0

    def generate(self, requests, settings):
        self.generated.append(len(requests))
        if "<response>" not in requests[0].prompt:
            self.count += len(requests)
            return [f"answer {i % 4}" for i in range(self.count - len(requests), self.count)]
        return [self.verdicts[int(r.prompt.split("<response>answer ")[1][0])] for r in requests]

    def input_length(self, prompt):
        return 10_000 if self.long_answer is not None and f"answer {self.long_answer}<" in prompt else 100

    def context_length(self):
        return self.context


def iteration(run: Path, load_model, iteration_number: int = 1):
    from csr_bench.methods.base import IterationInput

    return IterationInput(iteration=iteration_number, model_source=str(WORLD_VLM), load_model=load_model,
                          work_dir=run / f"iter_{iteration_number}")


def test_generate_judge_counts_drops_ties_and_context_skips(small_world, tmp_path):
    from csr_bench.methods.self_reward.method import SelfRewardMethod

    verdicts = {0: "Good. Score: 4", 1: "Score: 9", 2: "no verdict", 3: "Score: 1"}
    model = CannedJudge(verdicts, context=2048, long_answer=3)
    config = SelfRewardConfig(prompt_source=str(small_world / "prompts" / "images"), prompts=3, candidates=4,
                              judge_samples=2, batch_size=2, training=FAST)
    pair_set = SelfRewardMethod(config).make_pairs(iteration(tmp_path / "run", lambda: model))
    stats = pair_set.stats
    # per prompt, candidates 0..3 are judged: 4 (parsed), dropped out of range, dropped no score, skipped
    # (its judge prompt exceeds the context): one scored candidate, so no pair
    records = [json.loads(line) for line in (tmp_path / "run/iter_1/self-reward/judgements.jsonl").read_text().splitlines()]
    candidates = [json.loads(line) for line in (tmp_path / "run/iter_1/self-reward/candidates.jsonl").read_text().splitlines()]
    parsed, dropped, skipped = 0, {}, 0
    for record, made in zip(records, candidates):
        numbers = [int(text.split()[1]) for text in made["candidates"]]
        assert numbers == [0, 1, 2, 3]
        for number, judgement in zip(numbers, record["judgements"]):
            if number == 3:
                skipped += 1
                assert "skipped" in judgement and judgement["score"] is None and "> context 2048" in judgement["skipped"]
            else:
                reason = {0: None, 1: OUT_OF_RANGE, 2: NO_SCORE}[number]
                assert judgement["dropped"] == [reason, reason]
                assert judgement["score"] == (4.0 if number == 0 else None)
                parsed += 2 * (reason is None)
                if reason:
                    dropped[reason] = dropped.get(reason, 0) + 2
    assert (parsed, dropped, skipped) == (6, {OUT_OF_RANGE: 6, NO_SCORE: 6}, 3)
    assert stats["judgements_parsed"] == parsed and stats["judgements_dropped"] == dropped
    assert stats["judge_prompts_skipped"] == {"context": skipped}
    assert stats["pairs"] == 0 and pair_set.pairs == []
    assert stats["no_pair"] == {TOO_FEW_SCORED: 3}
    assert pair_set.why_none.startswith("from 3 prompts")
    assert max(model.generated) <= 2  # a model call holds at most batch_size requests


# -- the real model: seeded candidates, resume, settings --------------------------------------------
def world_config(world: Path, **changes) -> SelfRewardConfig:
    base = SelfRewardConfig(prompt_source=str(world / "prompts" / "images"), prompts=4, candidates=3,
                            max_new_tokens=20, judge="likelihood", batch_size=2, training=FAST)
    return replace(base, **changes)


def load_world():
    from csr_bench.models.llava import LlavaModel

    return LlavaModel.from_pretrained(str(WORLD_VLM), name="world", device="cpu")


def read_store(run: Path, name: str) -> dict:
    lines = (run / "iter_1" / "self-reward" / name).read_text(encoding="utf-8").splitlines()
    return {json.loads(line)["prompt_id"]: json.loads(line) for line in lines}


@pytest.fixture(scope="module")
def world_model():
    return load_world()


def test_candidates_and_judgements_do_not_depend_on_the_batch(small_world, tmp_path, world_model):
    from csr_bench.methods.self_reward.method import SelfRewardMethod

    runs = {}
    for batch in (1, 5):
        config = world_config(small_world, judge="generate", judge_samples=2, judge_max_new_tokens=6, batch_size=batch)
        SelfRewardMethod(config).make_pairs(iteration(tmp_path / f"b{batch}", lambda: world_model))
        runs[batch] = (read_store(tmp_path / f"b{batch}", "candidates.jsonl"),
                       read_store(tmp_path / f"b{batch}", "judgements.jsonl"))
    assert runs[1] == runs[5]
    candidates = runs[1][0]
    assert all(len(set(c["candidates"])) > 1 for c in candidates.values())  # sampled: the N responses differ
    # another iteration draws other responses (the seed includes it)
    config = world_config(small_world, judge="generate", judge_samples=2, judge_max_new_tokens=6)
    SelfRewardMethod(config).make_pairs(iteration(tmp_path / "b1", lambda: world_model, iteration_number=2))
    second = {json.loads(line)["prompt_id"]: json.loads(line) for line in
              (tmp_path / "b1/iter_2/self-reward/candidates.jsonl").read_text().splitlines()}
    assert second.keys() == candidates.keys() and second != candidates


RUN_SCRIPT = """
import json, sys
from pathlib import Path
sys.path.insert(0, {tests!r})
from test_self_reward import world_config, iteration, load_world
from csr_bench.methods.self_reward.method import SelfRewardMethod
pair_set = SelfRewardMethod(world_config(Path({world!r}))).make_pairs(iteration(Path({run!r}), load_world))
print(json.dumps(pair_set.pairs))
"""


def run_make_pairs(world: Path, run: Path, fault: str | None = None) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1"}
    env.pop("CSR_BENCH_FAULT", None)
    if fault:
        env["CSR_BENCH_FAULT"] = fault
    script = RUN_SCRIPT.format(tests=str(Path(__file__).parent), world=str(world), run=str(run))
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=600)


@pytest.mark.parametrize("fault", ["append:candidates.jsonl", "append:judgements.jsonl"])
def test_killed_in_either_stage_the_rerun_ends_as_an_uninterrupted_run(small_world, tmp_path, world_model, fault):
    from csr_bench.methods.self_reward.method import SelfRewardMethod

    reference = tmp_path / "reference"
    pairs = SelfRewardMethod(world_config(small_world)).make_pairs(iteration(reference, lambda: world_model)).pairs
    assert pairs  # the likelihood judge scores every candidate: some prompt gives a pair
    run = tmp_path / "killed"
    killed = run_make_pairs(small_world, run, fault)  # killed after its first batch of 2 prompts was saved
    assert killed.returncode == -9, killed.stderr[-2000:]
    store = CANDIDATES if "candidates" in fault else JUDGEMENTS
    assert len(read_store(run, store)) == 2
    rerun = run_make_pairs(small_world, run)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert json.loads(rerun.stdout.strip().splitlines()[-1]) == pairs
    for name in (CANDIDATES, JUDGEMENTS):
        assert read_store(run, name) == read_store(reference, name)
        assert len((run / "iter_1/self-reward" / name).read_text().splitlines()) == 4  # nothing done twice


CANDIDATES, JUDGEMENTS = "candidates.jsonl", "judgements.jsonl"


def test_changed_settings_are_refused_the_batch_size_is_not(small_world, tmp_path):
    from csr_bench.methods.self_reward.method import SelfRewardMethod

    verdicts = {0: "Score: 4", 1: "Score: 2", 2: "Score: 2", 3: "Score: 0"}
    run = tmp_path / "run"
    config = SelfRewardConfig(prompt_source=str(small_world / "prompts" / "images"), prompts=2, training=FAST)
    first = SelfRewardMethod(config).make_pairs(iteration(run, lambda: CannedJudge(verdicts)))
    again = SelfRewardMethod(replace(config, batch_size=1)).make_pairs(iteration(run, lambda: None))  # all read back
    assert again.pairs == first.pairs
    for change, named in [({"temperature": 0.9}, "temperature 0.7 -> 0.9"), ({"judge_samples": 1}, "judge_samples 3 -> 1"),
                          ({"judge": "likelihood"}, "judge generate -> likelihood")]:
        with pytest.raises(CsrBenchError, match=named.replace(">", ".")):
            SelfRewardMethod(replace(config, **change)).make_pairs(iteration(run, lambda: None))


def test_bad_settings_are_one_line_errors():
    from csr_bench.methods.self_reward.method import SelfRewardMethod

    for change, flag in [({"judge": "vote"}, "--self-reward-judge"), ({"candidates": 1}, "--candidates"),
                         ({"temperature": 0.0}, "--candidate-temperature"), ({"judge_top_p": 1.5}, "--judge-top-p")]:
        with pytest.raises(CsrBenchError, match=flag):
            SelfRewardMethod(replace(SelfRewardConfig(), **change))
    with pytest.raises(CsrBenchError, match="--prompt-source"):
        SelfRewardMethod()._prompts()


# -- one real iteration through the driver ----------------------------------------------------------
def test_one_real_iteration_through_the_driver(small_world, tmp_path, world_model):
    from csr_bench.methods.driver import run_iteration
    from csr_bench.methods.registry import default_config, make_method
    from csr_bench.models.registry import MODELS

    # the world's presets: CSR's prompt count, the likelihood judge, CHAIR's length, CSR's world DPO
    preset = default_config("self-reward", MODELS["world"].method_presets)
    assert (preset.prompts, preset.judge, preset.max_new_tokens, preset.training.learning_rate) == (
        512, "likelihood", 512, 2e-4)
    method = make_method("self-reward", world_config(small_world, prompts=3), device="cpu")
    current = iteration(tmp_path / "run", lambda: world_model)
    model = run_iteration(method, current)
    assert (Path(model) / "config.json").is_file()
    summary = json.loads((tmp_path / "run/iter_1/pairs/summary.json").read_text())
    pairs = [json.loads(line) for line in (tmp_path / "run/iter_1/pairs/preferences.jsonl").read_text().splitlines()]
    assert summary["method"] == "self-reward" and summary["pairs"] == len(pairs) > 0
    assert summary["prompts"] == 3 and summary["candidates"] == 9 and summary["judgements_parsed"] == 9
    for pair in pairs:
        assert pair["chosen_score"] == max(s for s in pair["candidate_scores"])
        assert pair["rejected_score"] == min(s for s in pair["candidate_scores"]) < pair["chosen_score"]
        assert Path(pair["image"]).is_file() and pair["chosen"] != pair["rejected"]
    assert summary["mean_chosen_reward"] == pytest.approx(sum(p["chosen_score"] for p in pairs) / len(pairs))
    assert 0 <= summary["mean_rejected_reward"] < summary["mean_chosen_reward"] <= 5
    # finished: returned as it is; other settings refused
    assert run_iteration(make_method("self-reward", world_config(small_world, prompts=3), device="cpu"), current) == model
    with pytest.raises(CsrBenchError, match="top_p"):
        run_iteration(make_method("self-reward", world_config(small_world, prompts=3, top_p=0.5)), current)
