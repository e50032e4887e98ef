"""RePOPE: the builder on hand-made POPE and RePOPE files (flips and removals counted by hand), the
repope task scoring a predictions file by POPE's rule on the corrected labels, and Table 1 showing
POPE and RePOPE side by side (and no RePOPE column for a run without it)."""

import io
import json

import pytest

from conftest import REPO, run_cli
from csr_bench.builders.repope import build_from_files, build_from_pope, relabel
from csr_bench.errors import CsrBenchError
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.format import render
from csr_bench.reporting.tables.paper import paper_table
from csr_bench.tasks.data import load_task_data
from csr_bench.tasks.registry import load_registry

A, B = "COCO_val2014_000000000001", "COCO_val2014_000000000002"

# The POPE copy (pope task schema, question_id unique over the splits) and RePOPE's verdict on each:
#   random      1 A dog   yes -> yes (kept)        2 A cat   no -> yes (no->yes)
#               3 B car   yes -> no  (yes->no)     4 B bus   no -> absent (dropped)
#   popular     5 A dog   yes -> yes               6 A person no -> absent (dropped)
#   adversarial 7 A dog   yes -> absent (dropped)  8 B truck no -> no
POPE = [("random", 1, A, "dog", "yes"), ("random", 2, A, "cat", "no"), ("random", 3, B, "car", "yes"),
        ("random", 4, B, "bus", "no"), ("popular", 5, A, "dog", "yes"), ("popular", 6, A, "person", "no"),
        ("adversarial", 7, A, "dog", "yes"), ("adversarial", 8, B, "truck", "no")]
# RePOPE's files number questions per split (1-based), as POPE's own files do.
REPOPE = {"random": [(1, A, "dog", "yes"), (2, A, "cat", "yes"), (3, B, "car", "no")],
          "popular": [(1, A, "dog", "yes")],
          "adversarial": [(2, B, "truck", "no")]}
ORIGINAL = {"random": [(1, A, "dog", "yes"), (2, A, "cat", "no"), (3, B, "car", "yes"), (4, B, "bus", "no")],
            "popular": [(1, A, "dog", "yes"), (2, A, "person", "no")],
            "adversarial": [(1, A, "dog", "yes"), (2, B, "truck", "no")]}
COUNTS = {"random": {"kept": 3, "yes_to_no": 1, "no_to_yes": 1, "dropped": 1},
          "popular": {"kept": 1, "yes_to_no": 0, "no_to_yes": 0, "dropped": 1},
          "adversarial": {"kept": 1, "yes_to_no": 0, "no_to_yes": 0, "dropped": 1}}


def question(obj):
    return f"Is there a {obj} in the image?"


def pope_row(split, qid, image, obj, answer):
    return {"id": str(qid - 1), "question_id": qid, "question": question(obj), "answer": answer,
            "image_source": image, "image": f"images/{image}.jpg", "category": split}


def write_label_files(folder, kind, items):
    folder.mkdir(parents=True, exist_ok=True)
    for split, rows in items.items():
        (folder / f"coco_{kind}_{split}.json").write_text("".join(
            json.dumps({"question_id": q, "image": f"{image}.jpg", "text": question(obj), "label": label}) + "\n"
            for q, image, obj, label in rows))
    return folder


def jpeg(colour):
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), colour).save(buffer, format="JPEG")
    return buffer.getvalue()


@pytest.fixture
def pope_copy(tmp_path):
    folder = tmp_path / "pope"
    (folder / "images").mkdir(parents=True)
    for image, colour in ((A, (200, 10, 10)), (B, (10, 200, 10))):
        (folder / "images" / f"{image}.jpg").write_bytes(jpeg(colour))
    (folder / "pope.jsonl").write_text("".join(json.dumps(pope_row(*row)) + "\n" for row in POPE))
    return folder


