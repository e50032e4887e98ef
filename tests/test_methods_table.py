"""The methods table (`csr-bench compare`): one row per method at its final iteration after the shared
base row, the CSR λ ablations after CSR's row, intervals and † against the base row, the average, the
pair accuracy of the final pairs, published rows marked and never bold; one-line refusals."""

import copy
import json

import pytest

from conftest import assert_one_line_error, run_cli, run_without_heavy_imports
from csr_bench.errors import CsrBenchError
from csr_bench.reporting import pair_accuracy
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.baselines import load_baseline
from csr_bench.reporting.tables.format import render
from csr_bench.reporting.tables.methods import methods_table
from csr_bench.scorers.chair import MEASURES, sample_columns

CONFIG = {"model": "tiny-llava", "tasks": ["pope", "chair"], "output": "results", "run_name": None, "iterations": 2,
          "method": "csr", "method_config": {"lam": 0.9, "prompts": 8}}
DOCS = 40


def chair_task(hallucinating: int) -> tuple[dict, list[dict]]:
    """CHAIR's results entry and samples: DOCS captions of a dog, ``hallucinating`` of them with a cat."""
    samples = [{"doc_id": i, "doc_index": i, "ground_truth_objects": ["dog"],
                "prediction": "A dog and a cat." if i < hallucinating else "A dog on the grass."} for i in range(DOCS)]
    columns = sample_columns([s["prediction"] for s in samples], [s["ground_truth_objects"] for s in samples])
    return {"metrics": {name: float(fn(columns)) for name, fn in MEASURES.items()}, "n_samples": DOCS}, samples


