"""The diverse group beam search's bookkeeping per step: csr_bench.methods.csr.group_beam against the
row-by-row loop it replaced (kept below as ``reference_group_beam_search``, the code before the
"Speed and scale" change, a line-for-line port of transformers 4.x's ``_group_beam_search``).

Both run on the same toy language models (fixed random log-probabilities per token history, so no
model time is measured, only the search's own work): first the results are checked to be the same
bit for bit on 300 random problems (rows, vocabulary, beams, groups, diversity penalty, end-token
frequency, length penalty, length cap), then the milliseconds per step are timed at 1, 4 and 16
rows (5 beams in 5 groups, vocabulary 384, penalty 3: the CSR reference's settings on the
world/tiny vocabulary). 1 row is the one-node-at-a-time search, 16 rows a batched search step.

Usage: python bench/group_beam_step.py
"""

from __future__ import annotations

import random
import statistics
import sys
import time
import zlib
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

from csr_bench.methods.csr.group_beam import Hypothesis, _GroupHypotheses, best_hypotheses, group_beam_search


def reference_group_beam_search(first_logprobs, advance, reorder, *, num_beams, num_groups, diversity_penalty,
                                end_tokens, max_new_tokens, num_return, length_penalty=1.0, pad_token=0):
    """csr_bench.methods.csr.group_beam.group_beam_search before the speed change (one tensor access per candidate)."""
    rows, vocab = first_logprobs.shape
    group_size = num_beams // num_groups
    logprobs = first_logprobs.float().repeat_interleave(num_beams, dim=0)
    beam_scores = torch.full((rows, num_beams), -1e9)
    beam_scores[:, ::group_size] = 0.0
    raw_sums = torch.zeros(rows, num_beams)
    tokens_so_far = [[] for _ in range(rows * num_beams)]
    groups = [[_GroupHypotheses(group_size, length_penalty) for _ in range(num_groups)] for _ in range(rows)]
    for step in range(max_new_tokens):
        generated = step + 1
        chosen = torch.full((rows, num_beams), pad_token, dtype=torch.long)
        source = torch.arange(rows * num_beams).view(rows, num_beams).clone()
        new_scores = torch.zeros(rows, num_beams)
        new_raw = torch.zeros(rows, num_beams)
        for g in range(num_groups):
            cols = slice(g * group_size, (g + 1) * group_size)
            raw = logprobs.view(rows, num_beams, vocab)[:, cols, :]
            penalised = raw.clone()
            if g > 0 and diversity_penalty:
                earlier = chosen[:, : g * group_size]
                counts = torch.zeros(rows, vocab).scatter_add_(1, earlier, torch.ones_like(earlier, dtype=torch.float))
                penalised -= diversity_penalty * counts[:, None, :]
            totals = (penalised + beam_scores[:, cols, None]).reshape(rows, group_size * vocab)
            top_scores, top_index = totals.topk(2 * group_size, dim=1)
            for r in range(rows):
                hyps = groups[r][g]
                if hyps.done:
                    new_scores[r, cols] = 0.0
                    continue
                kept = 0
                for rank in range(2 * group_size):
                    beam_in_group, token = divmod(int(top_index[r, rank]), vocab)
                    beam = g * group_size + beam_in_group
                    flat = r * num_beams + beam
                    score = float(top_scores[r, rank])
                    raw_sum = float(raw_sums[r, beam] + raw[r, beam_in_group, token])
                    if token in end_tokens:
                        if rank >= group_size:
                            continue
                        hyps.add(Hypothesis(tokens_so_far[flat] + [token], score / generated ** length_penalty,
                                            raw_sum, token))
                    else:
                        target = g * group_size + kept
                        chosen[r, target], source[r, target] = token, flat
                        new_scores[r, target], new_raw[r, target] = score, raw_sum
                        kept += 1
                        if kept == group_size:
                            break
                hyps.done = hyps.is_done(float(top_scores[r].max()), generated)
        tokens_so_far = [tokens_so_far[int(s)] + [int(t)] for s, t in zip(source.view(-1), chosen.view(-1))]
        beam_scores, raw_sums = new_scores, new_raw
        if all(h.done for row in groups for h in row) or step == max_new_tokens - 1:
            break
        reorder(source.view(-1))
        logprobs = advance(chosen.view(-1)).float()
    return best_hypotheses(groups, tokens_so_far, beam_scores, raw_sums, num_beams=num_beams,
                           length_penalty=length_penalty, num_return=num_return)


