"""CSR's calibrated rewards (R_T from the model, R_I from CLIP), pruning and pair selection, as the
reference code computes them. Details: docs/csr.md, "csr_bench/methods/csr/rewards.py".
"""

from __future__ import annotations

import math
import re
from dataclasses import asdict, dataclass
from typing import Any, Callable, Sequence

from csr_bench.methods.csr.config import DEFAULT_LAMBDA
from csr_bench.methods.csr.tree import CandidateTree, SentenceNode
from csr_bench.errors import CsrBenchError

MODES = ("paper", "reference")
MIN_SENTENCE_CHARS = 4  # score.py: a child is scored only if its new text has >= 4 characters

# utils.clean_text: everything outside this class is deleted before CLIP sees the text. The
# reference writes ``\"-(`` inside its class, a *range* from '"' to '(' (so '#', '&', "'" stay),
# which also means a literal hyphen is not in the class: "black-and-white" becomes "blackandwhite".
_ODD_CHARACTERS = re.compile(r"[^\w\s.,?!;:\"#$%&'()/\[\]{}+€£*=<>^°™©®♫♪π√]+")
# utils.clean_tree's junk tests, applied to the cleaned new text.
_JUNK_SCRIPTS = re.compile(
    r"[\u3130-\u318F\uAC00-\uD7AF"  # Korean
    r"\u0400-\u04FF"  # Cyrillic
    r"\u3040-\u309F\u30A0-\u30FF"  # Japanese kana
    r"\U0001F300-\U0001F5FF\U0001F600-\U0001F64F\U0001F680-\U0001F6FF\U0001F700-\U0001F77F]"  # emoji
    r"|(?:&nbsp;){2,}")
_REPEATED_WORD = re.compile(r"(\b\w+\b)(?:\s+\1){5,}")  # a word 6+ times in a row
_REPEATED_CHARACTER = re.compile(r"(.)(?:\s*\1){10,}")  # one character 11+ times, spaces allowed between
_REPEATED_LITERALS = ("ttttttttttt", "sssssssssss", ", , , , , , , , , , , , ,", "''''''''''")
_MAX_NEWLINES = 5


def clip_text(sentence: str) -> str:
    """The text the reference gives CLIP for one new sentence: stripped, odd characters deleted.

    ``utils.extract_new_text`` cuts the child's full decoded text at ``len(parent) + 3``: the 3
    skips the whitespace its slow-tokenizer decode round trip inserts around ``<image>`` and the
    sentence's leading space, and ``.strip()`` removes what is left. A node here already holds just
    the appended sentence, so stripping it is that intent.
    """
    return _ODD_CHARACTERS.sub("", sentence.strip())


def is_junk(sentence: str) -> bool:
    """``utils.clean_tree``: Korean, Cyrillic, Japanese kana, emoji, ``&nbsp;&nbsp;``, long repeats,
    more than 5 newlines (tested on the cleaned text, so emoji are already gone and never count;
    Chinese and other scripts are not tested at all)."""
    text = clip_text(sentence)
    return (_JUNK_SCRIPTS.search(text) is not None or _REPEATED_WORD.search(text) is not None
            or _REPEATED_CHARACTER.search(text) is not None or any(s in text for s in _REPEATED_LITERALS)
            or text.count("\n") > _MAX_NEWLINES)


def kept_by_reference(sentence: str) -> bool:
    """Whether the reference scores this sentence at all (else it drops it and its subtree)."""
    return not is_junk(sentence) and len(clip_text(sentence)) >= MIN_SENTENCE_CHARS


def _check(mode: str, lam: float) -> None:
    if mode not in MODES:
        raise CsrBenchError(f"unknown CSR reward mode {mode!r}; choose one of {', '.join(MODES)}")
    if not 0.0 <= lam <= 1.0:
        raise CsrBenchError(f"CSR reward lambda must lie in [0, 1], got {lam}")


