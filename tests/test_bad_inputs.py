"""Bad inputs through the real command line, one test per row of docs/bad-inputs.md: each is one
`csr-bench: error:` line naming the file and the item with exit status 2 and no traceback (or, for a
per-item fault that does not stop the run, the item is recorded with its reason and counted), and
what was finished before stays on disk.

Faults that cannot be made with files alone (a NaN reward, identical candidates, a full disk) are
injected by a small patch in the same fresh `python -m csr_bench`-style process (``run_patched``).
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import WORLD_VLM, assert_one_line_error, run_cli
from judge_server import JudgeServer, Reply

JUDGE_ENV = ("CSR_BENCH_JUDGE_URL", "CSR_BENCH_JUDGE_MODEL", "CSR_BENCH_JUDGE_API_KEY", "CSR_BENCH_JUDGE_TIMEOUT",
             "CSR_BENCH_JUDGE_RETRIES", "CSR_BENCH_JUDGE_WORKERS")


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    for name in JUDGE_ENV:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    monkeypatch.setenv("no_proxy", "127.0.0.1,localhost")


def run_patched(patch: str, *args: str) -> subprocess.CompletedProcess:
    """``csr-bench ARGS`` in a fresh process after running ``patch`` (Python source) in it."""
    code = f"import sys\n{patch}\nfrom csr_bench.cli import main\nsys.exit(main({list(args)!r}))\n"
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=os.environ.copy(),
                          timeout=600)


def lines(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    return path


@pytest.fixture
def pope_root(small_world, tmp_path) -> Path:
    """A data root holding a copy of the small world's POPE (108 questions over 18 images)."""
    root = tmp_path / "data"
    shutil.copytree(small_world / "pope", root / "pope")
    return root


def evaluate(root: Path, out: Path, *extra: str, tasks: str = "pope") -> subprocess.CompletedProcess:
    return run_cli("eval", "--model", str(WORLD_VLM), "--tasks", tasks, "--data-root", str(root),
                   "--output", str(out), "--run-name", "w", "--quiet", *extra)


# -- images ------------------------------------------------------------------------------------------

def _limited(rows: list[dict], limit: int) -> list[dict]:
    """The documents ``--limit`` evaluates (tasks.subset, over POPE's splits)."""
    from csr_bench.tasks.registry import get_tasks
    from csr_bench.tasks.subset import select_documents

    [task] = get_tasks(["pope"])
    return [rows[i] for i in select_documents(task, rows, limit).indices]


@pytest.mark.parametrize("fault", ["corrupt", "missing"])
def test_bad_image_is_one_line_naming_document_and_file_and_finished_samples_stay(pope_root, tmp_path, fault):
    out = tmp_path / "out"
    samples = out / "w" / "iter_0" / "pope" / "samples.jsonl"
    assert evaluate(pope_root, out, "--limit", "4", "--batch-size", "2").returncode == 0
    finished = samples.read_text()
    rows = lines(pope_root / "pope" / "pope.jsonl")
    first, second = (_limited(rows, n) for n in (4, 36))  # --limit spreads over POPE's splits
    image = next(r["image"] for r in second if r["image"] not in {s["image"] for s in first})
    path = pope_root / "pope" / image
    original = path.read_bytes()
    if fault == "corrupt":  # a truncated PNG: PIL reads the header, then fails on the data
        path.write_bytes(original[:100])
    else:
        path.unlink()
    result = evaluate(pope_root, out, "--limit", "36", "--batch-size", "2")
    line = assert_one_line_error(result, str(path), "unreadable image" if fault == "corrupt" else "image file not found")
    ids = [r["question_id"] for r in second if r["image"] == image]
    assert any(f"pope: question_id={i}:" in line for i in ids), line
    assert result.returncode == 2
    assert samples.read_text().startswith(finished)  # the finished samples are kept
    path.write_bytes(original)  # once the image is fixed, the rerun resumes
    resumed = evaluate(pope_root, out, "--limit", "36", "--batch-size", "2")
    assert resumed.returncode == 0, resumed.stderr
    assert "samples already done" in resumed.stderr and len(lines(samples)) == 36


