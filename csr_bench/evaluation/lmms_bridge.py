"""The lmms-eval bridge: ``--tasks pope,lmms:<task>`` runs lmms-eval's task ``<task>`` on the
iteration's checkpoint, in lmms-eval's own environment (a separate interpreter), and puts its
numbers into results.json as task ``lmms:<task>``, marked as scored by lmms-eval (docs/lmms-eval.md,
"The bridge").

- ``prepare_bridge`` (before any model loads, and in ``csr-bench run`` before any iteration): the
  interpreter (--lmms-python, $CSR_BENCH_LMMS_PYTHON, this one when lmms_eval is importable here, the
  project's .venv-lmms), its lmms-eval version, the task names and --lmms-include: bad input fails in
  seconds. ``run_bridged_tasks`` checks the earlier runs' records of every task before running any.
- ``run_bridged_tasks``: per task, ``run_lmms_task`` (below; also interop/lmms_eval/run.py's runner:
  lmms-eval's command line through interop/lmms_eval/launch.py) into ``iter_<k>/lmms/<task>/``, its
  results file read into a results.json entry; a failed task gets an ``error`` entry (the evaluator
  writes the other tasks' results and then fails with one line, as for a failed scoring).
- Resume: ``iter_<k>/lmms/<task>/bridge_run.json`` records the inputs (checkpoint, lmms-eval version,
  include folder, device, data) and the entry; the same inputs and --limit reuse it, another --limit
  reruns the task, other inputs are refused (--overwrite redoes them), as a native task's samples are.
No torch import here; lmms-eval and the model live in the child process.
"""

from __future__ import annotations

import importlib.util
import json
import math
import os
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from csr_bench.errors import CsrBenchError
from csr_bench.progress import get_logger
from csr_bench.storage.files import atomic_write_json
from csr_bench.tasks.registry import LMMS_PREFIX, split_task_names

log = get_logger()

PYTHON_ENV = "CSR_BENCH_LMMS_PYTHON"
LOCAL_POPE_TASK = "pope_local"  # interop/lmms_eval/run.py writes it: lmms-eval's POPE on local data
BRIDGE_DIR = "lmms"  # iter_<k>/lmms/<task>/
RECORD_FILE = "bridge_run.json"
SCORER = "lmms-eval"  # results.json's "scorer" of a bridged task: no csr-bench scorer, no unit statistics
PROJECT_VENV = Path(__file__).resolve().parents[2] / ".venv-lmms"
MAKE_HINT = ("make it with `make .venv-lmms/.installed` in the csr-bench checkout, or install the extra "
             "(pip install -c constraints.txt -e '.[lmms]') into an environment and pass --lmms-python PATH")
Z95 = 1.959963984540054  # the normal distribution's 97.5% quantile: value ± Z95 × stderr is a 95% interval
# lmms-eval 0.7's standard errors: "_stderr" (the metric's own, from its registry; "N/A" for custom
# aggregations such as POPE's), "_stderr_clt" and "_stderr_clustered" (std of the per-document "score"
# over sqrt(n): right for a mean of those scores only, so not used for intervals here).
_STDERR = re.compile(r"_stderr(_clt|_clustered)?$")
_TASK_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.\-]*")
# Run in the lmms-eval interpreter: is lmms_eval there, is csr_bench (launch.py's shim), which lmms-eval version.
_PROBE = ("import importlib.util as u, importlib.metadata as m, json; "
          "missing = [n for n in ('lmms_eval', 'csr_bench') if u.find_spec(n) is None]; "
          "print(json.dumps({'missing': missing, 'version': None if missing else m.version('lmms_eval')}))")
_WRITE_POPE = ("import sys; from csr_bench.interop.lmms_eval.run import write_pope_task; "
               "write_pope_task(sys.argv[1], sys.argv[2])")


def bridged_name(task: str) -> str:
    """The results.json name of lmms-eval's ``task``: ``lmms:<task>``."""
    return f"{LMMS_PREFIX}{task}"


