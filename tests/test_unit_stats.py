"""Unit statistics of every built-in scorer: on realistic records (the world's benchmark data with a
mix of right, wrong and unreadable answers; scripted judges for the judge-scored tasks), each
metric recomputed from the units equals the scorer's own aggregate, and results.json / `csr-bench
score` carry the intervals of those numbers."""

from __future__ import annotations

import hashlib
import json
import random

import numpy as np
import pytest

from conftest import REPO
from csr_bench.errors import CsrBenchError
from csr_bench.evaluation import EvalConfig, evaluate
from csr_bench.evaluation.evaluator import score_records
from csr_bench.scorers.uncertainty import BootstrapSettings, intervals
from csr_bench.scorers.unit_stats import TaskStats, scorer_of, task_stats
from csr_bench.scorers import SCORERS, ScoringContext
from csr_bench.tasks.data import load_task_data
from csr_bench.tasks.registry import get_tasks

COUNTS = {"unresolved", "judge_unparsed"}  # counts of unreadable answers: reported without an interval
WORLD_TASKS = ("pope", "chair", "mme", "seed", "mmbench", "scienceqa", "gqa", "vizwiz")


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    """A world with enough documents per benchmark for every category / split to have several units."""
    from csr_bench.world.benchmarks import BenchmarkSizes, write_world

    root = tmp_path_factory.mktemp("unit-stats-world")
    sizes = BenchmarkSizes(pope_images_per_split=10, chair_images=20, mme_images=12, seed_questions=30,
                           mmbench_questions=20, scienceqa_questions=20, gqa_questions=30, vizwiz_questions=20)
    write_world(root, seed=0, n_train=20, n_eval=80, sizes=sizes, n_prompt=6)
    return root


def _prediction(task: str, row: dict, rng: random.Random) -> str:
    """An answer a small VLM might give: often right, sometimes wrong, sometimes unreadable."""
    if task == "pope":
        return rng.choice(["Yes", "No", "Yes, there is.", "No.", "There is not a cup.", "yes", "I think so"])
    if task == "chair":
        words = ["dog", "cup", "dining table", "person", "cat", "bus", "clock", "chair", "banana", "knife"]
        return f"A {rng.choice(words)} next to a {rng.choice(words)}. " * rng.randint(0, 2) + "The end."
    if task == "mme":
        return rng.choice([row["answer"], row["answer"], "Yes", "No", "yes, it is", "Not really", "The answer is yes"])
    if task == "seed":
        return rng.choice([row["answer"], row["answer"], "A", "B", "C.", "The answer is D"])
    if task == "mmbench":
        return rng.choice([row["answer"], row["answer"], "A", f"({rng.choice('ABCD')})", str(row["B"]),
                           f"{row['A']} or {row['C']}", "none of them"])
    if task == "scienceqa":
        return rng.choice(["A", "B", f"{'ABCD'[int(row['answer'])]}. {row['choices'][int(row['answer'])]}",
                           "The answer is C.", "I don't know"])
    if task == "gqa":
        return rng.choice([row["answer"], f"{row['answer']}.", "no", "yes", "table"])
    if task == "vizwiz":
        return rng.choice([row["answers"][0], row["answers"][-1].upper() + ".", "unanswerable", "pink"])
    raise AssertionError(task)


def _records(world, name: str, seed: int = 0) -> tuple[list[dict], ScoringContext, str]:
    """The evaluator's records of one world task (dataset fields, prediction, score_sample's fields)."""
    [task] = get_tasks([name])
    data = load_task_data(task, str(world))
    context = ScoringContext(annotations=data.annotations)
    rng = random.Random(f"{name}:{seed}")
    records = []
    for i in range(len(data)):
        record = {"doc_id": data.doc_id(i), "doc_index": i, **{f: data.rows[i][f] for f in task.fields}}
        record["prediction"] = _prediction(name, record, rng)
        record.update(SCORERS[task.scorer].score_sample(record, context))
        records.append(json.loads(json.dumps(record)))  # as samples.jsonl gives them back
    return records, context, task.scorer


