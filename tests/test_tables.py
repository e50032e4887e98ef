"""Paper-style tables: Table 1 (layout, best values, the paper's average score, '–' and footnotes),
the iteration and λ-ablation tables, the baseline files, and `csr-bench table` in every format."""

import copy
import csv
import io
import json

import pytest

from conftest import assert_one_line_error, run_cli
from csr_bench.reporting.tables.baselines import available_baselines, load_baseline
from csr_bench.reporting.tables.iterations import iteration_table
from csr_bench.reporting.tables.paper import average_score, iteration_label, paper_table
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.format import render
from csr_bench.reporting.tables.run_tables import render_run_tables

CONFIG = {"model": "m", "tasks": ["pope", "chair", "mme", "mmvet"], "output": "results", "run_name": None,
          "iterations": 1, "method": "csr", "method_config": {"lam": 0.9, "prompts": 8}}


def write_run(folder, iterations, config=CONFIG, pairs="pairs"):
    """A run folder by hand: iterations = [(results, summary or None), ...]; the method's summary in
    iter_<k>/<pairs>/ (pairs/ since methods share one driver, csr/ in older runs)."""
    for k, (results, summary) in enumerate(iterations):
        path = folder / f"iter_{k}" / "results.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps({"run": {"iteration": k}, "results": results}))
        if summary:
            (path.parent / pairs).mkdir()
            (path.parent / pairs / "summary.json").write_text(json.dumps(summary))
    (folder / "run.json").write_text(json.dumps({"config": config}))
    return folder


BASE = {"pope": {"metrics": {"accuracy": 80.0, "f1_split_mean": 78.0}},
        "chair": {"metrics": {"chair_s": 50.0, "chair_i": 20.0, "recall": 60.0, "len": 40.0}},
        "mme": {"metrics": {"perception": 1200.0, "cognition": 300.0}},
        "mmvet": {"metrics": {}, "skipped": "no judge configured (--judge-url)"}}
ITER1 = {"pope": {"metrics": {"accuracy": 82.5, "f1_split_mean": 80.0}},
         "chair": {"metrics": {"chair_s": 40.0, "chair_i": 22.0, "recall": 61.0, "len": 42.5}},
         "mme": {"metrics": {"perception": 1100.0, "cognition": 320.0}},
         "mmvet": {"metrics": {}, "skipped": "no judge configured (--judge-url)"}}
SUMMARY = {"pairs": 8, "calibration": "reference", "mean_chosen_reward": 0.25, "mean_rejected_reward": 0.75}


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def test_average_score_is_the_papers_rule():
    # The paper's reward-ablation averages of Table 1's rows: 7B base 66.61, 13B base 68.08, 13B CSR 71.95;
    # its 7B CSR row recomputes to 72.09 (the paper prints 72.39, see the baseline's caveat).
    expected = {("llava15-7b", 0): 66.61, ("llava15-13b", 0): 68.08, ("llava15-13b", 2): 71.95,
                ("llava15-7b", 5): 72.09}
    for (name, row), average in expected.items():
        values = {k: v for k, v in load_baseline(name).rows[row].items() if k != "method"}
        assert average_score(values) == (pytest.approx(average, abs=0.005), 12)
    # by hand: MME-P/16 = 75, MME-C/4 = 75, POPE 80, 100 - CHAIR_S = 50, 100 - CHAIR_I = 80 -> 72.0 over 5
    assert average_score({"MME-P": 1200, "MME-C": 300, "POPE": 80, "CHAIR_S": 50, "CHAIR_I": 20}) == (72.0, 5)
    assert average_score({}) is None


def test_table1_layout_marks_best_and_footnotes_skipped_judge_tasks(tmp_path):
    run = load_run(write_run(tmp_path / "m", [(BASE, None), (ITER1, SUMMARY)]))
    lines = render(paper_table([run]), "markdown").splitlines()
    assert cells(lines[2]) == ["method", "MME-P", "MME-C", "SEED", "LLaVA-W", "MMB", "MM-Vet", "SQA-I", "VizWiz",
                               "GQA", "POPE", "CHAIR_S↓", "CHAIR_I↓", "Avg (n)"]
    # iter 1: 1100/16 = 68.75, 320/4 = 80, 82.5, 100-40 = 60, 100-22 = 78 -> 73.85 over 5; base 72.00
    assert cells(lines[4]) == ["m", "**1200.0**", "300.0", "–", "–", "–", "–¹", "–", "–", "–", "80.00", "50.00",
                               "**20.00**", "72.00 (5)"]
    assert cells(lines[5]) == ["m + CSR (iter 1)", "1100.0", "**320.0**", "–", "–", "–", "–¹", "–", "–", "–",
                               "**82.50**", "**40.00**", "22.00", "**73.85 (5)**"]
    assert lines[-1] == "¹ MM-Vet (mmvet) not scored: no judge configured (--judge-url)"