def resolve_lmms_python(given: str | None = None) -> str:
    """The interpreter lmms-eval runs in: ``given`` (--lmms-python), else $CSR_BENCH_LMMS_PYTHON, else
    this interpreter when lmms_eval is importable here, else the project's .venv-lmms/bin/python;
    else a one-line error saying how to make one."""
    given = given or os.environ.get(PYTHON_ENV) or None
    if given:
        path = Path(given).expanduser()
        if not path.is_file() or not os.access(path, os.X_OK):
            where = "--lmms-python" if given != os.environ.get(PYTHON_ENV) else f"${PYTHON_ENV}"
            raise CsrBenchError(f"{where} {given}: no such Python interpreter")
        return str(path)
    if importlib.util.find_spec("lmms_eval") is not None:
        return sys.executable
    venv = PROJECT_VENV / "bin" / "python"
    if venv.is_file():
        return str(venv)
    raise CsrBenchError(f"lmms: tasks need lmms-eval, which is not installed here and there is no {venv}: {MAKE_HINT}")


def lmms_eval_version(python: str) -> str:
    """The lmms-eval version installed for ``python``, checking that lmms_eval and csr_bench (the
    launcher's shim) are importable there, without importing them (seconds, no model)."""
    try:
        probe = subprocess.run([python, "-c", _PROBE], capture_output=True, text=True, timeout=120)
        found = json.loads(probe.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.TimeoutExpired, ValueError, IndexError):
        raise CsrBenchError(f"{python}: cannot run it to find lmms-eval (pass --lmms-python PATH); {MAKE_HINT}") from None
    if found.get("missing"):
        raise CsrBenchError(f"{python}: {' and '.join(found['missing'])} not installed for this interpreter; {MAKE_HINT}")
    return str(found["version"])


@dataclass
class LmmsBridge:
    """The lmms-eval tasks of one evaluation and where and how they run (checked before any model loads)."""

    tasks: list[str]
    python: str
    version: str
    include: str | None = None  # --lmms-include: a folder of the user's lmms-eval task YAMLs

    @property
    def scored_by(self) -> str:
        return f"lmms-eval {self.version}"


def prepare_bridge(config) -> LmmsBridge | None:
    """The bridge of an EvalConfig with ``lmms:`` tasks (None without): names, folder and interpreter
    checked, each one-line CsrBenchError before any model loads or iteration starts."""
    _, tasks = split_task_names(config.tasks)
    include = getattr(config, "lmms_include", None) or None
    if not tasks:
        if include:
            raise CsrBenchError("--lmms-include: no lmms: task in --tasks to use it (e.g. --tasks pope,lmms:mytask)")
        return None
    for task in tasks:
        if not _TASK_NAME.fullmatch(task):
            raise CsrBenchError(f"--tasks lmms:{task}: not an lmms-eval task name (letters, digits, '_', '-', '.')")
    if include:
        folder = Path(include).expanduser()
        if not folder.is_dir():
            raise CsrBenchError(f"--lmms-include {include}: no such folder")
        include = str(folder.resolve())
    if str(config.model).startswith("vllm:"):
        raise CsrBenchError(f"--model {config.model}: lmms: tasks run lmms-eval's llava_hf on a llava-hf checkpoint "
                            "folder; use the model without 'vllm:'")
    python = resolve_lmms_python(getattr(config, "lmms_python", None))
    return LmmsBridge(tasks=tasks, python=python, version=lmms_eval_version(python), include=include)


def checkpoint_folder(model: str, run_dir: Path) -> Path:
    """The llava-hf checkpoint folder of ``--model``: the folder given (a run's iter_<k>/model is one: the
    merged model, LoRA included), else the registered model's own (models.registry ``training_checkpoint``:
    the tiny LLaVA saved into iter_0/model, the world's model, the hub snapshot)."""
    from csr_bench.models.registry import resolve_model

    path = Path(model).expanduser()
    if not path.is_dir():
        spec = resolve_model(model)
        if spec.training_checkpoint is None:
            raise CsrBenchError(f"--model {model}: no checkpoint folder for lmms-eval to load; pass the folder")
        path = Path(spec.training_checkpoint(run_dir))
    if not (path / "config.json").is_file():
        raise CsrBenchError(f"{path}: not a llava-hf checkpoint folder (no config.json) for lmms-eval's llava_hf")
    return path.resolve()