def _assert_agrees(stats: TaskStats, scored: dict, n_units: int) -> None:
    metrics = scored["metrics"]
    wanted = sorted(set(metrics) - COUNTS)
    assert sorted(stats.metrics()) == wanted
    for name in wanted:
        assert float(stats.value(name)) == pytest.approx(metrics[name], abs=1e-9), name
    assert sorted(scored["intervals"]) == wanted
    for name, (low, high) in scored["intervals"].items():
        assert low - 1e-9 <= metrics[name] <= high + 1e-9 or low == high, name
    assert scored["interval_method"]["n_units"] == n_units == len(stats.doc_ids)
    assert scored["interval_method"]["unit"] == stats.unit


@pytest.mark.parametrize("name", WORLD_TASKS)
def test_unit_statistics_reproduce_the_official_aggregate(world, name):
    records, context, scorer = _records(world, name)
    scored = score_records(SCORERS[scorer], records, context, seed=5)
    stats = task_stats(name, records, name, scorer=scorer)  # vizwiz is scored by vqa_accuracy
    units = {"mme": lambda: len({(r["category"], r["question_id"]) for r in records}),
             "mmbench": lambda: len({int(r["index"]) % 1_000_000 for r in records}),
             "seed": lambda: sum(r["data_type"] == "image" for r in records)}
    _assert_agrees(stats, scored, units.get(name, lambda: len(records))())
    method = scored["interval_method"]
    assert method["seed"] == 5 and method["resamples"] == 1000 and method["confidence"] == 0.95
    assert method.get("stratified_by") == {"pope": "split", "mme": "category", "mmbench": "category"}.get(name)
    # The intervals are those of the bootstrap of these units with the evaluation's seed.
    expected = intervals(stats, sorted(scored["intervals"]), BootstrapSettings(seed=5))
    assert scored["intervals"] == {k: v.to_json() for k, v in expected.items()}


def test_every_builtin_scorer_is_covered():
    covered = {"pope", "chair", "mme", "seed", "mmbench", "scienceqa", "gqa", "vqa_accuracy", "mmvet", "llava_bench",
               "vizwiz_submission"}
    covered |= {"amber", "amber_offline"}  # tests/test_amber.py::test_unit_statistics_agree_and_give_intervals
    covered |= {"hallusionbench", "mmhal"}  # tests/test_hallusionbench.py, tests/test_mmhal.py (their bootstrap tests)
    covered |= {"objhal", "objhal_judge"}  # tests/test_objhal.py
    covered |= {"mjbench"}  # tests/test_mjbench.py::test_declarations_and_bootstrap_unit
    covered |= {"unicorn_oodcv", "unicorn_oodcv_fixed", "unicorn_oodcv_cf", "unicorn_oodcv_cf_fixed", "unicorn_sketchy",
                "unicorn_misleading", "unicorn_qpem", "unicorn_oodcv_qpem"}  # tests/test_unicorn.py
    covered |= {"bingo", "bingo_rules"}  # tests/test_bingo.py
    covered |= {"cares_yesno", "cares_jailbreak", "cares_abstention", "cares_overcaution", "cares_choice",
                "cares_uncertainty", "cares_open"}  # tests/test_cares.py
    covered |= {"mmie"}  # tests/test_mmie.py
    assert set(SCORERS) == covered
    with pytest.raises(CsrBenchError, match="reports no metrics"):
        task_stats("vizwiz_test", [{"doc_id": "a", "question_id": "a", "prediction": "x"}], "here",
                   scorer="vizwiz_submission")


def test_the_scorer_of_a_task_is_what_its_run_recorded(tmp_path):
    """results.json's entry first, then the task folder's task_run.json, then the task's own name:
    the run's files, never a task registry (reporting reads old runs without one)."""
    (tmp_path / "task_run.json").write_text(json.dumps({"task": {"name": "vizwiz", "scorer": "vqa_accuracy"}}))
    assert scorer_of("vizwiz", {"scorer": "pope"}, tmp_path) == "pope"
    assert scorer_of("vizwiz", {"metrics": {}}, tmp_path) == "vqa_accuracy"
    assert scorer_of("vizwiz", None, tmp_path / "absent") == "vizwiz"
    assert scorer_of("my_pope", {"scorer": "pope"}) == "pope" and scorer_of("unknown-task") == "unknown-task"


