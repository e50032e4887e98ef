"""lmms-eval interop: the export layout (always), the torchvision shim (where torchvision is
installed) and lmms-eval's own POPE on a csr-bench checkpoint (only with the ``lmms`` extra)."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from csr_bench.compat import torchvision_ops
from csr_bench.evaluation.results import write_results
from csr_bench.interop.lmms_eval import (LMMS_EVAL_FILTER, LOCAL_POPE_TASK, OFFICIAL_FILTER, compare_pope,
                                         export_lmms_eval_results, lmms_eval_pope_metrics, metrics_of,
                                         run_lmms_eval, sanitize_model_name, write_lmms_eval_results)
from csr_bench.scorers.pope import PopeScorer, parse_yes_no

from conftest import REPO

# Keys of lmms-eval 0.7.3's <date>_results.json (evaluator.evaluate + simple_evaluate + EvaluationTracker).
LMMS_EVAL_KEYS = {"results", "group_subtasks", "configs", "versions", "n-shot", "higher_is_better", "n-samples",
                  "config", "git_hash", "date", "task_hashes", "model_source", "model_name",
                  "model_name_sanitized", "total_evaluation_time_seconds"}
# csr-bench's CLI in a fresh process, with the shim first (needed wherever the extra put torchvision).
CSR_BENCH = ("from csr_bench.compat import ensure_torchvision_importable as shim; shim(); "
             "from csr_bench.cli import main; raise SystemExit(main())")
SAVE_TINY_LLAVA = ("from csr_bench.compat import ensure_torchvision_importable as shim; shim(); import sys; "
                   "from csr_bench.models.tiny_llava import save_tiny_llava; save_tiny_llava(sys.argv[1])")


def _iteration(tmp_path: Path, predictions: list[str], rows: list[dict]) -> Path:
    """An iter_0 folder as the evaluator writes it: samples.jsonl, task_run.json, results.json."""
    iteration = tmp_path / "run" / "iter_0"
    (iteration / "pope").mkdir(parents=True)
    samples = []
    for index, (row, prediction) in enumerate(zip(rows, predictions)):
        parsed = parse_yes_no(prediction)
        samples.append({"doc_id": row["question_id"], "doc_index": index,
                        **{k: row[k] for k in ("question_id", "question", "answer", "category")},
                        "prompt": row["question"] + "\nAnswer the question using a single word or phrase.",
                        "prediction": prediction, "parsed": parsed, "correct": parsed == row["answer"]})
    (iteration / "pope" / "samples.jsonl").write_text("".join(json.dumps(s) + "\n" for s in samples))
    (iteration / "pope" / "task_run.json").write_text(json.dumps({"task": {"name": "pope"}, "data": "bundled:pope"}))
    entry = {"metrics": PopeScorer().aggregate(samples), "n_samples": len(samples), "n_generated": len(samples),
             "data_source": "bundled:pope", "generation": {"max_new_tokens": 128, "do_sample": False},
             "samples": "pope/samples.jsonl", "seconds": 1.5}
    write_results(iteration / "results.json", run={"name": "run", "iteration": 0, "dir": str(iteration)},
                  model={"name": "ckpt", "source": "/models/csr/ckpt", "class": "LlavaForConditionalGeneration",
                         "dtype": "float32", "device": "cpu"},
                  config={"seed": 0, "limit": len(samples), "batch_size": 8}, task_results={"pope": entry},
                  seconds=2.0)
    return iteration


# Official rule vs lmms-eval's: "Yes." and "No, there is not." parse under the official rule only.
PREDICTIONS = ["Yes", "Yes.", "no", "No, there is not.", "yes", "maybe", "NO", "Yes"]


def test_export_has_lmms_eval_layout_and_both_scorings(tmp_path, pope_rows):
    rows = pope_rows[:len(PREDICTIONS)]
    iteration = _iteration(tmp_path, PREDICTIONS, rows)
    ours = json.loads((iteration / "results.json").read_text())["results"]["pope"]["metrics"]
    exported = export_lmms_eval_results(iteration)

    assert LMMS_EVAL_KEYS <= set(exported)
    row = exported["results"]["pope"]
    assert row["alias"] == "pope"
    # Official metrics: lmms-eval's names, fractions, filter "official"; per split and headline too.
    for ours_name, name in [("accuracy", "pope_accuracy"), ("precision", "pope_precision"), ("recall", "pope_recall"),
                            ("f1", "pope_f1_score"), ("yes_ratio", "pope_yes_ratio"),
                            ("f1_split_mean", "pope_f1_split_mean"), ("adversarial_f1", "pope_adversarial_f1_score")]:
        assert row[f"{name},{OFFICIAL_FILTER}"] == pytest.approx(ours[ours_name] / 100)
        assert row[f"{name}_stderr,{OFFICIAL_FILTER}"] == "N/A"
    # lmms-eval's rule on the same predictions, by hand: exact yes/no after lower()/strip().
    labels = [r["answer"] for r in rows]
    exact = [p.lower().strip() for p in PREDICTIONS]
    tp = sum(p == "yes" and g == "yes" for p, g in zip(exact, labels))
    fp = sum(p == "yes" and g == "no" for p, g in zip(exact, labels))
    fn = sum(p == "no" and g == "yes" for p, g in zip(exact, labels))
    lmms = metrics_of(exported, "pope", LMMS_EVAL_FILTER)
    assert lmms["pope_accuracy"] == pytest.approx(sum(p == g for p, g in zip(exact, labels)) / len(rows))
    assert lmms["pope_precision"] == pytest.approx(tp / (tp + fp) if tp + fp else 0)
    assert lmms["pope_recall"] == pytest.approx(tp / (tp + fn) if tp + fn else 0)
    assert lmms["pope_yes_ratio"] == pytest.approx(labels.count("yes") / len(labels))  # labels, not predictions
    assert lmms["pope_accuracy"] != pytest.approx(ours["accuracy"] / 100)  # the two rules disagree here

    assert exported["higher_is_better"]["pope"]["pope_f1_score"] is True
    assert exported["higher_is_better"]["pope"]["pope_yes_ratio"] is None
    assert exported["n-samples"]["pope"]["effective"] == len(rows)
    assert exported["config"]["model_args"] == "pretrained=/models/csr/ckpt"
    assert exported["model_name_sanitized"] == "csr__ckpt" == sanitize_model_name("/models/csr/ckpt")
    assert len(exported["date"]) == 15 and exported["date"][8] == "_"
    assert exported["configs"]["pope"]["task"] == "pope"

    written = write_lmms_eval_results(iteration, tmp_path / "out")
    assert written.parent == tmp_path / "out" / "csr__ckpt" and written.name.endswith("_results.json")
    assert json.loads(written.read_text()) == json.loads(json.dumps(exported))


def test_lmms_rule_matches_lmms_evals_own_pope_code(pope_rows):
    """Our copy of lmms-eval's POPE rule against its utils.py, where lmms-eval is installed."""
    spec = importlib.util.find_spec("lmms_eval")
    if spec is None:
        pytest.skip("lmms-eval is not installed (the lmms extra)")
    utils_path = Path(next(iter(spec.submodule_search_locations))) / "tasks" / "pope" / "utils.py"
    module_spec = importlib.util.spec_from_file_location("lmms_pope_utils", utils_path)
    utils = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(utils)
    records = [{"prediction": p, "answer": r["answer"], "question_id": r["question_id"]}
               for p, r in zip(PREDICTIONS, pope_rows)]
    per_doc = [utils.pope_process_results(r, [r["prediction"]])["pope_accuracy"] for r in records]
    expected = {"pope_accuracy": utils.pope_aggregate_accuracy(per_doc),
                "pope_precision": utils.pope_aggregate_precision(per_doc),
                "pope_recall": utils.pope_aggregate_recall(per_doc),
                "pope_f1_score": utils.pope_aggregate_f1_score(per_doc),
                "pope_yes_ratio": utils.pope_aggregate_yes_ratio(per_doc)}
    assert lmms_eval_pope_metrics(records) == pytest.approx(expected)