def test_corrupt_csr_prompt_image_names_the_prompt_and_keeps_finished_trees(small_world, tmp_path):
    from csr_bench.methods.prompts import build_prompt_set

    prompts = tmp_path / "prompts"
    shutil.copytree(small_world / "prompts" / "images", prompts)
    order = build_prompt_set(prompts, limit=3, seed=0)
    last = order[-1].image_path
    last.write_bytes(last.read_bytes()[:100])
    out = tmp_path / "out"
    args = ["run", "--model", str(WORLD_VLM), "--data-root", str(small_world), "--tasks", "pope", "--limit", "2",
            "--iterations", "1", "--output", str(out), "--run-name", "w", "--prompt-source", str(prompts),
            "--clip-model", "tiny", "--prompts", "3", "--prompts-per-batch", "1", "--max-sentences", "2", "--quiet"]
    result = run_cli(*args)
    assert_one_line_error(result, f"prompt {order[-1].prompt_id}: unreadable image {last}")
    assert result.returncode == 2
    trees = out / "w" / "iter_1" / "csr" / "trees.jsonl"
    assert [t["prompt_id"] for t in lines(trees)] == [p.prompt_id for p in order[:2]]  # searched before: kept
    assert (out / "w" / "iter_0" / "results.json").is_file()
    # Resuming with trees.jsonl damaged by something else (its first line, so not a crash's cut tail).
    text = trees.read_text().splitlines()
    damaged = "\n".join([text[0][:40], *text[1:]]) + "\n"
    trees.write_text(damaged)
    again = run_cli(*args)
    assert_one_line_error(again, f"{trees}:1: malformed JSON line")
    assert again.returncode == 2 and trees.read_text() == damaged


# -- task data ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("content", ["", "\n\n"], ids=["empty-file", "blank-lines"])
def test_empty_dataset_is_one_line_naming_the_file(tmp_path, content):
    data = tmp_path / "data" / "pope" / "pope.jsonl"
    data.parent.mkdir(parents=True)
    data.write_text(content)
    result = evaluate(tmp_path / "data", tmp_path / "out")
    assert_one_line_error(result, f"pope: {data} holds no documents")
    assert result.returncode == 2 and "loading model" not in result.stderr


def test_malformed_jsonl_line_in_task_data_names_file_and_line(pope_root, tmp_path):
    data = pope_root / "pope" / "pope.jsonl"
    text = data.read_text().splitlines()
    text[4] = text[4][:30]  # line 5 cut in the middle of a string
    data.write_text("\n".join(text) + "\n")
    result = evaluate(pope_root, tmp_path / "out")
    assert_one_line_error(result, f"pope: cannot read {data}:5: malformed JSON")
    assert result.returncode == 2 and "loading model" not in result.stderr


def test_task_data_without_a_required_column_names_it(pope_root, tmp_path):
    data = pope_root / "pope" / "pope.jsonl"
    write_jsonl(data, [{k: v for k, v in row.items() if k != "answer"} for row in lines(data)])
    result = evaluate(pope_root, tmp_path / "out")
    assert_one_line_error(result, "pope: local:", "lacks column(s) answer (has: ")
    assert result.returncode == 2


@pytest.mark.parametrize("bad", [{"answer": "maybe"}, {"answer": None}], ids=["bad-value", "null-value"])
def test_task_record_with_a_wrong_value_is_refused_before_the_model_loads(pope_root, tmp_path, bad):
    data = pope_root / "pope" / "pope.jsonl"
    rows = lines(data)
    rows[4].update(bad)
    write_jsonl(data, rows)
    result = evaluate(pope_root, tmp_path / "out")
    assert_one_line_error(result, f"pope: local:{pope_root / 'pope'}: question_id={rows[4]['question_id']}: "
                          f"POPE answer must be 'yes' or 'no', got {bad['answer']!r}")
    assert result.returncode == 2 and "loading model" not in result.stderr


# -- predictions files (csr-bench score) --------------------------------------------------------------

POPE_PREDICTIONS = [{"question_id": i, "question": "Is there a cup?", "answer": "yes" if i % 2 else "no",
                     "category": "random", "prediction": "Yes."} for i in range(1, 5)]


@pytest.mark.parametrize("fault, fragment", [
    ("malformed", ":3: malformed JSON"),
    ("missing-field", ":3: missing field(s) answer"),
    ("wrong-value", ":3: POPE answer must be 'yes' or 'no', got 'maybe'"),
    ("not-an-object", ":3: expected a JSON object, got list"),
])
def test_bad_predictions_file_names_file_and_line(tmp_path, fault, fragment):
    path = write_jsonl(tmp_path / "p.jsonl", POPE_PREDICTIONS)
    text = path.read_text().splitlines()
    text[2] = {"malformed": '{"question_id": 3, "pred',
               "missing-field": json.dumps({k: v for k, v in POPE_PREDICTIONS[2].items() if k != "answer"}),
               "wrong-value": json.dumps({**POPE_PREDICTIONS[2], "answer": "maybe"}),
               "not-an-object": "[1, 2]"}[fault]
    path.write_text("\n".join(text) + "\n")
    result = run_cli("score", "pope", str(path))
    assert_one_line_error(result, f"{path}{fragment}")
    assert result.returncode == 2


