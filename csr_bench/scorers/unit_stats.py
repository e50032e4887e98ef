"""Per-unit numbers behind each task's metrics (one row per unit the benchmark counts: a POPE
question, a CHAIR image, an MME image, an MMBench circular group, a judged item), so the bootstrap
(scorers.uncertainty) can recompute a metric on any resample by the official rule. The units, strata
and rules of each benchmark are in docs/statistics.md. No torch: reporting imports this.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers import chair, pope
from csr_bench.scorers.sample_columns import Columns, codes, masked_mean, member, memo, ratio as _ratio

MetricFn = Callable[[Columns], np.ndarray]
STRATA = {"bingo": "subcategory", "bingo_rules": "subcategory",  # Bingo: each subcategory keeps its number
          "pope": "split", "mme": "category", "mmbench": "category", "llava_bench": "category",
          "hallusionbench": "category", "mmhal": "question_type", "mmie": "category",
          "amber": "group", "amber_offline": "group",  # AMBER: each type's queries keep their number
          "mjbench": "subcategory"}  # MJ-Bench: each subcategory keeps its number of pairs
UNITS = {"cares_open": "judged item", "bingo": "judged item", "bingo_rules": "answer",  # Bingo: one open answer per question
         "unicorn_oodcv": "image", "unicorn_oodcv_cf": "image",  # Unicorn faithful: the last question per image
         "unicorn_misleading": "image",  # Unicorn misleading attack: an image's four descriptions
         "chair": "image", "mme": "image", "mmbench": "circular group", "mmvet": "judged item",
         "llava_bench": "judged item", "hallusionbench": "question set", "mmhal": "judged item",
         "mmie": "judged item",  # MMIE: an item with a rating in 0-6 (the others are left out)
         "amber": "query", "amber_offline": "query",  # AMBER: a yes/no question, or an image's description
         "objhal": "response", "objhal_judge": "response",  # Object HalBench: one answer per image
         "mjbench": "pair"}  # MJ-Bench: a preference pair; else "question"
CAPABILITY = "cap:"  # MM-Vet: one boolean column per capability, "cap:<name>"


class _Resampled(dict):
    """Columns of one resample batch, with a memo so metrics sharing work (POPE's counts) do it once."""

    def __init__(self, columns: Columns):
        super().__init__(columns)
        self.memo: dict[Any, Any] = {}


def _pope_measures(columns: Columns, split: int | None) -> dict[str, np.ndarray]:
    return memo(columns, ("pope", split), lambda: pope.measures(columns, split))


def _pope_metric(measure: str, split: int | None) -> MetricFn:
    return lambda c: _pope_measures(c, split)[measure]


def _pope_split_mean_f1(n_splits: int) -> MetricFn:
    return lambda c: pope.split_mean([_pope_measures(c, s)["f1"] for s in range(n_splits)])


def _mme_measures(code: int) -> dict[str, MetricFn]:
    def acc(c: Columns) -> np.ndarray:
        mask = member(c, "category", code)
        return 100 * _ratio(np.sum(c["n_correct"] * mask, -1), np.sum(c["n_questions"] * mask, -1))

    def acc_plus(c: Columns) -> np.ndarray:
        mask = member(c, "category", code)
        return 100 * _ratio(np.sum((c["n_correct"] == c["n_questions"]) & mask, -1), np.sum(mask, -1))

    return {"": lambda c: acc(c) + acc_plus(c), "_acc": acc, "_acc_plus": acc_plus}


def _llava_ratio(code: int | None) -> MetricFn:
    def ratio(c: Columns) -> np.ndarray:
        mask = True if code is None else member(c, "category", code)
        return 100 * _ratio(np.sum(c["model_score"] * mask, -1), np.sum(c["reference_score"] * mask, -1))
    return ratio


@dataclass
class TaskStats:
    """One task's per-unit columns (aligned with ``doc_ids``, one id per unit) and the metrics they give."""

    task: str
    doc_ids: list[str]
    columns: Columns
    split_names: list[str] = field(default_factory=list)  # the name of each code of the strata column
    unit: str = ""  # what one row is, and what the bootstrap resamples (default: UNITS of the scorer)
    scorer: str = ""  # the task's scorer (default: the task's name)

    def __post_init__(self) -> None:
        self.unit = self.unit or UNITS.get(self.kind, "question")

    @property
    def kind(self) -> str:
        return self.scorer or self.task

    @property
    def strata(self) -> np.ndarray | None:
        """Resampling strata (each keeps its size): POPE's splits, MME's / MMBench's / LLaVA-Bench's
        categories; else none."""
        name = STRATA.get(self.kind)
        return None if name is None else self.columns.get(name)

    @property
    def strata_name(self) -> str | None:
        return STRATA.get(self.kind) if self.strata is not None else None

    def metrics(self) -> dict[str, tuple[MetricFn, bool]]:
        """name -> (function of the columns, higher is better), named as the scorer's aggregate names
        them; the direction is the scorer's declaration (a metric with no better side counts as higher)."""
        from csr_bench.scorers import declared_metric

        return {name: (fn, getattr(declared_metric(self.kind, name), "direction", "higher") != "lower")
                for name, fn in self._functions().items()}

    def _functions(self) -> dict[str, MetricFn]:
        kind = self.kind
        if kind in ("bingo", "bingo_rules"):
            from csr_bench.scorers.bingo import metric_functions as bingo_functions, rule_functions

            return (bingo_functions if kind == "bingo" else rule_functions)(self.columns, self.split_names)
        if kind in ("objhal", "objhal_judge"):
            from csr_bench.scorers.objhal import MEASURES

            return dict(MEASURES)
        if kind == "mjbench":
            from csr_bench.scorers.mjbench import metric_functions as mjbench_functions

            return mjbench_functions(self.columns, self.split_names)
        if kind in ("amber", "amber_offline"):
            from csr_bench.scorers.amber import metric_functions

            return metric_functions(self.columns)
        if kind.startswith("unicorn_"):
            from csr_bench.scorers.unicorn import metric_functions

            return metric_functions(kind, self.columns, self.split_names)
        if kind == "pope":
            found: dict[str, MetricFn] = {m: _pope_metric(m, None) for m in pope.MEASURES}
            for code, split in enumerate(self.split_names):
                found.update({f"{split}_{m}": _pope_metric(m, code) for m in pope.MEASURES})
            if self.split_names:
                found["f1_split_mean"] = _pope_split_mean_f1(len(self.split_names))
            return found
        if kind == "chair":
            # baselines written before the tokens column have no len
            return {name: fn for name, fn in chair.MEASURES.items() if name != "len" or "tokens" in self.columns}
        if kind.startswith("cares_"):
            from csr_bench.scorers.cares import metric_functions as cares_functions

            return cares_functions(kind, self.split_names)
        if kind == "mme":
            from csr_bench.scorers.mme import GROUPS

            found = {}
            for code, category in enumerate(self.split_names):
                found.update({f"{category}{suffix}": fn for suffix, fn in _mme_measures(code).items()})
            for group, members in GROUPS.items():
                parts = [found[c] for c in members if c in self.split_names]
                if parts:  # a group with no category present is not measured (the scorer leaves it out)
                    found[group] = lambda c, parts=parts: sum((f(c) for f in parts),
                                                              np.zeros(c["n_correct"].shape[:-1]))
            return found
        if kind == "mmbench":
            found = {"accuracy": lambda c: 100 * np.mean(c["correct"], axis=-1)}
            for code, category in enumerate(self.split_names):
                if category:
                    found[f"category_{category}"] = masked_mean("correct", lambda c, k=code: member(c, "category", k))
            return found
        if kind == "mmvet":
            found = {"score": lambda c: 100 * np.mean(c["score"], axis=-1)}
            for name in sorted(n for n in self.columns if n.startswith(CAPABILITY)):
                found[f"score_{name[len(CAPABILITY):]}"] = masked_mean("score", lambda c, n=name: c[n])
            return found
        if kind == "llava_bench":
            found = {}
            if np.sum(self.columns["reference_score"]) != 0:  # the scorer leaves the score out otherwise
                found["score"] = _llava_ratio(None)
            for code, category in enumerate(self.split_names):
                if np.sum(self.columns["reference_score"][self.columns["category"] == code]) != 0:
                    found[f"score_{category}"] = _llava_ratio(code)
            return found
        if kind == "vqa_accuracy":
            return {"accuracy": lambda c: np.mean(c["accuracy"], axis=-1)}
        if kind == "hallusionbench":
            return _hallusionbench_functions(self.split_names)
        if kind == "mmhal":
            return _mmhal_functions(self.split_names)
        if kind == "mmie":
            from csr_bench.scorers.mmie import metric_functions as mmie_functions

            return mmie_functions(self.split_names)
        return {"accuracy": lambda c: 100 * np.mean(c["correct"], axis=-1)}

    def value(self, metric: str, index: np.ndarray | None = None) -> np.ndarray:
        """The metric on the units (or on each row of a resample ``index``)."""
        return self.values([metric], index)[0]

    def values(self, metrics: Iterable[str], index: np.ndarray | None = None) -> np.ndarray:
        """Several metrics at once (``(len(metrics), ...)``), indexing the columns once."""
        found = self.metrics()
        columns = _Resampled(self.columns if index is None else {k: v[index] for k, v in self.columns.items()})
        return np.stack([np.asarray(found[name][0](columns), dtype=float) for name in metrics])

    def to_json(self) -> dict[str, Any]:
        return {"scorer": self.kind, "unit": self.unit, "doc_ids": self.doc_ids, "split_names": self.split_names,
                "columns": {name: values.tolist() for name, values in self.columns.items()}}

    @classmethod
    def from_json(cls, task: str, data: dict[str, Any], where: str) -> "TaskStats":
        try:
            columns = {name: _column(name, values) for name, values in data["columns"].items()}
            scorer = str(data.get("scorer") or scorer_of(task))
            stats = cls(task, [str(d) for d in data["doc_ids"]], columns, list(data.get("split_names", [])),
                        str(data.get("unit") or ""), scorer)
        except (KeyError, TypeError, ValueError) as exc:
            raise CsrBenchError(f"{where}: malformed per-sample data for {task} ({exc})") from None
        if any(len(values) != len(stats.doc_ids) for values in columns.values()):
            raise CsrBenchError(f"{where}: per-sample columns of {task} differ in length")
        return stats


_BOOLEAN = {"label_yes", "pred_yes", "correct"}


def _column(name: str, values: list) -> np.ndarray:
    """A column as JSON gave it back: booleans, integers, or floats (judge scores, VQA accuracy)."""
    if name in _BOOLEAN or name.startswith(CAPABILITY):
        return np.asarray(values, dtype=bool)
    array = np.asarray(values)
    if array.dtype.kind not in "biuf":
        raise ValueError(f"column {name} is not numeric")
    return array.astype(float if array.dtype.kind == "f" else int)


def scorer_of(task: str, entry: dict[str, Any] | None = None, folder: str | Path | None = None,
              default: str | None = None) -> str:
    """The scorer of ``task`` as its run recorded it: its results.json entry's ``scorer``, else the task
    folder's task_run.json (every evaluation writes one), else ``default``, else the task's own name."""
    if isinstance(entry, dict) and isinstance(entry.get("scorer"), str):
        return entry["scorer"]
    if folder is not None:
        try:
            recorded = json.loads((Path(folder) / "task_run.json").read_text(encoding="utf-8"))["task"]["scorer"]
            if isinstance(recorded, str):
                return recorded
        except (OSError, ValueError, KeyError, TypeError):
            pass
    return default or task


def _doc_key(record: dict[str, Any]) -> str:
    return str(record.get("doc_id"))


def task_stats(task: str, samples: list[dict[str, Any]], where: str, *, scorer: str | None = None) -> TaskStats:
    """The per-unit columns of ``task`` from its samples.jsonl records, by the official rules of its
    scorer (``scorer``, default ``scorer_of(task)``). Units are in document order (``doc_index``),
    so the bootstrap of the same samples gives the same interval however the file was written."""
    if not samples:
        raise CsrBenchError(f"{where}: no samples for {task}")
    kind = scorer or scorer_of(task)
    samples = sorted(samples, key=lambda r: r.get("doc_index", 0))  # document order, however they were written
    try:
        return _BUILDERS.get(kind, _stored_correct)(task, kind, samples, where)
    except KeyError as exc:
        raise CsrBenchError(f"{where}: {task} samples lack the field {exc}") from None
    except (TypeError, ValueError) as exc:
        raise CsrBenchError(f"{where}: {task} samples do not fit its scorer {kind} ({exc})") from None


def _pope(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    columns, split_names = pope.sample_columns(samples)
    return TaskStats(task, [_doc_key(r) for r in samples], columns, split_names, scorer=kind)


def _chair(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """The ground truth each sample stored when it was scored (no annotations needed)."""
    columns = chair.sample_columns([r["prediction"] for r in samples], [r["ground_truth_objects"] for r in samples])
    return TaskStats(task, [_doc_key(r) for r in samples], columns, scorer=kind)


def _mme(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per image of a category: its questions and how many are right (MME's acc / acc_plus)."""
    from csr_bench.scorers.mme import MmeScorer

    images: dict[tuple[str, str], list[bool]] = defaultdict(list)
    for record in samples:
        images[(str(record["category"]), str(record["question_id"]))].append(
            MmeScorer().score_sample(record)["correct"])
    category, names = codes([c for c, _ in images])
    return TaskStats(task, [f"{c}/{q}" for c, q in images], {
        "category": category,
        "n_questions": np.array([len(a) for a in images.values()]),
        "n_correct": np.array([sum(a) for a in images.values()]),
    }, names, scorer=kind)


def _mmbench(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per circular group: right iff every copy is, with the judge's reading where the rules fail."""
    from csr_bench.scorers.mmbench import circular_groups, infer_choice, mmbench_options

    # the rules' reading, else the judge's, stored by the scoring that consulted it
    choices = [infer_choice(r["prediction"], mmbench_options(r)) or r.get("judge_choice") for r in samples]
    groups, category_of = circular_groups(samples, choices)
    category, names = codes([category_of[base] for base in groups])
    return TaskStats(task, [str(base) for base in groups], {
        "correct": np.array([all(g) for g in groups.values()]), "category": category,
    }, names, scorer=kind)


def _judged(samples: list[dict[str, Any]], field_name: str, task: str, where: str) -> list[Any]:
    missing = [r.get("doc_id") for r in samples if field_name not in r]
    if missing:
        raise CsrBenchError(f"{where}: {task} sample(s) {', '.join(map(str, missing[:3]))} carry no '{field_name}' "
                            "(the per-item judge scores are stored when the task is scored with a judge)")
    return [r[field_name] for r in samples]


def _mmvet(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    from csr_bench.scorers.mmvet import capabilities

    scores = _judged(samples, "judge_score", task, where)
    caps = [capabilities(r) for r in samples]
    columns: Columns = {"score": np.array(scores, dtype=float)}
    for name in sorted({c for found in caps for c in found}):
        columns[CAPABILITY + name] = np.array([name in found for found in caps])
    return TaskStats(task, [_doc_key(r) for r in samples], columns, scorer=kind)


def _llava_bench(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    from csr_bench.scorers.llava_bench import CATEGORIES

    pairs = np.array(_judged(samples, "judge_scores", task, where), dtype=float).reshape(len(samples), 2)
    names = [c for c in CATEGORIES if any(r["category"] == c for r in samples)]  # the scorer's order
    return TaskStats(task, [_doc_key(r) for r in samples], {
        "reference_score": pairs[:, 0], "model_score": pairs[:, 1],
        "category": np.array([names.index(r["category"]) for r in samples]),
    }, names, scorer=kind)


def _hallusionbench(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per question set (category, subcategory, set_id): a set holds its figures and its question
    groups whole, so resampling sets gives aAcc, fAcc and qAcc each an honest interval. Answers are read
    by the rule, else by the judge's stored reading."""
    from csr_bench.scorers.hallusionbench import answers, set_rows

    rows = set_rows(samples, answers(samples))
    category, names = codes([key[0] for key in rows])
    columns: Columns = {"category": category}
    for name in next(iter(rows.values())):
        columns[name] = np.array([row[name] for row in rows.values()], dtype=int)
    return TaskStats(task, ["/".join(key) for key in rows], columns, names, scorer=kind)


def _hallusionbench_functions(categories: list[str]) -> dict[str, MetricFn]:
    """aAcc, fAcc, qAcc (and the easy / hard qAcc) as ratios of sums over the sets, overall and per category."""
    def rate(right: str, total: str, code: int | None) -> MetricFn:
        def fn(c: Columns) -> np.ndarray:
            mask = True if code is None else member(c, "category", code)
            return 100 * _ratio(np.sum(c[right] * mask, -1), np.sum(c[total] * mask, -1))
        return fn

    measures = {"aAcc": ("n_right", "n_questions"), "fAcc": ("n_figures_right", "n_figures"),
                "qAcc": ("n_groups_right", "n_groups")}
    found = {name: rate(right, total, None) for name, (right, total) in measures.items()}
    found.update({"qAcc_easy": rate("n_easy_right", "n_easy", None), "qAcc_hard": rate("n_hard_right", "n_hard", None)})
    for code, category in enumerate(categories):
        found.update({f"{name}_{category}": rate(right, total, code) for name, (right, total) in measures.items()})
    return found


def _bingo(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per answer: the judge's stored score (``bingo``; null where unparsed, in no mean) or
    HELM's rule measures read again from the prediction (``bingo_rules``), and its subcategory."""
    from csr_bench.scorers.bingo import judged_columns, rule_columns

    if kind == "bingo":
        _judged(samples, "judge_score", task, where)
    columns, names = judged_columns(samples) if kind == "bingo" else rule_columns(samples)
    return TaskStats(task, [_doc_key(r) for r in samples], columns, names, scorer=kind)


def _mmhal(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    ratings = np.array(_judged(samples, "judge_rating", task, where), dtype=float)
    question_type, names = codes([str(r["question_type"]) for r in samples])
    return TaskStats(task, [_doc_key(r) for r in samples], {"rating": ratings, "question_type": question_type},
                     names, scorer=kind)


def _mmhal_functions(types: list[str]) -> dict[str, MetricFn]:
    from csr_bench.scorers.mmhal import HALLUCINATION_BELOW

    found: dict[str, MetricFn] = {
        "score": lambda c: np.mean(c["rating"], axis=-1),
        "hallucination_rate": lambda c: 100 * np.mean(c["rating"] < HALLUCINATION_BELOW, axis=-1)}
    for code, name in enumerate(types):
        found[f"score_{name}"] = lambda c, k=code: _ratio(np.sum(c["rating"] * member(c, "question_type", k), -1),
                                                          np.sum(member(c, "question_type", k), -1))
    return found


def _mmie(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per item the judge rated in 0-6 (its stored judge_score); unrated items are in no mean."""
    from csr_bench.scorers.mmie import unit_columns

    _judged(samples, "judge_score", task, where)
    kept, columns, names = unit_columns(samples)
    return TaskStats(task, [_doc_key(samples[i]) for i in kept], columns, names, scorer=kind)


def _rescored(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """Per-question tasks whose scorer's ``score_sample`` is the official per-question rule."""
    from csr_bench.scorers import SCORERS

    scorer = SCORERS[kind]
    if kind == "seed":  # LLaVA's SEED score counts image questions only
        samples = [r for r in samples if r.get("data_type", "image") == "image"]
        if not samples:
            raise CsrBenchError(f"{where}: {task} has no image questions")
    scored = [scorer.score_sample(r) for r in samples]
    column = {"correct": np.array([bool(s["correct"]) for s in scored])} if kind != "vqa_accuracy" else \
        {"accuracy": np.array([float(s["accuracy"]) for s in scored])}
    return TaskStats(task, [_doc_key(r) for r in samples], column, scorer=kind)


def _amber(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per query: what score_sample stored (a description's noun and object counts, a
    question's label), the answers read again from the prediction; no annotations needed."""
    from csr_bench.scorers.amber import GROUPS, sample_columns

    return TaskStats(task, [_doc_key(r) for r in samples], sample_columns(samples), list(GROUPS), scorer=kind)


def _cares(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """CARES: one row per question (per judged item with a score for cares_open), by its rules."""
    from csr_bench.scorers.cares import sample_columns

    ids, columns, names = sample_columns(kind, samples)
    return TaskStats(task, ids, columns, names, scorer=kind)


def _objhal(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per response, from the mentions and ground truth its scoring stored (a judge's
    unreadable answer, left out of the rates, has no row)."""
    from csr_bench.scorers.objhal import unit_columns

    kept, columns = unit_columns(samples)
    return TaskStats(task, [_doc_key(samples[i]) for i in kept], columns, scorer=kind)


def _mjbench(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """One row per preference pair: its credit, whether it is decided (no tie), whether a tie was
    predicted, and its subcategory, from the pred and label grade-reward stored."""
    from csr_bench.scorers.mjbench import sample_columns

    columns, names = sample_columns(samples)
    return TaskStats(task, [_doc_key(r) for r in samples], columns, names, scorer=kind)


def _unicorn(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    """Unicorn: one row per scored unit (faithful OODCV: the last question per image)."""
    from csr_bench.scorers.unicorn import unit_columns

    kept, columns, names = unit_columns(kind, samples)
    return TaskStats(task, [_doc_key(samples[i]) for i in kept], columns, names, scorer=kind)


def _no_metrics(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    raise CsrBenchError(f"{where}: {task} (scorer {kind}) reports no metrics")


def _stored_correct(task: str, kind: str, samples: list[dict[str, Any]], where: str) -> TaskStats:
    if not all(isinstance(r.get("correct"), bool) for r in samples):
        raise CsrBenchError(f"{where}: {task} samples have no per-sample 'correct' to recompute accuracy from")
    return TaskStats(task, [_doc_key(r) for r in samples], {"correct": np.array([r["correct"] for r in samples])},
                     scorer=kind)


_BUILDERS = {"bingo": _bingo, "bingo_rules": _bingo,
             "pope": _pope, "chair": _chair, "mme": _mme, "mmbench": _mmbench, "mmvet": _mmvet,
             "unicorn_oodcv": _unicorn, "unicorn_oodcv_fixed": _unicorn, "unicorn_oodcv_cf": _unicorn,
             "unicorn_oodcv_cf_fixed": _unicorn, "unicorn_sketchy": _unicorn, "unicorn_misleading": _unicorn,
             "unicorn_qpem": _unicorn, "unicorn_oodcv_qpem": _unicorn,
             "llava_bench": _llava_bench, "seed": _rescored, "scienceqa": _rescored, "gqa": _rescored,
             "vqa_accuracy": _rescored, "vizwiz_submission": _no_metrics,
             "hallusionbench": _hallusionbench, "mmhal": _mmhal, "mmie": _mmie, "amber": _amber, "amber_offline": _amber,
             "objhal": _objhal, "objhal_judge": _objhal, "mjbench": _mjbench,
             "cares_yesno": _cares, "cares_jailbreak": _cares, "cares_abstention": _cares,
             "cares_overcaution": _cares, "cares_choice": _cares, "cares_uncertainty": _cares, "cares_open": _cares}


__all__ = ["CAPABILITY", "STRATA", "TaskStats", "UNITS", "scorer_of", "task_stats"]