def toy_search(search, rows, vocab, beams, groups, penalty, max_new, seed, end_bias, length_penalty):
    """Run ``search`` on a toy model whose log-probabilities depend on (seed, row, tokens so far);
    the beams' histories follow ``reorder`` as a KV cache would."""
    def logprobs(state):
        generator = torch.Generator().manual_seed(zlib.crc32(repr((seed, *state)).encode()))
        logits = torch.randn(vocab, generator=generator) * 2
        logits[1] += end_bias  # end of sequence
        logits[2] += end_bias / 2  # sentence end
        return torch.log_softmax(logits, -1)

    histories = [(r,) for r in range(rows) for _ in range(beams)]

    def reorder(indices):
        histories[:] = [histories[int(i)] for i in indices]

    def advance(tokens):
        histories[:] = [h + (int(t),) for h, t in zip(histories, tokens)]
        return torch.stack([logprobs(h) for h in histories])

    found = search(torch.stack([logprobs((r,)) for r in range(rows)]), advance, reorder, num_beams=beams,
                   num_groups=groups, diversity_penalty=penalty, end_tokens={1, 2}, max_new_tokens=max_new,
                   num_return=beams, length_penalty=length_penalty, pad_token=0)
    return [[(h.tokens, h.score, h.logprob, h.end_token) for h in row] for row in found]


def step_ms(search, rows: int, steps: int = 40, repeats: int = 7) -> float:
    table = torch.log_softmax(torch.randn(4096, 384, generator=torch.Generator().manual_seed(0)) * 3, -1)
    times = []
    for _ in range(repeats):
        calls = [0]

        def advance(tokens, calls=calls):
            calls[0] += 1
            return table[(tokens * 7 + calls[0]) % 4096]

        started = time.perf_counter()
        search(table[:rows], advance, lambda indices: None, num_beams=5, num_groups=5, diversity_penalty=3.0,
               end_tokens={2}, max_new_tokens=steps, num_return=5)
        times.append((time.perf_counter() - started) / (calls[0] + 1) * 1000)
    return statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    rng = random.Random(0)
    same = 0
    cases = 300
    C.log(f"checking {cases} random problems")
    for case in range(cases):
        groups = rng.choice([1, 2, 3, 5])
        args = (rng.choice([1, 2, 3, 7]), rng.choice([5, 12, 40]), groups * rng.choice([1, 2]), groups,
                rng.choice([0.0, 0.5, 3.0]), rng.choice([1, 2, 5, 12]), case, rng.choice([-2.0, 0.0, 2.0, 4.0]),
                rng.choice([1.0, 0.5, 2.0]))
        same += toy_search(group_beam_search, *args) == toy_search(reference_group_beam_search, *args)
    rows = []
    for count in (1, 4, 16):
        C.log(f"timing {count} rows")
        before, after = step_ms(reference_group_beam_search, count), step_ms(group_beam_search, count)
        rows.append({"rows (search nodes)": count, "speed-up": f"{before / after:.2f}x",
                     "row by row, ms/step": f"{before:.3f}", "vectorised, ms/step": f"{after:.3f}"})
    print(f"Machine: {C.machine()}; medians of 7 runs of 40 steps.")
    print(f"Same hypotheses, scores and log-probabilities bit for bit: {same}/{cases} random problems")
    print(C.table(rows, "Diverse group beam search bookkeeping per step (5 beams, 5 groups, vocabulary 384)"))


if __name__ == "__main__":
    main()