def test_mme_units_are_images_within_categories(world):
    records, context, _ = _records(world, "mme")
    stats = task_stats("mme", records, "mme")
    assert stats.unit == "image" and stats.strata_name == "category"
    assert set(stats.columns["n_questions"]) == {2}  # MME: two questions per image
    assert int(stats.columns["n_questions"].sum()) == len(records)


def test_mme_group_without_categories_is_absent_as_in_the_scorer():
    """Perception categories only: no cognition metric (not a 0) in the statistics, as in the scorer;
    perception by hand: existence (acc 75 + acc+ 50 = 125) + count (acc 50 + acc+ 0 = 50) = 175."""
    rows = [("a", "existence", "Yes", "Yes"), ("a", "existence", "No", "Yes"), ("b", "existence", "Yes", "Yes"),
            ("b", "existence", "No", "No"), ("c", "count", "Yes", "Yes"), ("c", "count", "No", "Yes")]
    records = []
    for i, (image, category, answer, prediction) in enumerate(rows):
        record = {"doc_id": i, "doc_index": i, "question_id": f"{image}.jpg", "category": category,
                  "answer": answer, "prediction": prediction}
        records.append({**record, **SCORERS["mme"].score_sample(record)})
    official = SCORERS["mme"].aggregate(records)
    stats = task_stats("mme", records, "mme")
    assert "cognition" not in official and "cognition" not in stats.metrics()
    assert official["perception"] == pytest.approx(175.0) and float(stats.value("perception")) == pytest.approx(175.0)
    with_cognition = records + [{**records[0], "doc_id": 9, "doc_index": 9, "category": "code_reasoning"}]
    assert "cognition" in task_stats("mme", with_cognition, "mme").metrics()


def test_seed_leaves_out_non_image_questions(world):
    records, context, _ = _records(world, "seed")
    video = {**records[0], "doc_id": "video-1", "data_type": "video", "prediction": records[0]["answer"]}
    official = SCORERS["seed"].aggregate(records + [video])["accuracy"]
    stats = task_stats("seed", records + [video], "seed")
    assert len(stats.doc_ids) == len(records) and float(stats.value("accuracy")) == pytest.approx(official, abs=1e-9)


# -- judge-scored tasks: the per-item decisions come from the same scoring, never from a new request ---------


class ScriptedJudge:
    """A judge whose answer is a fixed function of the prompt (and counts its calls)."""

    model = "scripted"
    workers = 2

    def __init__(self, answers):
        self.answers, self.calls = answers, 0

    def complete(self, prompt, *, system=None, max_tokens=512, temperature=0.0):
        self.calls += 1
        digest = int(hashlib.sha256(prompt.encode()).hexdigest(), 16)
        return self.answers[digest % len(self.answers)]


def _mmvet_records(n: int = 40) -> list[dict]:
    rng = random.Random(1)
    caps = ["rec", "ocr", "know", "gen", "spat", "math"]
    return [{"doc_id": f"v1_{i}", "question_id": f"v1_{i}", "question": f"Question {i}?", "answer": f"answer {i}",
             "capability": ",".join(rng.sample(caps, rng.randint(1, 3))), "prediction": f"prediction {i}"}
            for i in range(n)]


def _llava_records(n: int = 36) -> list[dict]:
    return [{"doc_id": i, "question_id": i, "question": f"Q{i}", "caption": ["A caption."], "gpt_answer": f"ref {i}",
             "category": ("conv", "detail", "complex")[i % 3], "prediction": f"answer {i}"} for i in range(n)]


@pytest.mark.parametrize("name, records, answers", [
    ("mmvet", _mmvet_records(), ["0.0", "0.3", "0.5", "1.0", "0.8 mostly", "n/a"]),
    ("llava_bench", _llava_records(), ["8 6\nGood.", "7 7\nSame.", "9, 3\nWorse.", "10 9", "no scores here"]),
])
def test_judged_items_reproduce_the_official_aggregate(name, records, answers):
    judge = ScriptedJudge(answers)
    scored = score_records(SCORERS[name], records, ScoringContext(judge=judge), seed=2)
    assert scored["metrics"]["judge_unparsed"] > 0  # the official fallbacks are part of the test
    calls = judge.calls
    stats = task_stats(name, json.loads(json.dumps(records)), name)  # as stored in samples.jsonl
    assert judge.calls == calls  # no judge request for the unit statistics
    _assert_agrees(stats, scored, len(records))
    assert stats.unit == "judged item"