def test_empty_predictions_file(tmp_path):
    path = tmp_path / "p.jsonl"
    path.write_text("\n")
    assert_one_line_error(run_cli("score", "pope", str(path)), f"{path}: no predictions")


def test_score_refuses_a_file_of_another_task(pope_root, tmp_path):
    """A POPE samples.jsonl scored as SEED (was: accuracy 0.00, exit 0): it lacks SEED's fields."""
    assert evaluate(pope_root, tmp_path / "out", "--limit", "3").returncode == 0
    samples = tmp_path / "out" / "w" / "iter_0" / "pope" / "samples.jsonl"
    result = run_cli("score", "seed", str(samples))
    assert_one_line_error(result, f"{samples}:1: missing field(s) choice_a, choice_b, choice_c, choice_d, data_type "
                          "of task 'seed'; it sits next to task_run.json of task 'pope'")
    assert result.returncode == 2
    assert run_cli("score", "pope", str(samples), check=True).stdout.startswith("pope  n=3")


def test_score_refuses_a_repeated_document_id(tmp_path):
    rows = POPE_PREDICTIONS + [{**POPE_PREDICTIONS[1], "prediction": "No."}]  # question 2 again, on line 5
    path = write_jsonl(tmp_path / "p.jsonl", rows)
    result = run_cli("score", "pope", str(path))
    assert_one_line_error(result, f"{path}: document question_id 2 repeats (lines 2 and 5)")
    assert result.returncode == 2


def test_check_refuses_samples_with_a_repeated_document_id(pope_root, tmp_path):
    """Two writers on one samples.jsonl leave a document twice: check would recompute from both."""
    out = tmp_path / "out"
    assert evaluate(pope_root, out, "--limit", "6").returncode == 0
    samples = out / "w" / "iter_0" / "pope" / "samples.jsonl"
    text = samples.read_text().splitlines()
    samples.write_text("\n".join(text + [text[1]]) + "\n")  # line 2's document again, as line 7
    doc_id = json.loads(text[1])["doc_id"]
    result = run_cli("check", str(out / "w"), "--baseline", str(out / "w"))
    assert_one_line_error(result, f"{samples}: document doc_id {doc_id!r} repeats (lines 2 and 7)")
    assert result.returncode == 2


def test_a_rerun_with_a_smaller_limit_scores_and_reports_on_its_documents_only(pope_root, tmp_path):
    """--limit 50 then --limit 20 (was: results.json n=20 beside 50 samples, and check, the tables'
    intervals and the report recomputed on all 50): the 50 samples stay, results.json names the 20
    it scored, all reused, and every reader of the samples takes those 20."""
    out = tmp_path / "out"
    assert evaluate(pope_root, out, "--limit", "50").returncode == 0
    iteration = out / "w" / "iter_0"
    first = json.loads((iteration / "results.json").read_text())["results"]["pope"]
    smaller = evaluate(pope_root, out, "--limit", "20")
    assert smaller.returncode == 0, smaller.stderr
    assert "n=20 of 108" in smaller.stdout
    entry = json.loads((iteration / "results.json").read_text())["results"]["pope"]
    assert entry["n_samples"] == 20 and entry["n_generated"] == 0 and len(entry["doc_ids"]) == 20
    assert set(entry["doc_ids"]) < set(first["doc_ids"]) and len(first["doc_ids"]) == 50
    assert entry["subset"] == {"limit": 20, "strata": "category",
                               "per_stratum": {"adversarial": 7, "popular": 7, "random": 6}}
    assert len(lines(iteration / "pope" / "samples.jsonl")) == 50  # no finished work lost

    baseline = tmp_path / "baseline.json"
    run_cli("check", str(out / "w"), "--baseline", str(baseline), "--update-baseline", check=True)
    recomputed = json.loads(baseline.read_text())
    assert recomputed["tasks"]["pope"]["doc_ids"] == [str(d) for d in entry["doc_ids"]]  # check: on the 20
    assert recomputed["metrics"]["pope"]["accuracy"] == pytest.approx(entry["metrics"]["accuracy"])

    table = run_cli("table", str(out / "w"), check=True).stdout
    low, high = entry["intervals"]["accuracy"]  # the bootstrap over the 20, as scoring made it
    assert f"{entry['metrics']['accuracy']:.2f} [{low:.1f}, {high:.1f}]¹" in table
    assert "¹ pope: 20 of 108 documents (--limit 20, spread over category)" in table
    run_cli("report", str(out / "w"), check=True)
    report = (out / "w" / "report.html").read_text()
    assert "Computed on a subset of the documents" in report and "pope: 20 of 108 documents" in report


