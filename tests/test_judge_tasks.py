"""MM-Vet and LLaVA-Bench scored through a scripted local judge: official prompts, hand-computed
metrics, the official handling of unparseable answers, skipped without a judge, and the
`csr-bench score` path end to end (no key in any file or message)."""

from __future__ import annotations

import json

import pytest

from conftest import assert_one_line_error, run_cli
from csr_bench.evaluation.evaluator import score_records
from csr_bench.judge import KEY_ENV, NO_JUDGE, Judge, JudgeSettings
from csr_bench.scorers import SCORERS, ScoringContext, ScoringSkipped
from csr_bench.scorers.llava_bench import RULES, SYSTEM, LlavaBenchScorer
from csr_bench.scorers.mmvet import MMVET_PROMPT, RETRY_SUFFIX, MMVetScorer
from csr_bench.tasks.registry import get_tasks
from judge_server import JudgeServer, Reply, clear_judge_env

FAKE_KEY = "sk-test-DO-NOT-LEAK-0987654321"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


def judge_for(server: JudgeServer, cache_path=None) -> Judge:
    return Judge(JudgeSettings(server.url, "judge-m"), cache_path, timeout=2.0, retries=1, backoff=0.01, workers=3)


# -- MM-Vet --------------------------------------------------------------------------------------

MMVET_RECORDS = [
    {"question_id": "v1_0", "question": "What is x in the equation?", "answer": "-1<AND>-5",
     "capability": "math,ocr", "prediction": "x = -1"},
    {"question_id": "v1_1", "question": "What is d?", "answer": "2", "capability": "ocr", "prediction": "p-one"},
    {"question_id": "v1_2", "question": "Who?", "answer": "Tina Fey", "capability": "rec,know", "prediction": "p-zero"},
    {"question_id": "v1_3", "question": "What?", "answer": "cat", "capability": "rec", "prediction": "p-retry"},
    {"question_id": "v1_4", "question": "Why?", "answer": "rain", "capability": "gen,rec", "prediction": "p-never"},
]
# What the judge says for each prediction: first answer, then answers to the retry prompt.
MMVET_ANSWERS = {"x = -1": ["0.5"], "p-one": ["1.0"], "p-zero": ["0.0 totally wrong"],
                 "p-retry": ["Correct!", "0.8"], "p-never": ["n/a"]}


def mmvet_judge(request) -> Reply:
    user = request.user
    retry = user.endswith(RETRY_SUFFIX)
    row = user[:-len(RETRY_SUFFIX)] if retry else user
    prediction = row.rsplit("\n", 1)[1].split(" | ")[2]
    answers = MMVET_ANSWERS[prediction]
    return Reply(answers[min(int(retry), len(answers) - 1)])


def test_mmvet_metrics_by_hand(tmp_path):
    with JudgeServer(mmvet_judge) as server:
        metrics = MMVetScorer().aggregate(MMVET_RECORDS, ScoringContext(judge=judge_for(server), output_dir=tmp_path))
    # Scores 0.5, 1.0, 0.0, 0.8 (after one retry), 0.0 (5 unparseable answers: official fallback).
    assert metrics == pytest.approx({"score": 46.0, "score_math": 50.0, "score_ocr": 75.0,
                                     "score_rec": 80 / 3, "score_know": 0.0, "score_gen": 0.0,
                                     "judge_unparsed": 1.0})
    assert list(metrics) == ["score", "score_gen", "score_know", "score_math", "score_ocr", "score_rec",
                             "judge_unparsed"]

    by_prediction = {}
    for request in server.requests:
        by_prediction.setdefault(request.user.split(" | ")[-2], []).append(request)
    first = by_prediction["x = -1"][0]
    assert first.user == MMVET_PROMPT + "\nWhat is x in the equation? | -1 <AND> -5 | x = -1 | "
    assert first.system is None and first.body["max_tokens"] == 3 and first.body["temperature"] == 0.0
    never = by_prediction["p-never"]
    assert [r.body["temperature"] for r in never] == [0.0, 0.0, 0.5, 1.0, 1.5]
    assert [r.user.endswith(RETRY_SUFFIX) for r in never] == [False, True, True, True, True]
    assert server.count == 1 + 1 + 1 + 2 + 5

    grades = [json.loads(line) for line in (tmp_path / "judge_scores.jsonl").read_text().splitlines()]
    assert [g["question_id"] for g in grades] == ["v1_0", "v1_1", "v1_2", "v1_3", "v1_4"]
    assert grades[3] == {"question_id": "v1_3", "capability": "rec", "score": 0.8, "parsed": True,
                         "judge_answer": "0.8", "judge_answers": 2, "judge_model": "judge-m"}
    assert grades[4]["parsed"] is False and grades[4]["score"] == 0.0 and grades[4]["judge_answers"] == 5


