"""Chance levels of the world's benchmarks, from each task's scoring rule and its documents: a world
benchmark is in the default set only if the world VLM beats chance on it. Details (the ``guess``
and ``constant`` answerers): docs/world-benchmarks.md, "csr_bench/world/chance.py".
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

from csr_bench.scorers.mmbench import CIRCULAR_OFFSET
from csr_bench.scorers.mme import GROUPS
from csr_bench.scorers.scienceqa import OPTIONS as SQA_LETTERS
from csr_bench.scorers.mmbench import is_missing, mmbench_options

Records = Sequence[dict[str, Any]]


@dataclass(frozen=True)
class Chance:
    """A task's chance level on one metric (the scale the scorer reports: percent, MME's score)."""

    task: str
    metric: str
    guess: float | None  # expected score of a uniform random choice among the options
    constant: float | None  # score of the best constant answer
    constant_answer: str | None = None

    @property
    def level(self) -> float:
        """The chance level a verdict compares with: the random guess, else the best constant answer."""
        return self.guess if self.guess is not None else self.constant


def _mean(values: list[float]) -> float:
    return sum(values) / len(values)


def _best_constant(records: Records, answer: Callable[[dict[str, Any]], str],
                   candidates: Sequence[str] | None = None) -> tuple[float, str]:
    """(percent right, answer) of the best letter or word given to every record; ties go to the
    first in ``candidates`` (default: by frequency, then alphabetically)."""
    counts = Counter(answer(r) for r in records)
    order = list(candidates) if candidates is not None else sorted(counts, key=lambda a: (-counts[a], a))
    best = max(order, key=lambda a: (counts.get(a, 0), -order.index(a)))
    return 100 * counts.get(best, 0) / len(records), best


def seed_chance(records: Records) -> Chance:
    """SEED (image questions): exact letter among the options shown."""
    records = [r for r in records if r.get("data_type", "image") == "image"]
    guess = 100 * _mean([1 / sum(not is_missing(r.get(f"choice_{c}")) for c in "abcd") for r in records])
    constant, letter = _best_constant(records, lambda r: str(r["answer"]), "ABCD")
    return Chance("seed", "accuracy", guess, constant, letter)


def scienceqa_chance(records: Records) -> Chance:
    """ScienceQA-IMG: the option letter among len(choices)."""
    guess = 100 * _mean([1 / len(r["choices"]) for r in records])
    constant, letter = _best_constant(records, lambda r: SQA_LETTERS[int(r["answer"])], SQA_LETTERS)
    return Chance("scienceqa", "accuracy", guess, constant, letter)


def mmbench_chance(records: Records) -> Chance:
    """MMBench circular: a group (``index % 1,000,000``) counts only if every copy is right."""
    groups: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for record in records:
        groups[int(record["index"]) % CIRCULAR_OFFSET].append(record)
    guesses = []
    for copies in groups.values():
        p = 1.0
        for copy in copies:
            p /= len(mmbench_options(copy))
        guesses.append(p)
    best, letter = 0.0, "A"
    for candidate in "ABCD":  # a constant letter: right on a group only if every copy's answer is it
        share = 100 * _mean([float(all(c["answer"] == candidate for c in copies)) for copies in groups.values()])
        if share > best:
            best, letter = share, candidate
    return Chance("mmbench", "accuracy", 100 * _mean(guesses), best, letter)


def _mme_score(records: Records, group: str, right: Callable[[dict[str, Any]], float],
               all_right: Callable[[list[dict[str, Any]]], float]) -> float | None:
    """MME's group score (sum over its categories present of acc + acc+, in percent) with the
    expected correctness of each question and of each image's questions together."""
    by_category: dict[str, dict[str, list[dict[str, Any]]]] = defaultdict(lambda: defaultdict(list))
    for record in records:
        if record["category"] in GROUPS[group]:
            by_category[record["category"]][str(record["question_id"])].append(record)
    if not by_category:
        return None
    total = 0.0
    for images in by_category.values():
        questions = [q for image in images.values() for q in image]
        total += 100 * _mean([right(q) for q in questions]) + 100 * _mean([all_right(i) for i in images.values()])
    return total


def mme_chance(records: Records, group: str = "perception") -> Chance | None:
    """MME perception (or cognition): None when the data has none of the group's categories."""
    guess = _mme_score(records, group, lambda q: 0.5, lambda image: 0.5 ** len(image))
    if guess is None:
        return None
    constants = {}
    for word in ("yes", "no"):
        constants[word] = _mme_score(records, group, lambda q: float(str(q["answer"]).lower() == word),
                                     lambda image: float(all(str(q["answer"]).lower() == word for q in image)))
    word = max(constants, key=lambda w: constants[w])
    return Chance("mme", group, guess, constants[word], word)


