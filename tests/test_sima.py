"""SIMA (csr_bench.methods.sima): the critic prompt against the reference's own output (golden file),
the verdict parse and drop rules, the prompt sources and their draw (CSR's images), resume after a
kill in each stage (a scripted model, real processes killed by CSR_BENCH_FAULT), the reference
trainer's top-1/top-2 rejected log-probs on hand-computed numbers, and one real tiny LLaVA iteration
through the shared driver in each --sima-rejected mode (trl + peft on the CPU)."""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path
from typing import Sequence

import pytest
from PIL import Image, ImageDraw

from csr_bench.errors import CsrBenchError
from csr_bench.methods.sima.critic import CRITIC_TEMPLATE, critic_prompt, parse_verdict, recover_question
from csr_bench.models.base import VisionLanguageModel

FIXTURES = Path(__file__).parent / "fixtures" / "sima"
COLOURS = ["red", "green", "blue", "yellow", "purple"]


# -- the critic prompt and its verdict ---------------------------------------------------------------

def test_critic_prompt_is_the_references_byte_for_byte():
    """fixtures/sima/critic_prompts.jsonl is the reference's output for fixtures/sima/self_responses.jsonl
    (fields with newlines, brackets and braces in them), made with umd-huang-lab/SIMA @ ba9e7ed:
    cd tests/fixtures/sima && python llava/sima/prompt_for_critic.py --self-response-path
    self_responses.jsonl --prompt-save-path . --prompt-save-name critic_prompts.jsonl
    (the script from the reference checkout; Python 3.11)."""
    inputs = [json.loads(line) for line in (FIXTURES / "self_responses.jsonl").read_text().splitlines()]
    expected = [json.loads(line) for line in (FIXTURES / "critic_prompts.jsonl").read_text().splitlines()]
    assert len(inputs) == len(expected) == 2
    for row, reference in zip(inputs, expected):
        built = critic_prompt(row["text"], row["ground_truth"], row["temperature_decodes_1"], row["greedy_decodes"])
        assert built.encode("utf-8") == reference["text"].encode("utf-8")
    # the quirks the golden file pins: 8-space runs where the source lines break, few real newlines
    assert "based on the image. " + " " * 8 + "Please review" in CRITIC_TEMPLATE
    assert CRITIC_TEMPLATE.count("\n") == 20 and CRITIC_TEMPLATE.endswith("ASSISTANT:\n ")
    # response 1 is the sample, response 2 greedy; newlines gone from every field
    built = critic_prompt("Q\nq", "G\ng", "S\ns", "R\nr")
    assert built.endswith("Question: [Qq]\n        Ground truth: [Gg]\n        AI generated response 1: [Ss]\n"
                          "        AI generated response 2: [Rr]\n        ASSISTANT:\n ")


@pytest.mark.parametrize("text, verdict", [
    ("The reason: both fine. The better AI generated response: [[1]].", "1"),
    ("The better AI generated response: [[2]]", "2"),
    ("Response [[1]] is worse than [[2]].", "2"),  # the last [[ ... ]] decides, as dataset_for_dpo.py
    ("[[3]]", "3"),
    ("[[1", "1"),  # no closing brackets: the tail after the last [[
    ("center in in in in", "center in in in in"),  # no [[: the whole text, which is no verdict
    ("", ""),
])
def test_verdict_is_parsed_as_the_reference_does(text, verdict):
    assert parse_verdict(text) == verdict


def test_the_references_question_recovery_and_where_it_breaks():
    assert recover_question(critic_prompt("Describe\nthis.", "g", "s", "r")) == "Describe this.".replace(" ", "")
    # a response quoting "Question: [" takes the recovery over (we train on the question itself)
    assert recover_question(critic_prompt("Describe this.", "g", "s", "see Question: [x]\n")) != "Describe this."


# -- prompt sources and the draw ---------------------------------------------------------------------

