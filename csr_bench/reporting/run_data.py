"""A run folder as data: its iterations' results, samples and the method's preference pairs (and how
well those pairs agree with the scene, where the model's data has annotations: pair accuracy).

Every report (tables, plots, the HTML page, the regression check) reads runs through this, from the
files a run leaves, so a finished, resumed or half-finished run reads alike. No torch: reporting
commands must start fast. The files it reads are listed in docs/reporting.md.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import read_jsonl_records
from csr_bench.world_at_chance import WORLD_AT_CHANCE, world_left_out_reason

if TYPE_CHECKING:
    from csr_bench.reporting.pair_accuracy import PairAccuracy


# iter_<k>/pairs/ (preferences.jsonl + summary.json, whatever the method); iter_<k>/csr/ in runs written
# before the methods shared one driver.
PAIRS_FOLDERS = ("pairs", "csr")


def pairs_folder(iteration_folder: Path) -> Path:
    """The folder holding an iteration's preference pairs and the method's summary: ``pairs/``, or
    ``csr/`` in an older run (the first that has either file; ``pairs/`` when neither does)."""
    for name in PAIRS_FOLDERS:
        folder = iteration_folder / name
        if (folder / "summary.json").is_file() or (folder / "preferences.jsonl").is_file():
            return folder
    return iteration_folder / PAIRS_FOLDERS[0]


def _read_json(path: Path) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when absent; a one-line error when unreadable."""
    if not path.is_file():
        return None
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise CsrBenchError(f"{path}: not readable JSON ({exc})") from None
    if not isinstance(data, dict):
        raise CsrBenchError(f"{path}: expected a JSON object")
    return data


