"""Uncertainty in the tables, plots and the run's final summary: intervals in every format, the † of a
significant paired change from iteration 0, the Δ table, and error bars, on hand-built run folders
whose POPE answers make the expected numbers computable by hand."""

import csv
import io
import json

import pytest

from conftest import run_cli, run_without_heavy_imports
from csr_bench.scorers.uncertainty import BootstrapSettings, intervals
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.reporting.tables import significance as sig
from csr_bench.reporting.tables.iterations import iteration_delta_table, iteration_table
from csr_bench.reporting.tables.paper import paper_table
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.format import render
from csr_bench.reporting.tables.run_tables import render_run_tables

N = 200  # POPE questions: the first 100 labelled yes, the last 100 no, one split


def pope_samples(wrong_no: int) -> list[dict]:
    """Every yes question answered yes; of the no questions, the first ``wrong_no`` answered yes (wrong)."""
    return [{"doc_id": i, "doc_index": i, "category": "random", "answer": "yes" if i < 100 else "no",
             "prediction": "Yes." if i < 100 or i - 100 < wrong_no else "No."} for i in range(N)]


def pope_metrics(wrong_no: int) -> dict:
    tp, fp, tn = 100, wrong_no, 100 - wrong_no
    precision, recall = tp / (tp + fp), 1.0
    f1 = 100 * 2 * precision * recall / (precision + recall)
    return {"accuracy": 100 * (tp + tn) / N, "f1": f1, "f1_split_mean": f1}


CHAIR = [{"doc_id": i, "doc_index": i, "prediction": caption, "ground_truth_objects": truth}
         for i, (caption, truth) in enumerate([("A dog on a bed.", ["dog", "bed"]), ("A cat.", ["dog"]),
                                               ("A dog and a cat.", ["dog"]), ("A bed.", ["bed", "cat"])])]
CHAIR_METRICS = {"chair_s": 50.0, "chair_i": 2 / 6 * 100, "recall": 4 / 7 * 100, "len": 3.0}  # by hand


def write_run(folder, wrong_no_per_iteration, seed=0, config=None):
    """A run folder with real samples.jsonl: POPE as above, the same CHAIR captions every iteration."""
    for k, wrong_no in enumerate(wrong_no_per_iteration):
        path = folder / f"iter_{k}"
        for task, records in (("pope", pope_samples(wrong_no)), ("chair", CHAIR)):
            (path / task).mkdir(parents=True)
            (path / task / "samples.jsonl").write_text("".join(json.dumps(r) + "\n" for r in records))
        results = {"pope": {"metrics": pope_metrics(wrong_no), "n_samples": N},
                   "chair": {"metrics": CHAIR_METRICS, "n_samples": len(CHAIR)}}
        (path / "results.json").write_text(json.dumps({"run": {"iteration": k}, "results": results}))
    (folder / "run.json").write_text(json.dumps({"config": config or {"model": "m", "seed": seed, "method": "csr"}}))
    return load_run(folder)


def cells(line):
    return [c.strip() for c in line.strip().strip("|").split("|")]


def grid(text, title):
    """The body rows (as cell lists) of the markdown table titled ``title``."""
    block = text[text.index(f"**{title}"):].split("\n\n")[1].splitlines()
    return [cells(line) for line in block[2:] if line.startswith("|")]


def test_identical_iterations_differ_by_exactly_zero_and_are_not_marked(tmp_path):
    run = write_run(tmp_path / "same", [50, 50])
    comparison = sig.significance([run])
    difference = comparison.difference(run.iterations[1], "pope", "accuracy")
    assert (difference.delta, difference.low, difference.high, difference.significant) == (0.0, 0.0, 0.0, False)
    assert difference.paired
    text = render_run_tables([run])
    rows = grid(text, "CSR iterations: hallucination")
    assert rows[0][1] == rows[1][1] and rows[1][1].startswith("75.00 [") and "†" not in rows[1][1]
    assert grid(text, "CSR iterations: change")[0][1:5] == ["+0.00 [+0.00, +0.00]"] * 4
    assert ("\n† the paired 95% interval of the difference from iteration 0 excludes 0 (the same units resampled "
            "on both sides); no correction for multiple comparisons\n") in text
    assert ("\n[low, high]: 95% interval, percentile bootstrap over the benchmark's units (POPE question per split, "
            "CHAIR image), 1000 resamples, seed 0; published rows and numbers without per-sample records are plain\n"
            ) in text
    assert "\nΔ [low, high]: the paired 95% interval of the difference, percentile bootstrap" in text


