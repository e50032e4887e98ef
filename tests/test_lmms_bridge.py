"""The lmms-eval bridge (`--tasks pope,lmms:<task>`, csr_bench/evaluation/lmms_bridge.py) without
lmms-eval: task-name parsing, the interpreter's resolution and its errors, reading lmms-eval's results
file into results.json, failure detection, resume, and the table's mark.

A small script stands in for lmms-eval's interpreter here (it answers the version probe and writes
a results file, or none, as lmms-eval 0.7.3 lays it out); tests/test_lmms_eval_interop.py runs the
real lmms-eval end to end (`make test-lmms`)."""

from __future__ import annotations

import fnmatch
import json
import sys
import textwrap
from pathlib import Path

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.evaluation import lmms_bridge
from csr_bench.evaluation.lmms_bridge import entry_metrics, metric_name, resolve_lmms_python
from csr_bench.tasks.registry import get_tasks, split_task_names

from conftest import assert_one_line_error, run_cli

# The stand-in interpreter. `-c` with the bridge's probe: the version; any other `-c` (writing the
# local POPE task): nothing. `-m ...launch ARGS`: what $FAKE_LMMS_MODE says, logging each call.
FAKE_PYTHON = textwrap.dedent('''\
    #!{python}
    import json, os, sys
    if sys.argv[1] == "-c":
        if "missing" in sys.argv[2]:
            print(json.dumps({{"missing": os.environ.get("FAKE_LMMS_MISSING", "").split() or [],
                              "version": "0.7.3"}}))
        sys.exit(0)
    args = sys.argv[3:]
    value = lambda flag: args[args.index(flag) + 1] if flag in args else None
    task, out, limit = value("--tasks"), value("--output_path"), value("--limit")
    with open(os.environ["FAKE_LMMS_CALLS"], "a") as calls:
        calls.write(json.dumps(args) + "\\n")
    mode = os.environ.get("FAKE_LMMS_MODE", "ok")
    print("INFO lmms-eval starting")
    if mode == "no_file":  # lmms-eval 0.7.3 logs an unknown task and exits 0
        print("ERROR [__main__.py:510] Tasks not found: " + task)
        sys.exit(0)
    name = task if mode == "ok" else "some_other_task"
    n = int(limit) if limit else 10
    results = {{"results": {{name: {{"alias": name, "acc,none": 0.75, "acc_stderr,none": 0.125,
                                    "acc_stderr_clt,none": 0.01, "exact_match,strict-match": 0.5,
                                    "exact_match_stderr,strict-match": "N/A", "submission,none": [1, 2]}}}},
               "n-samples": {{name: {{"original": 10, "effective": min(n, 10)}}}},
               "higher_is_better": {{name: {{"acc": True, "exact_match": True}}}}}}
    folder = os.path.join(out, "model__ckpt")
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, "20260101_000000_results.json"), "w") as f:
        json.dump(results, f)
    if mode != "ok":
        print("ERROR model raised: CUDA out of memory")
''')


@pytest.fixture
def fake_python(tmp_path, monkeypatch) -> Path:
    path = tmp_path / "fake-lmms-python"
    path.write_text(FAKE_PYTHON.format(python=sys.executable))
    path.chmod(0o755)
    monkeypatch.setenv("FAKE_LMMS_CALLS", str(tmp_path / "calls.jsonl"))
    monkeypatch.delenv("FAKE_LMMS_MODE", raising=False)
    monkeypatch.delenv("FAKE_LMMS_MISSING", raising=False)
    monkeypatch.delenv(lmms_bridge.PYTHON_ENV, raising=False)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    return path


@pytest.fixture
def checkpoint(tmp_path) -> Path:
    """A folder the bridge takes for a llava-hf checkpoint (it only hands it to lmms-eval)."""
    folder = tmp_path / "ckpt"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    return folder


def calls(tmp_path: Path) -> list[list[str]]:
    path = tmp_path / "calls.jsonl"
    return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []


def eval_lmms(tmp_path: Path, python: Path, checkpoint: Path, *extra: str):
    return run_cli("eval", "--model", str(checkpoint), "--tasks", "lmms:mytask", "--output", str(tmp_path / "out"),
                   "--lmms-python", str(python), "--device", "cpu", "--quiet", *extra)


