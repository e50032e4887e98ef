"""The plots of a run (radar, metrics over iterations, reward trend), written as PNG and SVG."""

import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from PIL import Image

from csr_bench.reporting.report.plots import radar_axes, write_plots
from csr_bench.reporting.run_data import IterationData, RunData

ALL = ["radar.png", "radar.svg", "metrics.png", "metrics.svg", "rewards.png", "rewards.svg"]


def hand_run(tmp_path, *results):
    return RunData(tmp_path / "hand", [IterationData(k, tmp_path / "hand" / f"iter_{k}", r) for k, r in
                                       enumerate(results)])


def metrics(**tasks):
    return {task: {"metrics": values} for task, values in tasks.items()}


def test_radar_normalisation_by_hand(tmp_path):
    run = hand_run(tmp_path,
                   metrics(pope={"accuracy": 80.0}, chair={"chair_s": 40.0, "chair_i": 10.0},
                           mme={"perception": 1500.0}, mmbench={"accuracy": 0.0}),
                   metrics(pope={"accuracy": 60.0}, chair={"chair_s": 20.0, "chair_i": 20.0},
                           mmbench={"accuracy": 0.0}))
    axes = radar_axes(run)
    assert [axis.column.header for axis in axes] == ["MME-P", "MMB", "POPE", "CHAIR_S", "CHAIR_I"]
    by_header = {axis.column.header: axis for axis in axes}
    assert by_header["MME-P"].shares == {0: 1.0, 1: None} and by_header["MME-P"].best == 1500.0
    assert by_header["MMB"].shares == {0: 1.0, 1: 1.0}  # all zero: a tie, no division by zero
    assert by_header["POPE"].shares == {0: 1.0, 1: 0.75}  # 60 / 80
    assert by_header["CHAIR_S"].shares == {0: 0.75, 1: 1.0} and by_header["CHAIR_S"].best == 20.0  # (100-40)/(100-20)
    assert by_header["CHAIR_I"].shares[0] == 1.0
    assert by_header["CHAIR_I"].shares[1] == pytest.approx(80 / 90)  # (100-20)/(100-10)


def test_radar_leaves_out_an_unmeasured_mme_group(tmp_path):
    """MME cognition from an empty sum (perception categories only; results.json before the scorer
    left it out) is no radar axis; a cognition category scored 0 is a measured 0 and an axis."""
    legacy = {"perception": 240.0, "cognition": 0, "existence": 90.0, "count": 150.0}
    run = hand_run(tmp_path, metrics(pope={"accuracy": 80.0}, chair={"chair_s": 40.0, "chair_i": 10.0}, mme=legacy))
    assert [axis.column.header for axis in radar_axes(run)] == ["MME-P", "POPE", "CHAIR_S", "CHAIR_I"]
    measured = {**legacy, "code_reasoning": 0.0}
    run = hand_run(tmp_path, metrics(pope={"accuracy": 80.0}, chair={"chair_s": 40.0, "chair_i": 10.0}, mme=measured))
    assert [axis.column.header for axis in radar_axes(run)] == ["MME-P", "MME-C", "POPE", "CHAIR_S", "CHAIR_I"]


def test_plots_of_a_tiny_run_are_images(tiny_run, tmp_path):
    run_dir = tmp_path / "world-vlm"
    shutil.copytree(tiny_run, run_dir)
    written = write_plots(run_dir)  # default: <run>/plots/
    assert [p.name for p in written] == ALL and all(p.parent == run_dir / "plots" for p in written)
    for path in written:
        if path.suffix == ".png":
            with Image.open(path) as image:
                image.verify()
            with Image.open(path) as image:
                assert image.width >= 600 and image.height >= 300
        else:
            assert ET.parse(path).getroot().tag == "{http://www.w3.org/2000/svg}svg"
    radar = (run_dir / "plots" / "radar.svg").read_text()  # text is drawn as paths, named in comments
    assert all(f"<!-- iter {k} -->" in radar for k in (0, 1, 2)) and "iter 3" not in radar
    assert "world-vlm: benchmarks per iteration" in radar and "share of the best iteration" in radar
    rewards = (run_dir / "plots" / "rewards.svg").read_text()
    assert "lower is better" in rewards and "R_I: CLIP image relevance" in rewards  # reference calibration

    again = write_plots(run_dir, tmp_path / "again")  # reruns give the same bytes
    assert [p.read_bytes() for p in again] == [p.read_bytes() for p in written]


