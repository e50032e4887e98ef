"""Diverse group beam search, which transformers 5 no longer ships, following transformers 4.x's
semantics (CSR's sentence proposals). Details: docs/csr.md, "csr_bench/methods/csr/group_beam.py".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import torch


@dataclass
class Hypothesis:
    tokens: list[int]  # generated tokens, the closing end token included when there is one
    score: float  # length-normalised beam score (diversity penalties included)
    logprob: float  # summed raw log-probabilities of ``tokens`` (no penalty)
    end_token: int | None  # the end token that closed it, None when cut by max_new_tokens


@dataclass
class _GroupHypotheses:
    """transformers' BeamHypotheses for one (row, group)."""

    size: int
    length_penalty: float
    beams: list[Hypothesis] = field(default_factory=list)
    worst: float = 1e9
    done: bool = False

    def add(self, hypothesis: Hypothesis) -> None:
        if len(self.beams) < self.size or hypothesis.score > self.worst:
            self.beams.append(hypothesis)
            if len(self.beams) > self.size:  # drop the worst; the next worst becomes the bar
                self.beams.remove(min(self.beams, key=lambda h: h.score))
                self.worst = min(h.score for h in self.beams)
            else:
                self.worst = min(hypothesis.score, self.worst)

    def is_done(self, best_sum: float, generated: int) -> bool:
        if len(self.beams) < self.size:
            return False
        return self.worst >= best_sum / generated ** self.length_penalty