def test_mme_cognition_without_categories_is_absent_not_zero(tmp_path):
    """The world's MME has only perception categories: MME-C is '–' with a footnote, in no average.
    Iteration 0 as the scorer writes it now (no cognition key); iteration 1 as results.json held it
    before (cognition 0 from the empty sum, beside perception categories only): both absent."""
    base = {"pope": {"metrics": {"accuracy": 80.0}}, "chair": {"metrics": {"chair_s": 50.0, "chair_i": 20.0}},
            "mme": {"metrics": {"perception": 240.0, "existence": 90.0, "count": 150.0}}}
    legacy = {"pope": {"metrics": {"accuracy": 82.0}}, "chair": {"metrics": {"chair_s": 40.0, "chair_i": 22.0}},
              "mme": {"metrics": {"perception": 320.0, "cognition": 0, "existence": 160.0, "count": 160.0}}}
    run = load_run(write_run(tmp_path / "w", [(base, None), (legacy, SUMMARY)]))
    lines = render(paper_table([run]), "markdown").splitlines()
    # by hand: iter 0: 240/16 = 15, POPE 80, 100-50 = 50, 100-20 = 80 -> 225/4 = 56.25 over 4 columns;
    # iter 1: 320/16 = 20, 82, 100-40 = 60, 100-22 = 78 -> 240/4 = 60.00 over 4 (MME-C in neither)
    assert cells(lines[4]) == ["w", "240.0", "–¹", "–", "–", "–", "–", "–", "–", "–", "80.00", "50.00",
                               "**20.00**", "56.25 (4)"]
    assert cells(lines[5]) == ["w + CSR (iter 1)", "**320.0**", "–¹", "–", "–", "–", "–", "–", "–", "–",
                               "**82.00**", "**40.00**", "22.00", "**60.00 (4)**"]
    assert lines[-1] == ("¹ MME-C (mme) not reported: the evaluated MME data has none of the 4 cognition "
                         "categories (commonsense_reasoning, numerical_calculation, text_translation, "
                         "code_reasoning); an empty sum is not reported as 0")
    # a measured 0 stays a 0: a cognition category scored 0
    measured = copy.deepcopy(legacy)
    measured["mme"]["metrics"]["code_reasoning"] = 0.0
    run = load_run(write_run(tmp_path / "m0", [(base, None), (measured, SUMMARY)]))
    assert cells(render(paper_table([run]), "markdown").splitlines()[5])[2] == "0.0"


def test_world_tasks_at_chance_are_footnoted_not_zero(tmp_path):
    """A world run (data root 'world') without the tasks its default set leaves out: their columns
    are '–' with the reason (docs/world-benchmarks.md), one footnote per task, in no average; named
    with --tasks they show their value; a run on other data gets a plain '–'."""
    from csr_bench.world_at_chance import world_left_out_reason

    base = {"pope": {"metrics": {"accuracy": 80.0}}, "chair": {"metrics": {"chair_s": 50.0, "chair_i": 20.0}},
            "seed": {"metrics": {"accuracy": 40.0}}}
    world = {**CONFIG, "model": "world", "data_root": "world", "tasks": ["pope", "chair", "seed"]}
    lines = render(paper_table([load_run(write_run(tmp_path / "w", [(base, None)], world))]), "markdown").splitlines()
    # by hand: SEED 40, POPE 80, 100-50 = 50, 100-20 = 80 -> 250/4 = 62.50 over 4 columns
    assert cells(lines[4]) == ["w", "–¹", "–¹", "40.00", "–", "–²", "–", "–", "–³", "–", "80.00", "50.00", "20.00",
                               "62.50 (4)"]
    assert lines[-3:] == [f"¹ {world_left_out_reason('mme')}", f"² {world_left_out_reason('mmbench')}",
                          f"³ {world_left_out_reason('vizwiz')}"]
    assert lines[-1].startswith("³ vizwiz is not in the world's default set: the world VLM is at chance on it at "
                                "iteration 0 (VQA accuracy 11.2 [5.0, 18.8] against a chance of 20.0")
    # named with --tasks: the measured value, no footnote
    named = {**base, "mmbench": {"metrics": {"accuracy": 0.0}}}
    lines = render(paper_table([load_run(write_run(tmp_path / "n", [(named, None)], world))]), "markdown").splitlines()
    assert cells(lines[4])[5] == "0.00" and not any(line.startswith("² mmbench") for line in lines)
    # a world folder given as --data-root (it holds world.json) is the world too; other data is not
    folder = tmp_path / "data"
    folder.mkdir()
    other = {**world, "model": "m", "data_root": str(folder)}
    lines = render(paper_table([load_run(write_run(tmp_path / "o", [(base, None)], other))]), "markdown").splitlines()
    assert [cells(lines[4])[i] for i in (1, 2, 5, 8)] == ["–"] * 4 and not any("default set" in line for line in lines)
    (folder / "world.json").write_text("{}")
    assert load_run(write_run(tmp_path / "o2", [(base, None)], other)).on_world