def test_generation_never_waits_on_the_judge():
    class Exploding:
        model = "x"

        def complete(self, *args, **kwargs):
            raise AssertionError("the judge must not be called per sample")

    context = ScoringContext(judge=Exploding())
    assert MMVetScorer().score_sample(MMVET_RECORDS[0], context) == {}
    assert LlavaBenchScorer().score_sample(LLAVA_RECORDS[0], context) == {}


@pytest.mark.parametrize("name, records", [("mmvet", "MMVET_RECORDS"), ("llava_bench", "LLAVA_RECORDS")])
def test_without_a_judge_the_task_is_skipped_not_zero(name, records):
    with pytest.raises(ScoringSkipped, match="no judge configured"):
        SCORERS[name].aggregate(globals()[records], ScoringContext())
    assert score_records(SCORERS[name], globals()[records], ScoringContext()) == {"metrics": {}, "skipped": NO_JUDGE}


# -- LLaVA-Bench ---------------------------------------------------------------------------------

LLAVA_RECORDS = [
    {"question_id": 0, "question": "What is funny?", "caption": "A cat on a mat.", "gpt_answer": "ref-a",
     "category": "conv", "prediction": "pred-a"},
    {"question_id": 1, "question": "Describe it.", "caption": ["Line one.", "Line two."], "gpt_answer": "ref-b",
     "category": "detail", "prediction": "pred-b"},
    {"question_id": 2, "question": "Why?", "caption": "c", "gpt_answer": "ref-c", "category": "complex",
     "prediction": "pred-c"},
    {"question_id": 3, "question": "How?", "caption": "c", "gpt_answer": "ref-d", "category": "complex",
     "prediction": "pred-d"},
]
LLAVA_REVIEWS = {"pred-a": "8 6\nAssistant 1 is better.", "pred-b": "10,5\nDetailed.", "pred-c": "8 8",
                 "pred-d": "Assistant 1: 7, Assistant 2: 9"}


def llava_judge(request) -> Reply:
    prediction = request.user.split("[Assistant 2]\n")[1].split("\n\n[End of Assistant 2]")[0]
    return Reply(LLAVA_REVIEWS[prediction])


def test_llava_bench_metrics_by_hand(tmp_path):
    with JudgeServer(llava_judge) as server:
        metrics = LlavaBenchScorer().aggregate(LLAVA_RECORDS, ScoringContext(judge=judge_for(server),
                                                                              output_dir=tmp_path))
    # Pairs [8, 6], [10, 5], [8, 8], and [-1, -1] for the review without a "x y" first line (official).
    assert metrics == pytest.approx({"score": 100 * 18 / 25, "score_conv": 75.0, "score_detail": 50.0,
                                     "score_complex": 100.0, "judge_unparsed": 1.0})
    detail = next(r for r in server.requests if "pred-b" in r.user)
    assert detail.user == ("[Context]\nLine one.\nLine two.\n\n[Question]\nDescribe it.\n\n"
                           "[Assistant 1]\nref-b\n\n[End of Assistant 1]\n\n"
                           "[Assistant 2]\npred-b\n\n[End of Assistant 2]\n\n"
                           f"[System]\n{RULES['detail']}\n\n")
    assert detail.system == SYSTEM and detail.body["temperature"] == 0.2 and detail.body["max_tokens"] == 1024
    assert "[Context]\nA cat on a mat.\n\n" in next(r for r in server.requests if "pred-a" in r.user).user
    reviews = [json.loads(line) for line in (tmp_path / "judge_reviews.jsonl").read_text().splitlines()]
    assert [r["tuple"] for r in reviews] == [[8.0, 6.0], [10.0, 5.0], [8.0, 8.0], [-1, -1]]
    assert reviews[0]["category"] == "llava_bench_conv" and reviews[0]["judge_model"] == "judge-m"


