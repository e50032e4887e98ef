"""Scorers by name, each imported on first use (listing tasks loads none). A task YAML names its
scorer by a registered name (``scorer: pope``) or by code: ``scorer: scorer.py:ToyScorer`` beside the
YAML, or ``scorer: package.module:Class`` (docs/tasks.md, "Adding a benchmark")."""

from __future__ import annotations

from pathlib import Path
from typing import Iterator, Mapping

from csr_bench.errors import CsrBenchError
from csr_bench.lazy import load_target
from csr_bench.safety import loading_policy
from csr_bench.scorers.base import Metric, Scorer, ScoringContext, ScoringSkipped, declared

# name -> "module:Class"; each follows an official script
BUILTIN_SCORERS: dict[str, str] = {
    "pope": "csr_bench.scorers.pope:PopeScorer",
    "chair": "csr_bench.scorers.chair:ChairScorer",
    "cares_yesno": "csr_bench.scorers.cares:CaresYesNoScorer",  # CARES: yes/no (IU-Xray)
    "cares_choice": "csr_bench.scorers.cares:CaresChoiceScorer",  # multiple choice (HAM10000, OL3I), AED
    "cares_uncertainty": "csr_bench.scorers.cares:CaresUncertaintyScorer",
    "cares_jailbreak": "csr_bench.scorers.cares:CaresJailbreakScorer",  # yes/no + refusal rate
    "cares_abstention": "csr_bench.scorers.cares:CaresAbstentionScorer",  # refusal rate, higher is better
    "cares_overcaution": "csr_bench.scorers.cares:CaresOvercautionScorer",  # refusal rate, lower is better
    "cares_open": "csr_bench.scorers.cares:CaresOpenScorer",  # open-ended, judge-rated 1-10
    "mme": "csr_bench.scorers.mme:MmeScorer",
    "seed": "csr_bench.scorers.seed:SeedScorer",
    "mmbench": "csr_bench.scorers.mmbench:MmbenchScorer",
    "scienceqa": "csr_bench.scorers.scienceqa:ScienceQaScorer",
    "vqa_accuracy": "csr_bench.scorers.vqa_accuracy:VqaAccuracyScorer",
    "vizwiz_submission": "csr_bench.scorers.vqa_accuracy:VizWizSubmissionScorer",
    "gqa": "csr_bench.scorers.gqa:GqaScorer",
    "mmvet": "csr_bench.scorers.mmvet:MMVetScorer",
    "llava_bench": "csr_bench.scorers.llava_bench:LlavaBenchScorer",
    "amber": "csr_bench.scorers.amber:AmberScorer",
    "amber_offline": "csr_bench.scorers.amber:AmberOfflineScorer",
    "hallusionbench": "csr_bench.scorers.hallusionbench:HallusionBenchScorer",
    "mmhal": "csr_bench.scorers.mmhal:MmhalScorer",
    "mmie": "csr_bench.scorers.mmie:MmieScorer",
    "objhal": "csr_bench.scorers.objhal:ObjHalScorer",
    "objhal_judge": "csr_bench.scorers.objhal:ObjHalJudgeScorer",
    "bingo": "csr_bench.scorers.bingo:BingoScorer",  # Prometheus-Vision judge, as VHELM
    "bingo_rules": "csr_bench.scorers.bingo:BingoRulesScorer",  # HELM's ROUGE-L / F1 on the same answers
    "unicorn_oodcv": "csr_bench.scorers.unicorn:UnicornOodcvScorer",  # faithful: the last question per image
    "unicorn_oodcv_fixed": "csr_bench.scorers.unicorn:UnicornOodcvFixedScorer",  # every question
    "unicorn_oodcv_cf": "csr_bench.scorers.unicorn:UnicornOodcvCfScorer",
    "unicorn_oodcv_cf_fixed": "csr_bench.scorers.unicorn:UnicornOodcvCfFixedScorer",
    "unicorn_sketchy": "csr_bench.scorers.unicorn:UnicornSketchyScorer",  # Sketchy-VQA and -Challenging
    "unicorn_misleading": "csr_bench.scorers.unicorn:UnicornMisleadingScorer",  # misleading rate, lower is better
    "unicorn_qpem": "csr_bench.scorers.unicorn:UnicornQpemScorer",  # VHELM's protocol (Sketchy-VQA)
    "unicorn_oodcv_qpem": "csr_bench.scorers.unicorn:UnicornOodcvQpemScorer",  # VHELM's protocol (OODCV-VQA)
    "mjbench": "csr_bench.scorers.mjbench:MjBenchScorer",  # reward pairs (csr-bench grade-reward)
}