def test_judged_items_need_the_stored_judge_scores():
    with pytest.raises(CsrBenchError, match="carry no 'judge_score'"):
        task_stats("mmvet", _mmvet_records(3), "run/iter_0/mmvet")


def test_mmbench_judge_decisions_are_the_aggregates(world):
    records, _, _ = _records(world, "mmbench")
    judge = ScriptedJudge(["A", "B", "C", "hmm"])
    scored = score_records(SCORERS["mmbench"], records, ScoringContext(judge=judge), seed=0)
    consulted = [r for r in records if r["parsed"] is None]
    assert consulted and all("judge_choice" in r for r in consulted)
    assert not any("judge_choice" in r for r in records if r["parsed"] is not None)
    assert scored["metrics"] != SCORERS["mmbench"].aggregate(records, ScoringContext())  # the judge mattered
    _assert_agrees(task_stats("mmbench", records, "mmbench"), scored, len({r["index"] % 1_000_000 for r in records}))
    # Re-scored without a judge, the stale decisions are dropped and both sides agree again.
    plain = score_records(SCORERS["mmbench"], records, ScoringContext())
    assert not any("judge_choice" in r for r in records)
    _assert_agrees(task_stats("mmbench", records, "mmbench"), plain, len({r["index"] % 1_000_000 for r in records}))


# -- stored columns --------------------------------------------------------------------------------------------


def test_float_columns_survive_json():
    records = _mmvet_records(12)
    score_records(SCORERS["mmvet"], records, ScoringContext(judge=ScriptedJudge(["0.3", "0.7", "1.0"])))
    stats = task_stats("mmvet", records, "mmvet")
    again = TaskStats.from_json("mmvet", json.loads(json.dumps(stats.to_json())), "file")
    assert again.columns["score"].dtype.kind == "f" and again.kind == "mmvet" and again.unit == "judged item"
    for name in stats.metrics():
        assert float(again.value(name)) == float(stats.value(name))


def test_committed_baseline_still_reads():
    data = json.loads((REPO / "results" / "baselines" / "ci-world.json").read_text())
    for task, entry in data["tasks"].items():
        stats = TaskStats.from_json(task, entry, "ci-world.json")
        assert stats.unit == {"pope": "question", "chair": "image"}[task]
        for name, value in data["metrics"][task].items():
            assert float(stats.value(name)) == pytest.approx(value, abs=1e-9), name


# -- results.json and `csr-bench score` ------------------------------------------------------------------------


def test_results_json_has_seeded_intervals(tmp_path, tiny_model):
    config = EvalConfig(model="tiny-llava", tasks=["pope"], output=str(tmp_path), limit=30, seed=7, max_new_tokens=4)
    results = evaluate(config, model=tiny_model)
    entry = results["results"]["pope"]
    assert entry["scorer"] == "pope"
    method = entry["interval_method"]
    assert method == {"method": "percentile bootstrap (scipy.stats.bootstrap)", "resamples": 1000,
                      "confidence": 0.95, "seed": 7, "unit": "question", "n_units": 30, "stratified_by": "split"}
    samples = [json.loads(line) for line in (tmp_path / "tiny-llava" / "iter_0" / "pope" / "samples.jsonl")
               .read_text().splitlines()]
    expected = intervals(task_stats("pope", samples, "pope"), None, BootstrapSettings(seed=7))
    assert entry["intervals"] == {k: v.to_json() for k, v in expected.items()}
    assert {"f1", "accuracy", "yes_ratio", "f1_split_mean"} <= set(entry["intervals"])