def test_shim_does_nothing_without_torchvision(monkeypatch):
    monkeypatch.setattr(torchvision_ops, "_STATE", None)
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(torchvision_ops.importlib.util, "find_spec", lambda name, *a: None)
    assert torchvision_ops.ensure_torchvision_importable() == "absent"
    assert "torchvision" not in sys.modules


def test_shim_leaves_a_torchvision_that_loads_alone(monkeypatch):
    """Where the compiled library loads (a GPU machine), nothing is declared."""
    import importlib.machinery

    import torch

    spec = importlib.machinery.ModuleSpec("torchvision", None, is_package=True)
    spec.submodule_search_locations = ["/nonexistent/torchvision"]
    monkeypatch.setattr(torchvision_ops, "_STATE", None)
    monkeypatch.delitem(sys.modules, "torchvision", raising=False)
    monkeypatch.setattr(torchvision_ops.importlib.util, "find_spec", lambda name, *a: spec)
    monkeypatch.setattr(torchvision_ops, "_has_operator", lambda torch, name: False)
    monkeypatch.setattr(torchvision_ops, "_load_compiled_ops", lambda torch, path: True)
    declared = []
    monkeypatch.setattr(torch.library, "Library", lambda *args: declared.append(args))
    assert torchvision_ops.ensure_torchvision_importable() == "native"
    assert declared == []