def read_rows(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_relabel_counts_flips_and_removals_by_hand(tmp_path, pope_copy):
    repope = write_label_files(tmp_path / "RePOPE" / "annotations", "repope", REPOPE)
    counts = build_from_pope(repope.parent, pope_copy, tmp_path / "out")  # the repository root works too
    assert counts == COUNTS
    rows = read_rows(tmp_path / "out" / "repope.jsonl")
    # kept in the copy's order, RePOPE's label as the answer, POPE's beside it
    assert [(r["question_id"], r["answer"], r["pope_answer"]) for r in rows] == [
        (1, "yes", "yes"), (2, "yes", "no"), (3, "no", "yes"), (5, "yes", "yes"), (8, "no", "no")]
    assert {r["image"] for r in rows} == {f"images/{A}.jpg", f"images/{B}.jpg"}
    assert (tmp_path / "out" / "images" / f"{B}.jpg").read_bytes() == (pope_copy / "images" / f"{B}.jpg").read_bytes()


def test_relabel_from_parquet_with_image_bytes(tmp_path):
    """lmms-lab/POPE's own layout: parquet, the image as {bytes, path}, question ids as strings."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    images = {A: jpeg((1, 2, 3)), B: jpeg((250, 250, 250))}
    # image_source as a bare COCO number: matched to RePOPE's file names by the number
    rows = [{**pope_row(*row), "question_id": str(row[1]), "image_source": str(int(row[2][-12:])),
             "image": {"bytes": images[row[2]], "path": None}} for row in POPE]
    (tmp_path / "hub" / "data").mkdir(parents=True)
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "hub" / "data" / "test-00000-of-00001.parquet")
    repope = write_label_files(tmp_path / "ann", "repope", REPOPE)
    assert build_from_pope(repope, tmp_path / "hub", tmp_path / "out") == COUNTS
    written = read_rows(tmp_path / "out" / "repope.jsonl")
    assert [r["question_id"] for r in written] == ["1", "2", "3", "5", "8"]
    assert (tmp_path / "out" / written[0]["image"]).read_bytes() == images[A]


def test_build_from_repope_files_and_coco_images(tmp_path):
    ann = write_label_files(tmp_path / "ann", "repope", REPOPE)
    write_label_files(ann, "pope", ORIGINAL)  # RePOPE ships POPE's files beside its own
    coco = tmp_path / "val2014"
    coco.mkdir()
    for image in (A, B):
        (coco / f"{image}.jpg").write_bytes(jpeg((5, 5, 5)))
    assert build_from_files(ann, coco, tmp_path / "out", link=True) == COUNTS
    rows = read_rows(tmp_path / "out" / "repope.jsonl")
    # lmms-lab/POPE's split order; ids numbered across splits, RePOPE's own id kept
    assert [(r["category"], r["question_id"], r["repope_question_id"], r["answer"], r["pope_answer"]) for r in rows] == [
        ("adversarial", 1, 2, "no", "no"), ("popular", 2, 1, "yes", "yes"), ("random", 3, 1, "yes", "yes"),
        ("random", 4, 2, "yes", "no"), ("random", 5, 3, "no", "yes")]
    assert (tmp_path / "out" / "images" / f"{A}.jpg").is_symlink()


def test_mismatches_are_one_line_errors(tmp_path, pope_copy):
    pope_rows = [pope_row(*row) for row in POPE]
    labels = {split: [{"question_id": q, "image": f"{i}.jpg", "text": question(o), "label": lab} for q, i, o, lab in rows]
              for split, rows in REPOPE.items()}
    stray = {**labels, "popular": labels["popular"] + [{"question_id": 9, "image": f"{B}.jpg",
                                                         "text": question("kite"), "label": "no"}]}
    with pytest.raises(CsrBenchError, match=r"^RePOPE popular question_id 9 \('Is there a kite in the image\?' on "
                                            r"COCO_val2014_000000000002.jpg\) is not in the POPE copy$"):
        relabel(pope_rows, stray)
    with pytest.raises(CsrBenchError, match="row 0 has category 'gqa'"):
        relabel([{**pope_rows[0], "category": "gqa"}], labels)
    with pytest.raises(CsrBenchError, match="rows 0 and 1 ask the same question"):
        relabel([pope_rows[0], {**pope_rows[0], "question_id": 99}], labels)
    bad = write_label_files(tmp_path / "bad", "repope", {**REPOPE, "random": [(1, A, "dog", "maybe")]})
    with pytest.raises(CsrBenchError, match=r"coco_repope_random.json:1: label must be 'yes' or 'no'"):
        build_from_pope(bad, pope_copy, tmp_path / "out")
    partial = tmp_path / "partial"
    write_label_files(partial, "repope", {"random": REPOPE["random"]})
    with pytest.raises(CsrBenchError, match="no coco_repope_adversarial.json, coco_repope_popular.json"):
        build_from_pope(partial, pope_copy, tmp_path / "out")


def test_script_prints_the_counts(tmp_path, pope_copy):
    import subprocess
    import sys

    ann = write_label_files(tmp_path / "ann", "repope", REPOPE)
    result = subprocess.run([sys.executable, str(REPO / "scripts" / "build_repope.py"), "--repope", str(ann),
                             "--pope", str(pope_copy), "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines() == ["adversarial: 1 kept, 0 yes->no, 0 no->yes, 1 dropped",
                                          "popular: 1 kept, 0 yes->no, 0 no->yes, 1 dropped",
                                          "random: 3 kept, 1 yes->no, 1 no->yes, 1 dropped",
                                          f"wrote 5 questions to {tmp_path / 'out' / 'repope.jsonl'}"]
    failed = subprocess.run([sys.executable, str(REPO / "scripts" / "build_repope.py"), "--repope", str(tmp_path),
                             "--pope", str(pope_copy), "--out", str(tmp_path / "x")], capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.count("\n") == 1 and "no coco_repope_" in failed.stderr


# Predictions on the five RePOPE questions, read by POPE's rule (text before the first ".", "," dropped,
# a word No/no/not -> no, else yes), against RePOPE's labels:
#   q1 dog   label yes  "Yes."                   -> yes  TP
#   q2 cat   label yes  "No, there is no cat."   -> no   FN   (POPE's label no: TN)
#   q3 car   label no   "Yes"                    -> yes  FP   (POPE's label yes: TP)
#   q5 dog   label yes  "yes"                    -> yes  TP
#   q8 truck label no   "There is not a truck."  -> no   TN
# TP 2, FP 1, FN 1, TN 1: accuracy 3/5 = 60, precision 2/3, recall 2/3, F1 66.67, yes_ratio 3/5 = 60;
# per split: random TP 1 FP 1 FN 1 -> F1 50, popular F1 100, adversarial no yes at all -> F1 0 (0/0 is 0).
# On POPE's labels the same answers are all right: accuracy 100.
PREDICTIONS = {1: "Yes.", 2: "No, there is no cat.", 3: "Yes", 5: "yes", 8: "There is not a truck."}


def test_repope_task_scores_by_popes_rule_on_the_corrected_labels(tmp_path, pope_copy):
    ann = write_label_files(tmp_path / "ann", "repope", REPOPE)
    build_from_pope(ann, pope_copy, tmp_path / "data" / "repope")
    task = load_registry()["repope"]
    assert (task.scorer, task.prompt) == (load_registry()["pope"].scorer, load_registry()["pope"].prompt)
    data = load_task_data(task, tmp_path / "data")
    assert [row["question_id"] for row in data.rows] == [1, 2, 3, 5, 8]
    assert data.image(0).size == (8, 6)
    samples = tmp_path / "samples.jsonl"
    samples.write_text("".join(json.dumps({**row, "prediction": PREDICTIONS[row["question_id"]]}) + "\n"
                               for row in data.rows))
    result = run_cli("score", "repope", str(samples), "--json", check=True)
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["accuracy"] == pytest.approx(60.0)
    assert metrics["precision"] == pytest.approx(200 / 3) and metrics["recall"] == pytest.approx(200 / 3)
    assert metrics["f1"] == pytest.approx(200 / 3) and metrics["yes_ratio"] == pytest.approx(60.0)
    assert (metrics["random_f1"], metrics["popular_f1"], metrics["adversarial_f1"]) == (
        pytest.approx(50.0), pytest.approx(100.0), 0.0)
    assert metrics["f1_split_mean"] == pytest.approx(50.0)
    pope_labels = tmp_path / "pope_labels.jsonl"
    pope_labels.write_text("".join(json.dumps({**row, "answer": row["pope_answer"],
                                               "prediction": PREDICTIONS[row["question_id"]]}) + "\n"
                                   for row in read_rows(tmp_path / "data" / "repope" / "repope.jsonl")))
    assert json.loads(run_cli("score", "repope", str(pope_labels), "--json", check=True).stdout)["metrics"]["accuracy"] == 100.0
    (tmp_path / "empty").mkdir()
    with pytest.raises(CsrBenchError, match=r"^repope: no data at .*empty/repope"):  # no hub copy to fall back on
        load_task_data(task, tmp_path / "empty")


def write_run(folder, results_by_iteration, tasks):
    for k, results in enumerate(results_by_iteration):
        path = folder / f"iter_{k}" / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"run": {"iteration": k}, "results": results}))
    (folder / "run.json").write_text(json.dumps({"config": {"model": "m", "tasks": tasks, "output": "results",
                                                            "run_name": None, "iterations": 1, "method": "csr"}}))
    return folder


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_table1_shows_pope_and_repope_side_by_side(tmp_path):
    base = {"pope": {"metrics": {"accuracy": 80.0}, "scorer": "pope"},
            "repope": {"metrics": {"accuracy": 84.0}, "scorer": "pope"}}
    iter1 = {"pope": {"metrics": {"accuracy": 82.5}, "scorer": "pope"},
             "repope": {"metrics": {"accuracy": 83.0}, "scorer": "pope"}}
    run = load_run(write_run(tmp_path / "m", [base, iter1], ["pope", "repope"]))
    lines = render(paper_table([run]), "markdown").splitlines()
    header = cells(lines[2])
    assert header[header.index("POPE") + 1] == "RePOPE"
    at = header.index("POPE")
    # best per column in bold; RePOPE is outside the paper's average: (80) over 1 column, (82.5) over 1
    assert cells(lines[4])[at:at + 2] == ["80.00", "**84.00**"] and cells(lines[4])[-1] == "80.00 (1)"
    assert cells(lines[5])[at:at + 2] == ["**82.50**", "83.00"] and cells(lines[5])[-1] == "**82.50 (1)**"
    # a run without RePOPE results has no RePOPE column at all
    plain = load_run(write_run(tmp_path / "p", [{"pope": {"metrics": {"accuracy": 80.0}}}], ["pope"]))
    assert "RePOPE" not in render(paper_table([plain]), "markdown")


def test_repope_intervals_use_popes_bootstrap(tmp_path):
    """Real samples.jsonl with the recorded scorer pope: the RePOPE cell gets an interval, as POPE's."""
    from csr_bench.reporting.tables.significance import significance

    rows = [{**pope_row(*row), "answer": label} for row, label in zip(POPE[:5], ["yes", "no", "yes", "no", "yes"])]
    results = []
    for k in range(2):
        records = [{**r, "doc_id": str(r["question_id"]), "doc_index": i,
                    "prediction": "Yes" if (k == 1 or r["answer"] == "yes") else "No"} for i, r in enumerate(rows)]
        # iteration 0 answers every question right (accuracy 100); iteration 1 says yes to all (60)
        results.append(records)
    folder = tmp_path / "run"
    for k, records in enumerate(results):
        (folder / f"iter_{k}" / "repope").mkdir(parents=True)
        (folder / f"iter_{k}" / "repope" / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        accuracy = 100.0 if k == 0 else 60.0
        (folder / f"iter_{k}" / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": {
            "repope": {"metrics": {"accuracy": accuracy}, "scorer": "pope", "n_samples": 5}}}))
    (folder / "run.json").write_text(json.dumps({"config": {"model": "m", "tasks": ["repope"], "iterations": 1}}))
    run = load_run(folder)
    interval = significance([run]).interval(run.iterations[1], "repope", "accuracy")
    assert interval is not None and interval.low <= 60.0 <= interval.high
    text = render(paper_table([run]), "markdown")
    assert "RePOPE question per split" in text