# -- resuming a run whose files were damaged by something else -----------------------------------------

def test_malformed_line_in_samples_of_a_resumed_run_names_it_and_leaves_the_file(pope_root, tmp_path):
    out = tmp_path / "out"
    assert evaluate(pope_root, out, "--limit", "6", "--batch-size", "2").returncode == 0
    samples = out / "w" / "iter_0" / "pope" / "samples.jsonl"
    text = samples.read_text().splitlines()
    text[2] = text[2][:25]  # not the last line: not a crash's cut tail, so not silently dropped
    damaged = "\n".join(text) + "\n"
    samples.write_text(damaged)
    result = evaluate(pope_root, out, "--limit", "6", "--batch-size", "2")
    assert_one_line_error(result, f"{samples}:3: malformed JSON line")
    assert result.returncode == 2 and samples.read_text() == damaged  # nothing repaired away or lost


# -- CSR rewards: NaN scores and identical candidates ---------------------------------------------------

# Replaces the CSR search's trees as they are made: prompt NAN gets a NaN CLIP score on every
# sentence, prompt SAME gets five identical one-sentence candidates, the others are left as searched.
CSR_PATCH = """
import math, os
from csr_bench.methods.csr import search
from csr_bench.methods.csr.tree import SentenceNode
nan, same = os.environ["TEST_NAN"].split(","), os.environ["TEST_SAME"].split(",")
original = search.SentenceBeamSearch.search
def patched(self, requests, prune, image_scorer=None, **options):
    trees = original(self, requests, prune, image_scorer=image_scorer, **options)
    for tree in trees:
        if tree.prompt_id in nan:
            for node in tree.nodes():
                node.image_score = math.nan
        if tree.prompt_id in same:
            tree.roots = [SentenceNode(" A red cup.", [5, 6, 7], -1.0 - i, -0.1 * i, True, 1, 10.0 + i, -0.1 * i)
                          for i in range(5)]
    return trees
search.SentenceBeamSearch.search = patched
"""


def csr_run(small_world: Path, out: Path, monkeypatch, nan: list[str], same: list[str]):
    monkeypatch.setenv("TEST_NAN", ",".join(nan))
    monkeypatch.setenv("TEST_SAME", ",".join(same))
    return run_patched(CSR_PATCH, "run", "--model", str(WORLD_VLM), "--data-root", str(small_world), "--tasks", "pope",
                       "--limit", "2", "--iterations", "1", "--output", str(out), "--run-name", "w",
                       "--prompt-source", str(small_world / "prompts" / "images"), "--clip-model", "tiny",
                       "--prompts", "3", "--max-sentences", "2", "--learning-rate", "1e-3", "--quiet")


def prompt_ids(small_world: Path) -> list[str]:
    from csr_bench.methods.prompts import build_prompt_set

    return [p.prompt_id for p in build_prompt_set(small_world / "prompts" / "images", limit=3, seed=0)]


def test_nan_reward_and_identical_candidates_are_skipped_with_reasons_and_counted(small_world, tmp_path, monkeypatch):
    first, second, third = prompt_ids(small_world)
    result = csr_run(small_world, tmp_path / "out", monkeypatch, nan=[first], same=[second])
    assert result.returncode == 0, result.stderr
    pairs = tmp_path / "out" / "w" / "iter_1" / "pairs"
    summary = json.loads((pairs / "summary.json").read_text())
    assert (summary["method"], summary["prompts"], summary["pairs"]) == ("csr", 3, 1)
    reasons = {s["prompt_id"]: s["reason"] for s in summary["skipped"]}
    assert set(reasons) == {first, second}
    assert reasons[first].startswith(f"prompt {first}: CLIP score (R_I) of sentence ")
    assert "is NaN; its candidates cannot be ranked" in reasons[first]
    assert reasons[second] == (f"prompt {second}: 5 complete responses, 5 after the reference's filters (sentences "
                               f"under 4 characters, junk), 1 distinct; a preference pair needs 2 distinct responses")
    assert [p["prompt_id"] for p in lines(pairs / "preferences.jsonl")] == [third]
    assert "2 of 3 prompts give no preference pair" in result.stderr
    assert (tmp_path / "out" / "w" / "iter_1" / "results.json").is_file()  # the iteration went on with its pair