def results_of(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "out" / "ckpt" / "iter_0" / "results.json").read_text())


# -- parsing ---------------------------------------------------------------------------------------

def test_task_names_split_into_ours_and_lmms_evals():
    assert split_task_names("pope, lmms:mme,chair,lmms:mme,lmms:pope_local") == (["pope", "chair"],
                                                                                  ["mme", "pope_local"])
    assert split_task_names(["lmms:mme"]) == ([], ["mme"])
    assert [task.name for task in get_tasks("pope,lmms:mme")] == ["pope"]  # not a csr-bench task: no TaskConfig
    assert get_tasks("lmms:mme") == []
    with pytest.raises(CsrBenchError, match="needs an lmms-eval task name"):
        split_task_names("pope,lmms:")
    with pytest.raises(CsrBenchError, match="no task named"):
        get_tasks(" , ")
    with pytest.raises(CsrBenchError, match="unknown task"):  # a csr-bench name is still checked here
        get_tasks("popee,lmms:mme")


def test_metric_names_and_intervals_from_lmms_evals_entry():
    entry = {"alias": "t", "acc,none": 0.75, "acc_stderr,none": 0.125, "acc_stderr_clt,none": 0.01,
             "acc_stderr_clustered,none": "N/A", "exact_match,strict-match": 0.5,
             "exact_match_stderr,strict-match": "N/A", "submission,none": [1, 2], "flag,none": True,
             "nan,none": float("nan")}
    metrics, intervals, keys = entry_metrics(entry)
    # numbers only: no stderr keys, no list, no bool, no NaN; the default filter "none" dropped from the name
    assert metrics == {"acc": 0.75, "exact_match_strict-match": 0.5}
    assert keys == {"acc": "acc,none", "exact_match_strict-match": "exact_match,strict-match"}
    # 0.75 ± 1.959964 × 0.125 = 0.75 ± 0.2449955 -> [0.5050045, 0.9949955]; none from "N/A", none from _clt
    assert intervals == {"acc": pytest.approx([0.5050045, 0.9949955], abs=1e-6)}
    assert metric_name("pope_f1_score,none") == "pope_f1_score" and metric_name("em,flexible-extract") == "em_flexible-extract"


# -- the interpreter -------------------------------------------------------------------------------

