"""HallusionBench: aAcc, fAcc and qAcc by the official definitions (tianyi-lab/HallusionBench utils.py),
worked by hand on ten questions over three sets; VLMEvalKit's yes/no rule on odd answers; unreadable
answers counted (never guessed) without a judge and resolved by a scripted judge with VLMEvalKit's
prompt and retry schedule; the bootstrap's unit (question sets); `csr-bench score` end to end."""

from __future__ import annotations

import json

import pytest

from conftest import run_cli
from csr_bench.errors import CsrBenchError
from csr_bench.judge import Judge, JudgeSettings
from csr_bench.scorers import SCORERS, ScoringContext
from csr_bench.scorers.base import declared
from csr_bench.scorers.hallusionbench import (JUDGE_PROMPT, NO, UNKNOWN, YES, HallusionBenchScorer, accuracies,
                                              extract_yes_no, is_correct)
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.tasks.registry import get_tasks
from judge_server import JudgeServer, Reply, clear_judge_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


COLUMNS = ("category", "subcategory", "visual_input", "set_id", "figure_id", "question_id", "gt_answer", "prediction")
ROWS = [  # right by the rule?
    ("VD", "chart", "1", "0", "0", "0", "1", "Yes."),  # 1 Yes: right
    ("VD", "chart", "1", "0", "0", "1", "0", "No"),  # 2 No: right
    ("VD", "chart", "2", "0", "1", "0", "0", "yes, it is"),  # 3 Yes: wrong
    ("VD", "chart", "2", "0", "1", "1", "1", "The answer is yes"),  # 4 Yes: right
    ("VD", "ocr", "1", "0", "0", "0", "1", ""),  # 5 Unknown: unresolved, wrong
    ("VD", "ocr", "2", "0", "1", "0", "0", "The answer is no"),  # 6 No: right
    ("VS", "map", "1", "1", "1", "0", "1", "Yes"),  # 7 Yes: right
    ("VS", "map", "2", "1", "2", "0", "0", "I cannot tell"),  # 8 Unknown: unresolved, wrong
    ("VS", "map", "1", "1", "1", "1", "0", "No, it is not."),  # 9 No: right
    ("VS", "map", "2", "1", "2", "1", "1", "YES!"),  # 10 Yes: right
]


def records() -> list[dict]:
    return [{**dict(zip(COLUMNS, row)), "question": f"Is statement {i} true in the figure?", "doc_id": i,
             "doc_index": i} for i, row in enumerate(ROWS)]


# Without a judge: right = 1 1 0 1 0 1 1 0 1 1.
#   aAcc = 7/10 = 70.
#   Figures (category, subcategory, set, figure): chart/0/0 {1,2} right, chart/0/1 {3,4} wrong, ocr/0/0 {5} wrong,
#   ocr/0/1 {6} right, map/1/1 {7,9} right, map/1/2 {8,10} wrong: fAcc = 3/6 = 50.
#   Question groups (category, subcategory, set, question): chart q0 {1,3} wrong, chart q1 {2,4} right,
#   ocr q0 {5,6} wrong, map q0 {7,8} wrong, map q1 {9,10} right: qAcc = 2/5 = 40.
#   VD (rows 1-6): aAcc 4/6, fAcc 2/4, qAcc 1/3. VS (rows 7-10): aAcc 3/4, fAcc 1/2, qAcc 1/2.
#   Easy (visual_input 0/1: rows 1 2 5 7 9): groups chart q0 {1} chart q1 {2} ocr q0 {5 wrong} map q0 {7}
#   map q1 {9}: 4/5 = 80. Hard (visual_input 2: rows 3 4 6 8 10): {3 wrong} {4} {6} {8 wrong} {10}: 3/5 = 60.
NO_JUDGE_METRICS = {"aAcc": 70.0, "fAcc": 50.0, "qAcc": 40.0,
                    "aAcc_VD": 400 / 6, "fAcc_VD": 50.0, "qAcc_VD": 100 / 3,
                    "aAcc_VS": 75.0, "fAcc_VS": 50.0, "qAcc_VS": 50.0,
                    "qAcc_easy": 80.0, "qAcc_hard": 60.0, "unresolved": 2.0, "judged": 0.0}