def pope_chance(records: Records) -> Chance:
    """POPE accuracy over all splits: a fair coin, or always the more frequent of yes/no."""
    constant, word = _best_constant(records, lambda r: str(r["answer"]).lower(), ("yes", "no"))
    return Chance("pope", "accuracy", 50.0, constant, word)


def gqa_chance(records: Records) -> Chance:
    """GQA exact match: the most frequent answer."""
    constant, word = _best_constant(records, lambda r: str(r["answer"]))
    return Chance("gqa", "accuracy", None, constant, word)


def vizwiz_chance(records: Records) -> Chance:
    """VizWiz VQA accuracy: of every answer string in the data, the one scoring best (prediction
    through EvalAI's processor, then VQA accuracy against the ten answers, as the scorer does)."""
    from csr_bench.scorers.vqa_accuracy import VqaAccuracyScorer

    scorer = VqaAccuracyScorer()
    candidates = sorted({str(a["answer"] if isinstance(a, dict) else a) for r in records for a in r["answers"]})
    scores = {c: _mean([scorer.score_sample({**r, "prediction": c})["accuracy"] for r in records])
              for c in candidates}
    best = max(candidates, key=lambda c: scores[c])
    return Chance("vizwiz", "accuracy", None, scores[best], best)


CHANCE_RULES: dict[str, Callable[[Records], Chance | None]] = {
    "pope": pope_chance, "mme": mme_chance, "seed": seed_chance, "mmbench": mmbench_chance,
    "scienceqa": scienceqa_chance, "vizwiz": vizwiz_chance, "gqa": gqa_chance,
}


def task_chance(task: str, data_root: str | Path) -> Chance | None:
    """The chance level of ``task`` on the documents csr-bench evaluates from ``data_root`` (the
    task's own loader: its filter and fields); None for tasks without one (CHAIR)."""
    from csr_bench.tasks.data import load_task_data
    from csr_bench.tasks.registry import get_tasks

    if task not in CHANCE_RULES:
        return None
    return CHANCE_RULES[task](load_task_data(get_tasks(task)[0], data_root).rows)


def above_chance(low: float, chance: Chance) -> bool:
    """The verdict: the 95% interval's lower bound is above the chance level."""
    return low > chance.level


def measurement(results: dict[str, Any], data_root: str | Path) -> list[dict[str, Any]]:
    """Per Table 1 column a results.json (``results``) has: task, column, metric, value, interval,
    chance (None for CHAIR) and verdict (True above chance, False not, None without a chance level)."""
    from csr_bench.reporting.tables.columns import PAPER_COLUMNS

    rows = []
    chances: dict[str, Chance | None] = {}
    for column in PAPER_COLUMNS:
        entry = results.get(column.task) or {}
        value = (entry.get("metrics") or {}).get(column.metric)
        if value is None:
            continue
        if column.task not in chances:
            chances[column.task] = task_chance(column.task, data_root)
        chance = chances[column.task]
        if chance is not None and chance.metric != column.metric:
            chance = None
        low, high = (entry.get("intervals") or {}).get(column.metric, (None, None))
        rows.append({"task": column.task, "column": column.header, "metric": column.metric, "value": value,
                     "interval": None if low is None else (low, high), "chance": chance,
                     "verdict": None if chance is None or low is None else above_chance(low, chance)})
    return rows


def _chance_text(chance: Chance) -> str:
    if chance.guess is None:
        return f"{chance.constant:.1f} (always '{chance.constant_answer}')"
    constant = f"; always '{chance.constant_answer}': {chance.constant:.1f}" if chance.constant is not None else ""
    return f"{chance.guess:.1f} (random guess{constant})"


def measurement_table(rows: list[dict[str, Any]]) -> str:
    """The markdown table docs/world-benchmarks.md shows."""
    lines = ["| task | Table 1 column | value | 95% interval | chance | verdict |", "|---|---|---|---|---|---|"]
    for row in rows:
        interval = "–" if row["interval"] is None else f"[{row['interval'][0]:.1f}, {row['interval'][1]:.1f}]"
        chance = "none (a generation metric)" if row["chance"] is None else _chance_text(row["chance"])
        verdict = {True: "above chance", False: "at chance", None: "kept"}[row["verdict"]]
        lines.append(f"| {row['task']} | {row['column']} | {row['value']:.1f} | {interval} | {chance} | {verdict} |")
    return "\n".join(lines) + "\n"


__all__ = ["CHANCE_RULES", "Chance", "above_chance", "gqa_chance", "measurement", "measurement_table", "mmbench_chance",
           "mme_chance", "pope_chance", "scienceqa_chance", "seed_chance", "task_chance", "vizwiz_chance"]