def test_no_prompt_with_a_pair_is_one_line_and_keeps_the_trees(small_world, tmp_path, monkeypatch):
    ids = prompt_ids(small_world)
    result = csr_run(small_world, tmp_path / "out", monkeypatch, nan=ids[:2], same=ids[2:])
    assert_one_line_error(result, "csr: no preference pair from 3 prompts", f"prompt {ids[0]}: CLIP score (R_I)",
                          "is NaN", "nothing to train on")
    assert result.returncode == 2
    csr = tmp_path / "out" / "w" / "iter_1" / "csr"
    assert len(lines(csr / "trees.jsonl")) == 3  # the search is saved: a rerun does not redo it
    summary = json.loads((csr.parent / "pairs" / "summary.json").read_text())  # why, in the pairs' summary
    assert summary["pairs"] == 0 and [s["prompt_id"] for s in summary["skipped"]] == ids
    assert not (csr.parent / "pairs" / "preferences.jsonl").exists()


# -- the judge -----------------------------------------------------------------------------------------

MMVET_ROWS = [{"question_id": f"v{i}", "question": f"What is thing {i}?", "answer": "a cup", "capability": "rec",
               "prediction": f"answer {i}"} for i in range(3)]


def test_judge_that_answers_garbage_counts_the_items_as_unparsed(tmp_path):
    predictions = write_jsonl(tmp_path / "run" / "samples.jsonl", MMVET_ROWS)
    scripted = {"answer 0": "0.8", "answer 1": "lorem ipsum", "answer 2": "¯\\_(ツ)_/¯"}

    def judge(request):
        return Reply(next(text for key, text in scripted.items() if f"| {key} |" in request.user))

    with JudgeServer(judge) as server:
        result = run_cli("score", "mmvet", str(predictions), "--json", "--judge-url", server.url,
                         "--judge-model", "m")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["judge_unparsed"] == 2.0 and metrics["score"] == pytest.approx(80 / 3)
    grades = {g["question_id"]: g for g in lines(tmp_path / "run" / "judge_scores.jsonl")}
    assert [grades[f"v{i}"]["parsed"] for i in range(3)] == [True, False, False]
    assert grades["v1"]["judge_answer"] == "lorem ipsum" and grades["v1"]["judge_answers"] == 5
    assert "no score in 5 judge answers for 2 sample(s)" in result.stderr and "v1, v2" in result.stderr


def test_judge_reply_that_is_not_a_chat_completion_is_one_line(tmp_path):
    predictions = write_jsonl(tmp_path / "samples.jsonl", MMVET_ROWS)
    with JudgeServer(lambda r: Reply(body="<html>502 Bad Gateway</html>")) as server:
        result = run_cli("score", "mmvet", str(predictions), "--judge-url", server.url, "--judge-model", "m")
    assert_one_line_error(result, f"judge at {server.url}/chat/completions: not an OpenAI chat-completions answer")
    assert result.returncode == 2


def test_judge_timeout_fails_the_task_keeps_other_results_and_cached_answers(small_world, tmp_path, monkeypatch):
    root = tmp_path / "data"
    shutil.copytree(small_world / "pope", root / "pope")
    images = sorted((root / "pope" / "images").iterdir())
    write_jsonl(root / "mmvet.jsonl", [{k: v for k, v in row.items() if k != "prediction"} |
                                       {"image": f"pope/images/{images[i].name}"} for i, row in enumerate(MMVET_ROWS)])
    monkeypatch.setenv("CSR_BENCH_JUDGE_TIMEOUT", "0.3")
    monkeypatch.setenv("CSR_BENCH_JUDGE_RETRIES", "1")
    monkeypatch.setenv("CSR_BENCH_JUDGE_WORKERS", "1")

    def judge(request):  # the first question is answered; the judge then stops answering in time
        return Reply("0.5") if "What is thing 0?" in request.user else Reply("late", delay=1.5)

    out = tmp_path / "out"
    with JudgeServer(judge) as server:
        result = evaluate(root, out, "--limit", "3", "--max-new-tokens", "4", "--judge-url", server.url,
                          "--judge-model", "m", tasks="pope,mmvet")
    line = assert_one_line_error(result, "scoring failed for mmvet", "failed after 2 attempt(s): no answer within 0.3 s",
                                 "rerun the same command")
    assert result.returncode == 2 and str(out / "w" / "iter_0") in line
    results = json.loads((out / "w" / "iter_0" / "results.json").read_text())
    assert results["results"]["pope"]["metrics"]["accuracy"] >= 0  # the other task is scored and kept
    assert results["results"]["mmvet"]["metrics"] == {} and "no answer within 0.3 s" in results["results"]["mmvet"]["error"]
    assert len(lines(out / "w" / "iter_0" / "mmvet" / "samples.jsonl")) == 3  # the generations are kept
    assert [c["answer"] for c in lines(out / "w" / "iter_0" / "mmvet" / "judge_cache.jsonl")] == ["0.5"]