def test_shim_makes_torchvision_and_image_processors_work(tmp_path):
    if importlib.util.find_spec("torchvision") is None:
        pytest.skip("torchvision is not installed")
    script = textwrap.dedent("""
        from csr_bench.compat import ensure_torchvision_importable
        state = ensure_torchvision_importable()
        assert ensure_torchvision_importable() == state  # idempotent
        import torchvision
        import torchvision.transforms as T
        from PIL import Image
        from transformers import CLIPImageProcessor
        from csr_bench.models.tiny_llava import build_processor
        image = Image.new("RGB", (80, 60), (200, 30, 30))
        assert tuple(T.Compose([T.Resize(32), T.ToTensor()])(image).shape) == (3, 32, 42)
        processor = CLIPImageProcessor(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32})
        assert tuple(processor(images=image, return_tensors="pt")["pixel_values"].shape) == (1, 3, 32, 32)
        inputs = build_processor()(images=image, text="USER: <image>\\nIs there a cup? ASSISTANT:",
                                   return_tensors="pt")
        assert tuple(inputs["pixel_values"].shape) == (1, 3, 32, 32)
        print(state)
    """)
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split()[-1] in ("shimmed", "native")


def _square_pope(tmp_path: Path, pope_rows: list[dict], count: int) -> Path:
    """Bundled POPE rows with images padded to a square (as LLaVA-1.5 does), so both harnesses
    feed the model the same pixels and only prompts and decoding could differ."""
    from PIL import Image

    root = tmp_path / "square" / "pope"
    (root / "images").mkdir(parents=True)
    bundled = REPO / "csr_bench" / "bundled" / "pope"
    background = (122, 116, 104)  # CLIP's mean colour, int(x*255), as the LLaVA adapter pads
    for row in pope_rows[:count]:
        image = Image.open(bundled / row["image"]).convert("RGB")
        side = max(image.size)
        canvas = Image.new("RGB", (side, side), background)
        canvas.paste(image, ((side - image.width) // 2, (side - image.height) // 2))
        canvas.save(root / row["image"])
    (root / "pope.jsonl").write_text("".join(json.dumps(r) + "\n" for r in pope_rows[:count]))
    return root


def test_lmms_eval_pope_on_a_csr_bench_checkpoint(tmp_path, pope_rows):
    pytest.importorskip("lmms_eval")
    pytest.importorskip("decord")  # lmms-eval's llava_hf imports it
    count = 8
    data = _square_pope(tmp_path, pope_rows, count)
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    checkpoint = tmp_path / "ckpt"
    subprocess.run([sys.executable, "-c", SAVE_TINY_LLAVA, str(checkpoint)], check=True, env=env, timeout=300,
                   capture_output=True)
    ours = subprocess.run([sys.executable, "-c", CSR_BENCH, "eval", "--model", str(checkpoint), "--tasks", "pope",
                           "--data-root", str(data.parent), "--limit", str(count), "--output", str(tmp_path / "ours"),
                           "--quiet"], capture_output=True, text=True, env=env, timeout=600)
    assert ours.returncode == 0, ours.stderr[-3000:]
    iteration = tmp_path / "ours" / "ckpt" / "iter_0"

    run = run_lmms_eval(checkpoint, tmp_path / "lmms", data=data / "pope.jsonl", limit=count, timeout=600)
    assert run.extra["force_simple"]  # the tiny checkpoint has no chat template
    assert run.results["n-samples"][LOCAL_POPE_TASK] == {"original": count, "effective": count}
    metrics = run.metrics()
    assert set(metrics) == {"pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score", "pope_yes_ratio"}
    assert LOCAL_POPE_TASK in run.samples_paths

    comparison = compare_pope(iteration, run.results_path)
    predictions = comparison["predictions"]
    assert predictions["common_questions"] == count
    assert predictions["identical_prompts"] == 1.0
    # Same pixels, same vicuna_v1 prompt (plain llava_hf mode), greedy: the same text.
    assert predictions["identical_predictions"] == 1.0
    # So lmms-eval's own scores equal our export's lmms-eval-rule scores of the same predictions.
    assert metrics == pytest.approx(metrics_of(export_lmms_eval_results(iteration), "pope", LMMS_EVAL_FILTER))

    from lmms_eval.utils import make_table  # lmms-eval's own table reads the export

    table = make_table(json.loads(write_lmms_eval_results(iteration).read_text()))
    assert "pope_f1_score" in table and OFFICIAL_FILTER in table


def test_export_command(tmp_path, pope_rows):
    from conftest import run_cli

    iteration = _iteration(tmp_path, ["Yes."] * 4, pope_rows[:4])
    result = run_cli("export", str(iteration), "--output", str(tmp_path / "lmms"), check=True)
    written = Path(result.stdout.strip())
    assert written.is_file() and written.is_relative_to(tmp_path / "lmms")
    assert LMMS_EVAL_KEYS <= set(json.loads(written.read_text()))


def test_bridge_runs_lmms_eval_tasks_inside_csr_bench_eval(tmp_path, pope_rows):
    """`csr-bench eval --tasks pope,lmms:pope_local,lmms:pope_mine`: lmms-eval's own POPE (on the same
    local data; pope_mine from a folder given with --lmms-include) run by the bridge on the tiny
    checkpoint, its numbers in results.json exactly as lmms-eval's results file has them, marked."""
    pytest.importorskip("lmms_eval")
    pytest.importorskip("decord")
    from importlib import metadata

    from csr_bench.interop.lmms_eval import write_pope_task

    count = 8  # the whole data file: both harnesses take the same questions
    data = _square_pope(tmp_path, pope_rows, count)
    mine = write_pope_task(tmp_path / "mytasks", data / "pope.jsonl", task="pope_mine").parent
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    env.pop("CSR_BENCH_LMMS_PYTHON", None)  # this interpreter has lmms_eval: the bridge's default
    command = [sys.executable, "-c", CSR_BENCH, "eval", "--model", "tiny-llava",
               "--tasks", "pope,lmms:pope_local,lmms:pope_mine", "--lmms-include", str(mine),
               "--data-root", str(data.parent), "--limit", str(count), "--output", str(tmp_path / "out"), "--quiet"]
    result = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    iteration = tmp_path / "out" / "tiny-llava" / "iter_0"
    results = json.loads((iteration / "results.json").read_text())["results"]

    version = metadata.version("lmms_eval")
    ours_lmms_rule = metrics_of(export_lmms_eval_results(iteration), "pope", LMMS_EVAL_FILTER)
    for task in ("pope_local", "pope_mine"):
        entry = results[f"lmms:{task}"]
        assert entry["scored_by"] == f"lmms-eval {version}"
        own = json.loads((iteration / entry["results_file"]).read_text())
        # every "<metric>,none" number of lmms-eval's own file, under its plain name, nothing else
        assert entry["metrics"] == {key.split(",")[0]: value for key, value in own["results"][task].items()
                                    if key.endswith(",none") and "_stderr" not in key}
        assert set(entry["metrics"]) == {"pope_accuracy", "pope_precision", "pope_recall", "pope_f1_score",
                                         "pope_yes_ratio"}
        assert entry["n_samples"] == own["n-samples"][task]["effective"] == count
        # POPE's aggregations have no stderr in lmms-eval ("N/A"): no interval
        assert "intervals" not in entry
        # same pixels and prompt, greedy: lmms-eval's scores = csr-bench's predictions under lmms-eval's rule
        assert entry["metrics"] == pytest.approx(ours_lmms_rule)
    assert results["lmms:pope_local"]["command"][results["lmms:pope_local"]["command"].index("--include_path") + 1] \
        == str(iteration / "lmms" / "pope_local" / "tasks")
    assert str(mine) in results["lmms:pope_mine"]["command"]

    # a rerun of the same command runs neither again; the table marks both
    again = subprocess.run(command, capture_output=True, text=True, env=env, timeout=900)
    assert again.returncode == 0 and again.stderr.count("not redone") == 2, again.stderr[-3000:]
    table = subprocess.run([sys.executable, "-c", CSR_BENCH, "table", str(iteration.parent)], capture_output=True,
                           text=True, env=env, timeout=300).stdout
    assert "lmms:pope_local pope_f1_score‡" in table and "lmms:pope_mine pope_f1_score‡" in table
    assert f"‡ lmms:pope_local: scored by lmms-eval {version} with its rule and units, not the official rule" in table
