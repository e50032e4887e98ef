"""Each scorer declares every metric its aggregate reports (``Scorer.metrics``), and the tables, plots,
run summary, `csr-bench check` and the lmms-eval export take directions and the gated metrics from
those declarations."""

from __future__ import annotations

import json

import pytest

from csr_bench.evaluation.results import write_results
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.interop.lmms_eval import export_lmms_eval_results
from csr_bench.reporting.tables.columns import PAPER_COLUMNS
from csr_bench.reporting.tables.iterations import DELTA_COLUMNS, METRIC_COLUMNS
from csr_bench.reporting.report.plots import _panel_title
from csr_bench.reporting.check.regression import DEFAULT_METRICS, Side, compare, format_results, wanted_tasks
from csr_bench.scorers import SCORERS, Metric, ScoringContext, ScoringSkipped, declared_metric
from csr_bench.scorers.base import declared
from csr_bench.scorers import chair as chair_scorer, pope as pope_scorer
from csr_bench.scorers.mme import COGNITION, PERCEPTION

from test_unit_stats import WORLD_TASKS, ScriptedJudge, _llava_records, _mmvet_records, _records, world  # noqa: F401


def _mme_in_every_category(records: list[dict]) -> list[dict]:
    """The world's MME records plus one image (its two questions) relabelled into each category, so every
    declared per-category metric can appear (the world has no cognition categories)."""
    first = records[0]
    image = [r for r in records if (r["question_id"], r["category"]) == (first["question_id"], first["category"])]
    extra = [{**r, "doc_id": f"{category}-{i}", "category": category}
             for category in PERCEPTION + COGNITION for i, r in enumerate(image)]
    return records + extra


def _aggregates(world) -> dict[str, list[dict[str, float]]]:
    """scorer -> the aggregates of real small records (the world's tasks; scripted judges)."""
    found: dict[str, list[dict[str, float]]] = {}
    for name in WORLD_TASKS:
        records, context, scorer = _records(world, name)
        if scorer == "mme":
            records = _mme_in_every_category(records)
        found.setdefault(scorer, []).append(SCORERS[scorer].aggregate(records, context))
    for name, records, answers in [("mmvet", _mmvet_records(), ["0.0", "0.5", "1.0", "n/a"]),
                                   ("llava_bench", _llava_records(), ["8 6\nGood.", "7 7\nSame.", "no scores"])]:
        found[name] = [SCORERS[name].aggregate(records, ScoringContext(judge=ScriptedJudge(answers)))]
    from test_amber import amber_aggregates  # both halves, every AMBER key (offline NLP for both scorers)

    found.update(amber_aggregates(world / "amber-annotations"))
    from test_hallusionbench import hallusionbench_aggregates
    from test_mmhal import mmhal_aggregates
    from test_objhal import objhal_aggregates

    found.update(hallusionbench_aggregates())
    found.update(mmhal_aggregates())
    found.update(objhal_aggregates())
    from test_bingo import bingo_aggregates
    from test_cares import cares_aggregates
    from test_mjbench import mjbench_aggregates
    from test_mmie import mmie_aggregates
    from test_unicorn import unicorn_aggregates

    for more in (bingo_aggregates, cares_aggregates, mjbench_aggregates, mmie_aggregates, unicorn_aggregates):
        found.update(more())
    return found


def test_every_aggregate_key_is_declared_and_every_declaration_reported(world):
    aggregates = _aggregates(world)
    assert set(aggregates) == set(SCORERS) - {"vizwiz_submission"}
    for scorer, results in aggregates.items():
        declarations = SCORERS[scorer].metrics
        keys = {key for metrics in results for key in metrics}
        assert keys, scorer
        undeclared = sorted(key for key in keys if declared(declarations, key) is None)
        assert not undeclared, f"{scorer} reports undeclared metrics {undeclared}"
        unused = [m.name for m in declarations if not any(m.matches(key) for key in keys)]
        assert not unused, f"{scorer} declares metrics its aggregate never reported here: {unused}"
        assert set(SCORERS[scorer].headline) <= keys, scorer