def pope_data(data_root: str | None) -> str:
    """The POPE data of lmms-eval's local POPE task (``lmms:pope_local``, run.write_pope_task): 'bundled'
    or ``<data_root>/pope``; the hub's POPE is lmms-eval's own ``lmms:pope``."""
    if data_root == "bundled":
        return "bundled"
    folder = Path(data_root).expanduser() / "pope" if data_root else None
    if folder is None or not folder.is_dir():
        raise CsrBenchError(f"lmms:pope_local reads local POPE data: pass --data-root bundled or a folder holding "
                            f"pope/ (got {data_root or 'the hub'}); lmms:pope reads lmms-eval's hub copy")
    return str(folder.resolve())


def metric_name(key: str) -> str:
    """lmms-eval's ``"<metric>,<filter>"`` as a plain name: ``<metric>`` for its default filter
    ``none``, ``<metric>_<filter>`` for another."""
    metric, _, filter_name = key.partition(",")
    return metric if filter_name in ("", "none") else f"{metric}_{filter_name}"


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def entry_metrics(task_results: dict[str, Any]) -> tuple[dict[str, float], dict[str, list[float]], dict[str, str]]:
    """(metrics, 95% intervals, lmms-eval key of each metric) of lmms-eval's entry for one task.

    Numeric values only (lmms-eval writes "N/A" for a missing stderr, and lists or dicts for some
    metrics), its standard errors left out; an interval is value ± 1.959964 × lmms-eval's own
    ``<metric>_stderr,<filter>`` where it gives one (not its ``_stderr_clt``: see _STDERR)."""
    metrics, intervals, keys = {}, {}, {}
    for key, value in task_results.items():
        metric, sep, filter_name = key.partition(",")
        if not sep or _STDERR.search(metric) or not _number(value):
            continue
        name = metric_name(key)
        metrics[name], keys[name] = float(value), key
        stderr = task_results.get(f"{metric}_stderr,{filter_name}")
        if _number(stderr) and stderr > 0:
            intervals[name] = [float(value) - Z95 * stderr, float(value) + Z95 * stderr]
    return metrics, intervals, keys


def interval_method(version: str) -> dict[str, Any]:
    return {"method": "normal approximation: value ± 1.96 × lmms-eval's <metric>_stderr", "confidence": 0.95,
            "source": f"lmms-eval {version}"}


def task_size(results: dict[str, Any], task: str) -> tuple[int | None, int | None]:
    """(documents scored, documents in the task) from lmms-eval's ``n-samples``; a group (e.g.
    ``pope_full``) has none of its own: the sums over its ``group_subtasks``."""
    sizes = results.get("n-samples") or {}
    members = [task] if task in sizes else (results.get("group_subtasks") or {}).get(task) or []
    counts = [sizes.get(name) or {} for name in members]
    if not counts:
        return None, None
    total = [sum(c.get(key) for c in counts) if all(_number(c.get(key)) for c in counts) else None
             for key in ("effective", "original")]
    return total[0], total[1]


def bridged_entry(run, task: str, version: str, limit: int | None, out_dir: Path) -> dict[str, Any]:
    """results.json's entry of a finished lmms-eval run (run.LmmsEvalRun) of ``task``."""
    metrics, intervals, keys = entry_metrics(task_results_of(run.results, task) or {})
    effective, original = task_size(run.results, task)
    entry: dict[str, Any] = {
        "metrics": metrics, "scorer": SCORER, "scored_by": f"lmms-eval {version}", "lmms_eval_task": task,
        "metric_keys": keys, "n_samples": effective, "n_documents": original,
        "command": [Path(run.command[0]).name, *run.command[1:]],
        "results_file": os.path.relpath(run.results_path, out_dir), "log": os.path.relpath(run.log_path, out_dir),
        "seconds": round(run.seconds, 3),
    }
    directions = (run.results.get("higher_is_better") or {}).get(task) or {}
    entry["higher_is_better"] = {name: directions.get(key.partition(",")[0]) for name, key in keys.items()
                                 if isinstance(directions.get(key.partition(",")[0]), bool)}
    if run.samples_paths.get(task):
        entry["lmms_samples"] = os.path.relpath(run.samples_paths[task], out_dir)
    if intervals:
        entry["intervals"] = intervals
        entry["interval_method"] = interval_method(version)
    if limit is not None and _number(effective) and _number(original) and effective < original:
        entry["subset"] = {"limit": limit}  # lmms-eval takes the first N documents in its order
    return entry