def test_iteration_table_adds_repope_after_pope_f1_only_when_present(tmp_path):
    from csr_bench.reporting.tables.iterations import iteration_delta_table, iteration_table

    base = {"pope": {"metrics": {"accuracy": 80.0, "f1_split_mean": 78.0}},
            "repope": {"metrics": {"accuracy": 84.0, "f1_split_mean": 83.0}, "scorer": "pope"}}
    iter1 = {"pope": {"metrics": {"accuracy": 82.5, "f1_split_mean": 80.0}},
             "repope": {"metrics": {"accuracy": 83.0, "f1_split_mean": 85.5}, "scorer": "pope"}}
    run = load_run(write_run(tmp_path / "m", [base, iter1], ["pope", "repope"]))
    lines = render(iteration_table([run]), "markdown").splitlines()
    header = cells(lines[2])
    assert header[1:5] == ["POPE acc", "POPE F1", "RePOPE acc", "RePOPE F1"]
    assert cells(lines[5])[1:5] == ["82.50", "80.00", "83.00", "85.50"]
    delta = render(iteration_delta_table([run]), "markdown").splitlines()
    # Δ from iteration 0: 83 - 84 = -1.00, 85.5 - 83 = +2.50 (no samples: plain numbers)
    assert cells(delta[2])[3:5] == ["Δ RePOPE acc", "Δ RePOPE F1"] and cells(delta[4])[3:5] == ["-1.00", "+2.50"]
    plain = load_run(write_run(tmp_path / "p", [{"pope": {"metrics": {"accuracy": 80.0}}}], ["pope"]))
    assert "RePOPE" not in render(iteration_table([plain]), "markdown")