def write_prompt_set(root: Path, n: int = 4, long_truth: int | None = None, name: str = "prompts.jsonl") -> Path:
    """A SIMA_prompts-schema file over ``n`` coloured squares in ``root`` (images named relative to it)."""
    rows = []
    for i in range(n):
        image = Image.new("RGB", (32, 28), "white")
        ImageDraw.Draw(image).rectangle([5, 5, 25, 20], fill=COLOURS[i])
        image.save(root / f"img{i}.png")
        truth = f"A {COLOURS[i]} square." + (" word" * 2000 if i == long_truth else "")
        rows.append({"image": f"img{i}.png", "text": f"Describe image {i}.", "ground_truth": truth})
    path = root / name
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_local_prompt_files_and_their_errors(tmp_path):
    from csr_bench.methods.sima.prompts import load_prompts

    path = write_prompt_set(tmp_path)
    prompts = load_prompts(str(path), images=str(tmp_path))
    assert sorted(p.prompt_id for p in prompts) == ["0", "1", "2", "3"]
    first = next(p for p in prompts if p.prompt_id == "0")
    assert (first.image, first.question, first.ground_truth) == (str((tmp_path / "img0.png").resolve()),
                                                                 "Describe image 0.", "A red square.")
    as_json = tmp_path / "prompts.json"
    as_json.write_text(json.dumps([json.loads(line) for line in path.read_text().splitlines()]))
    assert load_prompts(str(as_json), images=str(tmp_path)) == prompts
    assert len(load_prompts(str(path), images=str(tmp_path), limit=2, seed=1)) == 2
    with pytest.raises(CsrBenchError, match="--prompt-images"):
        load_prompts(str(path))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps({"image": "img0.png", "text": "q"}) + "\n")
    with pytest.raises(CsrBenchError, match="row 0 lacks one of image, text, ground_truth"):
        load_prompts(str(bad), images=str(tmp_path))
    (tmp_path / "img3.png").unlink()
    with pytest.raises(CsrBenchError, match="image file not found"):
        load_prompts(str(path), images=str(tmp_path))
    with pytest.raises(CsrBenchError, match="no such file"):
        load_prompts(str(tmp_path / "missing.jsonl"))


def test_the_hub_set_offline_is_one_line_naming_the_download(tmp_path, monkeypatch):
    from csr_bench.methods.sima.config import SimaConfig
    from csr_bench.methods.sima.method import SimaMethod
    from csr_bench.methods.sima.prompts import load_prompts

    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(CsrBenchError, match="huggingface-cli download --repo-type dataset furonghuang-lab/SIMA_prompts "
                                            "self_generation_prompts.jsonl"):
        load_prompts("furonghuang-lab/SIMA_prompts", images=str(tmp_path))
    with pytest.raises(CsrBenchError, match="--prompt-images"):
        SimaMethod(SimaConfig())


def test_the_draw_takes_csrs_images_for_the_same_folder_and_seed(tmp_path):
    from csr_bench.images import image_files
    from csr_bench.methods.prompts import build_prompt_set
    from csr_bench.methods.sima.prompts import draw

    write_prompt_set(tmp_path, n=5)
    files = image_files(tmp_path)
    for limit, seed in [(3, 0), (2, 7), (None, 1)]:
        csr = [item.image_path for item in build_prompt_set(tmp_path, limit=limit, seed=seed)]
        assert draw(files, limit, seed) == csr


def test_the_world_preset_draws_csrs_world_prompts(small_world):
    """WORLD_SIMA_PRESETS: world:captions, limited as CSR's world run (build_prompt_set(prompt folder,
    limit, seed 0)): the same images, in the same order, each with CSR's question for it."""
    from csr_bench.methods.prompts import build_prompt_set
    from csr_bench.methods.registry import default_config
    from csr_bench.methods.sima.prompts import load_prompts
    from csr_bench.models.registry import MODELS, WORLD_CSR_PRESETS

    config = default_config("sima", MODELS["world"].method_presets)
    assert (config.prompts, config.prompts_limit, config.prompts_seed) == ("world:captions", WORLD_CSR_PRESETS["prompts"],
                                                                           0)
    assert (config.verdict, config.context, config.max_new_tokens, config.training.num_epochs) == ("likelihood", 2048,
                                                                                                  512, 3)
    assert config.training.learning_rate == 2e-4 and config.rejected == "code"
    for limit in (config.prompts_limit, 4):
        csr = build_prompt_set(small_world / "prompts" / "images", limit=limit, seed=0)
        sima = load_prompts(config.prompts, data_root=str(small_world), limit=limit, seed=config.prompts_seed)
        assert [p.prompt_id for p in sima] == [item.prompt_id for item in csr]
        assert [Path(p.image) for p in sima] == [item.image_path.resolve() for item in csr]
        assert [p.question for p in sima] == [item.question for item in csr]
        assert all(p.ground_truth for p in sima)
    with pytest.raises(CsrBenchError, match="no prompt set 'nope'"):
        load_prompts("world:nope", data_root=str(small_world))


