"""`csr-bench check`: metrics recomputed from samples by the official rules, bootstrap intervals,
the point and CI gates, tolerances, --fail-on-change, baseline files and one-line errors."""

import json
import random
import shutil

import numpy as np
import pytest

from conftest import assert_one_line_error, HEAVY_MODULES, run_cli, run_without_heavy_imports
from csr_bench.reporting.check.regression import Side, compare, load_side
from csr_bench.reporting.run_data import load_run
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.scorers.pope import PopeScorer

ODD_ANSWERS = ["Yes", "No", "Yes.", "No, there is not.", "", "not sure", "NO", "Nope", "There is no cup.",
               "Yes, there is a cup. No other", "no"]


def test_pope_stats_follow_the_official_rule_on_odd_answers():
    rng = random.Random(0)
    records = [{"doc_id": i, "answer": rng.choice(["yes", "no"]), "category": rng.choice(["random", "popular"]),
                "prediction": rng.choice(ODD_ANSWERS)} for i in range(300)]
    official = PopeScorer().aggregate(records)
    stats = task_stats("pope", records, "test")
    for name in stats.metrics():
        assert float(stats.value(name)) == pytest.approx(official[name], abs=1e-9), name


def test_stats_agree_with_the_runs_own_scores(tiny_run):
    last = load_run(tiny_run).last
    for task in ("pope", "chair"):
        stats = task_stats(task, last.samples(task), task)
        for name in stats.metrics():
            assert float(stats.value(name)) == pytest.approx(last.metric(task, name), abs=1e-9), (task, name)


def test_chair_stats_by_hand():
    records = [{"doc_id": 1, "prediction": "A red cup and a dog.", "ground_truth_objects": ["cup"]},
               {"doc_id": 2, "prediction": "Two dogs and a clock.", "ground_truth_objects": ["dog", "clock", "car"]},
               {"doc_id": 3, "prediction": "Nothing to see.", "ground_truth_objects": ["car"]}]
    stats = task_stats("chair", records, "test")
    # captions with a hallucination: 1 of 3; hallucinated mentions: dog (1 of 4); recalled: cup, dog, clock of 5
    assert float(stats.value("chair_s")) == pytest.approx(100 / 3)
    assert float(stats.value("chair_i")) == pytest.approx(25.0)
    assert float(stats.value("recall")) == pytest.approx(60.0)


def _copy(run, tmp_path, name="run"):
    target = tmp_path / name
    shutil.copytree(run, target, ignore=shutil.ignore_patterns("model", "trainer", "plots", "report.html"))
    return target


def _rewrite(path, change):
    records = [json.loads(line) for line in path.read_text().splitlines()]
    path.write_text("".join(json.dumps(change(r)) + "\n" for r in records))


def _hallucinate(run_dir):
    """The last iteration's answers, altered to hallucinate more: yes to every absent object, and an
    absent clock (or car) added to every description."""
    last = load_run(run_dir).last.folder
    _rewrite(last / "pope" / "samples.jsonl", lambda r: {**r, "prediction": "Yes"})

    def add_object(record):
        absent = "clock" if "clock" not in record["ground_truth_objects"] else "car"
        return {**record, "prediction": record["prediction"] + f" There is also a large {absent}."}

    _rewrite(last / "chair" / "samples.jsonl", add_object)