def _image_score(node: SentenceNode, lam: float, where: str) -> float:
    if node.image_score is None:
        if lam == 0.0:
            return 0.0  # weight 0: the "only R_T" ablation needs no CLIP
        raise CsrBenchError(f"{where}: sentence {node.text.strip()[:40]!r} has no image score (R_I); "
                            f"score the tree with CLIP first, or use lambda 0")
    return float(node.image_score)


def _paper_reward(node: SentenceNode, lam: float, where: str) -> float:
    r_i = max(_image_score(node, lam, where), 0.0) if lam > 0.0 else 0.0
    r_t = float(node.logprob) if lam < 1.0 else 0.0
    return lam * r_i + (1.0 - lam) * r_t


def _ranks(nodes: Sequence[SentenceNode], key: Callable[[SentenceNode], float]) -> dict[int, float]:
    """Rank_Node.calculate_ranks: sort siblings descending (stable, so ties keep sibling order), the
    i-th (from 0) gets (i + 1) / n."""
    ordered = sorted(nodes, key=key, reverse=True)
    return {id(node): (index + 1) / len(ordered) for index, node in enumerate(ordered)}


def _kept_children(children: Sequence[SentenceNode], mode: str) -> list[SentenceNode]:
    """The sentences that are scored: all (paper), or those that pass the reference's filters.

    Every child is a sentence: an end of the response right after a period is not a child but its
    parent's ``finished`` flag (csr.tree), so it is neither ranked nor averaged (module docstring,
    "The end of a response"). Trees of older csr-bench versions held it as a child with empty
    text; ``CandidateTree.from_dict`` folds those into their parents."""
    return [c for c in children if mode != "reference" or kept_by_reference(c.text)]


def calibrate(tree: CandidateTree, mode: str = "reference", lam: float = DEFAULT_LAMBDA) -> dict[int, float]:
    """Calibrated score of every scored sentence, keyed by ``id(node)``.

    Paper: the reward R (higher is better), every node. Reference: ``lam*rank_I + (1-lam)*rank_T``
    (lower is better), only for nodes that survive the reference's filters.
    """
    _check(mode, lam)
    where = f"prompt {tree.prompt_id}"
    scores: dict[int, float] = {}
    groups = [tree.roots]
    while groups:
        siblings = _kept_children(groups.pop(), mode)
        if siblings and mode == "paper":
            scores.update({id(n): _paper_reward(n, lam, where) for n in siblings})
        elif siblings:
            rank_t = _ranks(siblings, lambda n: float(n.beam_score))
            rank_i = (_ranks(siblings, lambda n: _image_score(n, lam, where)) if lam > 0.0
                      else dict.fromkeys(rank_t, 0.0))
            scores.update({id(n): lam * rank_i[id(n)] + (1.0 - lam) * rank_t[id(n)] for n in siblings})
        groups.extend(n.children for n in siblings)
    return scores


def _used_scores(node: SentenceNode, mode: str, lam: float) -> list[tuple[str, float | None]]:
    """The (name, value) of each raw score the mode ranks or sums for this sentence."""
    used = []
    if lam < 1.0:
        used.append(("log-probability (R_T)", node.logprob) if mode == "paper"
                    else ("beam score (R_T)", node.beam_score))
    if lam > 0.0:
        used.append(("CLIP score (R_I)", node.image_score))
    return used


def nan_score(tree: CandidateTree, mode: str = "reference", lam: float = DEFAULT_LAMBDA) -> str | None:
    """A description of the first NaN score among the sentences the mode scores, or None."""
    groups = [tree.roots]
    while groups:
        siblings = _kept_children(groups.pop(), mode)
        for node in siblings:
            for name, value in _used_scores(node, mode, lam):
                if value is not None and math.isnan(value):
                    return f"{name} of sentence {node.text.strip()[:40]!r} (depth {node.depth}) is NaN"
        groups.extend(n.children for n in siblings)
    return None