def test_sample_seeds_depend_on_the_run_seed_and_the_prompt_alone():
    from csr_bench.methods.sima.prompts import sample_seed

    assert sample_seed(0, "a") == sample_seed(0, "a")
    assert len({sample_seed(0, "a"), sample_seed(1, "a"), sample_seed(0, "b")}) == 3
    assert 0 <= sample_seed(3, "x") < 2 ** 63


# -- the method with a scripted model ------------------------------------------------------------------

class ScriptedModel(VisionLanguageModel):
    """Greedy: "A <colour> square."; sampled: "<colour> sample" (image 2's the same as its greedy one);
    the critic: [[1]] for image 0, [[2]] for 1 and 4, no verdict for 3; likelihood: 1 > 2 for image 0,
    2 > 1 for 1 and 4, a tie for 3. Tokens are words. Every call is logged to ``log`` (a JSONL file)."""

    name = "scripted"

    def __init__(self, log: Path | None = None):
        self.log = log

    def _record(self, kind: str, ids: list[int], seeds: Sequence[int | None] = (), rooms: Sequence[int] = ()) -> None:
        if self.log is not None:
            with open(self.log, "a") as handle:
                handle.write(json.dumps({"kind": kind, "ids": ids, "seeds": list(seeds), "rooms": list(rooms)}) + "\n")

    @staticmethod
    def _index(prompt: str) -> int:
        return int(prompt.split("Describe image ")[-1][0])

    def generate(self, requests, settings):
        ids = [self._index(r.prompt) for r in requests]
        if requests and requests[0].prompt.startswith("You are provided"):
            self._record("critic", ids, rooms=[settings.max_new_tokens] * len(ids))
            verdicts = {0: "[[1]]", 1: "[[2]]", 3: "I cannot tell.", 4: "[[2]]", 2: "[[1]]"}
            return [f"The reason: none. The better AI generated response: {verdicts[i]}." for i in ids]
        if settings.do_sample:
            self._record("sample", ids, [r.seed for r in requests])
            return [f"A {COLOURS[i]} square." if i == 2 else f"{COLOURS[i]} sample" for i in ids]
        self._record("greedy", ids)
        return [f"A {COLOURS[i]} square." for i in ids]

    def continuation_logprobs(self, requests):
        ids = [self._index(r.prompt) for r in requests]
        self._record("likelihood", ids)
        table = {0: (-1.0, -2.0), 1: (-3.0, -1.0), 2: (-1.0, -2.0), 3: (-2.0, -2.0), 4: (-5.0, -4.0)}
        return [table[i][0 if r.continuation.endswith("[[1]].") else 1] for i, r in zip(ids, requests)]

    def prompt_length(self, prompt: str) -> int:
        return len(prompt.split())

    def identity(self):
        return {"name": self.name}


def scripted_method(prompts: Path, **changes):
    from csr_bench.methods.sima.config import SimaConfig
    from csr_bench.methods.sima.method import SimaMethod

    # a context that holds every critic prompt but image 4's (its ground truth has 2,000 more words)
    context = ScriptedModel().input_length(critic_prompt("Describe image 0.", "A red square.", "x", "y")) + 100
    # these tests drop identical responses unless told otherwise (the default keeps them, as the reference)
    config = SimaConfig(prompts=str(prompts), prompt_images=str(prompts.parent), context=context, batch_size=2,
                        drop_identical=True)
    for key, value in changes.items():
        setattr(config, key, value)
    return SimaMethod(config, device="cpu")


def scripted_input(run: Path, log: Path | None = None):
    from csr_bench.methods.base import IterationInput

    return IterationInput(iteration=1, model_source="scripted", load_model=lambda: ScriptedModel(log),
                          work_dir=run / "iter_1")


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.is_file() else []


def called_ids(log: Path, kind: str) -> list[int]:
    return sorted(i for call in calls(log) if call["kind"] == kind for i in call["ids"])


@pytest.fixture
def prompt_file(tmp_path) -> Path:
    folder = tmp_path / "prompts"
    folder.mkdir()
    return write_prompt_set(folder, n=5, long_truth=4)


def by_id(pair_set) -> dict[str, dict]:
    return {pair["prompt_id"]: pair for pair in pair_set.pairs}