def test_unchanged_run_passes_and_a_hallucinating_one_fails(tiny_run, tmp_path):
    baseline = tmp_path / "baseline.json"
    written = run_cli("check", str(tiny_run), "--baseline", str(baseline), "--update-baseline", check=True)
    assert "baseline written" in written.stdout and json.loads(baseline.read_text())["format"].startswith("csr-bench")
    same = run_cli("check", str(tiny_run), "--baseline", str(baseline), "--fail-on-change")
    assert same.returncode == 0, same.stdout + same.stderr
    table = same.stdout.splitlines()
    rows = {line.split()[0]: line for line in table if line.startswith(("pope.", "chair."))}
    assert set(rows) == {f"pope.{s}_{m}" for s in ("adversarial", "popular", "random") for m in ("f1", "accuracy")} \
        | {"chair.chair_s", "chair.chair_i"}
    assert all(line.split()[-1] == "same" and "[+0.00, +0.00]" in line for line in rows.values())
    assert "passed (8 metrics, gate: point)" in same.stdout

    worse = _copy(tiny_run, tmp_path)
    _hallucinate(worse)
    result = run_cli("check", str(worse), "--baseline", str(baseline))
    assert result.returncode == 1 and "Traceback" not in result.stderr
    rows = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith(("pope.", "chair."))}
    assert rows["chair.chair_i"].rstrip().endswith("REGRESSION")
    assert rows["pope.adversarial_accuracy"].rstrip().endswith("REGRESSION")
    assert "csr-bench check: FAILED:" in result.stdout and "chair.chair_i" in result.stdout.splitlines()[-1]
    assert "note: pope.accuracy: results.json says" in result.stdout  # the samples were edited after scoring
    # the same run, as a folder, is a baseline too; a generous tolerance lets it pass
    loose = run_cli("check", str(worse), "--baseline", str(tiny_run), "--max-drop", "all=100")
    assert loose.returncode == 0, loose.stdout


def test_point_gate_fails_on_noise_that_the_ci_gate_lets_pass(tiny_run, tmp_path):
    run = load_run(tiny_run)
    baseline = load_side(tiny_run)
    last = run.last
    pope = [dict(r) for r in last.samples("pope")]
    flip = next(r for r in pope if r["category"] == "random" and r["correct"])
    flip["prediction"] = "No" if flip["answer"] == "yes" else "Yes"  # one more mistake, in one split
    current = Side("altered", {"pope": task_stats("pope", pope, "altered"), "chair": baseline.stats["chair"]})
    names = ["pope.random_accuracy", "pope.popular_accuracy"]
    point = {r.name: r for r in compare(baseline, current, names)}
    assert point["pope.random_accuracy"].failed and point["pope.random_accuracy"].verdict == "REGRESSION"
    assert point["pope.random_accuracy"].difference == pytest.approx(-100 / 36)  # one of 36 answers
    assert not point["pope.popular_accuracy"].failed and point["pope.popular_accuracy"].verdict == "same"
    ci = {r.name: r for r in compare(baseline, current, names, gate="ci")}
    low, high = ci["pope.random_accuracy"].ci
    assert low <= -100 / 36 and high == 0.0  # paired: only draws of the flipped answer differ
    assert not ci["pope.random_accuracy"].failed and ci["pope.random_accuracy"].verdict == "worse, not significant"
    tolerant = {r.name: r for r in compare(baseline, current, names, max_drop={"pope.random_*": 3.0})}
    assert tolerant["pope.random_accuracy"].verdict == "worse, within tolerance"


def test_unpaired_interval_when_the_documents_differ(tiny_run):
    baseline = load_side(tiny_run)
    pope = baseline.stats["pope"]
    keep = np.arange(len(pope.doc_ids)) % 2 == 0
    half = type(pope)("pope", [d for d, k in zip(pope.doc_ids, keep) if k],
                      {name: values[keep] for name, values in pope.columns.items()}, pope.split_names)
    [result] = compare(baseline, Side("half", {"pope": half}), ["pope.random_f1"], bootstrap=500)
    assert not result.paired and result.ci[0] < result.difference < result.ci[1]


def _drop_task(run_dir, task):
    """The last iteration as if ``task`` had not been evaluated."""
    last = load_run(run_dir).last.folder
    results = json.loads((last / "results.json").read_text())
    del results["results"][task]
    (last / "results.json").write_text(json.dumps(results))
    shutil.rmtree(last / task)


