"""Pair accuracy: how often a method's chosen response hallucinates less than its rejected one.

Each preference pair of an iteration (``iter_<k>/pairs/preferences.jsonl``) is scored against its
image's objects by CHAIR's own rules (``csr_bench.scorers.chair``: the same word -> object pipeline,
per-response CHAIR_I = hallucinated / mentioned objects, 0 when none is mentioned, as chair.py's
per-caption metric; CHAIR_S = 1 when any object is hallucinated). The chosen response *wins* on a
metric when its value is strictly lower than the rejected one's; accuracy = wins / n over the pairs
with annotations, with a 95% Wilson interval, and the share of ties beside it. It tells whether a
method fails because of its reward (it picks the wrong response) or its training.

The annotations come from the run's model: ``ModelSpec.image_objects`` (the world provides them),
loaded by name with ``csr_bench.lazy.load_target`` (no import of models, tasks or the world here;
no torch). Real data has none: the accuracy is then None, shown '–' with the reason.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Collection, Mapping, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.chair import sample_columns
from csr_bench.scorers.coco_objects import NODE_WORD
from csr_bench.scorers.sample_columns import ratio

if TYPE_CHECKING:
    from csr_bench.reporting.run_data import IterationData, RunData

METRICS = ("chair_i", "chair_s")
METRIC_NAMES = {"chair_i": "CHAIR_I", "chair_s": "CHAIR_S"}
CONFIDENCE = 0.95
DEFINITION = ("pair accuracy: the share of the iteration's preference pairs whose chosen response has a strictly "
              "lower CHAIR_I (CHAIR_S) than its rejected one against the image's annotated objects (CHAIR's word "
              "rules per response), over the pairs with annotations; [low, high]: its 95% Wilson interval; ties: "
              "the share of those pairs where both are equal (neither a win nor a loss)")


@dataclass(frozen=True)
class ResponseScore:
    """One response against its image's objects: object mentions and hallucinated mentions."""

    mentioned: int
    hallucinated: int

    @property
    def chair_i(self) -> float:
        """Hallucinated / mentioned objects; 0 for a response mentioning none (chair.py per caption)."""
        return float(ratio(self.hallucinated, self.mentioned))

    @property
    def chair_s(self) -> int:
        return int(self.hallucinated > 0)

    def value(self, metric: str) -> float:
        return float(getattr(self, metric))


@dataclass(frozen=True)
class PairScore:
    chosen: ResponseScore
    rejected: ResponseScore
    objects: frozenset[str] = frozenset()  # the image's objects (CHAIR node words) both were scored against

    def outcome(self, metric: str) -> str:
        """'win' (chosen strictly lower), 'tie' or 'loss' on ``metric`` (chair_i or chair_s)."""
        chosen, rejected = self.chosen.value(metric), self.rejected.value(metric)
        return "win" if chosen < rejected else "tie" if chosen == rejected else "loss"


def score_responses(responses: Sequence[str], objects: Collection[str]) -> list[ResponseScore]:
    """Each response against one image's objects (CHAIR node words), by the CHAIR scorer's columns."""
    columns = sample_columns(list(responses), [objects] * len(responses))
    return [ResponseScore(int(m), int(h)) for m, h in zip(columns["mentioned"], columns["hallucinated"])]


def score_pair(chosen: str, rejected: str, objects: Collection[str]) -> PairScore:
    return PairScore(*score_responses([chosen, rejected], objects), objects=frozenset(objects))


def wilson_interval(successes: int, n: int, confidence: float = CONFIDENCE) -> tuple[float, float]:
    """The Wilson score interval of ``successes`` out of ``n`` (scipy's binomtest)."""
    from scipy.stats import binomtest

    found = binomtest(successes, n).proportion_ci(confidence_level=confidence, method="wilson")
    return float(found.low), float(found.high)