def test_baseline_rows_render_with_their_source_and_caveat(tmp_path):
    run = load_run(write_run(tmp_path / "m", [(BASE, None)]))
    text = render_run_tables([run], "markdown", ["llava15-7b"])
    table1 = text.split("**CSR iterations")[0]
    assert cells(table1.splitlines()[4])[:2] == ["LLaVA-1.5-7B¹", "1510.7"]
    assert "| + CSR (iter 3)¹" in table1 and "**1524.2**" in table1  # best MME-P among all rows
    assert "¹ LLaVA-1.5-7B (CSR paper): CSR paper (NeurIPS 2024, arXiv 2405.14622)" in table1
    assert "comparable only to runs of LLaVA-1.5-7B on the full official data" in table1
    iterations = text.split("**CSR iterations")[1]
    assert "| LLaVA-1.5-7B (CSR paper) iter 3¹ |      87.01 |     85.93 |      21.00 |       6.00 |" in iterations
    assert available_baselines() == ["llava15-13b", "llava15-7b"]
    assert load_baseline("llava15-13b").rows[2]["POPE"] == 87.30


def test_latex_and_csv(tmp_path):
    run = load_run(write_run(tmp_path / "my_run", [(BASE, None), (ITER1, SUMMARY)]))
    latex = render(paper_table([run]), "latex")
    assert latex.startswith("% needs \\usepackage{graphicx}") and latex.rstrip().endswith("\\end{table}")
    assert "CHAIR\\_S$\\downarrow$" in latex and "\\textbf{82.50}" in latex
    assert " my\\_run + CSR (iter 1) " in latex and "--$^{1}$" in latex  # escaped name, skipped MM-Vet
    assert "\\footnotesize $^{1}$ MM-Vet (mmvet) not scored" in latex
    text = render(paper_table([run]), "csv")
    rows = list(csv.reader(line for line in io.StringIO(text) if not line.startswith("#")))
    assert rows[0][0] == "method" and rows[2][:3] == ["my_run + CSR (iter 1)", "1100.0", "320.0"]
    assert rows[2][6] == "" and rows[2][-1] == "73.85"  # no marks, no counts: raw numbers
    assert text.splitlines()[-1] == "# [1] MM-Vet (mmvet) not scored: no judge configured (--judge-url)"


def test_iteration_table_of_a_real_run(tiny_run):
    text = render_run_tables([tiny_run], "markdown")
    grid = text[text.index("**CSR iterations"):].split("\n\n")[1].splitlines()
    assert cells(grid[0]) == ["iteration", "POPE acc", "POPE F1", "CHAIR_S↓", "CHAIR_I↓", "CHAIR recall",
                              "avg length", "pair acc CHAIR_I", "ties CHAIR_I", "pair acc CHAIR_S", "ties CHAIR_S",
                              "pairs", "chosen R", "rejected R", "chosen words", "rejected words"]
    run = load_run(tiny_run)
    assert [cells(line)[0] for line in grid[2:]] == ["0", "1", "2"]
    for line, iteration in zip(grid[2:], run.iterations):
        row = cells(line)
        for cell, (task, metric) in ((row[1], ("pope", "accuracy")), (row[4], ("chair", "chair_i"))):
            value, interval = cell.split(" [")  # the value, † when it differs from iteration 0, its interval
            assert value.rstrip("†") == f"{iteration.metric(task, metric):.2f}" and interval.endswith("]")
        if iteration.iteration:
            # the model is a checkpoint folder, whose registry entry has no image annotations: no pair accuracy
            assert row[7:11] == ["–²", "–", "–²", "–"]
            assert row[11] == str(iteration.summary["pairs"])
            assert row[12] == f"{iteration.summary['mean_chosen_reward']:.3f}¹"
            assert row[14:] == [f"{iteration.summary[f'mean_{side}_words']:.1f}" for side in ("chosen", "rejected")]
        else:
            assert row[7:] == ["–"] * 9
    assert "¹ chosen R / rejected R: mean of the reference code's rank score" in text and "(lower is better)" in text
    assert f"² pair accuracy: no pair scored against annotations: model {run.model} provides no image annotations" in text
    assert "λ ablation" not in text  # one run