# -- a full disk ---------------------------------------------------------------------------------------

# os.fsync fails with ENOSPC for the files whose name contains $TEST_FULL, as a full disk makes a write fail.
FULL_DISK_PATCH = """
import errno, os
target, real_fsync = os.environ["TEST_FULL"], os.fsync
def fsync(fd):
    if target in os.path.basename(os.readlink(f"/proc/self/fd/{fd}")):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return real_fsync(fd)
os.fsync = fsync
"""


@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="finds the file of a descriptor through /proc")
@pytest.mark.parametrize("target", ["results.json", "samples.jsonl"])
def test_full_disk_is_one_line_naming_the_file_and_keeps_what_was_saved(pope_root, tmp_path, monkeypatch, target):
    out = tmp_path / "out"
    folder = out / "w" / "iter_0"
    assert evaluate(pope_root, out, "--limit", "4", "--batch-size", "2").returncode == 0
    before = {p: p.read_bytes() for p in (folder / "results.json", folder / "pope" / "samples.jsonl",
                                          folder / "pope" / "task_run.json")}
    monkeypatch.setenv("TEST_FULL", target)
    result = run_patched(FULL_DISK_PATCH, "eval", "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root",
                         str(pope_root), "--output", str(out), "--run-name", "w", "--quiet", "--limit", "8",
                         "--batch-size", "2")
    written = folder / "results.json" if target == "results.json" else folder / "pope" / "samples.jsonl"
    assert_one_line_error(result, f"cannot write {written}: no space left on device", "rerun the same command")
    assert result.returncode == 2
    assert (folder / "results.json").read_bytes() == before[folder / "results.json"]  # the previous version
    assert (folder / "pope" / "samples.jsonl").read_bytes().startswith(before[folder / "pope" / "samples.jsonl"])
    assert (folder / "pope" / "task_run.json").read_bytes() == before[folder / "pope" / "task_run.json"]
    assert not list(folder.rglob("*.tmp"))  # no temporary file left behind


# -- the rules behind the rows above, on hand-built inputs ----------------------------------------------

def _tree(**nan):
    """Two finished one-sentence candidates; ``nan`` names the score set to NaN on the first one."""
    import math

    from csr_bench.methods.csr.tree import CandidateTree, SentenceNode

    def sentence(text, score):
        values = {"logprob": -1.0 * score, "beam_score": -0.1 * score, "image_score": 10.0 * score}
        values.update({name: math.nan for name in nan} if score == 1 else {})
        return SentenceNode(text=text, token_ids=[], finished=True, depth=1, **values)

    return CandidateTree("p7", "img.png", "Describe it.", [sentence(" A cat.", 1), sentence(" A dog.", 2)])


@pytest.mark.parametrize("mode, lam, score, used", [
    ("reference", 0.9, "image_score", True), ("reference", 0.9, "beam_score", True),
    ("reference", 0.9, "logprob", False),  # the reference ranks beam scores, not summed log-probabilities
    ("reference", 0.0, "image_score", False),  # lambda 0: R_I is not used
    ("reference", 1.0, "beam_score", False),  # lambda 1: R_T is not used
    ("paper", 0.9, "image_score", True), ("paper", 0.9, "logprob", True), ("paper", 0.9, "beam_score", False),
])
def test_a_nan_score_the_pair_depends_on_gives_no_pair(mode, lam, score, used):
    from csr_bench.methods.csr.rewards import no_pair_reason, select_pair

    candidate = _tree(**{score: True})
    pair = select_pair(candidate, mode, lam)
    if used:
        assert pair is None
        reason = no_pair_reason(candidate, mode, lam)
        assert reason.startswith("prompt p7: ") and "of sentence 'A cat.' (depth 1) is NaN" in reason
        assert "\n" not in reason
    else:
        assert pair is not None and {pair.chosen, pair.rejected} == {"A cat.", "A dog."}