@dataclass(frozen=True)
class Accuracy:
    """Wins, ties and losses of the chosen response on one metric, over ``n`` annotated pairs."""

    metric: str
    wins: int
    ties: int
    losses: int

    @property
    def n(self) -> int:
        return self.wins + self.ties + self.losses

    @property
    def accuracy(self) -> float:
        return self.wins / self.n

    @property
    def interval(self) -> tuple[float, float]:
        return wilson_interval(self.wins, self.n)

    @property
    def tie_share(self) -> float:
        return self.ties / self.n

    def describe(self) -> str:
        low, high = self.interval
        return (f"{METRIC_NAMES[self.metric]}: {self.wins} wins, {self.ties} ties, {self.losses} losses of {self.n}; "
                f"accuracy {100 * self.accuracy:.1f}% [{100 * low:.1f}, {100 * high:.1f}], "
                f"ties {100 * self.tie_share:.1f}%")


def accuracy_of(scores: Sequence[PairScore | None], metric: str) -> Accuracy | None:
    """The accuracy on ``metric`` of the scored pairs (None entries: pairs without annotations);
    None when no pair is scored."""
    outcomes = [score.outcome(metric) for score in scores if score is not None]
    if not outcomes:
        return None
    return Accuracy(metric, outcomes.count("win"), outcomes.count("tie"), outcomes.count("loss"))


@dataclass(frozen=True)
class PairAccuracy:
    """An iteration's pairs scored: one PairScore per pair (None where its image has no annotations)."""

    scores: tuple[PairScore | None, ...]
    reason: str | None = None  # why pairs are unscored: no annotations for the model, images not in them

    @property
    def pairs(self) -> int:
        return len(self.scores)

    @property
    def unscored(self) -> int:
        return sum(score is None for score in self.scores)

    def metric(self, name: str) -> Accuracy | None:
        return accuracy_of(self.scores, name)

    @property
    def chair_i(self) -> Accuracy | None:
        return self.metric("chair_i")

    @property
    def chair_s(self) -> Accuracy | None:
        return self.metric("chair_s")

    def note(self) -> str | None:
        """Why some or all pairs are not scored (for a footnote); None when all are."""
        if not self.unscored:
            return None
        share = "no pair" if self.unscored == self.pairs else f"{self.unscored} of {self.pairs} pairs"
        return f"pair accuracy: {share} scored against annotations: {self.reason or 'their images are not annotated'}"


def _key(path: str | Path) -> str:
    return os.path.realpath(os.path.expanduser(str(path)))


def node_words(objects: Mapping[str, Collection[str]], where: str) -> dict[str, frozenset[str]]:
    """{normalised image path: CHAIR node words} from {image path: COCO category names}, as the CHAIR
    scorer maps COCO's instance categories (a name that is no COCO category is a one-line error)."""
    found = {}
    for image, names in objects.items():
        unknown = sorted(name for name in names if name not in NODE_WORD)
        if unknown:
            raise CsrBenchError(f"{where}: image {image}: {', '.join(unknown)} is not a COCO object category")
        found[_key(image)] = frozenset(NODE_WORD[name] for name in names)
    return found


def image_path(pair: Mapping[str, Any], images_root: str | Path | None) -> str | None:
    """The pair's image as a normalised path: absolute as written, relative to ``images_root`` (the
    pairs' summary.json's); None when it is relative and there is no root, or absent."""
    image = pair.get("image")
    if not isinstance(image, str) or not image:
        return None
    if not Path(image).expanduser().is_absolute():
        if not images_root:
            return None
        image = str(Path(images_root) / image)
    return _key(image)


