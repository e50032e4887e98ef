"""MMHal-Bench through a scripted local judge: LLaVA-RLHF's prompt pinned by a golden file, the
official rating parse on odd judge replies, mean rating and hallucination rate worked by hand,
skipped (never 0) without a judge, the judge model recorded, the bootstrap's per-item ratings, and
`csr-bench score mmhal` end to end."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from conftest import run_cli
from csr_bench.judge import NO_JUDGE, Judge, JudgeSettings
from csr_bench.scorers import SCORERS, ScoringContext, ScoringSkipped
from csr_bench.scorers.base import declared
from csr_bench.scorers.mmhal import TEMPLATE, MmhalScorer, judge_prompt, parse_rating
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.tasks.registry import get_tasks
from judge_server import JudgeServer, Reply, clear_judge_env

GOLDEN = Path(__file__).parent / "fixtures" / "mmhal_judge_prompt.txt"
# sha256 of eval_gpt_mmhal.py's ``template`` (llava-rlhf/LLaVA-RLHF @ 830a083), read from that file
TEMPLATE_SHA256 = "2c73d8c50f1740d000fae62cfeed103c2f7a5bcfa904b27e6e09900e7ce600cc"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


def test_prompt_is_the_official_one():
    # The golden file is the official template.format(", ".join(image_content), question, gt_answer,
    # model_answer), written from LLaVA-RLHF's Eval/eval_gpt_mmhal.py, not from this code.
    record = {"image_content": ["Person", "Bicycle", "Wheel"], "question": "How many bicycles are there in the image?",
              "gt_answer": "There are two bicycles in the image.", "prediction": "There is one red bicycle."}
    assert judge_prompt(record) == GOLDEN.read_text(encoding="utf-8")
    assert hashlib.sha256(TEMPLATE.encode("utf-8")).hexdigest() == TEMPLATE_SHA256
    # the labels may come as the loading script's {"class": [...]} or already joined
    assert judge_prompt({**record, "image_content": {"class": ["Person", "Bicycle", "Wheel"]}}) == judge_prompt(record)


@pytest.mark.parametrize("reply, expected", [
    ("The response is accurate.\nRating: 5, very informative, no hallucination", 5),
    ("rating: 2", 2),
    ("RATING: 4", 4),  # the parse lower-cases the reply
    ("Explanation ... - Rating: 0, not informative, with hallucination", 0),
    ("Rating: 3.", 3),
    ("Rating:4", None),  # no space after the colon: not found
    ("Rating: 6 at first, but on reflection Rating: 2", None),  # two ratings: the official script gives 0
    ("I would give it a 5.", None),
    ("", None),
    ("Rating: 7", None),  # only 0-6 are looked for
])
def test_rating_parse_on_odd_replies(reply, expected):
    assert parse_rating(reply) == expected


RECORDS = [
    {"question_type": "attribute", "question_topic": "t", "image_id": "a1", "image_content": ["Cat"],
     "question": "What colour is the cat?", "gt_answer": "Black.", "prediction": "p-five", "doc_id": 0},
    {"question_type": "attribute", "question_topic": "t", "image_id": "a2", "image_content": ["Dog", "Ball"],
     "question": "What colour is the ball?", "gt_answer": "Red.", "prediction": "p-two", "doc_id": 1},
    {"question_type": "counting", "question_topic": "t", "image_id": "c1", "image_content": ["Car"],
     "question": "How many cars?", "gt_answer": "Three.", "prediction": "p-none", "doc_id": 2},
    {"question_type": "counting", "question_topic": "t", "image_id": "c2", "image_content": ["Bird", "Tree"],
     "question": "How many birds?", "gt_answer": "Two.", "prediction": "p-six", "doc_id": 3},
]
REPLIES = {"p-five": "Informative and right.\nRating: 5, very informative, no hallucination",
           "p-two": "Wrong colour.\nRating: 2, very informative, with hallucination",
           "p-none": "The response is fine, I think.",  # no rating: the official script scores 0
           "p-six": "Great reasoning.\nrating: 6"}
# Ratings 5, 2, 0 (unparsed), 6: mean 13/4 = 3.25; below 3: 2 and 0, so 2/4 = 50%;
# attribute (5 + 2)/2 = 3.5, counting (0 + 6)/2 = 3.0; one reply unparsed.
EXPECTED = {"score": 3.25, "hallucination_rate": 50.0, "score_attribute": 3.5, "score_counting": 3.0,
            "judge_unparsed": 1.0}


def scripted(request) -> Reply:
    response = request.user.rsplit("### LMM Response to Evaluate\n", 1)[1].rstrip("\n")
    return Reply(REPLIES[response])


def judge_for(server: JudgeServer) -> Judge:
    return Judge(JudgeSettings(server.url, "judge-m"), None, timeout=2.0, retries=1, backoff=0.01, workers=2)


def test_mean_and_rate_by_hand_and_the_judge_model_recorded(tmp_path):
    with JudgeServer(scripted) as server:
        metrics, items = MmhalScorer().aggregate_items(RECORDS, ScoringContext(judge=judge_for(server),
                                                                                output_dir=tmp_path))
    assert metrics == pytest.approx(EXPECTED)
    assert items == [{"judge_rating": 5}, {"judge_rating": 2}, {"judge_rating": 0}, {"judge_rating": 6}]
    assert server.count == 4  # one request per answer, no retries (the official script asks once)
    request = server.requests[0]
    assert request.system is None and request.body["temperature"] == 0.0 and request.body["max_tokens"] == 1024
    assert {r.user for r in server.requests} == {judge_prompt(r) for r in RECORDS}
    rows = [json.loads(line) for line in (tmp_path / "judge_scores.jsonl").read_text().splitlines()]
    assert [r["rating"] for r in rows] == [5, 2, 0, 6] and [r["parsed"] for r in rows] == [True, True, False, True]
    assert {r["judge_model"] for r in rows} == {"judge-m"}
    assert rows[2]["judge_answer"] == REPLIES["p-none"]


def test_without_a_judge_the_task_is_skipped_not_zero():
    with pytest.raises(ScoringSkipped, match="no judge configured"):
        MmhalScorer().aggregate(RECORDS, ScoringContext())
    assert MmhalScorer().score_sample(RECORDS[0]) == {}  # generation never waits on the judge


def test_every_declared_metric_is_reported():
    with JudgeServer(scripted) as server:
        keys = set(SCORERS["mmhal"].aggregate(RECORDS, ScoringContext(judge=judge_for(server))))
    scorer = SCORERS["mmhal"]
    assert all(declared(scorer.metrics, k) is not None for k in keys)
    assert all(any(m.matches(k) for k in keys) for m in scorer.metrics)
    assert set(scorer.headline) <= keys


def test_bootstrap_resamples_the_stored_ratings():
    rows = [{**r, "doc_index": i, "judge_rating": rating} for i, (r, rating) in enumerate(zip(RECORDS, [5, 2, 0, 6]))]
    stats = task_stats("mmhal", rows, "test")
    assert stats.unit == "judged item" and stats.strata_name == "question_type"
    values = {name: float(stats.value(name)) for name in stats.metrics()}
    assert values == pytest.approx({k: v for k, v in EXPECTED.items() if k != "judge_unparsed"})
    assert stats.metrics()["hallucination_rate"][1] is False  # lower is better


def test_task_yaml():
    task = get_tasks(["mmhal"])[0]
    assert task.scorer == "mmhal" and task.prompt == "{question}" and task.generation.max_new_tokens == 1024
    assert task.dataset.local == "mmhal"


def write_samples(folder, rows):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def test_cli_score_skips_without_a_judge_and_scores_with_one(tmp_path):
    predictions = write_samples(tmp_path / "run", RECORDS)
    skipped = run_cli("score", "mmhal", str(predictions), "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout) == {"task": "mmhal", "n": 4, "metrics": {}, "skipped": NO_JUDGE}
    with JudgeServer(scripted) as server:
        scored = run_cli("score", "mmhal", str(predictions), "--json", "--judge-url", server.url, "--judge-model", "m")
    assert scored.returncode == 0, scored.stderr
    outcome = json.loads(scored.stdout)
    assert outcome["metrics"] == pytest.approx(EXPECTED) and "skipped" not in outcome
    rows = [json.loads(line) for line in (tmp_path / "run" / "judge_scores.jsonl").read_text().splitlines()]
    assert {r["judge_model"] for r in rows} == {"m"}


def test_evaluates_offline_from_the_official_rows_and_is_skipped_without_a_judge(tmp_path, tiny_model):
    """response_template.json's rows (image_content a list of labels) as JSONL with an image path."""
    import shutil

    from csr_bench.evaluation import EvalConfig, evaluate
    from csr_bench.tasks.data import BUNDLED_DATA_ROOT

    root = tmp_path / "data"
    (root / "mmhal").mkdir(parents=True)
    shutil.copy(sorted((BUNDLED_DATA_ROOT / "pope" / "images").glob("*.png"))[0], root / "mmhal" / "a.png")
    rows = [{**{k: v for k, v in r.items() if k not in ("prediction", "doc_id")}, "image_src": "https://x/a.jpg",
             "gt_answer": r["gt_answer"], "model_answer": "", "image": "a.png"} for r in RECORDS]
    (root / "mmhal" / "mmhal.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    results = evaluate(EvalConfig(model="tiny-llava", tasks=["mmhal"], data_root=str(root),
                                  output=str(tmp_path / "out"), max_new_tokens=3, batch_size=4), model=tiny_model)
    entry = results["results"]["mmhal"]
    assert entry["n_samples"] == 4 and entry["metrics"] == {} and entry["skipped"] == NO_JUDGE
    samples = tmp_path / "out" / "tiny-llava" / "iter_0" / "mmhal" / "samples.jsonl"
    stored = {s["doc_id"]: s for s in map(json.loads, samples.read_text().splitlines())}
    assert sorted(stored) == [0, 1, 2, 3]  # "@index": rows are the documents
    assert stored[0]["image_content"] == ["Cat"] and stored[0]["prompt"] == "What colour is the cat?"