def test_evaluation_stores_judge_scores_in_samples(tmp_path, tiny_model, pope_rows):
    """MM-Vet through the evaluator with a judge: samples.jsonl gets each item's judge score, and the
    interval in results.json is the bootstrap of exactly those."""
    import shutil

    from csr_bench.tasks.data import BUNDLED_DATA_ROOT
    from judge_server import JudgeServer, Reply

    root = tmp_path / "data"
    shutil.copytree(BUNDLED_DATA_ROOT / "pope", root / "pope")
    (root / "mmvet.jsonl").write_text("".join(json.dumps(
        {"question_id": f"v{i}", "question": f"What is {i}?", "answer": "a circle", "capability": "rec,ocr"[:3 + i % 2 * 4],
         "image": f"pope/{pope_rows[i]['image']}"}) + "\n" for i in range(6)))
    answers = ["0.2", "1.0", "0.5"]
    with JudgeServer(lambda request: Reply(answers[len(request.user) % 3])) as server:
        config = EvalConfig(model="tiny-llava", tasks=["mmvet"], data_root=str(root), output=str(tmp_path / "out"),
                            max_new_tokens=4, judge_url=server.url, judge_model="judge")
        results = evaluate(config, model=tiny_model)
    entry = results["results"]["mmvet"]
    samples = [json.loads(line) for line in (tmp_path / "out" / "tiny-llava" / "iter_0" / "mmvet" / "samples.jsonl")
               .read_text().splitlines()]
    assert [s["doc_index"] for s in samples] == list(range(6))
    grades = [json.loads(line) for line in (tmp_path / "out" / "tiny-llava" / "iter_0" / "mmvet" / "judge_scores.jsonl")
              .read_text().splitlines()]
    assert [s["judge_score"] for s in samples] == [g["score"] for g in grades]
    assert entry["metrics"]["score"] == pytest.approx(100 * np.mean([g["score"] for g in grades]))
    expected = intervals(task_stats("mmvet", samples, "mmvet"), None, BootstrapSettings(seed=0))
    assert entry["intervals"] == {k: v.to_json() for k, v in expected.items()}
    assert entry["interval_method"]["unit"] == "judged item"


def test_cli_score_json_has_intervals(tmp_path, pope_rows):
    from conftest import run_cli

    rng = random.Random(3)
    path = tmp_path / "pope.jsonl"
    rows = [{**row, "prediction": rng.choice(["Yes", "No"])} for row in pope_rows]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    outcome = json.loads(run_cli("score", "pope", str(path), "--json", check=True).stdout)
    stats = task_stats("pope", rows, "pope")
    expected = intervals(stats, None, BootstrapSettings(seed=0))
    assert outcome["intervals"] == {k: v.to_json() for k, v in expected.items()}
    assert outcome["interval_method"]["n_units"] == len(rows)
    text = run_cli("score", "pope", str(path), check=True).stdout
    f1_low, f1_high = expected["f1"].to_json()
    assert f"[{f1_low:.2f}, {f1_high:.2f}]" in text and "percentile bootstrap over 141 questions" in text


def test_check_finds_the_scorer_of_a_renamed_task(tmp_path, pope_rows):
    """A user task `my_pope` scored by `pope`: results.json's entry names the scorer, so `csr-bench
    check` (and reports) recompute POPE's metrics, not a generic accuracy."""
    from csr_bench.reporting.check.regression import load_side

    folder = tmp_path / "iter_0"
    (folder / "my_pope").mkdir(parents=True)
    rows = [{**row, "doc_id": row["question_id"], "doc_index": i, "prediction": "Yes" if i % 4 else "No"}
            for i, row in enumerate(pope_rows)]
    (folder / "my_pope" / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    metrics = SCORERS["pope"].aggregate(rows)
    (folder / "results.json").write_text(json.dumps({"run": {"iteration": 0}, "results": {"my_pope": {
        "scorer": "pope", "metrics": metrics, "samples": "my_pope/samples.jsonl"}}}))
    stats = load_side(folder, tasks=["my_pope"]).stats["my_pope"]
    assert stats.kind == "pope" and stats.strata_name == "split"
    assert float(stats.value("f1_split_mean")) == pytest.approx(metrics["f1_split_mean"], abs=1e-9)