# With the judge reading row 5 as Yes (label 1: right) and row 8 as No (label 0: right), only row 3 is wrong:
#   aAcc 9/10; figures: only chart/0/1 wrong, 5/6; groups: only chart q0 wrong, 4/5.
#   VD: aAcc 5/6, fAcc 3/4, qAcc 2/3; VS: all right. Easy: 5/5; hard: {3} wrong of 5 groups: 4/5.
JUDGED_METRICS = {"aAcc": 90.0, "fAcc": 500 / 6, "qAcc": 80.0,
                  "aAcc_VD": 500 / 6, "fAcc_VD": 75.0, "qAcc_VD": 200 / 3,
                  "aAcc_VS": 100.0, "fAcc_VS": 100.0, "qAcc_VS": 100.0,
                  "qAcc_easy": 100.0, "qAcc_hard": 80.0, "unresolved": 0.0, "judged": 2.0}


@pytest.mark.parametrize("answer, expected", [
    ("Yes.", YES), ("yes, it is", YES), ("No", NO), ("The answer is no", NO), ("", UNKNOWN),
    ("I cannot tell", UNKNOWN), ("YES!", YES), ("no.", NO), ("No, it is not.", NO),
    ("Yes, but no.", UNKNOWN),  # both words: the rule does not pick one
    ("It is not in the figure.", UNKNOWN),  # "not" is not "no"
    ("Yes/No", UNKNOWN),  # "/" with no space beside it splits the words: "yes no"
    ("(Yes)", YES), ("Answer:\nNo", NO), ("yesterday", UNKNOWN), ("Noted.", UNKNOWN),
])
def test_yes_no_rule_on_odd_answers(answer, expected):
    assert extract_yes_no(answer) == expected


def test_metrics_by_hand_without_a_judge_count_unresolved_as_wrong():
    metrics = HallusionBenchScorer().aggregate(records(), ScoringContext())
    assert metrics == pytest.approx(NO_JUDGE_METRICS)


def test_score_sample_reads_by_the_rule():
    scorer = HallusionBenchScorer()
    found = [scorer.score_sample(r) for r in records()]
    assert [f["parsed"] for f in found] == [YES, NO, YES, YES, UNKNOWN, NO, YES, UNKNOWN, NO, YES]
    assert [f["correct"] for f in found] == [True, True, False, True, False, True, True, False, True, True]


def test_vs_question_without_its_figure_counts_uncertain_as_right():
    # assign_correctness: a VS question asked without the figure (figure_id 0) is right when "uncertain";
    # get_eval_fig leaves that question out of the figures, get_eval_pair_all keeps it in its group.
    vs = [{"category": "VS", "subcategory": "map", "visual_input": "0", "set_id": "3", "figure_id": "0",
           "question_id": "0", "gt_answer": "1"},
          {"category": "VS", "subcategory": "map", "visual_input": "1", "set_id": "3", "figure_id": "1",
           "question_id": "0", "gt_answer": "0"}]
    assert is_correct(vs[0], UNKNOWN) and not is_correct({**vs[0], "category": "VD"}, UNKNOWN)
    assert not is_correct(vs[0], NO)
    # no-figure question wrong (No for label Yes), figured one right: aAcc 1/2; one figure, right: fAcc 100;
    # the group {both} is wrong: qAcc 0.
    metrics = accuracies(vs, [False, True])
    assert metrics["aAcc"] == 50.0 and metrics["fAcc"] == 100.0 and metrics["qAcc"] == 0.0


def scripted(request) -> Reply:
    answer = request.user.rsplit("\nAnswer: ", 1)[1].removesuffix("\nYour output: ")
    if answer == "":
        return Reply("Yes")
    if answer == "I cannot tell":  # unreadable first, then No on the first retry
        return Reply("Unknown" if request.body["temperature"] == 0.0 else "No")
    return Reply("Unknown")


def judge_for(server: JudgeServer) -> Judge:
    return Judge(JudgeSettings(server.url, "judge-m"), None, timeout=2.0, retries=1, backoff=0.01, workers=2)


def test_the_judge_resolves_what_the_rule_cannot_read():
    with JudgeServer(scripted) as server:
        metrics, items = HallusionBenchScorer().aggregate_items(records(), ScoringContext(judge=judge_for(server)))
    assert metrics == pytest.approx(JUDGED_METRICS)
    assert items == [{}] * 4 + [{"judge_answer": "Yes"}] + [{}] * 2 + [{"judge_answer": "No"}] + [{}] * 2
    # only the two unreadable answers are sent; row 8 twice (temperature 0, then 0.5 as YOrN_auxeval)
    assert server.count == 3
    empty = [r for r in server.requests if r.user.endswith("\nAnswer: \nYour output: ")]
    assert len(empty) == 1 and empty[0].user == JUDGE_PROMPT.format("Is statement 4 true in the figure?", "")
    assert "Question: Is statement 4 true in the figure??\n" in empty[0].user  # VLMEvalKit's "{}?" kept
    assert empty[0].system is None and empty[0].body["max_tokens"] == 16
    tell = [r.body["temperature"] for r in server.requests if "I cannot tell" in r.user]
    assert tell == [0.0, 0.5]