def test_write_errors_name_the_file():
    import errno

    from csr_bench.storage.disk_errors import names_the_file, one_line
    from csr_bench.errors import CsrBenchError

    @names_the_file
    def write(path, text):
        raise OSError(errno.ENOSPC, "No space left on device")

    with pytest.raises(CsrBenchError, match=r"^cannot write /x/results.json: no space left on device; what was saved "
                                            r"before is intact: free some space, then rerun the same command"):
        write("/x/results.json", "{}")
    assert one_line(OSError(errno.EROFS, "Read-only file system", "/ro/model.safetensors")) == (
        "cannot write /ro/model.safetensors: read-only file system; what was saved before is intact: rerun the same "
        "command to resume once it can be written")
    assert one_line(OSError(errno.ENOENT, "No such file or directory", "/x")) is None  # not a disk failure
    assert one_line(ValueError("x")) is None


# -- one run per folder; device and --output errors before any work -------------------------------

HOLD_PATCH = """
import os, time
from pathlib import Path
from csr_bench.evaluation import evaluator
evaluate_locked = evaluator._evaluate_locked
def held(config, model):  # the run folder's lock is taken: say so, wait for the test's go
    Path(os.environ["HOLD_READY"]).touch()
    deadline = time.time() + 300
    while not Path(os.environ["HOLD_GO"]).exists() and time.time() < deadline:
        time.sleep(0.05)
    return evaluate_locked(config, model)
evaluator._evaluate_locked = held
"""


def test_a_second_run_on_a_folder_in_use_fails_at_once_naming_the_first(pope_root, tmp_path):
    out, ready, go = tmp_path / "out", tmp_path / "ready", tmp_path / "go"
    args = ["eval", "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root", str(pope_root), "--output", str(out),
            "--run-name", "w", "--quiet", "--limit", "20"]
    code = f"import sys\n{HOLD_PATCH}\nfrom csr_bench.cli import main\nsys.exit(main({args!r}))\n"
    first = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env={**os.environ, "HOLD_READY": str(ready), "HOLD_GO": str(go)})
    try:
        for _ in range(2400):
            if ready.exists() or first.poll() is not None:
                break
            import time

            time.sleep(0.05)
        assert ready.exists(), first.communicate(timeout=60)[1]
        holder = json.loads((out / "w" / ".lock").read_text())
        assert holder["pid"] == first.pid and holder["command"].startswith("csr-bench")
        for command in ("eval", "run"):  # a whole run takes the same lock
            extra = ["--iterations", "0"] if command == "run" else []
            second = run_cli(command, *args[1:], *extra)
            assert second.returncode == 2
            assert_one_line_error(second, f"{out / 'w'} is in use by another csr-bench (pid {first.pid} on ",
                                  "wait for it to finish, or choose another --run-name/--output")
        assert not (out / "w" / "iter_0" / "pope").exists()  # the second did nothing
    finally:
        go.touch()
        _, stderr = first.communicate(timeout=600)
    assert first.returncode == 0, stderr
    records = lines(out / "w" / "iter_0" / "pope" / "samples.jsonl")
    assert len(records) == 20 and len({r["doc_id"] for r in records}) == 20  # was 2 x 20 lines
    assert not (out / "w" / ".lock").exists()  # removed when released


KILLED_HOLDER = """
import os, signal, sys
from pathlib import Path
from csr_bench.storage.run_lock import run_lock
with run_lock(Path(sys.argv[1])):
    os.kill(os.getpid(), signal.SIGKILL)
"""


def test_the_lock_of_a_killed_run_is_taken_by_the_next(pope_root, tmp_path):
    out = tmp_path / "out"
    killed = subprocess.run([sys.executable, "-c", KILLED_HOLDER, str(out / "w")], capture_output=True, text=True,
                            timeout=120)
    assert killed.returncode == -9, killed.stderr
    assert json.loads((out / "w" / ".lock").read_text())["pid"]  # left behind, the flock gone with its process
    assert evaluate(pope_root, out, "--limit", "8").returncode == 0
    assert len(lines(out / "w" / "iter_0" / "pope" / "samples.jsonl")) == 8
    assert not (out / "w" / ".lock").exists()