def test_pairs_follow_the_critics_verdicts_and_the_drop_rules(prompt_file, tmp_path):
    log = tmp_path / "calls.jsonl"
    pair_set = scripted_method(prompt_file).make_pairs(scripted_input(tmp_path / "run", log))
    pairs = by_id(pair_set)
    assert sorted(pairs) == ["0", "1"]
    assert (pairs["0"]["chosen"], pairs["0"]["rejected"], pairs["0"]["sampled"]) == ("red sample", "A red square.",
                                                                                    "chosen")
    assert (pairs["1"]["chosen"], pairs["1"]["rejected"], pairs["1"]["sampled"]) == ("A green square.", "green sample",
                                                                                    "rejected")
    assert pairs["0"]["prompt"] == "Describe image 0." and pairs["0"]["image"] == str(prompt_file.parent.resolve()
                                                                                       / "img0.png")
    assert pairs["0"]["critic"].endswith("[[1]].") and pairs["0"]["verdict"] == "1"
    stats = pair_set.stats
    assert stats["prompts"] == 5 and stats["verdicts"] == {"1": 1, "2": 1} and stats["identical_responses"] == 1
    assert stats["dropped"] == {"identical responses": 1, "no [[1]] or [[2]] verdict": 1}
    (reason, count), = stats["skipped"].items()
    context = scripted_method(prompt_file).config.context
    assert count == 1 and reason == f"critic prompt + image does not fit the context of {context}"
    (example,) = stats["skipped_examples"]
    assert example["prompt_id"] == "4" and example["reason"].startswith("critic prompt of ")
    critic = "The reason: none. The better AI generated response: I cannot tell.."
    assert stats["unparsable_examples"] == [{"prompt_id": "3", "parsed": critic, "critic": critic}]  # no [[: all of it
    assert stats["mean_chosen_words"] == (2 + 3) / 2 and stats["mean_rejected_words"] == (3 + 2) / 2
    # every prompt generated twice, the identical one (2) and the one that does not fit (4) never judged
    assert called_ids(log, "greedy") == called_ids(log, "sample") == [0, 1, 2, 3, 4]
    assert called_ids(log, "critic") == [0, 1, 3]
    # the critic's room: what the context leaves (below --sima-critic-max-new-tokens here)
    method = scripted_method(prompt_file)
    saved = {r["prompt_id"]: r for r in map(json.loads, (tmp_path / "run" / "iter_1" / "sima" / "verdicts.jsonl")
                                            .read_text().splitlines())}
    assert sorted(saved) == ["0", "1", "3", "4"] and "skipped" in saved["4"] and "critic_tokens" not in saved["4"]
    rooms = {i: room for call in calls(log) if call["kind"] == "critic" for i, room in zip(call["ids"], call["rooms"])}
    assert rooms == {i: method.config.context - saved[str(i)]["critic_tokens"] for i in (0, 1, 3)}
    assert all(0 < room < 4096 for room in rooms.values())


def test_likelihood_verdicts_and_ties_and_kept_identical_responses(prompt_file, tmp_path):
    log = tmp_path / "calls.jsonl"
    method = scripted_method(prompt_file, verdict="likelihood", drop_identical=False)
    pair_set = method.make_pairs(scripted_input(tmp_path / "run", log))
    pairs = by_id(pair_set)
    assert sorted(pairs) == ["0", "1", "2"]
    assert pairs["0"]["chosen"] == "red sample" and pairs["1"]["chosen"] == "A green square."
    assert pairs["2"]["chosen"] == pairs["2"]["rejected"] == "A blue square."  # kept, as the reference does
    assert pairs["0"]["verdict_logprobs"] == [-1.0, -2.0] and pairs["0"]["critic"] is None
    assert pair_set.stats["dropped"] == {"tie": 1} and pair_set.stats["verdicts"] == {"1": 2, "2": 1}
    assert called_ids(log, "likelihood") == [0, 0, 1, 1, 2, 2, 3, 3] and not called_ids(log, "critic")