def test_an_answer_the_judge_cannot_read_either_stays_unresolved():
    rows = records()
    rows[4]["prediction"] = "Maybe"  # the scripted judge says Unknown five times
    with JudgeServer(scripted) as server:
        metrics, items = HallusionBenchScorer().aggregate_items(rows, ScoringContext(judge=judge_for(server)))
    assert [r.body["temperature"] for r in server.requests if "Answer: Maybe" in r.user] == [0.0, 0.5, 1.0, 1.5, 2.0]
    assert items[4] == {"judge_answer": None}
    # row 5 stays wrong: aAcc 8/10, unresolved 1 of the 2 judged
    assert metrics["aAcc"] == pytest.approx(80.0) and metrics["unresolved"] == 1 and metrics["judged"] == 2


def test_every_declared_metric_is_reported_and_no_other():
    scorer = SCORERS["hallusionbench"]
    keys = set(scorer.aggregate(records(), ScoringContext()))
    assert all(declared(scorer.metrics, k) is not None for k in keys)
    assert all(any(m.matches(k) for k in keys) for m in scorer.metrics)
    assert set(scorer.headline) <= keys


def test_bad_labels_are_one_line_errors():
    row = {**records()[0], "gt_answer": "yes"}
    with pytest.raises(CsrBenchError, match="gt_answer must be '0' or '1'"):
        HallusionBenchScorer().check_record(row)
    with pytest.raises(CsrBenchError, match="category must be VD or VS"):
        HallusionBenchScorer().check_record({**records()[0], "category": "XX"})


@pytest.mark.parametrize("judged", [False, True])
def test_bootstrap_units_are_question_sets_and_recompute_every_metric(judged):
    rows = records()
    expected = NO_JUDGE_METRICS
    if judged:
        rows[4]["judge_answer"], rows[7]["judge_answer"] = "Yes", "No"  # as the evaluator stores them
        expected = JUDGED_METRICS
    stats = task_stats("hallusionbench", rows, "test")
    assert stats.unit == "question set" and stats.doc_ids == ["VD/chart/0", "VD/ocr/0", "VS/map/1"]
    assert stats.strata_name == "category" and list(stats.strata) == [0, 0, 1]
    for name, (fn, higher) in stats.metrics().items():
        assert float(stats.value(name)) == pytest.approx(expected[name]), name
        assert higher
    # a resample holding the VS set twice: aAcc (3+3)/(4+4) = 75, fAcc 2/4 (judged: 4/4), qAcc 2/4 (judged 4/4)
    import numpy as np

    twice = stats.values(["aAcc", "fAcc", "qAcc"], np.array([2, 2]))
    assert list(twice) == ([100.0, 100.0, 100.0] if judged else [75.0, 50.0, 50.0])


def test_task_yaml():
    task = get_tasks(["hallusionbench"])[0]
    assert task.dataset.hub.path == "lmms-lab/HallusionBench" and task.dataset.hub.split == "image"
    assert task.prompt == "{question}" and task.generation.max_new_tokens == 128
    assert task.scorer == "hallusionbench" and task.doc_id == "@index"