def _fingerprint(bridge: LmmsBridge, task: str, checkpoint: Path, run_dir: Path, device: str,
                 data: str | None) -> dict[str, Any]:
    from csr_bench.storage.settings import run_relative

    return {"task": task, "checkpoint": run_relative(str(checkpoint), run_dir), "lmms_eval": bridge.version,
            "include": None if task == LOCAL_POPE_TASK else bridge.include, "device": device.split(":")[0],
            "data": data}


def _read_record(path: Path) -> dict[str, Any] | None:
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def _device(config) -> str:
    if config.device and config.device != "auto":
        return config.device
    from csr_bench.models.llava import pick_device

    return pick_device(None)


def run_bridged_tasks(bridge: LmmsBridge, config, out_dir: Path, data_root: str | None) -> dict[str, dict[str, Any]]:
    """Each lmms-eval task of the bridge on the iteration's checkpoint: {"lmms:<task>": results.json entry}.

    A task whose record (bridge_run.json) has the same inputs and --limit is not run again; other
    inputs are refused before any task runs. A failed run gives ``{"metrics": {}, "error": one line}``."""
    run_dir = out_dir.parent
    checkpoint = checkpoint_folder(config.model, run_dir)
    device = _device(config)
    plans = []
    for task in bridge.tasks:
        task_dir = out_dir / BRIDGE_DIR / task
        data = pope_data(data_root) if task == LOCAL_POPE_TASK else None
        fingerprint = _fingerprint(bridge, task, checkpoint, run_dir, device, data)
        record = _read_record(task_dir / RECORD_FILE)
        if record is not None and record.get("inputs") != fingerprint:
            before = record.get("inputs") if isinstance(record.get("inputs"), dict) else {}
            changed = sorted(k for k in set(before) | set(fingerprint) if before.get(k) != fingerprint.get(k))
            raise CsrBenchError(f"{task_dir}: {bridged_name(task)} was run with other {', '.join(changed) or 'inputs'} "
                                f"({task_dir / RECORD_FILE}); pass --overwrite to redo it")
        plans.append((task, task_dir, data, fingerprint, record))
    entries = {}
    for task, task_dir, data, fingerprint, record in plans:
        if record is not None and record.get("limit") == config.limit and isinstance(record.get("entry"), dict):
            log.info("%s: already run by %s in %s, not redone", bridged_name(task), bridge.scored_by, task_dir)
            entries[bridged_name(task)] = {**record["entry"], "n_generated": 0}
            continue
        entries[bridged_name(task)] = _run_one(bridge, task, task_dir, data, fingerprint, checkpoint, device,
                                               config.limit, out_dir)
    return entries


def _run_one(bridge: LmmsBridge, task: str, task_dir: Path, data: str | None, fingerprint: dict[str, Any],
             checkpoint: Path, device: str, limit: int | None, out_dir: Path) -> dict[str, Any]:
    name = bridged_name(task)
    started = time.perf_counter()
    (task_dir / RECORD_FILE).unlink(missing_ok=True)
    include = bridge.include
    try:
        if data is not None:  # lmms-eval's POPE task on local data, written by the lmms-eval interpreter
            include = str(task_dir / "tasks")
            written = subprocess.run([bridge.python, "-c", _WRITE_POPE, include, data], capture_output=True,
                                     text=True, env={**os.environ, "HF_DATASETS_OFFLINE": "1"})
            if written.returncode:
                lines = (written.stderr.strip() or "no output").splitlines()
                raise CsrBenchError(f"cannot write lmms-eval's local POPE task into {include}: {lines[-1]}")
        log.info("%s: running lmms-eval %s on %s", name, bridge.version, checkpoint)
        run = run_lmms_task(checkpoint, task_dir, task, include_path=include, limit=limit, device=device,
                            python=bridge.python, offline=False)
    except CsrBenchError as exc:
        log.error("%s: %s", name, exc)
        return {"metrics": {}, "error": str(exc), "scorer": SCORER, "scored_by": bridge.scored_by,
                "lmms_eval_task": task, "n_samples": None, "n_documents": None,
                "seconds": round(time.perf_counter() - started, 3)}
    entry = bridged_entry(run, task, bridge.version, limit, out_dir)
    entry["n_generated"] = entry.get("n_samples")
    if not entry["metrics"]:
        log.warning("%s: lmms-eval's results for %s hold no numeric metric (%s)", name, task, run.results_path)
    atomic_write_json(task_dir / RECORD_FILE, {"inputs": fingerprint, "limit": limit, "entry": entry})
    shown = ", ".join(f"{k} {v:.4g}" for k, v in list(entry["metrics"].items())[:6])
    log.info("%s (scored by %s): %s", name, bridge.scored_by, shown or "no numeric metric")
    return entry