def test_a_task_missing_from_the_run_fails_the_gate(tiny_run, tmp_path):
    baseline = tmp_path / "baseline.json"
    run_cli("check", str(tiny_run), "--baseline", str(baseline), "--update-baseline", check=True)
    current = _copy(tiny_run, tmp_path)
    _drop_task(current, "chair")
    for flags in ([], ["--fail-on-change"]):
        result = run_cli("check", str(current), "--baseline", str(baseline), *flags)
        assert result.returncode == 1, result.stdout + result.stderr
        assert "Traceback" not in result.stderr
        assert "missing: in the baseline but not in the current run: chair.chair_i, chair.chair_s" in result.stdout
        assert "regressed or missing" in result.stdout or "changed or missing" in result.stdout
    allowed = run_cli("check", str(current), "--baseline", str(baseline), "--fail-on-change", "--allow-missing")
    assert allowed.returncode == 0, allowed.stdout + allowed.stderr
    assert "chair.chair_s" in allowed.stdout and "(--allow-missing)" in allowed.stdout
    # a run holding none of the baseline's gated metrics fails too (was: "nothing to compare", exit 2)
    _drop_task(current, "pope")
    nothing = run_cli("check", str(current), "--baseline", str(baseline))
    assert nothing.returncode == 1 and "has none of the baseline's gated metrics" in nothing.stdout


def test_a_partial_baseline_is_compared_on_what_it_has(tiny_run, tmp_path):
    """A baseline without POPE's random split (the current run has it) used to crash with a KeyError."""
    partial = _copy(tiny_run, tmp_path, "partial")
    samples = load_run(partial).last.folder / "pope" / "samples.jsonl"
    kept = [line for line in samples.read_text().splitlines() if json.loads(line)["category"] != "random"]
    assert kept and len(kept) < len(samples.read_text().splitlines())
    samples.write_text("".join(line + "\n" for line in kept))
    result = run_cli("check", str(tiny_run), "--baseline", str(partial))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Traceback" not in result.stderr
    assert "note: not in the baseline, so not checked: pope.random_accuracy, pope.random_f1" in result.stdout
    assert "pope.popular_f1" in result.stdout and "pope.random_f1 " not in result.stdout.split("note:")[0]


def test_bad_inputs_are_one_line_errors(tiny_run, tmp_path):
    junk = tmp_path / "junk.json"
    junk.write_text("{]")
    assert_one_line_error(run_cli("check", str(tiny_run), "--baseline", str(junk)), "junk.json: not a readable baseline")
    junk.write_text(json.dumps({"metrics": {}}))
    assert_one_line_error(run_cli("check", str(tiny_run), "--baseline", str(junk)), "not a csr-bench check baseline")
    assert_one_line_error(run_cli("check", str(tmp_path / "nope"), "--baseline", str(junk)), "no such run folder")
    assert_one_line_error(run_cli("check", str(tiny_run), "--baseline", str(tiny_run), "--metrics", "pope.nothing"),
                          "--metrics pope.nothing: no such metric")
    assert_one_line_error(run_cli("check", str(tiny_run), "--baseline", str(tiny_run), "--iteration", "7"),
                          "no iteration 7")
    bad = run_cli("check", str(tiny_run), "--baseline", str(tiny_run), "--max-drop", "pope.f1")
    assert bad.returncode == 2 and "expected METRIC=VALUE" in bad.stderr and "Traceback" not in bad.stderr
    broken = _copy(tiny_run, tmp_path, "broken")
    samples = load_run(broken).last.folder / "pope" / "samples.jsonl"
    samples.write_text("{oops\n" + samples.read_text())
    assert_one_line_error(run_cli("check", str(broken), "--baseline", str(tiny_run)), "samples.jsonl:1: malformed JSON")


def test_check_does_not_import_torch(tiny_run):
    run_without_heavy_imports(
        "from csr_bench.cli import main\n"
        f"assert main(['check', {str(tiny_run)!r}, '--baseline', {str(tiny_run)!r}, '--iteration', '0']) in (0, 1)\n"
        f"assert main(['table', {str(tiny_run)!r}]) == 0\n", heavy=(*HEAVY_MODULES, "matplotlib"))