def test_finished_work_is_reused_batch_size_ignored_other_settings_refused(prompt_file, tmp_path):
    log = tmp_path / "calls.jsonl"
    run = tmp_path / "run"
    first = scripted_method(prompt_file).make_pairs(scripted_input(run, log))
    seeds = [s for call in calls(log) if call["kind"] == "sample" for s in call["seeds"]]
    before = len(calls(log))
    again = scripted_method(prompt_file, batch_size=5).make_pairs(scripted_input(run, log))
    assert len(calls(log)) == before and again.pairs == first.pairs  # nothing redone
    # the sampled responses' seeds do not depend on the batch
    scripted_method(prompt_file, batch_size=1).make_pairs(scripted_input(tmp_path / "other", log))
    assert [s for call in calls(log)[before:] if call["kind"] == "sample" for s in call["seeds"]] == \
           [s for s in seeds]  # the same draw order here, batch by batch of one
    for change, name in [({"temperature": 0.7}, "temperature"), ({"verdict": "likelihood"}, "verdict"),
                         ({"rejected": "paper"}, "rejected"), ({"prompts_limit": 2}, "prompts_limit")]:
        with pytest.raises(CsrBenchError, match=name):
            scripted_method(prompt_file, **change).make_pairs(scripted_input(run, log))


# -- a kill in each stage (real processes, SIGKILLed at a named point) ---------------------------------

def run_scripted_pairs(prompts: str, run: str, log: str) -> None:
    """make_pairs with the scripted model, one prompt a batch (the fault tests run it in a process)."""
    scripted_method(Path(prompts), batch_size=1).make_pairs(scripted_input(Path(run), Path(log)))


def scripted_command(prompts: Path, run: Path, log: Path) -> list[str]:
    tests = str(Path(__file__).parent)
    code = (f"import sys; sys.path.insert(0, {tests!r}); from test_sima import run_scripted_pairs; "
            f"run_scripted_pairs({str(prompts)!r}, {str(run)!r}, {str(log)!r})")
    return [sys.executable, "-c", code]


@pytest.mark.parametrize("fault, stage, saved", [
    ("append:responses.jsonl@2", "greedy", 2),  # killed after two prompts' responses were saved
    ("torn:responses.jsonl@3", "greedy", 2),  # killed halfway through saving the third
    ("append:verdicts.jsonl@2", "critic", 2),  # all generated; killed after two verdicts were saved
])
def test_killed_in_a_stage_the_rerun_redoes_only_what_was_missing(prompt_file, tmp_path, fault, stage, saved):
    from fault_harness import run_once

    reference_input = scripted_input(tmp_path / "reference")
    method = scripted_method(prompt_file, batch_size=1)
    reference = method.make_pairs(reference_input)
    order = [int(p.prompt_id) for p in method.prompts(reference_input)]  # the drawn order, one prompt a batch
    # the critic's prompts: not 2 (identical responses); 4 is saved as skipped without a call (does not fit)
    stage_order, calling = (order, {0, 1, 2, 3, 4}) if stage == "greedy" else ([i for i in order if i != 2], {0, 1, 3})
    run, log = tmp_path / "run", tmp_path / "calls.jsonl"
    attempt = run_once(scripted_command(prompt_file, run, log), fault=fault)
    assert attempt.killed, attempt.describe()
    assert set(called_ids(log, stage)) >= {i for i in stage_order[:saved] if i in calling}
    log.unlink()
    pair_set = scripted_method(prompt_file, batch_size=1).make_pairs(scripted_input(run, log))
    assert pair_set.pairs == reference.pairs and pair_set.stats == reference.stats
    assert called_ids(log, stage) == sorted(i for i in stage_order[saved:] if i in calling)
    if stage == "critic":
        assert not called_ids(log, "greedy") and not called_ids(log, "sample")  # generation had finished


# -- the reference trainer's rejected log-probs ----------------------------------------------------------

def test_rejected_logps_take_the_top1_token_or_the_top2_where_top1_is_the_label():
    import torch

    from csr_bench.methods.sima.loss import top2_rejected_logps
    from csr_bench.training.loss_terms import sequence_logps

    # one sequence of 4 tokens over a vocabulary of 3; the completion is tokens 2 and 3 (positions 1 and 2 predict them)
    logits = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [3.0, 1.0, 0.0], [9.0, 9.0, 9.0]]], requires_grad=True)
    ids = torch.tensor([[0, 1, 2, 0]])
    mask = torch.tensor([[0, 0, 1, 1]])

    def log_softmax(row, index):
        return row[index] - math.log(sum(math.exp(v) for v in row))

    # position 1 predicts token 2 (its label): top-1 is 2 = the label -> top-2, token 1;
    # position 2 predicts token 0: top-1 is 0 = the label -> top-2, token 1
    expected = log_softmax([1, 2, 3], 1) + log_softmax([3, 1, 0], 1)
    got = top2_rejected_logps(logits, ids, mask)
    assert got.shape == (1,) and float(got[0].detach()) == pytest.approx(expected, abs=1e-6)
    # labels that are not the top-1: the top-1 itself (token 2 at position 1, token 0 at position 2)
    other = torch.tensor([[0, 1, 0, 2]])
    assert float(top2_rejected_logps(logits, other, mask)[0].detach()) == pytest.approx(
        log_softmax([1, 2, 3], 2) + log_softmax([3, 1, 0], 0), abs=1e-6)
    got.sum().backward()  # the gradient reaches the masked-in positions only
    assert logits.grad[0, 0].abs().sum() == 0 and logits.grad[0, 3].abs().sum() == 0 and logits.grad[0, 1].abs().sum() > 0
    assert float(sequence_logps(logits, ids, mask)[0].detach()) == pytest.approx(
        log_softmax([1, 2, 3], 2) + log_softmax([3, 1, 0], 0), abs=1e-6)