def _skip_where_the_device_exists(device: str) -> None:
    import torch

    index = int(device.partition(":")[2] or 0)
    if device.startswith("cuda") and torch.cuda.is_available() and torch.cuda.device_count() > index:
        pytest.skip(f"{device} exists on this machine")


@pytest.mark.parametrize("command", ["eval", "run"])
@pytest.mark.parametrize("device, fragment", [
    ("cuda", "has no CUDA: install a CUDA build of torch (https://pytorch.org/get-started/locally/), or pass --device cpu"),
    ("cuda:3", "or pass --device cpu"),
    ("tpu", "is not a device csr-bench runs on: use cpu, cuda, cuda:N or mps"),
    ("gpu0", "is not a device csr-bench runs on"),
])
def test_a_device_that_is_not_there_is_one_line_before_any_folder(pope_root, tmp_path, command, device, fragment):
    _skip_where_the_device_exists(device)
    out = tmp_path / "out"
    extra = ["--iterations", "1", "--prompt-source", str(pope_root / "pope" / "images"), "--clip-model", "tiny"] \
        if command == "run" else []
    result = run_cli(command, "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root", str(pope_root),
                     "--output", str(out), "--run-name", "w", "--device", device, "--quiet", *extra)
    assert result.returncode == 2
    assert_one_line_error(result, f"--device {device}", fragment)
    assert not out.exists()


FAKE_GPUS = """
import torch
torch.version.cuda = torch.version.cuda or "12.4"
torch.cuda.is_available = lambda: True
torch.cuda.device_count = lambda: 2
"""


@pytest.mark.parametrize("args, fragment", [
    (["eval", "--device", "cuda:3"], "--device cuda:3: only 2 GPU(s) visible here (cuda:0 to cuda:1): pass one of "
                                     "them, or --device cuda"),
    (["run", "--iterations", "1", "--device", "cuda:1"], "--device cuda:1: CSR's DPO training runs on 'cuda' (select "
                                                        "the GPU with CUDA_VISIBLE_DEVICES) or 'cpu'"),
])
def test_a_gpu_index_past_the_gpus_or_that_dpo_cannot_train_on_is_one_line(pope_root, tmp_path, args, fragment):
    """Two GPUs as torch reports them (patched: no GPU here); the check refuses before anything touches one."""
    out = tmp_path / "out"
    result = run_patched(FAKE_GPUS, *args, "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root",
                         str(pope_root), "--output", str(out), "--run-name", "w", "--quiet")
    assert result.returncode == 2
    assert_one_line_error(result, fragment)
    assert not out.exists()


@pytest.mark.parametrize("command", ["eval", "run"])
def test_an_output_under_a_file_is_one_line_naming_it(pope_root, tmp_path, command):
    blocker = tmp_path / "results"
    blocker.write_text("not a folder\n")
    extra = ["--iterations", "0"] if command == "run" else []
    result = run_cli(command, "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root", str(pope_root),
                     "--output", str(blocker / "sub"), "--run-name", "w", "--quiet", *extra)
    assert result.returncode == 2
    assert_one_line_error(result, f"cannot create the run folder {blocker / 'sub' / 'w'}: {blocker} is a file, "
                                  "not a folder; choose another --output")
    assert blocker.read_text() == "not a folder\n"


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() == 0,
                    reason="root writes into a chmod 0o555 folder anyway, so there is no read-only folder to test")
def test_an_output_in_a_read_only_folder_is_one_line_with_the_reason(pope_root, tmp_path):
    locked = tmp_path / "ro"
    locked.mkdir()
    locked.chmod(0o555)
    try:
        result = evaluate(pope_root, locked / "out")
    finally:
        locked.chmod(0o755)
    assert result.returncode == 2
    assert_one_line_error(result, f"cannot create the run folder {locked / 'out' / 'w'}: Permission denied; "
                                  "choose another --output")
    assert not (locked / "out").exists()


def test_bad_input_found_after_the_lock_leaves_no_run_folder(pope_root, tmp_path):
    """Taking the lock makes the run folder; a bad flag found after it leaves none (as before the lock)."""
    out = tmp_path / "deeper" / "out"
    result = evaluate(pope_root, out, "--tasks", "nosuch")
    assert_one_line_error(result, "unknown task(s): nosuch")
    assert not (tmp_path / "deeper").exists()
