"""README.md's measured world tables are what scripts/readme_results.py prints for the committed
summary (results/readme/world-summary.json), so they cannot go stale unnoticed; the script's
summary and rendering on hand-made runs, and --write, against hand-written expectations."""

from __future__ import annotations

import importlib.util
import json

import pytest

from conftest import REPO

SUMMARY = REPO / "results" / "readme" / "world-summary.json"


@pytest.fixture(scope="module")
def script():
    spec = importlib.util.spec_from_file_location("readme_results", REPO / "scripts" / "readme_results.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_readme_holds_exactly_the_tables_of_the_committed_summary(script):
    tables = script.render(json.loads(SUMMARY.read_text(encoding="utf-8")))
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    assert script.between_markers(readme) == tables, (
        "README.md's world tables differ from the committed summary: run scripts/readme_results.py --write "
        "(or scripts/readme_results.py RUN_DIR ... --write after new runs)")
    assert tables.startswith("| run | iteration | POPE acc | POPE F1 | CHAIR_S↓ | CHAIR_I↓ | CHAIR recall |")


def _run(folder, lam, iterations):
    """A run folder by hand: iterations = [(pope, chair, csr summary or None)], no samples (no intervals)."""
    for k, (pope, chair, summary) in enumerate(iterations):
        path = folder / f"iter_{k}"
        path.mkdir(parents=True)
        results = {"pope": {"metrics": pope}, "chair": {"metrics": chair}}
        (path / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": results}))
        if summary:
            (path / "csr").mkdir()
            (path / "csr" / "summary.json").write_text(json.dumps(summary))
    config = {"model": "world", "iterations": len(iterations) - 1, "method": "csr", "method_config": {"lam": lam}}
    (folder / "run.json").write_text(json.dumps({"config": config}))
    return folder


BASE = ({"accuracy": 80.0, "f1_split_mean": 78.0}, {"chair_s": 50.0, "chair_i": 20.0, "recall": 60.0, "len": 40.0}, None)


def test_summary_and_tables_of_hand_made_runs(script, tmp_path):
    rewards = {"mean_chosen_reward": 0.25, "mean_rejected_reward": 0.75, "mean_chosen_words": 40.04,
               "mean_rejected_words": 35.0}
    default = _run(tmp_path / "world", 0.9, [
        BASE,
        ({"accuracy": 81.0, "f1_split_mean": 78.5}, {"chair_s": 48.0, "chair_i": 19.0, "recall": 61.0, "len": 41.0},
         rewards),
        ({"accuracy": 82.5, "f1_split_mean": 79.0}, {"chair_s": 45.0, "chair_i": 18.25, "recall": 62.0, "len": 42.0},
         rewards)])
    only_rt = _run(tmp_path / "world-lambda0", 0.0, [
        BASE, ({"accuracy": 79.0, "f1_split_mean": 78.0}, {"chair_s": 40.0, "chair_i": 21.0, "recall": 50.0,
                                                          "len": 35.5}, None),
        ({"accuracy": 78.0, "f1_split_mean": 77.0}, {"chair_s": 30.0, "chair_i": 22.5, "recall": 45.0, "len": 30.0},
         None)])
    summary = script.summarize([default, only_rt])
    assert [run["lambda"] for run in summary["runs"]] == [0.9, 0.0] and summary["default_lambda"] == 0.9
    last = summary["runs"][0]["iterations"][2]
    assert last["metrics"]["POPE acc"] == {"value": 82.5, "interval": None, "significant": None}  # no samples
    assert last["delta"]["CHAIR_I↓"]["value"] == pytest.approx(-1.75) and "avg length" not in last["delta"]
    # by hand: the base row, the default run's iterations (its label once), the ablation's last iteration;
    # Δ at iteration 2 from the base row: 82.5-80, 79-78, 45-50, 18.25-20, 62-60 and 78-80, 77-78, 30-50, 22.5-20, 45-60
    tables = script.render(summary)
    assert tables[:tables.index("\nThe methods table")] == (
        "| run | iteration | POPE acc | POPE F1 | CHAIR_S↓ | CHAIR_I↓ | CHAIR recall | avg length "
        "| chosen / rejected R | chosen / rejected words | pair acc CHAIR_I (ties) |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|\n"
        "| base model | 0 | 80.00 | 78.00 | 50.00 | 20.00 | 60.00 | 40.00 | – | – | – |\n"
        "| CSR, λ = 0.9 (default) | 1 | 81.00 | 78.50 | 48.00 | 19.00 | 61.00 | 41.00 | 0.250 / 0.750 | 40.0 / 35.0 "
        "| – |\n"
        "| | 2 | 82.50 | 79.00 | 45.00 | 18.25 | 62.00 | 42.00 | 0.250 / 0.750 | 40.0 / 35.0 | – |\n"
        "| only R_T, λ = 0 | 2 | 78.00 | 77.00 | 30.00 | 22.50 | 45.00 | 30.00 | – | – | – |\n"
        "\n"
        "The change from the base model at iteration 2, with its paired 95% interval:\n"
        "\n"
        "| run | Δ POPE acc | Δ POPE F1 | Δ CHAIR_S↓ | Δ CHAIR_I↓ | Δ CHAIR recall |\n"
        "|---|---|---|---|---|---|\n"
        "| CSR, λ = 0.9 | +2.50 | +1.00 | -5.00 | -1.75 | +2.00 |\n"
        "| only R_T, λ = 0 | -2.00 | -1.00 | -20.00 | +2.50 | -15.00 |\n")



def test_a_run_of_another_method_is_labelled_by_its_preference_set_and_gets_the_methods_table(script, tmp_path):
    """A DPO run on a released set is one row named by method and set; with it, the summary holds the
    methods table as `csr-bench compare` renders it (the base row once, each run's last iteration), and
    the pair accuracy of a row with pairs (hand-made: a pair-accuracy cell renders value, interval, ties)."""
    default = _run(tmp_path / "world", 0.9, [BASE, ({"accuracy": 81.0, "f1_split_mean": 78.5},
                                                     {"chair_s": 48.0, "chair_i": 19.0, "recall": 61.0, "len": 41.0},
                                                     {"mean_chosen_reward": 0.25, "mean_rejected_reward": 0.75})])
    dpo = _run(tmp_path / "world-dpo", None, [BASE, ({"accuracy": 80.5, "f1_split_mean": 78.0},
                                                     {"chair_s": 44.0, "chair_i": 18.0, "recall": 59.0, "len": 39.0},
                                                     {"method": "dpo", "pairs": 5, "source": "world:rlhf-v"})])
    config = json.loads((dpo / "run.json").read_text())["config"]
    (dpo / "run.json").write_text(json.dumps({"config": {**config, "method": "dpo", "method_config": {}}}))
    summary = script.summarize([default, dpo])
    assert [(run["method"], run["source"]) for run in summary["runs"]] == [("csr", None), ("dpo", "world:rlhf-v")]
    text = script.render(summary)
    assert "| DPO on world:rlhf-v (world-dpo) | 1 | 80.50 | 78.00 | 44.00 | 18.00 | 59.00 | 39.00 | – | – | – |" in text
    assert "| DPO on world:rlhf-v (world-dpo) | +0.50 | +0.00 | -6.00 | -2.00 | -1.00 |" in text  # 80.5-80, 78-78, 44-50, 18-20, 59-60
    methods = text.split("The methods table, as `csr-bench compare` prints it")[1]
    labels = [line.split("|")[1].strip().rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹") for line in methods.splitlines()[2:]
              if line.startswith("| ")]
    assert labels[1:] == ["world (base)", "+ CSR (iter 1)", "+ DPO on world:rlhf-v"]  # after the header row
    assert script._pair_accuracy({"value": 41.666, "interval": [37.52, 46.01], "ties": 39.3}) == "41.7 [37.5, 46.0] (39%)"
    assert script._pair_accuracy(None) == "–"


def test_cells_carry_interval_and_mark_as_csr_bench_tables(script):
    """Value at 2 decimals, † when significant, the interval one decimal coarser; a Δ signed, its interval at 2."""
    assert script._cell({"value": 52.4333, "interval": [48.402, 56.4235], "significant": True}) == "52.43† [48.4, 56.4]"
    assert script._cell({"value": -15.0, "interval": [-21.5, -9.0], "significant": True}, signed=True) \
        == "-15.00† [-21.50, -9.00]"
    assert script._cell({"value": 0.0, "interval": [-0.45, 0.39], "significant": False}, signed=True) \
        == "+0.00 [-0.45, +0.39]"
    assert script._cell(None) == "–"


def test_write_replaces_only_what_lies_between_the_markers(script, tmp_path, capsys):
    readme = tmp_path / "README.md"
    readme.write_text(f"# title\n\nbefore\n\n{script.BEGIN}\n\n| old | table |\n\n{script.END}\n\nafter\n",
                      encoding="utf-8")
    assert script.main(["--summary", str(SUMMARY), "--readme", str(readme), "--write"]) == 0
    tables = script.render(json.loads(SUMMARY.read_text(encoding="utf-8")))
    assert capsys.readouterr().out == tables
    text = readme.read_text(encoding="utf-8")
    assert text == f"# title\n\nbefore\n\n{script.BEGIN}\n\n{tables}\n{script.END}\n\nafter\n"
    assert script.between_markers(text) == tables
    readme.write_text("no markers\n", encoding="utf-8")
    with pytest.raises(SystemExit, match="needs one <!-- readme_results:begin --> line"):
        script.main(["--summary", str(SUMMARY), "--readme", str(readme), "--write"])