def write_run(folder, config, hallucinating, summaries=None, pairs=None):
    """A finished run by hand: iteration k's CHAIR captions hallucinate ``hallucinating[k]`` times; its
    pairs/summary.json is ``summaries[k]`` (and preferences.jsonl ``pairs``) for k > 0."""
    for k, count in enumerate(hallucinating):
        iteration = folder / f"iter_{k}"
        (iteration / "chair").mkdir(parents=True)
        entry, samples = chair_task(count)
        (iteration / "chair" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
        results = {"pope": {"metrics": {"accuracy": 70.0 + k, "f1_split_mean": 71.0}}, "chair": entry}
        (iteration / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": results}))
        if k:
            (iteration / "pairs").mkdir()
            summary = {"method": config["method"], "pairs": 4, **((summaries or {}).get(k) or {})}
            (iteration / "pairs" / "summary.json").write_text(json.dumps(summary))
            if pairs:
                (iteration / "pairs" / "preferences.jsonl").write_text("".join(json.dumps(p) + "\n" for p in pairs))
    (folder / "run.json").write_text(json.dumps({"config": config}))
    return folder


def config(**changes):
    made = copy.deepcopy(CONFIG)
    method_config = changes.pop("method_config", {})
    made.update(changes)
    made["method_config"].update(method_config)
    return made


@pytest.fixture
def runs(tmp_path):
    """CSR (2 iterations), its only-R_I and only-R_T twins, DPO on a named set, POVID, SIMA and
    Self-rewarding, all from one base (40 of 40 captions hallucinate at iteration 0)."""
    made = {
        "csr": write_run(tmp_path / "csr", config(), [DOCS, 30, 10]),
        "lam1": write_run(tmp_path / "lam1", config(run_name="lam1", method_config={"lam": 1.0}), [DOCS, 38, 36]),
        "dpo": write_run(tmp_path / "dpo", config(method="dpo", iterations=1, method_config={"lam": None}),
                         [DOCS, 20], {1: {"source": "world:rlhf-v"}}),
        "lam0": write_run(tmp_path / "lam0", config(run_name="lam0", method_config={"lam": 0.0}), [DOCS, 39, 39]),
        "povid": write_run(tmp_path / "povid", config(method="povid", iterations=1), [DOCS, 25],
                           {1: {"source": "world:povid"}}),
        "sima": write_run(tmp_path / "sima", config(method="sima", iterations=1), [DOCS, 40]),
        "self": write_run(tmp_path / "self", config(method="self-reward"), [DOCS, 39, 35]),
    }
    return made


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def body(text):
    lines = text.split("\n\n")[1].splitlines()
    return cells(lines[0]), [cells(line) for line in lines[2:]]


def test_one_row_per_method_after_the_base_with_the_ablations_after_csr(runs):
    order = ["csr", "lam1", "dpo", "lam0", "povid", "sima", "self"]
    text = render(methods_table([load_run(runs[name]) for name in order]), "markdown")
    headers, rows = body(text)
    assert headers[-4:] == ["pair acc CHAIR_I", "ties CHAIR_I", "pair acc CHAIR_S", "ties CHAIR_S"]
    assert headers[headers.index("Avg (n)") - 2:headers.index("Avg (n)")] == ["CHAIR_S↓", "CHAIR_I↓"]
    assert [row[0].rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹") for row in rows] == [
        "tiny-llava (base)", "+ CSR (iter 2)", "CSR, only R_I (λ = 1)", "CSR, only R_T (λ = 0)",
        "+ DPO on world:rlhf-v", "+ POVID", "+ SIMA", "+ Self-rewarding (iter 2)"]
    chair_s = headers.index("CHAIR_S↓")
    base, csr, sima = rows[0][chair_s], rows[1][chair_s], rows[6][chair_s]
    assert base.startswith("100.00 [") and "†" not in base  # the base row: an interval, never a mark
    assert csr.startswith("**25.00**† [")  # 10 of 40: best of the runs, its paired difference excludes 0
    assert sima == "100.00 [100.0, 100.0]"  # the same captions as the base: no mark
    # the paper's average over the columns a row has: POPE 72, 100 - 25, 100 - CHAIR_I (10 cats of 2 * 10 + 30
    # objects named) = (72 + 75 + 80) / 3; the best of the runs
    assert rows[1][headers.index("Avg (n)")] == "**75.67 (3)**"
    assert rows[1][-4:] == ["–", "–", "–", "–"]  # no preferences.jsonl: nothing to score
    assert "base row: iteration 0 of csr; every run's iteration 0 is the same model with the same numbers" in text
    assert "† the paired 95% interval of the difference from csr" in text


def test_published_rows_are_marked_plain_and_last(runs):
    baseline = load_baseline("llava15-7b")
    text = render(methods_table([load_run(runs["csr"]), load_run(runs["dpo"])], [baseline]), "markdown")
    _, rows = body(text)
    published = [row for row in rows if "(published)" in row[0]]
    assert len(published) == len(baseline.rows) + len(baseline.lambdas) + len(baseline.reward_ablation) == 12
    assert rows[-len(published):] == published  # after every run
    assert not any("**" in cell for row in published for cell in row)  # other data: never the best of the runs
    names = [row[0].rstrip("⁰¹²³⁴⁵⁶⁷⁸⁹") for row in published]
    assert names[-6:] == ["+ CSR, λ = 0.1 (published)", "+ CSR, λ = 0.5 (published)", "+ CSR, λ = 0.9 (published)",
                          "+ CSR, only R_T (published)", "+ CSR, only R_I (published)",
                          "+ CSR, R_T + R_I (published)"]
    assert published[0][1] == "1510.7" and published[0][-5] == "66.61 (12)"  # the paper's own average of its base
    assert published[-4][-5] == "–"  # the paper does not average its λ ablation's three columns
    # its reward ablation gives the average alone (csr_spec: only R_T 68.46, only R_I 67.49, CSR 72.39)
    assert [row[-5] for row in published[-3:]] == ["68.46 (12)", "67.49 (12)", "72.39 (12)"]
    assert all(cell == "–" for row in published[-3:] for cell in row[1:-5])
    assert "published: LLaVA-1.5-7B (CSR paper): CSR paper (NeurIPS 2024" in text


def test_runs_with_the_same_label_are_told_apart_by_their_folder(runs, tmp_path):
    other = write_run(tmp_path / "csr-16", config(method_config={"prompts": 16}), [DOCS, 30, 20])  # not only λ
    _, rows = body(render(methods_table([load_run(runs["csr"]), load_run(other)]), "markdown"))
    assert [row[0] for row in rows[1:]] == ["+ CSR (iter 2) (csr)", "+ CSR (iter 2) (csr-16)"]


def test_pair_accuracy_of_the_final_iteration(small_world, tmp_path):
    from test_pair_accuracy import world_pairs

    pair_accuracy.clear_cache()
    pairs = world_pairs(small_world)
    world = config(model="world", data_root=str(small_world), iterations=1)
    run = write_run(tmp_path / "w", world, [DOCS, 20], pairs=pairs)
    text = render(methods_table([load_run(run)]), "markdown", ci=False)
    headers, rows = body(text)
    assert rows[0][-4:] == ["–", "–", "–", "–"]  # the base row has no pairs
    assert rows[1][-4:] == ["33.33⁴", "33.33", "33.33⁴", "33.33"]  # a win, a tie and a loss per image
    # (notes 1-3: the world's tasks left out of its default set)
    assert "⁴ pair accuracy: the share of the iteration's preference pairs" in text
    # the command reads files only: the world's annotations come through the registry without torch
    result = run_without_heavy_imports(f"from csr_bench.cli import main\n"
                                       f"assert main(['compare', {str(run)!r}, '--no-ci']) == 0\n")
    assert "| + CSR (iter 1) " in result.stdout and "33.33⁴" in result.stdout


def test_refusals_are_one_line(runs, tmp_path):
    with pytest.raises(CsrBenchError, match="its iteration 0 is not the base row"):
        methods_table([load_run(runs["csr"]), load_run(write_run(tmp_path / "x", config(), [DOCS - 1, 30, 20]))])
    assert_one_line_error(run_cli("compare", str(tmp_path / "nowhere")), "nowhere: no such run folder")
    other_model = write_run(tmp_path / "other", config(model="world"), [DOCS, 30, 20])
    assert_one_line_error(run_cli("compare", str(runs["csr"]), str(other_model)),
                          "other: its iteration 0 is not the base row (csr's iteration 0): model world, not tiny-llava")
    half = write_run(tmp_path / "half", config(iterations=3), [DOCS, 30, 20])
    assert_one_line_error(run_cli("compare", str(runs["csr"]), str(half)),
                          "half: unfinished run: results up to iteration 2 of 3")
    (runs["sima"] / "run.json").unlink()
    assert_one_line_error(run_cli("compare", str(runs["csr"]), str(runs["sima"])),
                          "sima: unfinished run (no run.json")
    assert_one_line_error(run_cli("compare", str(runs["csr"]), "--baseline", "llava99"), "unknown baseline 'llava99'")


def test_the_command_prints_the_table_in_each_format(runs):
    result = run_cli("compare", str(runs["csr"]), str(runs["lam0"]), "--baseline", "llava15-7b", "--format", "latex",
                     check=True)
    assert result.stdout.startswith("% needs \\usepackage{graphicx}")
    assert "CSR, only R\\_T ($\\lambda$ = 0)" in result.stdout and "(published)" in result.stdout
    plain = run_cli("compare", str(runs["csr"]), str(runs["lam0"]), "--no-ci", check=True).stdout
    assert plain.startswith("**Methods: Table 1 layout") and " [" not in plain.split("\n\n")[1]