def test_interpreter_resolution(tmp_path, monkeypatch):
    monkeypatch.delenv(lmms_bridge.PYTHON_ENV, raising=False)
    with pytest.raises(CsrBenchError, match=r"--lmms-python /nonexistent/python: no such Python interpreter"):
        resolve_lmms_python("/nonexistent/python")
    monkeypatch.setenv(lmms_bridge.PYTHON_ENV, "/nonexistent/env-python")
    with pytest.raises(CsrBenchError, match=r"\$CSR_BENCH_LMMS_PYTHON /nonexistent/env-python"):
        resolve_lmms_python(None)
    assert resolve_lmms_python(sys.executable) == sys.executable  # the flag wins over the variable
    monkeypatch.delenv(lmms_bridge.PYTHON_ENV)

    # neither: this interpreter if it has lmms_eval, else the checkout's .venv-lmms, else how to make one
    monkeypatch.setattr(lmms_bridge, "PROJECT_VENV", tmp_path / ".venv-lmms")
    monkeypatch.setattr(lmms_bridge.importlib.util, "find_spec", lambda name: object())
    assert resolve_lmms_python() == sys.executable
    monkeypatch.setattr(lmms_bridge.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(CsrBenchError, match=r"make \.venv-lmms/\.installed.*--lmms-python PATH") as error:
        resolve_lmms_python()
    assert "\n" not in str(error.value)
    (tmp_path / ".venv-lmms" / "bin").mkdir(parents=True)
    (tmp_path / ".venv-lmms" / "bin" / "python").write_text("")
    assert resolve_lmms_python() == str(tmp_path / ".venv-lmms" / "bin" / "python")


def test_an_interpreter_without_lmms_eval_is_refused():
    if lmms_bridge.importlib.util.find_spec("lmms_eval") is not None:
        pytest.skip("this interpreter has lmms-eval")
    with pytest.raises(CsrBenchError, match=r"lmms_eval not installed for this interpreter; make it with"):
        lmms_bridge.lmms_eval_version(sys.executable)


def test_bad_interpreter_fails_before_any_work(tmp_path, fake_python, checkpoint, monkeypatch):
    """--model tiny-llava would load a model and save it: a bad --lmms-python stops first."""
    result = run_cli("eval", "--model", "tiny-llava", "--tasks", "pope,lmms:mytask", "--output", str(tmp_path / "out"),
                     "--lmms-python", str(tmp_path / "nope"), "--quiet")
    assert_one_line_error(result, "--lmms-python", "no such Python interpreter")
    assert not (tmp_path / "out" / "tiny-llava" / "iter_0").exists()
    monkeypatch.setenv("FAKE_LMMS_MISSING", "lmms_eval")
    result = eval_lmms(tmp_path, fake_python, checkpoint)
    assert_one_line_error(result, "lmms_eval not installed for this interpreter")
    result = eval_lmms(tmp_path, fake_python, checkpoint, "--lmms-include", str(tmp_path / "no-such-folder"))
    assert_one_line_error(result, "--lmms-include", "no such folder")
    result = run_cli("eval", "--model", str(checkpoint), "--tasks", "lmms:../x", "--lmms-python", str(fake_python),
                     "--output", str(tmp_path / "out"), "--quiet")
    assert_one_line_error(result, "lmms:../x", "not an lmms-eval task name")
    assert calls(tmp_path) == []  # lmms-eval never started


# -- results, failures, resume ---------------------------------------------------------------------

def test_results_entry_resume_and_table(tmp_path, fake_python, checkpoint):
    result = eval_lmms(tmp_path, fake_python, checkpoint, "--limit", "4")
    assert result.returncode == 0, result.stderr
    [call] = calls(tmp_path)
    assert call[call.index("--tasks") + 1] == "mytask" and call[call.index("--limit") + 1] == "4"
    assert "--include_path" not in call  # lmms-eval's own task; no --lmms-include given
    entry = results_of(tmp_path)["results"]["lmms:mytask"]
    assert entry["metrics"] == {"acc": 0.75, "exact_match_strict-match": 0.5}
    assert entry["scored_by"] == "lmms-eval 0.7.3" and entry["scorer"] == "lmms-eval"
    assert entry["intervals"] == {"acc": pytest.approx([0.5050045, 0.9949955], abs=1e-6)}
    assert entry["interval_method"]["confidence"] == 0.95 and "stderr" in entry["interval_method"]["method"]
    assert (entry["n_samples"], entry["n_documents"], entry["subset"]) == (4, 10, {"limit": 4})
    assert entry["command"][:3] == ["fake-lmms-python", "-m", "csr_bench.interop.lmms_eval.launch"]
    assert entry["results_file"] == "lmms/mytask/results/model__ckpt/20260101_000000_results.json"
    assert entry["higher_is_better"] == {"acc": True, "exact_match_strict-match": True}

    # the same inputs: not run again; another --limit: run again; another include folder: refused
    assert eval_lmms(tmp_path, fake_python, checkpoint, "--limit", "4").returncode == 0
    assert len(calls(tmp_path)) == 1
    assert eval_lmms(tmp_path, fake_python, checkpoint).returncode == 0
    assert len(calls(tmp_path)) == 2 and "subset" not in results_of(tmp_path)["results"]["lmms:mytask"]
    (tmp_path / "mytasks").mkdir()
    result = eval_lmms(tmp_path, fake_python, checkpoint, "--lmms-include", str(tmp_path / "mytasks"))
    assert_one_line_error(result, "lmms:mytask was run with other include", "--overwrite")
    result = eval_lmms(tmp_path, fake_python, checkpoint, "--lmms-include", str(tmp_path / "mytasks"), "--overwrite")
    assert result.returncode == 0, result.stderr
    call = calls(tmp_path)[-1]
    assert len(calls(tmp_path)) == 3 and call[call.index("--include_path") + 1] == str(tmp_path / "mytasks")

    table = run_cli("table", str(tmp_path / "out" / "ckpt"), check=True).stdout
    assert "lmms:mytask acc‡ |" in table and "lmms:mytask exact_match_strict-match‡ |" in table
    assert "0.75 [0.5, 1.0]¹" in table  # the interval from lmms-eval's stderr, one decimal fewer
    assert "¹ ‡ lmms:mytask: scored by lmms-eval 0.7.3 with its rule and units, not the official rule" in table
    assert "percentile bootstrap" not in table.split("**Other benchmarks")[1].split("**CSR iterations")[0]
    table_1 = table.split("**Other benchmarks")[0]
    assert "lmms" not in table_1  # never in the official-rule columns

    # `csr-bench export` gives lmms-eval's own keys back, not our "official" filter
    from csr_bench.interop.lmms_eval import export_lmms_eval_results

    exported = export_lmms_eval_results(tmp_path / "out" / "ckpt" / "iter_0")
    row = exported["results"]["lmms:mytask"]
    assert (row["acc,none"], row["exact_match,strict-match"]) == (0.75, 0.5)
    assert not [key for key in row if key.endswith(",official")]
    assert exported["versions"]["lmms:mytask"] == "lmms-eval 0.7.3"


@pytest.mark.parametrize("mode, fragments", [
    ("no_file", ["lmms-eval wrote no results file for mytask", "Tasks not found: mytask", "lmms_eval.log"]),
    ("no_task", ["no results for mytask", "CUDA out of memory", "lmms_eval.log"]),
])
def test_a_failure_is_read_from_the_results_file(tmp_path, fake_python, checkpoint, monkeypatch, mode, fragments):
    """lmms-eval exits 0 when it fails: the bridge reads its results file. The task is recorded as
    failed (with the reason), the evaluation's other work is written, and the command fails with one line."""
    monkeypatch.setenv("FAKE_LMMS_MODE", mode)
    result = eval_lmms(tmp_path, fake_python, checkpoint)
    assert_one_line_error(result, "lmms:mytask", *fragments)
    entry = results_of(tmp_path)["results"]["lmms:mytask"]
    assert entry["metrics"] == {} and all(fragment in entry["error"] for fragment in fragments)
    assert not (tmp_path / "out" / "ckpt" / "iter_0" / "lmms" / "mytask" / "bridge_run.json").exists()
    monkeypatch.setenv("FAKE_LMMS_MODE", "ok")  # a rerun retries it
    assert eval_lmms(tmp_path, fake_python, checkpoint).returncode == 0
    assert results_of(tmp_path)["results"]["lmms:mytask"]["metrics"]["acc"] == 0.75


def test_failure_keeps_the_native_tasks_results(tmp_path, fake_python, monkeypatch):
    monkeypatch.setenv("FAKE_LMMS_MODE", "no_file")
    result = run_cli("eval", "--model", "tiny-llava", "--tasks", "pope,lmms:mytask", "--limit", "2",
                     "--output", str(tmp_path / "out"), "--lmms-python", str(fake_python), "--quiet")
    assert_one_line_error(result, "lmms:mytask", "Tasks not found")
    results = json.loads((tmp_path / "out" / "tiny-llava" / "iter_0" / "results.json").read_text())["results"]
    assert results["pope"]["n_samples"] == 2 and "accuracy" in results["pope"]["metrics"]
    [call] = calls(tmp_path)  # lmms-eval got the tiny LLaVA saved as a llava-hf folder
    model_args = call[call.index("--model_args") + 1]
    assert model_args == f"pretrained={tmp_path / 'out' / 'tiny-llava' / 'iter_0' / 'model'},device_map=cpu"
    assert (tmp_path / "out" / "tiny-llava" / "iter_0" / "model" / "config.json").is_file()


def test_check_does_not_gate_bridged_tasks():
    from csr_bench.reporting.check.regression import DEFAULT_METRICS, wanted_tasks

    assert not [p for p in DEFAULT_METRICS if p.startswith("lmms")]
    assert not any(fnmatch.fnmatchcase("lmms:pope_local", pattern) for pattern in wanted_tasks(None))


def test_the_runs_summary_says_who_scored_a_bridged_task(tmp_path):
    from csr_bench.evaluation.results import write_results
    from csr_bench.reporting.run_data import load_run
    from csr_bench.reporting.tables.significance import summary_lines

    for k, accuracy in [(0, 0.5), (1, 0.625)]:
        entry = {"metrics": {"acc": accuracy}, "scorer": "lmms-eval", "scored_by": "lmms-eval 0.7.3",
                 "n_samples": 8, "seconds": 1.0}
        write_results(tmp_path / "run" / f"iter_{k}" / "results.json", run={"name": "run", "iteration": k},
                      model={"name": "m"}, config={"seed": 0}, task_results={"lmms:mytask": entry}, seconds=1.0)
    lines = summary_lines(load_run(tmp_path / "run"))
    # 0.625 - 0.5 = +0.125, shown as +0.12 (two decimals, round-half-even of 0.125)
    assert lines[1] == ("lmms:mytask acc: 0.50 → 0.62  Δ +0.12  (scored by lmms-eval 0.7.3)  "
                        "(no interval: no per-unit statistics)")


def test_prepare_refuses_bad_input_without_running_anything(tmp_path, monkeypatch):
    from types import SimpleNamespace

    from csr_bench.evaluation.lmms_bridge import prepare_bridge

    def config(**fields):
        return SimpleNamespace(**{"model": "tiny-llava", "tasks": ["pope"], "lmms_python": None,
                                  "lmms_include": None, **fields})

    monkeypatch.setattr(lmms_bridge, "lmms_eval_version", lambda python: pytest.fail("probed"))
    assert prepare_bridge(config()) is None  # no lmms: task, nothing to check
    with pytest.raises(CsrBenchError, match="--lmms-include: no lmms: task in --tasks"):
        prepare_bridge(config(lmms_include=str(tmp_path)))
    with pytest.raises(CsrBenchError, match="use the model without 'vllm:'"):
        prepare_bridge(config(model="vllm:llava-1.5-7b", tasks=["lmms:mme"]))
    with pytest.raises(CsrBenchError, match="not an lmms-eval task name"):
        prepare_bridge(config(tasks=["lmms:a b"]))


def test_a_groups_size_is_the_sum_of_its_subtasks():
    from csr_bench.evaluation.lmms_bridge import task_size

    results = {"n-samples": {"pope_adv": {"original": 3000, "effective": 4}, "pope_pop": {"original": 3000, "effective": 4},
                             "pope_random": {"original": 2910, "effective": 4}},
               "group_subtasks": {"pope_full": ["pope_adv", "pope_pop", "pope_random"]}}
    assert task_size(results, "pope_full") == (12, 8910)  # 4+4+4, 3000+3000+2910
    assert task_size(results, "pope_pop") == (4, 3000)
    assert task_size(results, "other") == (None, None)


def test_plots_show_a_bridged_task_marked_with_lmms_evals_interval(tmp_path):
    """The metrics plot has a panel per benchmark outside Table 1, an lmms: task's titled as lmms-eval's with
    the interval its stderr gives (0.75 ± 1.96 × 0.125 = [0.505, 0.995], as the results entry holds it)."""
    from csr_bench.evaluation.results import write_results
    from csr_bench.reporting.report.plots import _metric_panels, write_plots
    from csr_bench.reporting.run_data import load_run

    for k, accuracy in [(0, 0.5), (1, 0.75)]:
        entry = {"metrics": {"acc": accuracy}, "scorer": "lmms-eval", "scored_by": "lmms-eval 0.7.3",
                 "intervals": {"acc": [accuracy - 0.245, accuracy + 0.245]}, "n_samples": 8, "seconds": 1.0}
        write_results(tmp_path / "run" / f"iter_{k}" / "results.json", run={"name": "run", "iteration": k},
                      model={"name": "m"}, config={"seed": 0}, task_results={"lmms:mytask": entry}, seconds=1.0)
    run = load_run(tmp_path / "run")
    [(title, [(label, points)])] = _metric_panels(run)
    assert title == "lmms:mytask ‡ (lmms-eval 0.7.3's rule)" and label == "acc"
    assert points == [(0, 0.5, (0.255, 0.745)), (1, 0.75, (0.505, 0.995))]
    written = write_plots(run)
    assert {p.name for p in written} >= {"metrics.png", "metrics.svg"}
    assert "scored by lmms-eval with its rule and units" in (tmp_path / "run" / "plots" / "metrics.svg").read_text()