@dataclass
class ScoredPath:
    """One complete response and its score in the mode's own sense."""

    nodes: list[SentenceNode]
    text: str
    score: float  # paper: summed reward (higher is better); reference: mean rank score (lower is better)
    mean_r_i: float | None  # mean R_I the mode used (paper: clamped at 0); None if a sentence is unscored
    mean_r_t: float  # mean R_T the mode used (paper: summed log-prob; reference: beam score)


def scored_paths(tree: CandidateTree, mode: str = "reference", lam: float = DEFAULT_LAMBDA) -> list[ScoredPath]:
    """Complete root-to-finished paths that survive the mode's filters, in the tree's depth-first
    order (the order ``construct.py``'s ``dfs`` visits them, which decides ties; a response that
    ends at a node comes before the longer ones through its children)."""
    scores = calibrate(tree, mode, lam)
    found: list[ScoredPath] = []

    def summary(path: list[SentenceNode]) -> ScoredPath:
        total = sum(scores[id(n)] for n in path)
        r_i = [n.image_score for n in path]
        mean_r_i = (None if any(v is None for v in r_i)
                    else sum(max(v, 0.0) if mode == "paper" else v for v in r_i) / len(path))
        r_t = [n.logprob if mode == "paper" else n.beam_score for n in path]
        return ScoredPath(nodes=path, text=CandidateTree.response(path),
                          score=total if mode == "paper" else total / (len(path) + 1),
                          mean_r_i=mean_r_i, mean_r_t=sum(r_t) / len(path))

    def walk(node: SentenceNode, path: list[SentenceNode]) -> None:
        path = path + [node]
        if node.finished:  # a response ends here; other candidates after it may go on (csr.tree)
            found.append(summary(path))
        for child in _kept_children(node.children, mode):
            walk(child, path)

    for root in _kept_children(tree.roots, mode):
        walk(root, [])
    return found


@dataclass
class PreferencePair:
    """The chosen / rejected responses of one prompt, with what the reward-trend summary needs."""

    prompt_id: str
    image: str
    prompt: str
    chosen: str
    rejected: str
    chosen_reward: float  # path score in the mode's sense (see ScoredPath.score)
    rejected_reward: float
    chosen_mean_r_i: float | None
    rejected_mean_r_i: float | None
    chosen_mean_r_t: float
    rejected_mean_r_t: float
    mode: str
    lam: float
    tree_stats: dict[str, int]  # CandidateTree.stats() + scored_responses + distinct_responses

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _best_first(paths: list[ScoredPath], mode: str) -> list[ScoredPath]:
    """Stable sort, best first: construct.py's ``sorted(key=score)`` (reference); by descending reward (paper)."""
    return sorted(paths, key=(lambda p: p.score) if mode == "reference" else (lambda p: -p.score))


def select_pair(tree: CandidateTree, mode: str = "reference", lam: float = DEFAULT_LAMBDA) -> PreferencePair | None:
    """Chosen = the best complete response, rejected = the worst (ties: earliest / latest in tree order).

    Returns None when fewer than 2 distinct complete responses survive (every candidate identical,
    or the reference's filters removed all but one), or when a score it would rank on is NaN (the
    order would be arbitrary): no preference can be learnt from such a prompt; ``no_pair_reason``
    says why, for the caller to record. One departure from
    construct.py: if the worst path has the same text as the chosen one (duplicate beams), the
    worst path with a different text is rejected instead, since an identical pair teaches nothing.
    """
    _check(mode, lam)
    if nan_score(tree, mode, lam) is not None:
        return None
    paths = scored_paths(tree, mode, lam)
    if len({p.text for p in paths}) < 2:
        return None
    ordered = _best_first(paths, mode)
    chosen = ordered[0]
    rejected = next(p for p in reversed(ordered) if p.text != chosen.text)
    stats = {**tree.stats(), "scored_responses": len(paths), "distinct_responses": len({p.text for p in paths})}
    return PreferencePair(prompt_id=tree.prompt_id, image=tree.image, prompt=tree.prompt,
                          chosen=chosen.text, rejected=rejected.text, chosen_reward=chosen.score,
                          rejected_reward=rejected.score, chosen_mean_r_i=chosen.mean_r_i,
                          rejected_mean_r_i=rejected.mean_r_i, chosen_mean_r_t=chosen.mean_r_t,
                          rejected_mean_r_t=rejected.mean_r_t, mode=mode, lam=lam, tree_stats=stats)