def test_sima_is_registered_with_the_references_defaults():
    from csr_bench.methods.registry import default_config, default_iterations, method_class

    config = default_config("sima")
    assert method_class("sima").name == "sima" and default_iterations("sima") == 1
    assert (config.prompts, config.max_new_tokens, config.temperature, config.top_p, config.critic_max_new_tokens,
            config.verdict, config.rejected, config.context) == ("furonghuang-lab/SIMA_prompts", 1024, 0.8, 0.9, 4096,
                                                                 "generate", "code", None)
    training = config.training
    assert (training.learning_rate, training.lora_r, training.lora_alpha, training.beta, training.lr_scheduler,
            training.warmup_ratio, training.batch_size, training.num_epochs) == (1e-7, 128, 256, 0.1, "cosine", 0.03,
                                                                                 1, 3)


# -- one real iteration of the tiny LLaVA in each mode -----------------------------------------------------

def log_records(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.mark.parametrize("rejected", ["code", "paper"])
def test_one_real_iteration_trains_with_the_chosen_rejected_log_probs(tmp_path, tiny_checkpoint, tiny_model, rejected):
    """Generation, the likelihood critic and DPO of the tiny LLaVA through the shared driver. At step 1
    the LoRA update is zero, so the policy is its reference: the loss is log 2 in either mode."""
    from csr_bench.methods.base import IterationInput
    from csr_bench.methods.driver import run_iteration
    from csr_bench.methods.sima.config import SimaConfig
    from csr_bench.methods.sima.method import SimaMethod
    from csr_bench.training.config import DpoLoraConfig
    from preference_pairs import FAST

    folder = tmp_path / "prompts"
    folder.mkdir()
    prompts = write_prompt_set(folder, n=3)
    config = SimaConfig(prompts=str(prompts), prompt_images=str(folder), max_new_tokens=6, verdict="likelihood",
                        context=100_000, rejected=rejected, drop_identical=False,
                        training=DpoLoraConfig(**{**FAST, "num_epochs": 1}))
    run = tmp_path / "run"
    current = IterationInput(iteration=1, model_source=str(tiny_checkpoint), load_model=lambda: tiny_model,
                             work_dir=run / "iter_1")
    model = run_iteration(SimaMethod(config, device="cpu"), current)
    summary = json.loads((run / "iter_1" / "pairs" / "summary.json").read_text())
    assert summary["method"] == "sima" and summary["prompts"] == 3
    assert summary["pairs"] == 3 - summary["dropped"].get("tie", 0) > 0
    trained = json.loads((model / "csr_dpo.json").read_text())
    records = log_records(run / "iter_1" / "train.log")
    first = records[0]
    assert first["step"] == 1 and first["loss"] == pytest.approx(math.log(2), abs=1e-4)
    if rejected == "code":
        assert trained["loss_term"] == "sima-top2-rejected"
        assert trained["loss_term_settings"] == {"rejected": "code", "beta": 0.1}
        assert first["sima/loss"] == pytest.approx(first["loss"], abs=1e-5)  # trl's own loss weighted 0
        assert first["sima/logps_chosen"] == pytest.approx(first["logps/chosen"], abs=1e-3)
        assert first["sima/logps_rejected_top2"] != pytest.approx(first["logps/rejected"], abs=1e-3)
        assert any(record.get("sima/margin", 0) != 0 for record in records[1:])  # it trains
    else:
        assert "loss_term" not in trained and not any("sima/loss" in record for record in records)