def test_the_submission_scorer_declares_nothing(tmp_path):
    scorer = SCORERS["vizwiz_submission"]
    assert scorer.metrics == ()
    with pytest.raises(ScoringSkipped):
        scorer.aggregate([{"question_id": "q1", "prediction": "red"}], ScoringContext(output_dir=tmp_path))


def test_declarations_are_well_formed():
    for name, scorer in SCORERS.items():
        names = [m.name for m in scorer.metrics]
        assert len(names) == len(set(names)), name
        assert all(isinstance(m, Metric) and m.description for m in scorer.metrics), name
    with pytest.raises(ValueError, match="direction must be one of"):
        Metric("score", "up", "a typo'd direction")


def test_exact_names_win_over_patterns():
    pope = SCORERS["pope"].metrics
    assert declared(pope, "accuracy").name == "accuracy" and declared(pope, "accuracy").gate is False
    assert declared(pope, "random_accuracy").name == "*_accuracy" and declared(pope, "random_accuracy").gate
    assert declared(pope, "adversarial_yes_ratio").direction == "none"
    assert declared(pope, "f1_split_mean").direction == "higher"
    assert declared_metric("pope", "no_such_metric") is None and declared_metric("no_such_scorer", "accuracy") is None


def test_directions_of_the_hallucination_metrics():
    """The facts the consumers used to restate: CHAIR_S/CHAIR_I lower, POPE's yes ratio and CHAIR's length
    without a better side, everything else higher."""
    expected = {("chair", "chair_s"): "lower", ("chair", "chair_i"): "lower", ("chair", "recall"): "higher",
                ("chair", "len"): "none", ("pope", "yes_ratio"): "none", ("pope", "popular_yes_ratio"): "none",
                ("pope", "f1"): "higher", ("mme", "perception"): "higher", ("mmbench", "unresolved"): "lower",
                ("vqa_accuracy", "accuracy"): "higher"}
    for (scorer, metric), direction in expected.items():
        assert declared_metric(scorer, metric).direction == direction, (scorer, metric)
    assert declared_metric("mmbench", "unresolved").count and declared_metric("mmvet", "judge_unparsed").count


def test_tables_and_plots_read_the_declarations():
    assert [c.header for c in PAPER_COLUMNS if c.lower_is_better] == ["CHAIR_S", "CHAIR_I"]
    for _, task, metric, _ in METRIC_COLUMNS:
        assert declared_metric(task, metric) is not None, (task, metric)
    assert [c[0] for c in METRIC_COLUMNS] == ["POPE acc", "POPE F1", "CHAIR_S↓", "CHAIR_I↓", "CHAIR recall",
                                              "avg length"]
    assert [c[2] for c in DELTA_COLUMNS] == ["accuracy", "f1_split_mean", "chair_s", "chair_i", "recall"]
    assert _panel_title("CHAIR", [("CHAIR_S", "chair", "chair_s"), ("CHAIR_I", "chair", "chair_i")]) \
        == "CHAIR (lower is better)"
    assert _panel_title("POPE", [("accuracy", "pope", "accuracy")]) == "POPE"
    assert _panel_title("mixed", [("S", "chair", "chair_s"), ("recall", "chair", "recall")]) == "mixed"


def test_gate_defaults_are_the_declared_gate_metrics():
    # the hallucination metrics of POPE, CHAIR, AMBER and Object HalBench, on the task named after the scorer
    # (amber_offline names no built-in task: harmless, and it gates a task folder that names itself so)
    assert DEFAULT_METRICS == ("pope.*_f1", "pope.*_accuracy", "chair.chair_s", "chair.chair_i",
                               "amber.chair", "amber.hal", "amber.f1",
                               "amber_offline.chair", "amber_offline.hal", "amber_offline.f1",
                               "objhal.response_hall", "objhal.object_hall",
                               "objhal_judge.response_hall", "objhal_judge.object_hall")
    gated_tasks = ["pope", "chair", "amber", "amber_offline", "objhal", "objhal_judge"]
    assert wanted_tasks(None) == gated_tasks and wanted_tasks(["mme.perception"]) == [*gated_tasks, "mme"]


def _pope_side(label: str, predictions: list[str]) -> Side:
    records = [{"doc_id": i, "doc_index": i, "answer": "yes" if i % 2 else "no", "category": "random",
                "prediction": p} for i, p in enumerate(predictions)]
    return Side(label, {"pope": task_stats("pope", records, label)})