def no_pair_reason(tree: CandidateTree, mode: str = "reference", lam: float = DEFAULT_LAMBDA) -> str:
    """One line for the caller's log when ``select_pair`` returned None."""
    nan = nan_score(tree, mode, lam)
    if nan is not None:
        return f"prompt {tree.prompt_id}: {nan}; its candidates cannot be ranked, so it gives no preference pair"
    complete = len(tree.paths())
    kept = scored_paths(tree, mode, 0.0)  # lambda 0: counting paths needs no image scores
    filters = " after the reference's filters (sentences under 4 characters, junk)" if mode == "reference" else ""
    return (f"prompt {tree.prompt_id}: {complete} complete responses, {len(kept)}{filters}, "
            f"{len({p.text for p in kept})} distinct; a preference pair needs 2 distinct responses")


def _path_to(node: SentenceNode, tree: CandidateTree) -> list[SentenceNode]:
    stack: list[tuple[SentenceNode, list[SentenceNode]]] = [(root, [root]) for root in tree.roots]
    while stack:
        current, path = stack.pop()
        if current is node:
            return path
        stack.extend((child, path + [child]) for child in current.children)
    raise CsrBenchError(f"prompt {tree.prompt_id}: a node to prune is not in its candidate tree")


def prune(new_nodes: Sequence[SentenceNode], mode: str = "reference", lam: float = DEFAULT_LAMBDA,
          num_beams: int = 5, tree: CandidateTree | None = None, keep_top: int | None = None,
          keep_bottom: int | None = None) -> list[SentenceNode]:
    """The sentences that keep growing after one search step (finished ones are dropped here).

    Ranked best first, then sample.py's rule: with at least ``num_beams`` candidates keep the first
    ``int(num_beams/2) - 1`` and the last ``int(num_beams/2)`` (5 beams: top 1 + bottom 2), else all.
    ``keep_top`` / ``keep_bottom`` replace those two counts when given.
    Reference ranks by ``cumulative_beam_score``; paper by the calibrated reward summed from the
    first sentence, which needs ``tree`` (nodes already attached) unless every node is a first
    sentence, and needs R_I scored before pruning.
    """
    _check(mode, lam)
    if num_beams < 2:  # sample.py's slices would return nodes twice
        raise CsrBenchError(f"CSR pruning needs num_beams >= 2, got {num_beams}")
    candidates = [n for n in new_nodes if not n.finished]
    if mode == "reference":
        ranked = sorted(candidates, key=lambda n: n.cumulative_beam_score, reverse=True)
    else:
        where = f"prompt {tree.prompt_id}" if tree else "pruning"

        def cumulative(node: SentenceNode) -> float:
            if tree is None and node.depth > 1:
                raise CsrBenchError("paper-mode pruning sums rewards from the first sentence: pass the tree")
            path = [node] if tree is None else _path_to(node, tree)
            return sum(_paper_reward(n, lam, where) for n in path)

        rewards = {id(n): cumulative(n) for n in candidates}
        ranked = sorted(candidates, key=lambda n: rewards[id(n)], reverse=True)
    if len(ranked) < num_beams:
        return ranked
    half = int(num_beams / 2)
    top = half - 1 if keep_top is None else keep_top
    bottom = half if keep_bottom is None else keep_bottom
    if top + bottom >= len(ranked):
        return ranked
    return ranked[:top] + (ranked[-bottom:] if bottom else [])