def group_beam_search(first_logprobs: torch.Tensor, advance: Callable[[torch.Tensor], torch.Tensor],
                      reorder: Callable[[torch.Tensor], None], *, num_beams: int, num_groups: int,
                      diversity_penalty: float, end_tokens: set[int], max_new_tokens: int,
                      num_return: int, length_penalty: float = 1.0, pad_token: int = 0,
                      drop_finished: bool = False) -> list[list[Hypothesis]]:
    """Best ``num_return`` hypotheses per row, best first.

    ``first_logprobs`` [rows, vocab]: next-token log-probabilities after each row's prefix.
    ``advance(tokens)`` feeds one token per beam (rows × num_beams, beams of a row contiguous) and
    returns the next log-probabilities [rows × num_beams, vocab]. ``reorder(indices)`` makes beam i
    continue from beam ``indices[i]`` (the caller's KV cache follows the beams); it is not called
    when every beam continues from itself (always the case with one beam per group).

    ``drop_finished``: the beams of finished groups leave the batch once they are a quarter of it
    (transformers keeps feeding them padding to the end; every removal copies the caller's cache):
    ``reorder`` may then select fewer beams than it had, ``advance`` gets and returns only the beams
    in the batch, in flat order. The decisions are the same; the model sees smaller batches, so its
    floats may round differently in the last bits.

    Speed without changing a number: the tensor work (penalties, top-k, the float32 sums) is done
    for all rows at once, the per-candidate decisions in Python on plain lists (one transfer per
    group and step, not one tensor access per candidate), and the diversity penalty's counts are
    kept up to date instead of recounted for every group.
    """
    if num_beams % num_groups:
        raise ValueError("num_beams must be a multiple of num_groups")
    rows, vocab = first_logprobs.shape
    group_size = num_beams // num_groups
    logprobs = first_logprobs.float().repeat_interleave(num_beams, dim=0)  # [rows*beams, V]
    beam_scores = torch.full((rows, num_beams), -1e9)
    beam_scores[:, ::group_size] = 0.0  # one live beam per group at the start
    raw_sums = torch.zeros(rows, num_beams)
    tokens_so_far: list[list[int]] = [[] for _ in range(rows * num_beams)]
    groups = [[_GroupHypotheses(group_size, length_penalty) for _ in range(num_groups)] for _ in range(rows)]
    identity = list(range(rows * num_beams))
    running = identity  # flat indices of the beams in the caller's batch, in order

    for step in range(max_new_tokens):
        generated = step + 1  # tokens generated once this step's token is appended
        step_logprobs = logprobs.view(rows, num_beams, vocab)
        chosen = [pad_token] * (rows * num_beams)
        source = list(range(rows * num_beams))
        new_scores = [0.0] * (rows * num_beams)
        new_raw = [0.0] * (rows * num_beams)
        counts = None  # how often each token was chosen at this step by the groups so far, per row
        for g in range(num_groups):
            first = g * group_size
            raw = step_logprobs[:, first:first + group_size, :]
            penalised = raw
            if g > 0 and diversity_penalty:
                penalised = raw - diversity_penalty * counts[:, None, :]
            totals = (penalised + beam_scores[:, first:first + group_size, None]).reshape(rows, group_size * vocab)
            top_scores, top_index = totals.topk(2 * group_size, dim=1)
            # the beam's running sum + the token's unpenalised log-probability, in float32
            raw_sum = (raw_sums[:, first:first + group_size].gather(1, top_index // vocab)
                       + raw.reshape(rows, group_size * vocab).gather(1, top_index))
            top_scores_l, top_index_l, raw_sum_l = top_scores.tolist(), top_index.tolist(), raw_sum.tolist()
            for r in range(rows):
                hyps = groups[r][g]
                if hyps.done:  # finished groups idle on padding
                    continue
                kept = 0
                for rank in range(2 * group_size):
                    beam_in_group, token = divmod(top_index_l[r][rank], vocab)
                    flat = r * num_beams + first + beam_in_group
                    score = top_scores_l[r][rank]
                    if token in end_tokens:
                        if rank >= group_size:
                            continue
                        hyps.add(Hypothesis(tokens_so_far[flat] + [token], score / generated ** length_penalty,
                                            raw_sum_l[r][rank], token))
                    else:
                        target = r * num_beams + first + kept
                        chosen[target], source[target] = token, flat
                        new_scores[target], new_raw[target] = score, raw_sum_l[r][rank]
                        kept += 1
                        if kept == group_size:
                            break
                hyps.done = hyps.is_done(max(top_scores_l[r]), generated)
            if diversity_penalty and g < num_groups - 1:
                picked = torch.tensor([chosen[r * num_beams + first:r * num_beams + first + group_size]
                                       for r in range(rows)])
                if counts is None:
                    counts = torch.zeros(rows, vocab)
                counts.scatter_add_(1, picked, torch.ones_like(picked, dtype=torch.float))
        tokens_so_far = [tokens_so_far[s] + [t] for s, t in zip(source, chosen)]
        beam_scores = torch.tensor(new_scores).view(rows, num_beams)
        raw_sums = torch.tensor(new_raw).view(rows, num_beams)
        if all(h.done for row in groups for h in row) or step == max_new_tokens - 1:
            break
        if not drop_finished:
            if source != identity:
                reorder(torch.tensor(source))
            logprobs = advance(torch.tensor(chosen)).float()
            continue
        still = [f for f in running if not groups[f // num_beams][(f % num_beams) // group_size].done]
        if 4 * (len(running) - len(still)) < len(running):  # too few finished to be worth copying the cache
            still = running  # (finished groups idle on padding until more have finished)
        position = {f: i for i, f in enumerate(running)}
        indices = [position[source[f]] for f in still]  # a running group's beams come from its own running beams
        if indices != list(range(len(running))):
            reorder(torch.tensor(indices))
        running = still
        logprobs = logprobs.new_zeros(rows * num_beams, vocab)  # finished groups' rows are never read
        logprobs[torch.tensor(still)] = advance(torch.tensor([chosen[f] for f in still])).float()

    return best_hypotheses(groups, tokens_so_far, beam_scores, raw_sums, num_beams=num_beams,
                           length_penalty=length_penalty, num_return=num_return)


def best_hypotheses(groups: list[list[_GroupHypotheses]], tokens_so_far: list[list[int]], beam_scores: torch.Tensor,
                    raw_sums: torch.Tensor, *, num_beams: int, length_penalty: float,
                    num_return: int) -> list[list[Hypothesis]]:
    """At the end of the search: each row's unfinished beams join its hypotheses; its best
    ``num_return``, best first."""
    group_size = num_beams // len(groups[0])
    results = []
    for r, row in enumerate(groups):
        for g, hyps in enumerate(row):
            if hyps.done:
                continue
            for beam in range(g * group_size, (g + 1) * group_size):
                flat = r * num_beams + beam
                length = len(tokens_so_far[flat])
                hyps.add(Hypothesis(tokens_so_far[flat], float(beam_scores[r, beam]) / length ** length_penalty,
                                    float(raw_sums[r, beam]), None))
        candidates = sorted((h for hyps in row for h in hyps.beams), key=lambda h: h.score, reverse=True)
        results.append(candidates[:num_return])
    return results