def discard_bridged(out_dir: Path) -> None:
    """What --overwrite discards of the bridge: iter_<k>/lmms/ (every lmms-eval task's output and record)."""
    import shutil

    shutil.rmtree(Path(out_dir) / BRIDGE_DIR, ignore_errors=True)


# The lmms-eval subprocess and its results file (also interop/lmms_eval/run.py's runner).

def has_chat_template(checkpoint: str | Path) -> bool:
    """Whether a saved processor/tokenizer carries a chat template (lmms-eval's chat llava_hf needs one)."""
    checkpoint = Path(checkpoint)
    if any((checkpoint / name).exists() for name in ("chat_template.jinja", "chat_template.json")):
        return True
    for name in ("processor_config.json", "tokenizer_config.json"):
        try:
            if json.loads((checkpoint / name).read_text(encoding="utf-8")).get("chat_template"):
                return True
        except (OSError, ValueError):
            continue
    return False


def lmms_eval_command(checkpoint: str | Path, task_dir: str | Path | None,
                      output_path: str | Path, *, task: str = LOCAL_POPE_TASK, limit: int | None = None,
                      device: str = "cpu", force_simple: bool = False, python: str | None = None) -> list[str]:
    """The lmms-eval 0.7.3 command line, run through our shim runner (launch.py).

    ``task_dir``: the folder for --include_path (None: lmms-eval's own tasks only; lmms-eval 0.7.3
    takes one folder there).
    llava_hf needs ``device_map`` in --model_args (else it moves the model itself), refuses a
    batch size above 1, and its default chat mode needs a chat template in the checkpoint;
    ``--force_simple`` selects the plain mode, which falls back to the vicuna_v1 template.
    """
    checkpoint = str(Path(checkpoint).resolve())
    if "," in checkpoint or "=" in checkpoint:
        raise CsrBenchError(f"{checkpoint}: lmms-eval's --model_args cannot hold a path with ',' or '='")
    command = [python or sys.executable, "-m", "csr_bench.interop.lmms_eval.launch",
               "--model", "llava_hf", "--model_args", f"pretrained={checkpoint},device_map={device}",
               "--tasks", task]
    if task_dir is not None:
        command += ["--include_path", str(Path(task_dir).resolve())]
    command += ["--device", device, "--batch_size", "1", "--output_path", str(output_path), "--log_samples"]
    if limit is not None:
        command += ["--limit", str(limit)]
    if force_simple:
        command.append("--force_simple")
    return command


@dataclass
class LmmsTaskRun:
    """What one lmms-eval run left behind, read from its files (its exit status means nothing)."""
    command: list[str]
    returncode: int
    results_path: Path
    results: dict[str, Any]
    samples_paths: dict[str, Path]
    log_path: Path
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)