def test_iteration_table_shows_the_pairs_lengths_in_words(tmp_path):
    """summary.json's mean_chosen_words / mean_rejected_words, in every format; "–" without pairs."""
    summary = {**SUMMARY, "mean_chosen_words": 42.36, "mean_rejected_words": 30.0}
    run = load_run(write_run(tmp_path / "m", [(BASE, None), (ITER1, summary), (ITER1, SUMMARY)]))
    table = iteration_table([run])
    assert table.headers[-2:] == ["chosen words", "rejected words"]
    grid = render(table, "markdown").split("\n\n")[1].splitlines()
    assert [cells(line)[-2:] for line in grid[2:]] == [["–", "–"], ["42.4", "30.0"], ["–", "–"]]
    assert "& 42.4 & 30.0 \\\\" in " ".join(render(table, "latex").split())
    html = render(table, "html").replace(" ", "").replace('style="text-align:right;"', "")
    assert "<td>42.4</td><td>30.0</td>" in html
    rows = list(csv.reader(line for line in io.StringIO(render(table, "csv")) if not line.startswith("#")))
    assert rows[0][-2:] == ["chosen words", "rejected words"]
    assert [row[-2:] for row in rows[1:]] == [["", ""], ["42.36", "30.0"], ["", ""]]


@pytest.mark.parametrize("pairs", ["pairs", "csr"])
def test_the_methods_summary_is_read_from_pairs_and_from_an_old_runs_csr(tmp_path, pairs):
    """iter_<k>/pairs/summary.json (every method, through the shared driver), iter_<k>/csr/ in runs
    written before: the same reward columns."""
    run = load_run(write_run(tmp_path / "m", [(BASE, None), (ITER1, SUMMARY)], pairs=pairs))
    assert run.iteration(1).summary == SUMMARY and run.iteration(0).summary is None
    table = iteration_table([run])
    grid = render(table, "markdown", ci=False).split("\n\n")[1].splitlines()
    rows = [dict(zip(table.headers, cells(line))) for line in grid[2:]]
    assert [(row["pairs"], row["chosen R"], row["rejected R"]) for row in rows] == [
        ("–", "–", "–"), ("8", "0.250¹", "0.750¹")]  # ¹: what the reference calibration's reward means


def test_a_rows_method_is_the_one_the_run_recorded(tmp_path):
    """Table 1's label names the method run.json records (a short name as an acronym), else the one
    the iteration's pairs/summary.json names (a run still writing has no run.json)."""
    run = load_run(write_run(tmp_path / "povid", [(BASE, None), (ITER1, SUMMARY)], {**CONFIG, "method": "povid"}))
    assert [iteration_label(run, item) for item in run.iterations] == ["povid", "povid + POVID (iter 1)"]
    run = load_run(write_run(tmp_path / "long", [(BASE, None), (ITER1, SUMMARY)], {**CONFIG, "method": "self_rewarding"}))
    assert iteration_label(run, run.last) == "long + self_rewarding (iter 1)"
    folder = write_run(tmp_path / "writing", [(BASE, None), (ITER1, {**SUMMARY, "method": "csr"})])
    (folder / "run.json").unlink()
    run = load_run(folder)
    assert iteration_label(run, run.last) == "writing + CSR (iter 1)"
    assert "| writing + CSR (iter 1) |" in render(paper_table([run]), "markdown")