def test_a_large_flip_is_marked_with_its_interval(tmp_path):
    # iteration 1 answers the 100 no questions right: accuracy 50 -> 100, each no question +1 and each yes 0,
    # so the paired Δ is 100 * (share of no questions in the resample): about 50 ± 1.96·sqrt(.25/200)·100
    run = write_run(tmp_path / "big", [100, 0])
    text = render_run_tables([run])
    table1 = grid(text, "Table 1")
    assert table1[0][10].startswith("50.00 [") and "†" not in table1[0][10]  # the base row is not compared
    assert table1[1][10] == "**100.00**† [100.0, 100.0]"
    low, high = (float(x) for x in table1[0][10].split("[")[1].rstrip("]").split(","))
    assert low == pytest.approx(50 - 6.93, abs=1.0) and high == pytest.approx(50 + 6.93, abs=1.0)
    assert table1[1][11] == table1[0][11] and "†" not in table1[1][11]  # CHAIR unchanged
    delta = grid(text, "CSR iterations: change")[0]
    assert delta[1].startswith("+50.00† [") and delta[3] == "+0.00 [+0.00, +0.00]"
    found = sig.significance([run]).difference(run.iterations[1], "pope", "accuracy")
    assert found.delta == 50.0 and found.significant and found.better
    assert found.low == pytest.approx(50 - 6.93, abs=1.0) and found.high == pytest.approx(50 + 6.93, abs=1.0)

    rows = list(csv.reader(line for line in io.StringIO(render(paper_table([run]), "csv"))
                           if not line.startswith("#")))
    header = rows[0]
    at = header.index("POPE")
    assert header[at:at + 4] == ["POPE", "POPE low", "POPE high", "POPE significant"]
    assert rows[1][at] == "50.0" and rows[1][at + 3] == ""  # the base row: not compared
    assert float(rows[1][at + 1]) == pytest.approx(low, abs=0.05) and float(rows[1][at + 2]) == pytest.approx(high, abs=0.05)
    assert rows[2][at:at + 4] == ["100.0", "100.0", "100.0", "yes"]
    assert "MME-P low" not in header  # no samples for MME: no interval columns


def test_a_single_flip_is_not_significant(tmp_path):
    # one no question turns right: Δ accuracy +0.5. The flipped question appears k ~ Binomial(200, 1/200)
    # times in a resample, so Δ* = 0.5·k: P(k = 0) = 0.37 puts the 2.5% end at 0, and P(k ≤ 2) = 0.92,
    # P(k ≤ 3) = 0.98 put the 97.5% end at 1.5.
    run = write_run(tmp_path / "small", [100, 99])
    found = sig.significance([run]).difference(run.iterations[1], "pope", "accuracy")
    assert (found.delta, found.low, found.high, found.significant) == (0.5, 0.0, pytest.approx(1.5), False)
    delta = grid(render_run_tables([run]), "CSR iterations: change")[0]
    assert delta[:2] == ["1", "+0.50 [+0.00, +1.50]"]


def test_interval_cells_latex_html_and_no_ci(tmp_path):
    run = write_run(tmp_path / "big", [100, 0])
    latex = render(iteration_table([run]), "latex")
    assert r"100.00$^{\dagger}$ {\scriptsize [100.0, 100.0]}" in latex
    assert r"\footnotesize $^{\dagger}$ the paired 95\% interval" in latex
    html = render(iteration_table([run]), "html")
    assert '100.00† <span class="ci">[100.0, 100.0]</span>' in html
    plain = render_run_tables([run], ci=False)
    rows = grid(plain, "CSR iterations: hallucination")
    assert rows[0][1] == "50.00" and rows[1][1] == "100.00†"  # marks stay, intervals go
    assert "[low, high]" not in plain
    assert "multiple comparisons; percentile bootstrap over the benchmark's units (POPE question per split" in plain
    header = next(csv.reader([render(iteration_table([run]), "csv", ci=False).splitlines()[1]]))
    assert "POPE acc low" not in header and "POPE acc significant" in header
    result = run_cli("table", str(tmp_path / "big"), "--no-ci", check=True)
    assert result.stdout == plain


def test_rows_without_samples_or_baselines_are_plain(tmp_path):
    folder = tmp_path / "nosamples"
    run = write_run(folder, [100, 0])
    for k in (0, 1):
        (folder / f"iter_{k}" / "chair" / "samples.jsonl").unlink()
    sig.clear_cache()
    text = render_run_tables([load_run(folder)], "markdown", ["llava15-7b"])
    rows = grid(text, "CSR iterations: hallucination")
    published = [row for row in rows if row[0].startswith("LLaVA-1.5-7B")]
    assert published and not any("[" in c or "†" in c for row in published for c in row)
    ours = [row for row in rows if row[0] in ("0", "1")]
    assert ours[1][3] == "50.00" and ours[1][1].startswith("100.00†")  # CHAIR: plain, POPE: interval
    assert "units (POPE question per split)" in text  # CHAIR has no units to name
    assert run.iterations[1].metric("chair", "chair_s") == 50.0


def test_lambda_table_has_the_base_row_and_marks(tmp_path):
    runs = []
    for lam, wrong in ((0.5, 99), (0.9, 0)):
        config = {"model": "m", "seed": 0, "method": "csr", "run_name": f"lam{lam}", "method_config": {"lam": lam}}
        runs.append(write_run(tmp_path / f"lam{lam}", [100, wrong], config=config))
    text = render_run_tables(runs)
    rows = grid(text, "λ ablation")
    assert [row[:2] for row in rows] == [["base", "0"], ["0.5", "1"], ["0.9", "1"]]
    assert rows[1][3].startswith("50.50 [") and "†" not in rows[1][3] and rows[2][3].startswith("**100.00**†")
    assert "difference from lam0.5 (iteration 0 of the first run) excludes 0" in text


