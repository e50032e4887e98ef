"""A benchmark is one folder: a toy task that brings its own scorer and prompt code, added with
--include-tasks, runs through `csr-bench eval` and `csr-bench run`, and the metric its scorer
declares reaches results.json, the summary, the intervals and the gate."""

import json

from PIL import Image

from conftest import run_cli
from csr_bench.scorers import declared_metric
from csr_bench.safety import loading_policy_as

TOY_YAML = """\
task: toy
description: a toy benchmark kept in a folder of its own
dataset: {local: toy}
doc_id: id
image_field: image
fields: [id, colour, answer]
prompt_builder: prompt.py:ask
generation: {max_new_tokens: 8}
scorer: scorer.py:ToyScorer
"""
TOY_SCORER = """\
from csr_bench.scorers import Metric


class ToyScorer:
    required_fields = ("answer",)
    headline = ("accuracy",)
    metrics = (Metric("accuracy", "higher", "share of answers containing the expected letter (%)", gate=True),)

    def score_sample(self, record, context=None):
        return {"correct": record["answer"] in record["prediction"].lower()}

    def aggregate(self, records, context=None):
        return {"accuracy": 100 * sum(self.score_sample(r)["correct"] for r in records) / len(records)}
"""
TOY_PROMPT = """\
def ask(doc):
    return f"The square is {doc['colour']}. Which letter comes to mind?"
"""
DOCS = [("red", "a"), ("green", "e"), ("blue", "i"), ("white", "o"), ("black", "t"), ("yellow", "s")]


def write_toy(root):
    """tasks/toy/{toy.yaml, scorer.py, prompt.py} and data/toy/{toy.jsonl, images/*.png} under ``root``."""
    tasks, data = root / "tasks", root / "data" / "toy"
    (tasks / "toy").mkdir(parents=True)
    (tasks / "toy" / "toy.yaml").write_text(TOY_YAML)
    (tasks / "toy" / "scorer.py").write_text(TOY_SCORER)
    (tasks / "toy" / "prompt.py").write_text(TOY_PROMPT)
    (data / "images").mkdir(parents=True)
    rows = []
    for index, (colour, answer) in enumerate(DOCS):
        Image.new("RGB", (32, 32), colour).save(data / "images" / f"{index}.png")
        rows.append({"id": f"toy-{index}", "colour": colour, "answer": answer, "image": f"images/{index}.png"})
    (data / "toy.jsonl").write_text("".join(json.dumps(row) + "\n" for row in rows))
    return tasks, root / "data"


def read_jsonl(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_a_toy_benchmark_folder_runs_through_eval_run_and_check(tmp_path):
    tasks, data = write_toy(tmp_path)
    toy = ["--model", "tiny-llava", "--tasks", "toy", "--include-tasks", str(tasks), "--data-root", str(data), "--quiet"]
    result = run_cli("eval", *toy, "--output", str(tmp_path / "eval"), check=True)
    iteration = tmp_path / "eval" / "tiny-llava" / "iter_0"
    samples = sorted(read_jsonl(iteration / "toy" / "samples.jsonl"), key=lambda s: s["doc_index"])
    assert [(s["colour"], s["answer"]) for s in samples] == DOCS
    for sample in samples:  # the folder's prompt code built the prompt, its scorer the per-sample field
        assert sample["prompt"] == f"The square is {sample['colour']}. Which letter comes to mind?"
        assert sample["correct"] == (sample["answer"] in sample["prediction"].lower())
    hits = sum(sample["answer"] in sample["prediction"].lower() for sample in samples)
    expected = 100 * hits / len(DOCS)

    entry = json.loads((iteration / "results.json").read_text())["results"]["toy"]
    assert entry["metrics"] == {"accuracy": expected}
    assert entry["scorer"] == f"{(tasks / 'toy' / 'scorer.py').resolve()}:ToyScorer"  # found again by reporting
    assert "accuracy" in entry["intervals"]  # the unit statistics recomputed it from the stored 'correct'
    assert declared_metric(entry["scorer"], "accuracy") is None  # a results.json naming a file imports nothing...
    with loading_policy_as(trust_remote_code=True):  # ...unless trusted
        assert declared_metric(entry["scorer"], "accuracy").description.startswith("share of answers containing")
    recorded = json.loads((iteration / "toy" / "task_run.json").read_text())["task"]
    assert recorded["scorer"] == "scorer.py:ToyScorer" and recorded["prompt_builder"] == "prompt.py:ask"
    assert f"accuracy {expected:.2f}" in result.stdout  # the summary shows the scorer's headline

    score = run_cli("score", "toy", str(iteration / "toy" / "samples.jsonl"), "--include-tasks", str(tasks), "--json",
                    check=True)
    assert json.loads(score.stdout)["metrics"] == {"accuracy": expected}  # re-scored without a model

    run_cli("run", *toy, "--iterations", "0", "--output", str(tmp_path / "run"), check=True)
    again = json.loads((tmp_path / "run" / "tiny-llava" / "iter_0" / "results.json").read_text())["results"]["toy"]
    assert again["metrics"] == {"accuracy": expected}

    # the gate finds the declaration (higher is better) through the scorer the run recorded
    gate = run_cli("check", str(tmp_path / "run" / "tiny-llava"), "--baseline", str(iteration), "--metrics",
                   "toy.accuracy", "--bootstrap", "0", "--trust-remote-code", check=True)
    assert "toy.accuracy" in gate.stdout and "REGRESSION" not in gate.stdout