def run_lmms_task(checkpoint: str | Path, output_path: str | Path, task: str, *,
                  include_path: str | Path | None = None, limit: int | None = None, device: str = "cpu",
                  force_simple: bool | None = None, python: str | None = None, timeout: float | None = None,
                  offline: bool = True) -> LmmsTaskRun:
    """Run lmms-eval's task ``task`` (its own, or one in the folder ``include_path``) on a llava-hf checkpoint
    folder through ``python`` (default: this interpreter) and read its results file.

    Writes ``output_path/results`` (lmms-eval's output) and ``output_path/lmms_eval.log``; an earlier
    ``results`` folder there is replaced. ``offline``: set the HF_*_OFFLINE variables unless already
    set. lmms-eval exits 0 when an evaluation fails, so a missing results file, or one without
    ``task``, raises CsrBenchError: one line with the log's reason and the log's path.
    """
    import shutil

    output_path = Path(output_path).resolve()
    results_dir = output_path / "results"
    if force_simple is None:
        force_simple = not has_chat_template(checkpoint)
    command = lmms_eval_command(checkpoint, include_path, results_dir, task=task, limit=limit,
                                device=device, force_simple=force_simple, python=python)
    env = dict(os.environ)
    if offline:
        for name in ("HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
            env.setdefault(name, "1")
    env.setdefault("TOKENIZERS_PARALLELISM", "false")
    log_path = output_path / "lmms_eval.log"
    output_path.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(results_dir, ignore_errors=True)  # only this run's results file is read
    started = time.time()
    with log_path.open("w", encoding="utf-8") as log:
        try:
            proc = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise CsrBenchError(f"lmms-eval did not finish {task} within {timeout} s; see {log_path}") from None
        except OSError as exc:
            raise CsrBenchError(f"cannot start lmms-eval with {command[0]}: {exc.strerror or exc}") from None
    seconds = time.time() - started
    results_path = _newest_results(results_dir, since=started)
    if results_path is None:
        raise CsrBenchError(f"lmms-eval wrote no results file for {task} (exit status {proc.returncode}): "
                            f"{failure_reason(log_path)}; see {log_path}")
    try:
        results = json.loads(results_path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise CsrBenchError(f"{results_path}: not a JSON results file ({exc}); see {log_path}") from None
    if task_results_of(results, task) is None:
        raise CsrBenchError(f"{results_path}: no results for {task} ({failure_reason(log_path)}); see {log_path}")
    date = results_path.name[: -len("_results.json")]
    names = list(results.get("results", {})) if isinstance(results.get("results"), dict) else []
    samples = {name: results_path.parent / f"{date}_samples_{name}.jsonl" for name in names}
    return LmmsTaskRun(command=command, returncode=proc.returncode, results_path=results_path, results=results,
                       samples_paths={t: p for t, p in samples.items() if p.exists()}, log_path=log_path,
                       seconds=seconds, extra={"force_simple": force_simple})


def task_results_of(results: dict[str, Any], task: str) -> dict[str, Any] | None:
    """lmms-eval's entry for ``task`` in a results file (its ``results``, else its ``groups``), None without one."""
    for section in ("results", "groups"):
        entry = results.get(section) if isinstance(results, dict) else None
        if isinstance(entry, dict) and isinstance(entry.get(task), dict):
            return entry[task]
    return None


_LOGURU_PREFIX = re.compile(r"^\S+ \S+ \| *[A-Z]+ *\| *\S+ - ")


def failure_reason(log_path: Path) -> str:
    """The log's last line that looks like an error (lmms-eval logs its failures and exits 0), else its
    last line, else "empty log": one line without loguru's prefix, at most 200 characters."""
    try:
        lines = [line.strip() for line in re.sub(r"\x1b\[[0-9;]*m", "", log_path.read_text(
            encoding="utf-8", errors="replace")).splitlines() if line.strip()]
    except OSError:
        return "no log"
    errors = [line for line in lines if re.search(r"error|exception|not found|failed|traceback", line, re.I)]
    reason = (errors or lines or ["empty log"])[-1]
    reason = _LOGURU_PREFIX.sub("", reason)  # "2026-12-07 05:51:59 | ERROR | lmms_eval.__main__:cli_evaluate:614 - "
    reason = re.sub(r"^Error during evaluation: ", "", reason)
    return reason if len(reason) <= 200 else reason[:197] + "..."


def _newest_results(root: Path, since: float) -> Path | None:
    found = [p for p in root.glob("*/*_results.json") if p.stat().st_mtime >= since - 1]
    return max(found, key=lambda p: p.stat().st_mtime) if found else None


__all__ = ["BRIDGE_DIR", "LmmsBridge", "PYTHON_ENV", "RECORD_FILE", "SCORER", "bridged_entry", "bridged_name",
           "checkpoint_folder", "discard_bridged", "entry_metrics", "lmms_eval_version", "metric_name",
           "prepare_bridge", "resolve_lmms_python", "run_bridged_tasks",
           "LmmsTaskRun", "failure_reason", "has_chat_template", "lmms_eval_command", "run_lmms_task", "task_results_of"]