def test_plots_without_data_are_skipped(tiny_run, tmp_path):
    shutil.copytree(tiny_run / "iter_0", tmp_path / "only-0" / "iter_0")
    written = write_plots(tmp_path / "only-0", tmp_path / "out")
    assert [p.name for p in written] == ALL[:4]  # no CSR iteration: no reward trend
    two_axes = hand_run(tmp_path, metrics(pope={"accuracy": 80.0}, mme={"perception": 1500.0}))
    assert [p.name for p in write_plots(two_axes, tmp_path / "two")] == ["metrics.png", "metrics.svg"]
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["metrics.png", "metrics.svg"]


def test_importing_plots_loads_no_heavy_library():
    code = ("import sys, csr_bench.reporting.report.plots; "
            "assert not any(m.split('.')[0] in ('torch', 'transformers', 'matplotlib') for m in sys.modules)")
    subprocess.run([sys.executable, "-c", code], check=True)


def test_radar_has_no_axis_for_tasks_the_world_set_leaves_out(tmp_path):
    """A default world run evaluates WORLD_TASKS only: the at-chance tasks (MME, MMBench, VizWiz) are
    no axes, not axes at 0."""
    from csr_bench.models.registry import WORLD_TASKS
    from csr_bench.world_at_chance import WORLD_AT_CHANCE

    default = metrics(pope={"accuracy": 63.0}, chair={"chair_s": 86.0, "chair_i": 49.0}, seed={"accuracy": 40.0},
                      scienceqa={"accuracy": 55.0}, gqa={"accuracy": 46.0}, amber_world={"amber_score": 29.0},
                          unicorn_world={"acc": 68.0})
    assert set(default) == set(WORLD_TASKS)
    run = hand_run(tmp_path, default, default)
    headers = [axis.column.header for axis in radar_axes(run)]
    assert headers == ["SEED", "SQA-I", "GQA", "POPE", "CHAIR_S", "CHAIR_I"]  # amber_world: no Table 1 column
    assert not {axis.column.task for axis in radar_axes(run)} & set(WORLD_AT_CHANCE)


def test_a_benchmark_outside_table_1_gets_its_panel_and_columns_only_for_what_it_reports(tmp_path):
    """amber_g (AMBER's descriptions only) reports CHAIR, Cover, Hal and Cog, not F1 or the AMBER score: the
    other-benchmarks table lists only those, and the metrics plot's amber_g panel takes the first two headline
    metrics it has (chair, cover: 'amber_score' comes first in the scorer's headline but is absent)."""
    from csr_bench.evaluation.results import write_results
    from csr_bench.reporting.report.plots import _metric_panels
    from csr_bench.reporting.run_data import load_run
    from csr_bench.reporting.tables.other_benchmarks import other_columns

    for k, chair in [(0, 12.0), (1, 10.0)]:
        entry = {"metrics": {"chair": chair, "cover": 50.0, "hal": 40.0, "cog": 5.0}, "scorer": "amber_offline",
                 "n_samples": 3, "seconds": 1.0}
        write_results(tmp_path / "run" / f"iter_{k}" / "results.json", run={"name": "run", "iteration": k},
                      model={"name": "m"}, config={"seed": 0}, task_results={"amber_g": entry}, seconds=1.0)
    run = load_run(tmp_path / "run")
    assert [(task, metric) for task, metric, _ in other_columns([run])] == [
        ("amber_g", "chair"), ("amber_g", "cover"), ("amber_g", "hal"), ("amber_g", "cog")]
    [(title, curves)] = _metric_panels(run)
    assert title == "amber_g" and [label for label, _ in curves] == ["chair↓", "cover"]  # chair: lower is better
    assert [value for _, value, _ in curves[0][1]] == [12.0, 10.0]