def write_samples(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_score_without_and_with_a_judge(tmp_path):
    predictions = write_samples(tmp_path / "run", records())
    plain = run_cli("score", "hallusionbench", str(predictions), "--json")
    assert plain.returncode == 0, plain.stderr
    outcome = json.loads(plain.stdout)
    assert "skipped" not in outcome and outcome["metrics"] == pytest.approx(NO_JUDGE_METRICS)
    with JudgeServer(scripted) as server:
        judged = run_cli("score", "hallusionbench", str(predictions), "--json", "--judge-url", server.url,
                         "--judge-model", "m")
    assert judged.returncode == 0, judged.stderr
    assert json.loads(judged.stdout)["metrics"] == pytest.approx(JUDGED_METRICS)


def test_evaluates_offline_from_a_local_copy_in_the_hub_schema(tmp_path, tiny_model):
    """lmms-lab/HallusionBench's columns (parquet, image bytes) under --data-root; the tiny model's
    answers are read by the rule and every headline metric gets an interval from the question sets."""
    import datasets

    from csr_bench.evaluation import EvalConfig, evaluate
    from csr_bench.evaluation.rescore import rescore
    from csr_bench.tasks.data import BUNDLED_DATA_ROOT

    image = sorted((BUNDLED_DATA_ROOT / "pope" / "images").glob("*.png"))[0].read_bytes()
    rows = [{**{k: v for k, v in r.items() if k not in ("prediction", "doc_id", "doc_index")},
             "sample_note": "note", "gt_answer_details": "details", "filename": "./x.png",
             "image": {"bytes": image, "path": None}} for r in records()]
    root = tmp_path / "data"
    (root / "hallusionbench").mkdir(parents=True)
    datasets.Dataset.from_list(rows).cast_column("image", datasets.Image()).to_parquet(
        str(root / "hallusionbench" / "image-00000-of-00001.parquet"))
    results = evaluate(EvalConfig(model="tiny-llava", tasks=["hallusionbench"], data_root=str(root),
                                  output=str(tmp_path / "out"), max_new_tokens=3, batch_size=4), model=tiny_model)
    entry = results["results"]["hallusionbench"]
    assert entry["n_samples"] == 10 and "skipped" not in entry
    assert {"aAcc", "fAcc", "qAcc", "unresolved", "judged"} <= set(entry["metrics"])
    samples = tmp_path / "out" / "tiny-llava" / "iter_0" / "hallusionbench" / "samples.jsonl"
    stored = [json.loads(line) for line in samples.read_text().splitlines()]
    assert sorted(s["doc_id"] for s in stored) == list(range(10))
    assert {s["prompt"] for s in stored} == {r["question"] for r in records()}  # the bare question
    again = rescore("hallusionbench", samples)
    assert again["metrics"] == pytest.approx(entry["metrics"])


def _many_records(n_sets: int = 12) -> list[dict]:
    """Sets of 2-3 figures x 1-3 questions, VD and VS, random answers (some unreadable)."""
    import random

    rng = random.Random(3)
    rows = []
    for s in range(n_sets):
        category = "VD" if s % 3 else "VS"
        for figure in range(rng.randint(2, 3)):
            for question in range(rng.randint(1, 3)):
                rows.append({"category": category, "subcategory": ("chart", "table")[s % 2],
                             "visual_input": "1" if figure == 0 else "2", "set_id": str(s // 2),
                             "figure_id": str(figure), "question_id": str(question), "gt_answer": rng.choice("01"),
                             "question": f"Q{s}.{figure}.{question}?",
                             "prediction": rng.choice(["Yes.", "No", "yes, it is", "Maybe", "", "no."])})
    return [{**r, "doc_id": i, "doc_index": i} for i, r in enumerate(rows)]


@pytest.mark.parametrize("answers", [None, ["Yes", "No", "Unknown"]])
def test_intervals_agree_with_the_scored_metrics_and_need_no_judge(answers):
    from test_unit_stats import ScriptedJudge

    from csr_bench.evaluation.evaluator import score_records

    rows = _many_records()
    judge = ScriptedJudge(answers) if answers else None
    scored = score_records(SCORERS["hallusionbench"], rows, ScoringContext(judge=judge), seed=4)
    counts = {"unresolved", "judged"}
    assert set(scored["intervals"]) == set(scored["metrics"]) - counts  # every score has its interval
    assert scored["interval_method"].get("stratified_by") == "category"
    calls = judge.calls if judge else 0
    stats = task_stats("hallusionbench", json.loads(json.dumps(rows)), "here")  # as stored in samples.jsonl
    assert (judge.calls if judge else 0) == calls
    for name in scored["intervals"]:
        assert float(stats.value(name)) == pytest.approx(scored["metrics"][name]), name
    if judge:
        assert scored["metrics"]["judged"] > 0 and any("judge_answer" in r for r in rows)


def hallusionbench_aggregates() -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: aggregates that report every declared key (the worked
    case, without and with a judge, so `judged` is non-zero once)."""
    from test_unit_stats import ScriptedJudge

    scorer = SCORERS["hallusionbench"]
    return {"hallusionbench": [scorer.aggregate(records(), ScoringContext()),
                               scorer.aggregate(records(), ScoringContext(judge=ScriptedJudge(["Yes", "No"])))]}


def test_the_declarations_helper_covers_every_declaration():
    results = hallusionbench_aggregates()["hallusionbench"]
    keys = {k for metrics in results for k in metrics}
    assert all(any(m.matches(k) for k in keys) for m in SCORERS["hallusionbench"].metrics)
    assert results[1]["judged"] == 2
