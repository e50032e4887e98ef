"""Aspects: every task is tagged, and `csr-bench table --by-aspect` on run folders written here, with
VHELM's mean win rate (stanford-crfm/helm summarize.py, ties half a win) and our mean normalised score
worked by hand."""

import csv
import io
import json
import re

import pytest

from conftest import assert_one_line_error, run_cli, run_without_heavy_imports
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.aspects import MainMetric, aspect_table, main_metric, win_rates
from csr_bench.reporting.tables.format import render
from csr_bench.scorers.base import Metric, declared
from csr_bench.tasks.aspects import ASPECTS
from csr_bench.tasks.registry import load_registry

MAPPING = {"pope": ("perception", "hallucination"), "chair": ("perception", "hallucination"),
           "mme": ("perception", "knowledge"), "gqa": ("reasoning",),
           "mmhal": ("perception", "reasoning", "hallucination")}


def write_iteration(folder, results):
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"run": {"iteration": int(folder.name[5:])}, "results": results}))


def write_run(folder, *iterations, seed=0):
    """A run folder: one results dict per iteration (optionally with samples: {task: records})."""
    for k, results in enumerate(iterations):
        samples = results.pop("_samples", {})
        write_iteration(folder / f"iter_{k}", results)
        for task, records in samples.items():
            (folder / f"iter_{k}" / task).mkdir()
            (folder / f"iter_{k}" / task / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
    (folder / "run.json").write_text(json.dumps({"config": {"model": folder.name, "seed": seed}}))
    return folder


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def body(text):
    """The markdown table's body rows as cell lists, and the footnote lines after it."""
    lines = text.splitlines()
    rows = [cells(line) for line in lines[4:] if line.startswith("|")]
    notes = [line for line in lines if line and line[0] in "¹²³⁴⁵⁶⁷⁸⁹"]
    return cells(lines[2]), rows, notes


# --- the pure rules ---------------------------------------------------------------------------------

def test_win_rate_is_helms_with_ties_half_a_win():
    # higher is better, 80 / 70 / 80: each 80 beats the 70 and ties the other 80 -> (1 + 0.5) / 2 = 0.75;
    # the 70 beats none -> 0 / 2 = 0
    assert win_rates([80.0, 70.0, 80.0], lower_is_better=False) == [0.75, 0.0, 0.75]
    # lower is better (CHAIR_S), one column without the task: 10 beats 20 -> 1 / 1; 20 -> 0 / 1
    assert win_rates([10.0, 20.0, None], lower_is_better=True) == [1.0, 0.0, None]
    # all tied: every column half of each comparison -> (0 + 2 / 2) / 2 = 0.5
    assert win_rates([5.0, 5.0, 5.0], lower_is_better=False) == [0.5, 0.5, 0.5]
    # fewer than two values: not ranked (HELM skips the column)
    assert win_rates([5.0, None], lower_is_better=False) == [None, None]


def test_normalisation_by_declared_bounds():
    assert MainMetric("pope", "accuracy", False, (0.0, 100.0)).normalised(80.0) == pytest.approx(0.8)
    assert MainMetric("chair", "chair_s", True, (0.0, 100.0)).normalised(30.0) == pytest.approx(0.7)  # 1 - 30/100
    assert MainMetric("mme", "perception", False, (0.0, 2000.0)).normalised(1500.0) == pytest.approx(0.75)
    assert MainMetric("mmhal", "score", False, (0.0, 6.0)).normalised(3.3) == pytest.approx(0.55)
    assert MainMetric("x", "rating", False, (1.0, 5.0)).normalised(4.0) == pytest.approx(0.75)  # (4 - 1) / 4
    assert Metric("m", "higher", "").bounds == (0.0, 100.0)
    with pytest.raises(ValueError, match="bounds must be"):
        Metric("m", "higher", "", bounds=(6.0, 0.0))


def test_main_metric_is_the_first_directed_headline_with_its_bounds(tmp_path):
    write_iteration(tmp_path / "iter_0", {
        "pope": {"metrics": {"accuracy": 80.0}, "scorer": "pope"}, "chair": {"metrics": {"chair_s": 30.0}},
        "mme": {"metrics": {"perception": 1500.0}}, "mmhal": {"metrics": {"score": 3.0}},
        "repope": {"metrics": {"accuracy": 70.0}, "scorer": "pope"},
        "mmvet": {"metrics": {}, "skipped": "no judge configured (--judge-url)"},
        "amber_g": {"metrics": {"chair": 8.0, "cover": 50.0}, "scorer": "amber"},
        "amber_d": {"metrics": {"f1": 85.0}, "scorer": "amber"}, "gqa": {"metrics": {"f1": 1.0}}})
    iteration = load_run(tmp_path / "iter_0").iterations[0]
    assert main_metric(iteration, "pope") == MainMetric("pope", "accuracy", False, (0.0, 100.0))
    assert main_metric(iteration, "repope") == MainMetric("repope", "accuracy", False, (0.0, 100.0))  # scorer pope
    assert main_metric(iteration, "chair") == MainMetric("chair", "chair_s", True, (0.0, 100.0))
    assert main_metric(iteration, "mme") == MainMetric("mme", "perception", False, (0.0, 2000.0))
    assert main_metric(iteration, "mmhal") == MainMetric("mmhal", "score", False, (0.0, 6.0))
    # AMBER's halves alone: no amber_score; the generative half's first headline is CHAIR (lower is
    # better), the discriminative half's the F1
    assert main_metric(iteration, "amber_g") == MainMetric("amber_g", "chair", True, (0.0, 100.0))
    assert main_metric(iteration, "amber_d") == MainMetric("amber_d", "f1", False, (0.0, 100.0))
    assert main_metric(iteration, "gqa") == "no accuracy"  # its only headline metric is not reported
    assert main_metric(iteration, "pope", "f1") == "no f1"  # the metric another column chose, absent here
    assert main_metric(iteration, "mmvet") == "not scored: no judge configured (--judge-url)"
    assert main_metric(iteration, "seed") == "not run"


def test_every_tasks_main_metric_is_normalised_by_the_range_its_description_gives():
    """A main metric described as 'max N' or 'a-b' (a rating) declares those bounds;
    one without a range in its description is a percentage (0-100)."""
    from csr_bench.scorers import SCORERS

    wrong = []
    for name, task in load_registry().items():
        scorer = SCORERS[task.scorer]
        metrics = [declared(scorer.metrics, h) for h in scorer.headline]
        metric = next((m for m in metrics if m is not None and not m.count and m.direction != "none"), None)
        if metric is None:
            continue
        found = re.search(r"max (\d+)\)|\b(\d+)-(\d+)\b", metric.description)
        wanted = (0.0, 100.0) if found is None else (0.0, float(found[1])) if found[1] else (float(found[2]),
                                                                                             float(found[3]))
        if metric.bounds != wanted:
            wrong.append(f"{name}: {scorer.name} {metric.name} {metric.bounds} but described {metric.description!r}")
    assert wrong == []


# --- every task carries its aspects -------------------------------------------------------------------

def test_every_registered_task_has_an_aspect():
    """Reward-grading tasks (kind: reward_pairs, MJ-Bench) grade a reward function, not a model: exempt."""
    registry = load_registry()
    untagged = [name for name, task in registry.items()
                if not task.aspects and getattr(task, "kind", None) != "reward_pairs"]
    assert untagged == []
    assert all(set(task.aspects) <= set(ASPECTS) for task in registry.values())
    # VHELM's mapping where VHELM runs the benchmark (schema_vhelm.yaml @ da314a9b2, same at HEAD)
    assert "perception" in registry["pope"].aspects and "perception" in registry["vizwiz"].aspects
    assert "reasoning" in registry["gqa"].aspects and "reasoning" in registry["seed"].aspects
    assert "knowledge" in registry["mme"].aspects


# --- several columns: mean win rate ----------------------------------------------------------------------

# Three runs' last iterations. Aspects: A and B recorded them in results.json (as the evaluator does now);
# C is an older run without them, whose tasks take the mapping the CLI passes (the YAMLs' tags).
def three_runs(tmp_path):
    def tagged(results):
        return {task: {**entry, "aspects": list(MAPPING[task])} for task, entry in results.items()}

    a = write_run(tmp_path / "A", tagged({
        "pope": {"metrics": {"accuracy": 80.0}}, "chair": {"metrics": {"chair_s": 50.0}},
        "mme": {"metrics": {"perception": 1500.0}}, "gqa": {"metrics": {"accuracy": 60.0}}}))
    b = write_run(tmp_path / "B", tagged({
        "pope": {"metrics": {"accuracy": 85.0}}, "chair": {"metrics": {"chair_s": 40.0}},
        "mme": {"metrics": {"perception": 1400.0}}, "gqa": {"metrics": {}, "skipped": "judge down"}}))
    c = write_run(tmp_path / "C", {  # no chair (not run), no recorded aspects
        "pope": {"metrics": {"accuracy": 80.0}}, "mme": {"metrics": {"perception": 1300.0}},
        "gqa": {"metrics": {"accuracy": 62.0}}})
    return a, b, c


# Per task (win rates of A, B, C), ties half a win, missing columns left out:
#   pope accuracy 80 / 85 / 80:     A (0 + 0.5)/2 = 0.25, B 2/2 = 1, C 0.25 (tied with A)
#   chair chair_s↓ 50 / 40 / –:     A 0/1 = 0, B 1/1 = 1, C –
#   mme perception 1500/1400/1300:  A 1, B 0.5, C 0
#   gqa accuracy 60 / skipped / 62: A 0, B –, C 1
# Per aspect, the mean over the aspect's tasks the column has:
#   perception (pope, chair, mme): A (0.25 + 0 + 1)/3 = 0.417, B (1 + 1 + 0.5)/3 = 0.833, C (0.25 + 0)/2 = 0.125
#   knowledge (mme): A 1, B 0.5, C 0;  reasoning (gqa): A 0, B –, C 1
#   hallucination (pope, chair): A (0.25 + 0)/2 = 0.125, B 1, C 0.25
EXPECTED_WIN_RATES = [
    ["perception", "pope, chair, mme", "0.417", "0.833", "0.125¹"],
    ["knowledge", "mme", "1.000", "0.500", "0.000"],
    ["reasoning", "gqa", "0.000", "–²", "1.000"],
    ["hallucination", "pope, chair", "0.125", "1.000", "0.250³"],
]


def test_mean_win_rate_by_hand_with_a_tie_and_a_missing_task(tmp_path):
    runs = [load_run(path) for path in three_runs(tmp_path)]
    table = aspect_table(runs, MAPPING, list(ASPECTS))
    headers, rows, notes = body(render(table, "markdown"))
    assert table.title == "By aspect: mean win rate (VHELM)"
    assert headers == ["aspect", "tasks", "A", "B", "C"]
    assert rows == EXPECTED_WIN_RATES
    assert notes[0] == "¹ C has no main metric of chair: its perception is the mean over the aspect's other tasks (HELM's rule)"
    assert notes[1] == "² B has no main metric of the reasoning tasks (gqa)"
    assert notes[2].startswith("³ C has no main metric of chair: its hallucination")
    text = "\n".join(notes)
    assert "ties counting half a win" in text
    # 3 (pope) + 1 (chair: A-B) + 3 (mme) + 1 (gqa: A-C) comparisons, none with per-unit statistics here
    assert "8 pairwise comparisons (task × pair of columns) behind the win rates: 0 within the noise" in text
    assert "0 outside it, 8 without an interval (no per-unit statistics)" in text
    assert "main metric per task: pope accuracy (0–100); chair chair_s (0–100, lower is better: 1 − x); " \
           "mme perception (0–2000); gqa accuracy (0–100)" in text
    assert "gqa: not scored: judge down in B" in text


def test_the_cli_by_aspect_in_every_format(tmp_path):
    a, b, c = three_runs(tmp_path)
    # no torch, transformers or datasets for a table (reporting commands start fast)
    result = run_without_heavy_imports("from csr_bench.cli import main\n"
                                       f"assert main(['table', {str(a)!r}, {str(b)!r}, {str(c)!r}, '--by-aspect']) == 0\n",
                                       cwd=None)
    assert body(result.stdout)[1] == EXPECTED_WIN_RATES  # C's aspects from the built-in YAMLs
    rows = list(csv.reader(io.StringIO(run_cli("table", str(a), str(b), str(c), "--by-aspect", "--format", "csv",
                                               check=True).stdout)))
    assert rows[0] == ["# By aspect: mean win rate (VHELM)"]
    assert rows[1] == ["aspect", "tasks", "A", "B", "C"]
    assert rows[2] == ["perception", "pope, chair, mme", "0.4167", "0.8333", "0.125"]
    assert rows[4] == ["reasoning", "gqa", "0.0", "", "1.0"]
    latex = run_cli("table", str(a), str(b), "--by-aspect", "--format", "latex", check=True).stdout
    assert "mean win rate (VHELM)" in latex and r"\begin{tabular}" in latex
    html = run_cli("table", str(a), str(b), "--by-aspect", "--format", "html", check=True).stdout
    assert "<table" in html and "hallucination" in html
    result = run_cli("table", str(a), "--by-aspect", "--baselines", "llava15-7b")
    assert_one_line_error(result, "--by-aspect takes no --baselines")


def test_win_rates_count_the_comparisons_within_the_noise(tmp_path):
    """POPE with samples: A and B identical (75%), C perfect (100%). A-B: difference exactly 0, its interval
    [0, 0] includes 0 (within the noise); A-C and B-C: 50 of 100 'no' questions apart, far outside it."""
    def pope(wrong_no):
        return [{"doc_id": i, "doc_index": i, "category": "random", "answer": "yes" if i < 100 else "no",
                 "prediction": "Yes." if i < 100 or i - 100 < wrong_no else "No."} for i in range(200)]

    runs = [load_run(write_run(tmp_path / name, {"pope": {"metrics": {"accuracy": accuracy}, "aspects": ["perception"]},
                                                 "_samples": {"pope": pope(wrong)}}))
            for name, wrong, accuracy in (("A", 50, 75.0), ("B", 50, 75.0), ("C", 0, 100.0))]
    headers, rows, notes = body(render(aspect_table(runs), "markdown"))
    # A, B: (0 + 0.5)/2 = 0.25 each (tied, both beaten by C); C: 2/2 = 1
    assert rows == [["perception", "pope", "0.250", "0.250", "1.000"]]
    assert any("3 pairwise comparisons (task × pair of columns) behind the win rates: 1 within the noise "
               "(the 95% interval of the difference includes 0;" in note for note in notes)
    assert any("2 outside it, 0 without an interval" in note for note in notes)


def test_a_task_in_no_aspect_is_named_and_left_out(tmp_path):
    """seed has no aspects here (none recorded, none in the mapping): not ranked, not among the comparisons."""
    runs = [load_run(write_run(tmp_path / name, {"pope": {"metrics": {"accuracy": pope}, "aspects": ["perception"]},
                                                 "seed": {"metrics": {"accuracy": seed}}}))
            for name, pope, seed in (("A", 70.0, 50.0), ("B", 60.0, 55.0))]
    headers, rows, notes = body(render(aspect_table(runs, {}, list(ASPECTS)), "markdown"))
    assert rows == [["perception", "pope", "1.000", "0.000"]]  # pope 70 beats 60
    text = "\n".join(notes)
    assert "1 pairwise comparison (task × pair of columns) behind the win rates: 0 within" in text  # pope's A-B
    assert "in no aspect (no aspects: in the task's YAML): seed" in text
    assert "seed accuracy" not in text  # not among the main metrics either


# --- one column: mean normalised score ----------------------------------------------------------------------

def test_mean_normalised_score_of_one_run_by_hand(tmp_path):
    write_run(tmp_path / "solo", {
        "pope": {"metrics": {"accuracy": 80.0}}, "chair": {"metrics": {"chair_s": 30.0}},
        "mme": {"metrics": {"perception": 1500.0}}, "mmhal": {"metrics": {"score": 3.3}},
        "gqa": {"metrics": {"accuracy": 65.0}}, "mmvet": {"metrics": {}, "skipped": "no judge configured"}})
    # normalised: pope 0.80, chair 1 - 0.30 = 0.70 (lower is better), mme 1500/2000 = 0.75, mmhal 3.3/6 = 0.55,
    # gqa 0.65. perception (pope, chair, mme, mmhal): 2.80/4 = 0.700; knowledge (mme) 0.750;
    # reasoning (mmhal, gqa; in the results' order): 1.20/2 = 0.600; hallucination (pope, chair, mmhal): 2.05/3 = 0.683
    mapping = {**MAPPING, "mmvet": ("perception", "knowledge", "reasoning")}
    table = aspect_table([load_run(tmp_path / "solo")], mapping, list(ASPECTS))
    headers, rows, notes = body(render(table, "markdown"))
    assert table.title == "By aspect: mean normalised score (ours)" and headers == ["aspect", "tasks", "solo"]
    assert rows == [["perception", "pope, chair, mme, mmhal", "0.700"],
                    ["knowledge", "mme", "0.750"], ["reasoning", "mmhal, gqa", "0.600"],
                    ["hallucination", "pope, chair, mmhal", "0.683"]]
    text = "\n".join(notes)
    assert "not VHELM's" in text and "no interval where the aspect has a task without per-unit statistics" in text
    assert "mmvet: not scored: no judge configured in solo; not counted" in text
    assert "mme perception (0–2000)" in text and "mmhal score (0–6)" in text


def test_one_run_with_iterations_compares_its_iterations(tmp_path):
    write_run(tmp_path / "csr", {"pope": {"metrics": {"accuracy": 80.0}}, "chair": {"metrics": {"chair_s": 50.0}}},
              {"pope": {"metrics": {"accuracy": 82.0}}, "chair": {"metrics": {"chair_s": 45.0}}})
    headers, rows, _ = body(render(aspect_table([load_run(tmp_path / "csr")], MAPPING, list(ASPECTS)), "markdown"))
    # iter 1 beats iter 0 on both tasks: win rates 1 and 0 in perception and hallucination
    assert headers == ["aspect", "tasks", "iter 0", "iter 1"]
    assert rows == [["perception", "pope, chair", "0.000", "1.000"], ["hallucination", "pope, chair", "0.000", "1.000"]]
    # given with another run, the run is one column: its last iteration, named so
    write_run(tmp_path / "base", {"pope": {"metrics": {"accuracy": 81.0}}, "chair": {"metrics": {"chair_s": 50.0}}})
    table = aspect_table([load_run(tmp_path / "base"), load_run(tmp_path / "csr")], MAPPING, list(ASPECTS))
    headers, rows, _ = body(render(table, "markdown"))
    # pope 81 vs 82: csr wins; chair_s↓ 50 vs 45: csr wins -> base 0, csr iter 1 1
    assert headers == ["aspect", "tasks", "base", "csr iter 1"]
    assert rows == [["perception", "pope, chair", "0.000", "1.000"], ["hallucination", "pope, chair", "0.000", "1.000"]]


def test_the_normalised_mean_has_a_bootstrap_interval_from_the_samples(tmp_path):
    """200 POPE questions, 150 right: 0.75; the bootstrap's 95% interval of a share p = 0.75 over n = 200
    units is about p ± 1.96·sqrt(p(1 - p)/n) = 0.75 ± 0.060."""
    records = [{"doc_id": i, "doc_index": i, "category": "random", "answer": "yes" if i < 100 else "no",
                "prediction": "Yes." if i < 100 or i - 100 < 50 else "No."} for i in range(200)]
    write_run(tmp_path / "solo", {"pope": {"metrics": {"accuracy": 75.0}}, "_samples": {"pope": records}})
    table = aspect_table([load_run(tmp_path / "solo")], MAPPING, list(ASPECTS))
    cell = table.rows[0][2]
    assert cell.value == pytest.approx(0.75)
    low, high = cell.interval
    assert 0.68 < low < 0.72 and 0.78 < high < 0.82
    assert table.rows[1][2].interval == cell.interval  # hallucination: the same single task, the same draws
    assert "percentile interval of the mean" in render(table, "markdown")
    assert re.fullmatch(r"\| perception +\| +pope \| 0\.750 \[0\.(69|70|71), 0\.(79|80|81)\] \|",
                        render(table, "markdown").splitlines()[4])


def test_evaluation_records_the_tasks_aspects(tmp_path, tiny_model):
    from csr_bench.evaluation import EvalConfig, evaluate

    results = evaluate(EvalConfig(model="tiny-llava", tasks=["pope"], limit=3, output=str(tmp_path),
                                  max_new_tokens=2, batch_size=4), model=tiny_model)
    assert results["results"]["pope"]["aspects"] == ["perception", "hallucination"]
