"""The iteration table `csr-bench run` prints and writes (iterations.md), from a run folder's files."""

import json

from csr_bench.reporting.iteration_table import format_iteration_table, iteration_rows


def write(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))


def test_rows_and_markdown_from_a_run_folder(tmp_path):
    write(tmp_path / "iter_0" / "results.json", {"results": {
        "pope": {"metrics": {"accuracy": 80.0, "f1_split_mean": 78.123, "adversarial_f1": 70.0}},
        "chair": {"metrics": {"chair_s": 50.0, "chair_i": 20.5, "recall": 60.0}}}})
    write(tmp_path / "iter_1" / "results.json", {"results": {
        "pope": {"metrics": {"accuracy": 82.5, "f1_split_mean": 80.0, "adversarial_f1": 75.0}},
        "chair": {"skipped": "no annotations"}}})
    write(tmp_path / "iter_1" / "csr" / "summary.json", {"pairs": 12, "mean_chosen_reward": 0.3,
                                                         "mean_rejected_reward": 0.6})
    (tmp_path / "iter_2").mkdir()  # not evaluated yet: no row
    (tmp_path / "iter_x").mkdir()  # not an iteration
    rows = iteration_rows(tmp_path)
    assert rows == [
        {"iteration": 0, "POPE acc": 80.0, "POPE F1": 78.123, "F1 adv": 70.0, "CHAIR_S↓": 50.0, "CHAIR_I↓": 20.5,
         "CHAIR rec": 60.0},
        {"iteration": 1, "POPE acc": 82.5, "POPE F1": 80.0, "F1 adv": 75.0, "pairs": 12, "chosen R": 0.3,
         "rejected R": 0.6}]
    lines = format_iteration_table(rows).splitlines()
    assert [c.strip() for c in lines[0].strip("|").split("|")] == [
        "iteration", "POPE acc", "POPE F1", "F1 adv", "CHAIR_S↓", "CHAIR_I↓", "CHAIR rec", "pairs", "chosen R",
        "rejected R"]
    assert [c.strip() for c in lines[2].strip("|").split("|")] == [
        "0", "80.00", "78.12", "70.00", "50.00", "20.50", "60.00", "–", "–", "–"]
    assert [c.strip() for c in lines[3].strip("|").split("|")] == [
        "1", "82.50", "80.00", "75.00", "–", "–", "–", "12", "0.30", "0.60"]