def read_samples(path: Path, entry: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The records of a samples.jsonl that its results.json ``entry`` scored, in document order.

    A rerun with a smaller --limit keeps the earlier samples on disk, so the file may hold more
    documents than were scored: only those in the entry's ``doc_ids`` (present when it scored a
    subset) are taken, and every reader (check, tables' intervals, report, plots) sees what
    results.json counted. A document id that repeats (two writers, a hand-made file) is an error."""
    records = read_jsonl_records(path, repair=False)  # the run may still be writing
    check_unique_ids(path, records)
    wanted = (entry or {}).get("doc_ids")
    if isinstance(wanted, list):
        keys = {json.dumps(doc_id) for doc_id in wanted}
        records = [r for r in records if json.dumps(r.get("doc_id")) in keys]
    return sorted(records, key=lambda r: r.get("doc_index", 0))


def check_unique_ids(path: Path, records: list[dict[str, Any]], key: str = "doc_id",
                     lines: list[int] | None = None) -> None:
    """One line naming the file, the id and both lines when a document id repeats in ``records``
    (``lines``: each record's line number; by default the file's non-blank lines, in order)."""
    seen: dict[str, int] = {}
    for position, record in enumerate(records):
        if key not in record:
            continue
        doc_id = json.dumps(record[key])
        if doc_id in seen:
            if lines is None:
                lines = [n for n, line in enumerate(Path(path).read_bytes().split(b"\n"), 1) if line.strip()]
            first, again = lines[seen[doc_id]], lines[position]
            raise CsrBenchError(f"{path}: document {key} {record[key]!r} repeats (lines {first} and {again}); "
                                f"each document must appear once")
        seen[doc_id] = position


def subset_note(task: str, entry: dict[str, Any] | None) -> str | None:
    """How a results.json task entry computed on a subset (``--limit``) was taken, for a footnote."""
    subset = (entry or {}).get("subset")
    if not isinstance(subset, dict):
        return None
    how = f", spread over {subset['strata']}" if subset.get("strata") else ", the first in file order"
    return (f"{task}: {entry.get('n_samples')} of {entry.get('n_documents')} documents "
            f"(--limit {subset.get('limit')}{how})")


@dataclass
class IterationData:
    """One ``iter_<k>`` folder: evaluation results and, for k > 0, what the alignment method left."""

    iteration: int
    folder: Path
    results: dict[str, Any]  # results.json's "results": task -> {"metrics", "n_samples", "skipped"?, ...}
    summary: dict[str, Any] | None = None  # pairs/summary.json: the method's statistics (pairs, mean rewards, ...)
    config: dict[str, Any] = field(default_factory=dict)  # results.json's "config": what the evaluation ran with

    def metric(self, task: str, name: str) -> float | None:
        """The reported value; None when absent, and for an MME group with no category scored (results
        written before the scorer left such a group out hold 0 for it: absent, not measured)."""
        entry = self.results.get(task, {})
        metrics = entry.get("metrics", {})
        value = metrics.get(name)
        if name in ("perception", "cognition") and entry.get("scorer", task) == "mme":
            from csr_bench.scorers.mme import unmeasured_zero

            if unmeasured_zero(metrics, name):
                return None
        return float(value) if isinstance(value, (int, float)) else None

    def absent_reason(self, task: str, name: str) -> str | None:
        """Why a task that was run and scored has no ``name`` (an MME group without categories); None
        when the task was not run, was skipped, or has the metric."""
        entry = self.results.get(task)
        if not isinstance(entry, dict) or entry.get("skipped") or self.metric(task, name) is not None:
            return None
        if name in ("perception", "cognition") and entry.get("scorer", task) == "mme":
            from csr_bench.scorers.mme import absent_reason

            return absent_reason(name)
        return f"{task} reports no {name!r}"

    def skipped(self) -> dict[str, str]:
        """Tasks run but not scored here (a judge task without a judge), with the reason."""
        return {task: entry["skipped"] for task, entry in self.results.items() if entry.get("skipped")}

    def samples(self, task: str) -> list[dict[str, Any]]:
        """The task's per-sample records that results.json scored (samples.jsonl), in document order."""
        entry = self.results.get(task, {})
        return read_samples(self.folder / entry.get("samples", f"{task}/samples.jsonl"), entry)

    def subset_note(self, task: str) -> str | None:
        """'pope: 50 of 1800 documents (--limit 50, spread over category)' when the task's results
        were computed on a subset of its documents; None otherwise."""
        return subset_note(task, self.results.get(task))

    def unit_stats(self, task: str):
        """The task's per-unit statistics (scorers.unit_stats) from its samples, by its own scorer:
        what the intervals, the table marks and `csr-bench check` resample."""
        from csr_bench.scorers.unit_stats import scorer_of, task_stats

        folder = self.folder / task
        return task_stats(task, self.samples(task), str(folder), scorer=scorer_of(task, self.results.get(task), folder))

    def preferences(self) -> list[dict[str, Any]]:
        """The preference pairs the method built in this iteration (pairs/preferences.jsonl)."""
        return read_jsonl_records(pairs_folder(self.folder) / "preferences.jsonl", repair=False)


@dataclass
class RunData:
    folder: Path
    iterations: list[IterationData]
    manifest: dict[str, Any] = field(default_factory=dict)  # run.json (absent while a run is unfinished)

    @property
    def name(self) -> str:
        return self.folder.name

    @cached_property
    def config(self) -> dict[str, Any]:
        """The run's config: run.json's, else iteration 0's evaluation config."""
        if self.manifest.get("config"):
            return self.manifest["config"]
        return self.iterations[0].config if self.iterations else {}

    @property
    def model(self) -> str:
        return str(self.config.get("model", self.name))

    @property
    def method(self) -> str | None:
        """The run's alignment method: run.json's, else the one its pairs' summary.json names (runs made
        before run.json recorded it); None for neither (an evaluation only)."""
        return self.config.get("method") or next(
            (item.summary["method"] for item in self.iterations if item.summary and item.summary.get("method")), None)

    @property
    def method_config(self) -> dict[str, Any]:
        return self.config.get("method_config") or {}

    @cached_property
    def on_world(self) -> bool:
        """Whether the run evaluated the embedded world's benchmarks: its data root is 'world' (the
        world model's default) or a folder holding a world's manifest (world.json)."""
        roots = [self.config.get("data_root")]
        if self.iterations:
            roots.append(self.iterations[0].config.get("data_root"))
        if all(root is None for root in roots) and self.config.get("model") == "world":
            return True
        return any(root == "world" or (isinstance(root, str) and (Path(root).expanduser() / "world.json").is_file())
                   for root in roots if root is not None)

    def left_out(self) -> dict[str, str]:
        """Tasks the run's data has that its default set leaves out, with why (a world run: the tasks the
        world VLM is at chance on, csr_bench.world_at_chance); empty for other runs."""
        if not self.on_world:
            return {}
        return {task: world_left_out_reason(task) for task in WORLD_AT_CHANCE}

    @property
    def last(self) -> IterationData:
        return self.iterations[-1]

    def pair_accuracy(self, iteration: IterationData) -> PairAccuracy | None:
        """How often the iteration's chosen responses hallucinate less than the rejected ones, scored
        against the model's image annotations (reporting/pair_accuracy.py; a PairAccuracy); None when
        the iteration has no pairs."""
        from csr_bench.reporting.pair_accuracy import iteration_pair_accuracy

        return iteration_pair_accuracy(self, iteration)

    def iteration(self, k: int) -> IterationData:
        for item in self.iterations:
            if item.iteration == k:
                return item
        have = ", ".join(str(i.iteration) for i in self.iterations)
        raise CsrBenchError(f"{self.folder}: no iteration {k} with results (have {have})")


def _iteration_folders(folder: Path) -> list[Path]:
    found = [p for p in folder.glob("iter_*") if p.name[5:].isdigit() and p.is_dir()]
    return sorted(found, key=lambda p: int(p.name[5:]))


def load_iteration(folder: Path) -> IterationData | None:
    """An ``iter_<k>`` folder (None when it has no results.json yet)."""
    results = _read_json(folder / "results.json")
    if results is None:
        return None
    if not isinstance(results.get("results"), dict):
        raise CsrBenchError(f"{folder / 'results.json'}: no 'results' object; not a csr-bench results file")
    iteration = results.get("run", {}).get("iteration")
    if not isinstance(iteration, int):
        iteration = int(folder.name[5:]) if folder.name[5:].isdigit() else 0
    config = results.get("config") if isinstance(results.get("config"), dict) else {}
    return IterationData(iteration, folder, results["results"], _read_json(pairs_folder(folder) / "summary.json"), config)


def load_run(path: str | Path) -> RunData:
    """A run folder (with ``iter_<k>`` folders) or a single iteration folder, as RunData."""
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise CsrBenchError(f"{folder}: no such run folder")
    if (folder / "results.json").is_file() and not _iteration_folders(folder):  # one iteration folder
        single = load_iteration(folder)
        return RunData(folder.parent, [single], _read_json(folder.parent / "run.json") or {})
    iterations = [item for item in map(load_iteration, _iteration_folders(folder)) if item is not None]
    if not iterations:
        raise CsrBenchError(f"{folder}: not a csr-bench run folder (no iter_<k>/results.json)")
    return RunData(folder, iterations, _read_json(folder / "run.json") or {})


__all__ = ["IterationData", "PAIRS_FOLDERS", "RunData", "check_unique_ids", "load_iteration", "load_run", "pairs_folder",
           "read_samples", "subset_note"]