def test_bootstrap_is_seeded_by_the_run(tmp_path):
    one = write_run(tmp_path / "a", [100, 0], seed=3)
    stats = task_stats("pope", one.iterations[0].samples("pope"), "x")
    expected = intervals(stats, ["accuracy"], BootstrapSettings(seed=3))["accuracy"]
    assert sig.significance([one]).interval(one.iterations[0], "pope", "accuracy") == expected
    assert sig.settings_of(one) == BootstrapSettings(seed=3)


def test_summary_lines(tmp_path):
    big = write_run(tmp_path / "big", [100, 0])
    lines = sig.summary_lines(big)
    assert lines[0].startswith("change from iteration 0 to iteration 1 (paired bootstrap")
    by_metric = {line.split(":")[0]: line for line in lines[1:]}
    assert list(by_metric) == ["pope accuracy", "pope f1", "pope f1_split_mean", "chair chair_s", "chair chair_i",
                               "chair recall"]
    assert by_metric["pope accuracy"].startswith("pope accuracy: 50.00 → 100.00  Δ +50.00 [+")
    assert by_metric["pope accuracy"].endswith("]  significant, better")
    assert by_metric["chair chair_s"] == "chair chair_s: 50.00 → 50.00  Δ +0.00 [+0.00, +0.00]  not significant"
    small = sig.summary_lines(write_run(tmp_path / "small", [100, 99]))
    assert small[1] == "pope accuracy: 50.00 → 50.50  Δ +0.50 [+0.00, +1.50]  not significant"
    assert sig.summary_lines(write_run(tmp_path / "base-only", [100])) == []


def test_each_number_is_bootstrapped_once_per_process(tmp_path, monkeypatch):
    run = write_run(tmp_path / "big", [100, 0])
    calls = []
    real = sig.differences
    monkeypatch.setattr(sig, "differences", lambda *a, **k: calls.append(a[2]) or real(*a, **k))
    for fmt in ("markdown", "latex", "csv", "html"):
        render_run_tables([run], fmt)
    sig.summary_lines(load_run(tmp_path / "big"))
    assert len(calls) == 3  # POPE and CHAIR of iteration 1, plus POPE's f1 for the summary
    assert iteration_delta_table([write_run(tmp_path / "one", [100])]) is None


def test_metric_curves_have_error_bars_and_the_radar_stars_changed_axes(tmp_path):
    from matplotlib.container import ErrorbarContainer

    from csr_bench.reporting.report.plots import _metrics_figure, _radar_figure, radar_axes, write_plots

    run = write_run(tmp_path / "big", [100, 0])
    figure = _metrics_figure(run)
    pope, chair = figure.axes[:2]
    bars = [c for c in pope.containers if isinstance(c, ErrorbarContainer)]
    assert len(bars) == 2  # accuracy and F1
    lines = bars[0].lines[2][0].get_segments()  # the vertical bar at each iteration
    assert lines[1][0][1] == lines[1][1][1] == 100.0  # iteration 1: interval [100, 100]
    assert lines[0][0][1] == pytest.approx(50 - 6.93, abs=1.0)
    axes = {axis.column.header: axis for axis in radar_axes(run)}
    assert axes["POPE"].changed == {1} and axes["POPE"].label == "POPE*" and not axes["CHAIR_S"].changed
    radar = _radar_figure(write_run(tmp_path / "three", [100, 0, 100]))
    texts = [t.get_text() for t in radar.axes[0].get_legend().get_texts()]
    assert any("interval of the change\nvs iteration 0 excludes 0" in t for t in texts)
    assert "metrics.png" in [p.name for p in write_plots(run, tmp_path / "plots")]


def test_run_prints_the_summary_lines_last_under_quiet(secret_env_run):
    """A real `csr-bench run --quiet` (one CSR iteration on the small world) ends with the summary lines."""
    folder, result = secret_env_run
    expected = sig.summary_lines(load_run(folder))
    assert expected[0].startswith("change from iteration 0 to iteration 1")
    assert any(line.startswith("pope f1_split_mean: ") for line in expected)
    assert not any(line.startswith("mmbench unresolved") for line in expected)  # a count
    assert result.stdout.rstrip("\n").splitlines()[-len(expected):] == expected


def test_table_and_plot_with_intervals_do_not_import_torch(tmp_path):
    write_run(tmp_path / "big", [100, 0])
    result = run_without_heavy_imports(
        "from csr_bench.cli import main\n"
        f"assert main(['table', {str(tmp_path / 'big')!r}]) == 0\n"
        f"assert main(['plot', {str(tmp_path / 'big')!r}]) == 0\n"
        "from csr_bench.reporting.tables.significance import summary_lines\n"
        "from csr_bench.reporting.run_data import load_run\n"
        f"assert summary_lines(load_run({str(tmp_path / 'big')!r}))\n", cwd=None)
    assert "100.00†" in result.stdout