PROVIDES = ("required_fields", "headline", "metrics", "score_sample", "aggregate")  # besides ``name``


def is_reference(key: str) -> bool:
    """Whether ``key`` names code ("module:Class", "file.py:Class") rather than a registered scorer."""
    return ":" in key


class ScorerRegistry(Mapping[str, Scorer]):
    """The registered scorers by name (iteration and ``len`` see these), each made on first use. A
    lookup also takes a reference, "package.module:Class" or "/absolute/file.py:Class" (what a run of
    a task-folder scorer records in results.json), so tables and the gate find its declarations. A
    file is imported by a lookup only once its task was chosen in this process (``load``) or with
    --trust-remote-code: a run folder from elsewhere may name any file."""

    def __init__(self, targets: Mapping[str, str]):
        self._targets = dict(targets)
        self._made: dict[str, Scorer] = {}

    def __getitem__(self, key: str) -> Scorer:
        if key in self._targets:
            return self.load(key)
        if not isinstance(key, str) or not is_reference(key):
            raise KeyError(key)
        if key not in self._made and key.rpartition(":")[0].endswith(".py") and not loading_policy().trust_remote_code:
            raise KeyError(key)  # a file named by a results.json: not imported unless trusted
        try:
            return self.load(key)
        except CsrBenchError:
            raise KeyError(key) from None

    def __contains__(self, key: object) -> bool:
        return key in self._targets or (isinstance(key, str) and self.get(key) is not None)

    def __iter__(self) -> Iterator[str]:
        return iter(self._targets)

    def __len__(self) -> int:
        return len(self._targets)

    def load(self, key: str) -> Scorer:
        """The scorer ``key`` names, made once; a one-line CsrBenchError says why there is none."""
        if key in self._made:
            return self._made[key]
        target = self._targets.get(key)
        referenced = target is None
        if referenced:
            if not is_reference(key):
                raise CsrBenchError(f"unknown scorer '{key}' (known: {', '.join(sorted(self._targets))})")
            file = key.rpartition(":")[0]
            if file.endswith(".py") and not Path(file).is_absolute():
                raise CsrBenchError(f"scorer {key}: a file is named relative to its task YAML's folder")
            target = key
        try:
            made = load_target(target)()
        except Exception as exc:  # a task folder's code may fail in any way; say which file and how
            raise CsrBenchError(f"scorer {key}: cannot load it ({type(exc).__name__}: {exc})") from None
        lacking = [attribute for attribute in PROVIDES if not hasattr(made, attribute)]
        if lacking:
            raise CsrBenchError(f"scorer {key} has no {', '.join(lacking)} (docs/tasks.md says what a scorer provides)")
        if not all(isinstance(metric, Metric) for metric in made.metrics):
            raise CsrBenchError(f"scorer {key}: its metrics must be csr_bench.scorers.Metric declarations")
        if referenced:
            made.name = key  # a scorer's name is its registry key, as results.json records it
        self._made[key] = made
        return made


SCORERS = ScorerRegistry(BUILTIN_SCORERS)


def declared_metric(scorer: str, key: str) -> Metric | None:
    """How the scorer named ``scorer`` declares its aggregate's ``key``; None for an unknown scorer or key."""
    found = SCORERS.get(scorer)
    return None if found is None else declared(found.metrics, key)


__all__ = ["BUILTIN_SCORERS", "SCORERS", "Metric", "Scorer", "ScorerRegistry", "ScoringContext", "ScoringSkipped",
           "declared_metric", "is_reference"]
