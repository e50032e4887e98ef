"""Sampling that a batch cannot change: each row of a generate() batch draws its tokens from a
``torch.Generator`` of its own, seeded by its request, so a sampled response depends on its seed
alone (transformers' sampling draws every row from one global generator, so a response would
depend on its batch-mates and on everything sampled before it).

``SeededSampling`` is the last logits processor: after transformers' temperature and top-p
warpers it draws each row's token from the warped distribution with the row's generator and
leaves only that token possible, so transformers' own draw can only pick it.
"""

from __future__ import annotations

from typing import Sequence

from csr_bench.errors import CsrBenchError


class SeededSampling:
    def __init__(self, seeds: Sequence[int | None], device: str | None = None):
        import torch

        if any(seed is None for seed in seeds):
            raise CsrBenchError("sampled generation needs a seed per request (GenerationRequest.seed): without one "
                                "a response would depend on the batch it ran in")
        self.generators = []
        for seed in seeds:
            generator = torch.Generator(device=device or "cpu")
            generator.manual_seed(int(seed) % (2 ** 63))
            self.generators.append(generator)

    def __call__(self, input_ids, scores):
        import torch

        if scores.shape[0] != len(self.generators):
            raise CsrBenchError(f"seeded sampling: {scores.shape[0]} rows for {len(self.generators)} seeds "
                                "(one sequence per request: no beams, no num_return_sequences)")
        probs = torch.softmax(scores.float(), dim=-1)
        chosen = torch.stack([torch.multinomial(row, 1, generator=generator).squeeze(0)
                              for row, generator in zip(probs, self.generators)])
        only = torch.full_like(scores, float("-inf"))
        only.scatter_(1, chosen[:, None], 0.0)
        return only