def test_runs_of_several_methods_share_one_base_row_and_name_their_preference_set(tmp_path):
    """Runs of CSR, DPO on a released set and POVID from one base model: Table 1 shows the base once
    (a later run's identical iteration 0 is footnoted, not repeated), and a row trained on a named
    preference set says which. A base evaluated differently (other numbers) keeps its row."""
    csr = load_run(write_run(tmp_path / "w-csr", [(BASE, None), (ITER1, SUMMARY)]))
    dpo = load_run(write_run(tmp_path / "w-dpo", [(BASE, None), (ITER1, {"method": "dpo", "pairs": 3,
                                                                         "source": "world:rlhf-v"})],
                             {**CONFIG, "method": "dpo"}))
    povid = load_run(write_run(tmp_path / "w-povid", [(BASE, None), (ITER1, {"method": "povid", "pairs": 3})],
                               {**CONFIG, "method": "povid"}))
    other = {**BASE, "pope": {"metrics": {"accuracy": 70.0, "f1_split_mean": 71.0}}}
    changed = load_run(write_run(tmp_path / "w-other", [(other, None)], {**CONFIG, "iterations": 0}))
    text = render(paper_table([csr, dpo, povid, changed]), "markdown")
    labels = [line.split("|")[1].strip() for line in text.splitlines() if line.startswith("| w-")]
    assert labels == ["w-csr", "w-csr + CSR (iter 1)", "w-dpo + DPO on world:rlhf-v (iter 1)",
                      "w-povid + POVID (iter 1)", "w-other"]
    assert ("iteration 0 of w-dpo and w-povid is the same evaluation as w-csr's, with the same numbers: not "
            "repeated") in text
    assert "of w-other" not in text


def test_lambda_ablation_only_when_runs_differ_only_in_lambda(tmp_path):
    runs = []
    for lam in (0.5, 0.0, 0.9):
        config = copy.deepcopy(CONFIG)
        config["method_config"]["lam"], config["run_name"] = lam, f"lam{lam}"
        runs.append(write_run(tmp_path / f"lam{lam}", [(BASE, None), (ITER1, SUMMARY)], config))
    text = render_run_tables(runs, "markdown", ["llava15-7b"])
    table = text[text.index("**λ ablation"):].split("\n\n")[1].splitlines()
    assert cells(table[0]) == ["λ", "iterations", "LLaVA-W", "POPE", "CHAIR_S↓", "CHAIR_I↓"]
    assert [cells(line)[0] for line in table[2:]] == [
        "0.1 (LLaVA-1.5-7B (CSR paper))¹", "0.5 (LLaVA-1.5-7B (CSR paper))¹", "0.9 (LLaVA-1.5-7B (CSR paper))¹",
        "base", "0.0", "0.5", "0.9"]
    assert cells(table[5]) == ["base", "0", "–", "80.00", "50.00", "20.00"]  # the first run's iteration 0, not in bold
    assert cells(table[-1]) == ["0.9", "1", "–", "82.50", "40.00", "22.00"]  # all equal: none in bold
    assert cells(table[4])[4:] == ["**21.00**", "**6.00**"]  # the paper's λ 0.9 row is best on CHAIR
    other = copy.deepcopy(CONFIG)
    other["method_config"].update(lam=0.1, prompts=16)  # λ and the prompt count differ: confounded
    write_run(tmp_path / "other", [(BASE, None)], other)
    assert "λ ablation" not in render_run_tables([runs[0], tmp_path / "other"], "markdown")


def test_table_command_formats_and_errors(tiny_run, tmp_path):
    for fmt, marker in (("markdown", "**Table 1"), ("latex", "% needs \\usepackage{graphicx}"), ("csv", "# Table 1"),
                        ("html", "<h3>Table 1")):
        result = run_cli("table", str(tiny_run), "--format", fmt, "--baselines", "llava15-7b,llava15-13b", check=True)
        assert result.stdout.startswith(marker), fmt
        assert "LLaVA-1.5-13B" in result.stdout and "world-vlm + CSR (iter 2)" in result.stdout
    assert_one_line_error(run_cli("table", str(tiny_run), "--baselines", "llava99"), "unknown baseline 'llava99'",
                          "llava15-7b")
    assert_one_line_error(run_cli("table", str(tmp_path)), "not a csr-bench run folder")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nsource: s\ncaveat: c\nrows:\n  - {method: a, POPE: high}\n")
    assert_one_line_error(run_cli("table", str(tiny_run), "--baselines", str(bad)), "bad.yaml: rows[0]",
                          "'POPE' must be a number")
    (tmp_path / "iter_0").mkdir()
    (tmp_path / "iter_0" / "results.json").write_text("{not json")
    assert_one_line_error(run_cli("table", str(tmp_path)), "iter_0/results.json: not readable JSON")


def test_run_writes_its_tables(tiny_run):
    markdown = (tiny_run / "tables.md").read_text()
    assert markdown == render_run_tables([tiny_run], "markdown")
    assert (tiny_run / "tables.tex").read_text() == render_run_tables([tiny_run], "latex")