def score_pairs(pairs: Sequence[Mapping[str, Any]], objects: Mapping[str, frozenset[str]] | None,
                images_root: str | Path | None = None, reason: str | None = None) -> PairAccuracy:
    """Score ``pairs`` (preferences.jsonl records: image, chosen, rejected) against ``objects``
    ({normalised image path: node words}, from ``node_words``; None: no annotations, for ``reason``)."""
    scores: list[PairScore | None] = []
    for pair in pairs:
        path = image_path(pair, images_root)
        truth = None if objects is None or path is None else objects.get(path)
        scores.append(None if truth is None else score_pair(str(pair.get("chosen", "")), str(pair.get("rejected", "")),
                                                            truth))
    if objects is not None and any(score is None for score in scores):
        reason = reason or "their images are not among the model's annotated images"
    return PairAccuracy(tuple(scores), reason)


_ANNOTATIONS: dict[tuple[str, str], tuple[dict[str, frozenset[str]] | None, str | None]] = {}
_SCORED: dict[tuple, PairAccuracy] = {}


def model_annotations(model: str, data_root: str | None) -> tuple[dict[str, frozenset[str]] | None, str | None]:
    """(annotations, None) of the model's prompt images ({normalised path: node words}) from its
    registry entry's ``image_objects`` on its data root (``data_root``, else the model's default);
    (None, why) where the model has none. Loaded once per process."""
    key = (model, str(data_root))
    if key not in _ANNOTATIONS:
        _ANNOTATIONS[key] = _load_annotations(model, data_root)
    return _ANNOTATIONS[key]


def _load_annotations(model: str, data_root: str | None) -> tuple[dict[str, frozenset[str]] | None, str | None]:
    from csr_bench.lazy import load_target

    try:  # by name: reporting imports no model registry, task loader or world (tests/test_layers.py)
        spec = load_target("csr_bench.models.registry:resolve_model")(model)
    except CsrBenchError as exc:
        return None, f"the run's model is not known here ({exc})"
    if not spec.image_objects:
        return None, f"model {model} provides no image annotations (real data: nothing to score pairs against)"
    try:
        root = load_target("csr_bench.tasks.data:resolve_data_root")(data_root or spec.default_data_root)
    except CsrBenchError as exc:
        return None, f"the run's data root is not available ({exc})"
    if root is None:
        return None, f"model {model} has no data root to read its image annotations from"
    try:
        objects = load_target(spec.image_objects)(root)
    except CsrBenchError as exc:
        return None, f"the image annotations of {root} cannot be read ({exc})"
    return node_words(objects, spec.image_objects), None


def run_data_root(run: RunData) -> str | None:
    """The data root the run evaluated on: run.json's, else iteration 0's evaluation config's."""
    for config in (run.config, *(item.config for item in run.iterations[:1])):
        if config.get("data_root"):
            return str(config["data_root"])
    return None


def iteration_pair_accuracy(run: RunData, iteration: IterationData) -> PairAccuracy | None:
    """The iteration's pairs scored against the run's model's annotations; None when the iteration
    has no pairs (iteration 0, an unfinished method). Cached by the pairs file's identity."""
    from csr_bench.reporting.run_data import pairs_folder

    path = pairs_folder(iteration.folder) / "preferences.jsonl"
    try:
        status = path.stat()
    except OSError:
        return None
    root = (iteration.summary or {}).get("images_root")
    key = (str(path.resolve()), status.st_size, status.st_mtime_ns, run.model, run_data_root(run), str(root))
    if key not in _SCORED:
        pairs = iteration.preferences()
        if not pairs:
            return None
        objects, reason = model_annotations(run.model, run_data_root(run))
        _SCORED[key] = score_pairs(pairs, objects, root, reason)
    return _SCORED[key]


def clear_cache() -> None:
    """Forget loaded annotations and scored pairs (tests that rewrite files within the same second)."""
    _ANNOTATIONS.clear()
    _SCORED.clear()


__all__ = ["CONFIDENCE", "DEFINITION", "METRICS", "METRIC_NAMES", "Accuracy", "PairAccuracy", "PairScore",
           "ResponseScore", "accuracy_of", "clear_cache", "image_path", "iteration_pair_accuracy", "model_annotations",
           "node_words", "run_data_root", "score_pair", "score_pairs", "score_responses", "wilson_interval"]