def test_gate_never_calls_a_metric_without_direction_a_regression():
    """yes_ratio 50 → 75 (two of four answers yes, then three): reported as a change, not judged; accuracy
    100 → 75 is a regression (labels: no, yes, no, yes)."""
    baseline = _pope_side("base", ["No", "Yes", "No", "Yes"])
    current = _pope_side("cur", ["Yes", "Yes", "No", "Yes"])
    ratio, accuracy = compare(baseline, current, ["pope.yes_ratio", "pope.accuracy"], bootstrap=0)
    assert (ratio.baseline, ratio.current, ratio.direction) == (50.0, 75.0, "none")
    assert not ratio.failed and ratio.verdict == "changed, no better direction"
    assert accuracy.failed and accuracy.verdict == "REGRESSION" and accuracy.current == 75.0
    table = format_results([ratio, accuracy], 0.95)
    assert "pope.yes_ratio ↕" in table and "pope.accuracy " in table and "pope.accuracy ↓" not in table
    [changed] = compare(baseline, current, ["pope.yes_ratio"], bootstrap=0, fail_on_change=True)
    assert changed.failed and changed.verdict == "CHANGED"


def test_export_gives_every_task_its_declared_direction(tmp_path):
    """Before the declarations the export knew POPE's directions only and wrote None for every other task;
    now each metric's direction is its scorer's (None only where neither side is better)."""
    iteration = tmp_path / "run" / "iter_0"
    iteration.mkdir(parents=True)
    chair = {"chair_s": 40.0, "chair_i": 12.5, "recall": 60.0, "len": 9.5}
    mme = {"perception": 300.0, "existence": 150.0, "existence_acc": 75.0, "existence_acc_plus": 75.0}
    mmbench = {"accuracy": 50.0, "unresolved": 2.0, "category_ocr": 40.0}
    write_results(iteration / "results.json", run={"name": "run", "iteration": 0, "dir": str(iteration)},
                  model={"name": "m", "source": "m"}, config={"seed": 0},
                  task_results={task: {**entry, "seconds": 1.0} for task, entry in {
                      "chair": {"metrics": chair, "scorer": "chair"},
                      "my_mme": {"metrics": mme, "scorer": "mme"},
                      "mmbench": {"metrics": mmbench},  # no "scorer": the built-in task's
                      "vizwiz": {"metrics": {"accuracy": 55.0}},
                      "odd": {"metrics": {"accuracy": 1.0}, "scorer": "not_a_scorer"}}.items()},
                  seconds=1.0)
    higher = export_lmms_eval_results(iteration)["higher_is_better"]
    assert higher["chair"] == {"chair_s": False, "chair_i": False, "recall": True, "len": None}
    assert higher["my_mme"] == {name: True for name in mme}
    assert higher["mmbench"] == {"accuracy": True, "unresolved": False, "category_ocr": True}
    assert higher["vizwiz"] == {"accuracy": True}  # scored by vqa_accuracy
    assert higher["odd"] == {"accuracy": None}  # an unknown scorer declares nothing
    assert json.loads(json.dumps(higher)) == higher


@pytest.mark.parametrize("name", ["pope", "chair"])
def test_pope_and_chair_statistics_are_the_scorers_own(world, name):
    """One implementation: the unit statistics run the scorer's own column functions, so on the same
    samples every metric equals the aggregate exactly (not only to rounding), and the columns are the
    scorer's ``sample_columns``."""
    records, context, scorer = _records(world, name)
    official = SCORERS[scorer].aggregate(records, context)
    stats = task_stats(name, records, name)
    assert sorted(stats.metrics()) == sorted(official)
    for metric, value in official.items():
        assert float(stats.value(metric)) == value, metric
    module = {"pope": pope_scorer, "chair": chair_scorer}[name]
    columns = module.sample_columns(records)[0] if name == "pope" else module.sample_columns(
        [r["prediction"] for r in records], [r["ground_truth_objects"] for r in records])
    assert set(columns) == set(stats.columns)
    for column, values in columns.items():
        assert (values == stats.columns[column]).all(), column