def test_intervals_agree_with_the_scored_metrics_and_need_no_judge():
    from test_unit_stats import ScriptedJudge

    from csr_bench.evaluation.evaluator import score_records

    types = ("attribute", "counting", "relation", "other")
    rows = [{"question_type": types[i % 4], "question_topic": "t", "image_id": str(i), "image_content": ["Cat"],
             "question": f"Q{i}?", "gt_answer": f"A{i}.", "prediction": f"answer {i}", "doc_id": i, "doc_index": i}
            for i in range(32)]
    judge = ScriptedJudge(["Rating: 6", "rating: 1", "Rating: 3, not informative", "no rating", "Rating: 4"])
    scored = score_records(SCORERS["mmhal"], rows, ScoringContext(judge=judge), seed=1)
    assert scored["metrics"]["judge_unparsed"] > 0
    assert set(scored["intervals"]) == set(scored["metrics"]) - {"judge_unparsed"}
    calls = judge.calls
    stats = task_stats("mmhal", json.loads(json.dumps(rows)), "here")
    assert judge.calls == calls
    for name in scored["intervals"]:
        assert float(stats.value(name)) == pytest.approx(scored["metrics"][name]), name


def mmhal_aggregates() -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: an aggregate that reports every declared key."""
    from test_unit_stats import ScriptedJudge

    judge = ScriptedJudge(["Rating: 5", "Rating: 1", "no rating"])
    return {"mmhal": [SCORERS["mmhal"].aggregate(RECORDS, ScoringContext(judge=judge))]}


def test_the_declarations_helper_covers_every_declaration():
    keys = set(mmhal_aggregates()["mmhal"][0])
    assert all(any(m.matches(k) for k in keys) for m in SCORERS["mmhal"].metrics)