def test_llava_bench_rejects_unknown_categories():
    from csr_bench.errors import CsrBenchError

    with pytest.raises(CsrBenchError, match="conv, detail, complex"):
        LlavaBenchScorer().score_sample({**LLAVA_RECORDS[0], "category": "chat"}, ScoringContext())


# -- tasks and the command line ------------------------------------------------------------------

def test_task_yamls_follow_llava_15():
    mmvet, llava = get_tasks(["mmvet", "llava_bench"])
    assert (mmvet.dataset.hub.path, mmvet.dataset.hub.split, mmvet.doc_id) == ("lmms-lab/MMVet", "test", "question_id")
    assert (llava.dataset.hub.path, llava.dataset.hub.split) == ("lmms-lab/llava-bench-in-the-wild", "train")
    for task, scorer in ((mmvet, "mmvet"), (llava, "llava_bench")):
        assert task.scorer == scorer and task.generation.max_new_tokens == 1024 and not task.generation.do_sample
        assert set(SCORERS[scorer].required_fields) <= set(task.fields)
        assert task.render_prompt({"question": "What is x?", "caption": "c"}) == "What is x?"


def write_predictions(folder, records):
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_cli_score_skips_without_a_judge(tmp_path):
    predictions = write_predictions(tmp_path / "run", MMVET_RECORDS)
    result = run_cli("score", "mmvet", str(predictions), "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"task": "mmvet", "n": 5, "metrics": {}, "skipped": NO_JUDGE}
    assert not (tmp_path / "run" / "judge_cache.jsonl").exists()


def test_cli_score_with_a_judge_caches_and_never_writes_the_key(tmp_path, monkeypatch):
    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    folder = tmp_path / "run"
    predictions = write_predictions(folder, MMVET_RECORDS)
    with JudgeServer(mmvet_judge) as server:
        args = ("score", "mmvet", str(predictions), "--json", "--judge-url", server.url, "--judge-model", "m")
        first = run_cli(*args)
        assert first.returncode == 0, first.stderr
        sent = server.count
        again = run_cli(*args)  # every prompt is in the cache now
        assert again.returncode == 0, again.stderr
    outcome = json.loads(first.stdout)
    assert outcome["metrics"]["score"] == pytest.approx(46.0) and "skipped" not in outcome
    assert json.loads(again.stdout) == outcome and server.count == sent == 10
    assert {r.headers["Authorization"] for r in server.requests} == {f"Bearer {FAKE_KEY}"}
    assert {r.body["model"] for r in server.requests} == {"m"}
    assert {p.name for p in folder.iterdir()} == {"samples.jsonl", "judge_cache.jsonl", "judge_scores.jsonl"}
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert FAKE_KEY not in path.read_text(errors="replace"), path
    for result in (first, again):
        assert FAKE_KEY not in result.stdout + result.stderr


def test_cli_unreachable_judge_is_a_one_line_error_without_the_key(tmp_path, monkeypatch):
    import socket

    monkeypatch.setenv(KEY_ENV, FAKE_KEY)
    monkeypatch.setenv("CSR_BENCH_JUDGE_RETRIES", "0")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    predictions = write_predictions(tmp_path, LLAVA_RECORDS)
    result = run_cli("score", "llava_bench", str(predictions), "--judge-url", f"http://127.0.0.1:{port}/v1",
                     "--judge-model", "m")
    endpoint = f"http://127.0.0.1:{port}/v1/chat/completions"
    line = assert_one_line_error(result, f"judge at {endpoint} failed after 1 attempt(s)")
    assert FAKE_KEY not in result.stderr + result.stdout and FAKE_KEY not in line
