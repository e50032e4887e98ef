"""Sentence-level beam search over a VLM's responses, as the CSR reference runs it, batched (shared
image + prompt KV cache, one padded forward pass per token). Details: docs/csr.md,
"csr_bench/methods/csr/search.py".
"""

from __future__ import annotations

import contextlib
import functools
import logging
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch

from csr_bench.methods.csr.config import SearchConfig
from csr_bench.methods.csr.group_beam import Hypothesis, group_beam_search
from csr_bench.methods.csr.rewards import clip_text
from csr_bench.methods.csr.tree import CandidateTree, SentenceNode
from csr_bench.progress import progress_bar

# transformers' FutureWarning on every forward pass given ``past_key_values`` (ignored during the search)
PAST_KEY_VALUES_WARNING = r"`past_key_values` is deprecated"


class _NotTheCacheRename(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return "`past_key_values`/`cache_params` are deprecated" not in record.getMessage()


@contextlib.contextmanager
def _cache_rename_unannounced():
    """transformers 5.25 deprecates the name ``past_key_values`` (argument and output field) for
    ``cache``, with a FutureWarning on every forward pass and a log record; the search keeps the old
    name, which every transformers version pyproject allows accepts, and silences just those two
    messages while it runs."""
    logger = logging.getLogger("transformers.utils.generic")
    quiet = _NotTheCacheRename()
    logger.addFilter(quiet)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message=PAST_KEY_VALUES_WARNING, category=FutureWarning)
            yield
    finally:
        logger.removeFilter(quiet)


@dataclass
class SearchRequest:
    prompt_id: str
    image: Any  # PIL image
    image_ref: str  # how the preference data refers to the image
    prompt: str  # user text, no chat template


@dataclass
class _Row:
    """One active node: its prompt and the response tokens so far."""

    request_index: int
    response: list[int]
    parent: SentenceNode | None
    depth: int
    cumulative: float


@dataclass
class _Prompt:
    """One request's encoded prompt (image + text in the chat template)."""

    prompt_text: str
    last_token: int
    length: int  # tokens before the last one
    input_ids: torch.Tensor | None = field(default=None, repr=False)  # [1, length + 1]; the one-at-a-time search's
    pixel_values: torch.Tensor | None = field(default=None, repr=False)


@dataclass
class _PromptCache:
    """The KV cache of every prompt of a search minus its last token, left-padded to one width."""

    keys: list[torch.Tensor]  # per layer [prompts, kv heads, width, head dim]
    values: list[torch.Tensor]
    mask: torch.Tensor  # [prompts, width]: 1 on each prompt's own tokens


def _image_scoring(image_scorer, requests: Sequence[SearchRequest], batched: bool):
    """``{request index: sentences} -> {request index: scores}`` for the new sentences of one step.

    Batched, a ClipScorer encodes each prompt's image once (the first time it is needed) and the
    sentences of every prompt of the step together, each distinct text once (``encode_texts``);
    the scores are the same numbers as ``ClipScorer.score`` (which encodes the image again on every
    call) up to float rounding, and equal texts still tie exactly. Any other scorer, a ClipScorer
    subclass that scores its own way, and the one-at-a-time search call ``image_scorer(image,
    sentences)`` per prompt, as given."""
    from csr_bench.models.clip import ClipScorer

    own = isinstance(image_scorer, ClipScorer) and all(
        getattr(type(image_scorer), name) is getattr(ClipScorer, name)
        for name in ("__call__", "score", "score_many", "scores"))
    if not (batched and own):
        return lambda sentences: {index: list(image_scorer(requests[index].image, texts))
                                  for index, texts in sentences.items() if texts}
    images: dict[int, torch.Tensor] = {}

    def score(sentences: dict[int, list[str]]) -> dict[int, list[float]]:
        sentences = {index: texts for index, texts in sentences.items() if texts}
        if not sentences:
            return {}
        missing = [index for index in sentences if index not in images]
        if missing:
            images.update(zip(missing, image_scorer.encode_images([requests[i].image for i in missing])))
        texts = image_scorer.encode_texts([text for batch in sentences.values() for text in batch])
        scores, offset = {}, 0
        for index, batch in sentences.items():
            scores[index] = image_scorer.scores(images[index], batch, texts[offset:offset + len(batch)])
            offset += len(batch)
        return scores

    return score


@functools.lru_cache(maxsize=1)
def _growing_layer_class():
    """A transformers DynamicLayer that keeps its keys/values in buffers with free room at the end of
    the sequence axis: a new token is written into the buffer, where ``DynamicLayer.update``
    concatenates (a copy of the whole cache for every token). The model reads the same values."""
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        def __init__(self, keys: torch.Tensor, values: torch.Tensor, room: int):
            super().__init__()
            self.room = room
            self.dtype, self.device, self.is_initialized = keys.dtype, keys.device, True
            self.key_buffer, self.value_buffer = self._with_room(keys), self._with_room(values)
            self.length = keys.shape[-2]

        def _with_room(self, states: torch.Tensor) -> torch.Tensor:
            batch, heads, length, dim = states.shape
            buffer = states.new_empty(batch, heads, length + self.room, dim)
            buffer[:, :, :length] = states
            return buffer

        # keys / values: the filled part of the buffers; assigning them (as DynamicLayer's own
        # methods do) replaces the buffers
        @property
        def keys(self):
            return self.key_buffer[:, :, :self.length] if self.is_initialized else None

        @keys.setter
        def keys(self, states) -> None:
            if states is not None:
                self.key_buffer, self.length = states, states.shape[-2]

        @property
        def values(self):
            return self.value_buffer[:, :, :self.length] if self.is_initialized else None

        @values.setter
        def values(self, states) -> None:
            if states is not None:
                self.value_buffer = states

        def update(self, key_states: torch.Tensor, value_states: torch.Tensor, *args, **kwargs):
            end = self.length + key_states.shape[-2]
            if end > self.key_buffer.shape[-2]:
                self.key_buffer, self.value_buffer = self._with_room(self.keys), self._with_room(self.values)
            self.key_buffer[:, :, self.length:end] = key_states
            self.value_buffer[:, :, self.length:end] = value_states
            self.length = end
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

        def batch_repeat_interleave(self, repeats: int) -> None:
            self.key_buffer = self.key_buffer.repeat_interleave(repeats, dim=0)
            self.value_buffer = self.value_buffer.repeat_interleave(repeats, dim=0)

        def batch_select_indices(self, indices: torch.Tensor) -> None:
            self.key_buffer, self.value_buffer = self.key_buffer[indices], self.value_buffer[indices]

    return GrowingLayer


def _growing_cache(layers: list[tuple[torch.Tensor, torch.Tensor]], room: int):
    """A DynamicCache of ``layers`` (keys, values) with room for ``room`` more tokens in each."""
    from transformers import DynamicCache

    cache = DynamicCache()
    cache.layers = [_growing_layer_class()(keys, values, room) for keys, values in layers]
    return cache


class SentenceBeamSearch:
    def __init__(self, model, config: SearchConfig | None = None):
        """``model``: a csr_bench LlavaModel (HF model, processor, tokenizer, device)."""
        self.vlm = model
        self.config = config or SearchConfig()
        if self.config.num_beams % self.config.num_beam_groups:
            from csr_bench.errors import CsrBenchError

            raise CsrBenchError(f"--num-beams {self.config.num_beams} must be a multiple of the beam groups "
                                f"({self.config.num_beam_groups})")
        if self.config.image not in ("crop", "pad"):
            from csr_bench.errors import CsrBenchError

            raise CsrBenchError(f"--search-image must be 'crop' or 'pad', got {self.config.image!r}")
        tokenizer = model.tokenizer
        period = tokenizer.convert_tokens_to_ids(".")
        self.sentence_end = {period} if period is not None and period != tokenizer.unk_token_id else set()
        self.eos = tokenizer.eos_token_id
        self.end_tokens = self.sentence_end | {self.eos}

    # -- model state ---------------------------------------------------------------------------
    def _prompt(self, request: SearchRequest) -> _Prompt:
        """One prompt encoded alone, for the one-at-a-time search (which re-encodes it every sentence)."""
        inputs = self.vlm._encode([request.image], [request.prompt], image=self.config.image)
        ids = inputs["input_ids"]
        return _Prompt(self.vlm._text(request.prompt), int(ids[0, -1]), ids.shape[1] - 1, ids, inputs["pixel_values"])

    def _prompt_cache(self, requests: Sequence[SearchRequest]) -> tuple[list[_Prompt], _PromptCache]:
        """Every prompt of the search through the model once, together (left-padded, positions
        counted from each prompt's first token): the KV cache all its nodes start from."""
        inputs = self.vlm._encode([r.image for r in requests], [r.prompt for r in requests], image=self.config.image)
        ids, mask = inputs["input_ids"][:, :-1], inputs["attention_mask"][:, :-1]
        with torch.inference_mode():
            out = self.vlm.model(input_ids=ids, attention_mask=mask, position_ids=(mask.cumsum(-1) - 1).clamp(min=0),
                                 pixel_values=inputs["pixel_values"], use_cache=True, logits_to_keep=1)
        layers = out.past_key_values.layers
        prompts = [_Prompt(self.vlm._text(r.prompt), int(last), int(length))
                   for r, last, length in zip(requests, inputs["input_ids"][:, -1].tolist(), mask.sum(-1).tolist())]
        return prompts, _PromptCache([layer.keys for layer in layers], [layer.values for layer in layers], mask)

    def _start_batched(self, rows: Sequence[_Row], prompts: Sequence[_Prompt], cached: _PromptCache):
        """Batch rows of different prompts: their prompts' cached prefixes, then each row's last prompt
        token + response tokens (left-padded) in one forward pass. Returns (cache, mask, positions, logprobs)."""
        pad = self.vlm.tokenizer.pad_token_id
        device = self.vlm.device
        chunks = [[prompts[r.request_index].last_token] + r.response for r in rows]
        chunk_width = max(len(c) for c in chunks)
        index = torch.tensor([r.request_index for r in rows], device=cached.mask.device)
        cache = _growing_cache([(keys[index], values[index]) for keys, values in zip(cached.keys, cached.values)],
                               room=chunk_width + self.config.sentence_max_new_tokens)
        tail, ids, positions = [], [], []
        for r, chunk in zip(rows, chunks):
            length, gap = prompts[r.request_index].length, chunk_width - len(chunk)
            tail.append([0] * gap + [1] * len(chunk))
            ids.append([pad] * gap + chunk)
            positions.append([0] * gap + list(range(length, length + len(chunk))))
        mask = torch.cat([cached.mask[index].to(device), torch.tensor(tail, device=device, dtype=cached.mask.dtype)], 1)
        positions = torch.tensor(positions, device=device)
        with torch.inference_mode():
            out = self.vlm.model(input_ids=torch.tensor(ids, device=device), attention_mask=mask,
                                 position_ids=positions, past_key_values=cache, use_cache=True, logits_to_keep=1)
        return out.past_key_values, mask, positions[:, -1] + 1, torch.log_softmax(out.logits[:, -1].float(), -1)

    def _passes(self, active: list[_Row], prompts: Sequence[_Prompt], cached: _PromptCache) -> list[list[_Row]]:
        """The active nodes split into forward passes of at most ``batch_tokens`` KV positions each
        (at least one node per pass)."""
        passes: list[list[_Row]] = []
        width = cached.mask.shape[1] + self.config.sentence_max_new_tokens + 1  # prompt cache, sentence, last prompt token
        longest = 0
        for row in active:
            longest_with = max(longest, len(row.response))
            if passes and (len(passes[-1]) + 1) * self.config.num_beams * (width + longest_with) <= self.config.batch_tokens:
                passes[-1].append(row)
                longest = longest_with
            else:
                passes.append([row])
                longest = len(row.response)
        return passes

    def _start_plain(self, row: _Row, prefix: _Prompt):
        """The reference's way: the whole prompt (image included) and response re-encoded for one node."""
        ids = torch.cat([prefix.input_ids, torch.tensor([row.response], dtype=torch.long,
                                                        device=prefix.input_ids.device)], dim=1)
        with torch.inference_mode():
            out = self.vlm.model(input_ids=ids, pixel_values=prefix.pixel_values, use_cache=True, logits_to_keep=1)
        mask = torch.ones_like(ids)
        return out.past_key_values, mask, torch.tensor([ids.shape[1]], device=ids.device), \
            torch.log_softmax(out.logits[:, -1].float(), -1)

    def _candidates(self, cache, mask, next_positions, first_logprobs, batched: bool = False) -> list[list[Hypothesis]]:
        config = self.config
        for layer in cache.layers:
            layer.batch_repeat_interleave(config.num_beams)
        state = {"mask": mask.repeat_interleave(config.num_beams, 0),
                 "pos": next_positions.repeat_interleave(config.num_beams, 0)}
        if batched:
            # The attention mask only grows by ones: kept with room for every new token, and given to
            # the decoder as the 4-D boolean mask transformers would build from it for one new token
            # (padding only: the causal part is all true), so no mask is rebuilt per token.
            # transformers passes no mask at all when there is no padding; so does this.
            length = state["mask"].shape[1]
            state["mask"] = torch.cat([state["mask"], state["mask"].new_ones(len(state["mask"]),
                                                                             config.sentence_max_new_tokens)], dim=1)
            state["length"], state["padded"] = length, not bool(state["mask"][:, :length].all())
            state["bool"] = state["mask"].bool()[:, None, None, :]
            decoder, lm_head = self._decoder()

        def reorder(indices: torch.Tensor) -> None:
            indices = indices.to(state["mask"].device)
            for layer in cache.layers:
                layer.batch_select_indices(indices)
            state["mask"], state["pos"] = state["mask"][indices], state["pos"][indices]
            if batched:
                state["bool"] = state["bool"][indices]
                state["padded"] = not bool(state["mask"][:, :state["length"]].all())

        def advance(tokens: torch.Tensor) -> torch.Tensor:
            tokens = tokens[:, None].to(state["mask"].device)
            if batched:
                state["length"] += 1
                mask = state["bool"][..., :state["length"]] if state["padded"] else state["mask"][:, :state["length"]]
                with torch.inference_mode():  # the decoder and lm_head: what the LLaVA wrapper runs without an image
                    if decoder is None:
                        logits = self.vlm.model(input_ids=tokens, attention_mask=mask, position_ids=state["pos"][:, None],
                                                past_key_values=cache, use_cache=True).logits
                    else:
                        hidden = decoder(input_ids=tokens, attention_mask=mask, position_ids=state["pos"][:, None],
                                         past_key_values=cache, use_cache=True).last_hidden_state
                        logits = lm_head(hidden)
            else:
                state["mask"] = torch.cat([state["mask"], torch.ones_like(state["mask"][:, :1])], dim=1)
                with torch.inference_mode():
                    logits = self.vlm.model(input_ids=tokens, attention_mask=state["mask"], position_ids=state["pos"][:, None],
                                            past_key_values=cache, use_cache=True).logits
            state["pos"] = state["pos"] + 1
            return torch.log_softmax(logits[:, -1].float(), -1).cpu()

        return group_beam_search(
            first_logprobs.cpu(), advance, reorder, num_beams=config.num_beams, num_groups=config.num_beam_groups,
            diversity_penalty=config.diversity_penalty, end_tokens=self.end_tokens,
            max_new_tokens=config.sentence_max_new_tokens, num_return=config.num_beams,
            length_penalty=config.length_penalty, pad_token=self.vlm.tokenizer.pad_token_id, drop_finished=batched)

    def _decoder(self):
        """(text decoder, lm_head) of a transformers LLaVA model, called directly for text-only steps
        (the same modules the LlavaForConditionalGeneration wrapper runs when there is no image,
        minus its per-call overhead); (None, None) for other models."""
        model = self.vlm.model
        decoder = getattr(getattr(model, "model", None), "language_model", None)
        lm_head = getattr(model, "lm_head", None)
        return (decoder, lm_head) if decoder is not None and lm_head is not None else (None, None)

    # -- tree building -------------------------------------------------------------------------
    def _children(self, row: _Row, prefix: _Prompt, hypotheses: list[Hypothesis]) -> list[SentenceNode]:
        """The new sentences of one node. A hypothesis that is only the end-of-sequence token (no
        text before it) is not a sentence: it makes the node's response complete (``finished``)
        and adds no child; the node's other hypotheses still become children (other paths). An
        end-of-sequence before any sentence (an empty response) is dropped."""
        decode = self.vlm.tokenizer.decode
        before = decode(row.response, skip_special_tokens=True)
        children = []
        for hyp in hypotheses:
            response = row.response + hyp.tokens
            text = decode(response, skip_special_tokens=True)
            if hyp.end_token == self.eos and not text[len(before):].strip():
                if row.parent is not None:
                    row.parent.finished = True
                continue
            finished = (hyp.end_token == self.eos or len(prefix.prompt_text) + len(text) >= self.config.max_length
                        or (self.config.max_sentences is not None and row.depth + 1 >= self.config.max_sentences))
            children.append(SentenceNode(
                text=text[len(before):], token_ids=hyp.tokens, logprob=hyp.logprob, beam_score=hyp.score,
                finished=finished, depth=row.depth + 1, cumulative_beam_score=row.cumulative + hyp.score))
        return children

    def _search(self, requests: Sequence[SearchRequest],
                prune: Callable[[list[SentenceNode], CandidateTree], list[SentenceNode]],
                image_scorer: Callable[[Any, list[str]], list[float]] | None, batched: bool,
                progress: Callable[[int], None] | None = None) -> list[CandidateTree]:
        if progress is None:  # used alone: its own bar
            with progress_bar(total=len(requests), desc="csr search", unit="prompt") as bar:
                return self._search(requests, prune, image_scorer, batched, bar.update)
        trees = [CandidateTree(r.prompt_id, r.image_ref, r.prompt) for r in requests]
        with _cache_rename_unannounced():
            if batched:
                prefixes, cached = self._prompt_cache(requests)
            else:
                prefixes, cached = [self._prompt(r) for r in requests], None
            score_images = (_image_scoring(image_scorer, requests, batched=batched)
                            if image_scorer is not None else None)
            active = [_Row(i, [], None, 0, 0.0) for i in range(len(requests))]
            self._grow(requests, prune, trees, prefixes, cached, score_images, active, batched, progress)
        return trees

    def _grow(self, requests, prune, trees, prefixes, cached, score_images, active: list[_Row], batched: bool,
              progress: Callable[[int], None]) -> None:
        """The search steps until no node is active; ``progress(n)`` when n more prompts are complete."""
        while active:
            searching = {row.request_index for row in active}
            new_nodes: dict[int, list[tuple[SentenceNode, _Row]]] = {i: [] for i in range(len(requests))}
            for rows in (self._passes(active, prefixes, cached) if batched else [[row] for row in active]):
                state = (self._start_batched(rows, prefixes, cached) if batched
                         else self._start_plain(rows[0], prefixes[rows[0].request_index]))
                for row, hyps in zip(rows, self._candidates(*state, batched=batched)):
                    children = self._children(row, prefixes[row.request_index], hyps)
                    (row.parent.children if row.parent else trees[row.request_index].roots).extend(children)
                    new_nodes[row.request_index].extend((child, row) for child in children)
            active = []
            if score_images is not None:
                scores = score_images({index: [clip_text(n.text) for n, _ in produced]
                                       for index, produced in new_nodes.items()})
                for index, values in scores.items():
                    for (node, _), score in zip(new_nodes[index], values):
                        node.image_score = float(score)
            for index, produced in new_nodes.items():
                if not produced:
                    continue
                parents = {id(node): row for node, row in produced}
                unfinished = [node for node, _ in produced if not node.finished]
                kept = prune(unfinished, trees[index])
                active += [_Row(index, parents[id(n)].response + n.token_ids, n, n.depth, n.cumulative_beam_score)
                           for n in kept]
            # a prompt is complete when none of its nodes grows further (also when its last step made
            # no new sentence at all: only end-of-sequence candidates)
            complete = len(searching - {row.request_index for row in active})
            if complete:
                progress(complete)

    def search(self, requests: Sequence[SearchRequest], prune, image_scorer=None,
               progress: Callable[[int], None] | None = None) -> list[CandidateTree]:
        """Candidate trees for many prompts, all active nodes batched, prompt prefixes encoded once.

        ``progress(n)`` is called as n more prompts are complete (e.g. a bar's ``update``, so that one
        bar counts the searches of many batches); without it the search shows its own bar."""
        return self._search(requests, prune, image_scorer, batched=True, progress=progress)

    def search_one_at_a_time(self, requests: Sequence[SearchRequest], prune, image_scorer=None,
                             progress: Callable[[int], None] | None = None) -> list[CandidateTree]:
        """The reference's loop: one node at a time, batch size 1, image and prompt re-encoded per sentence."""
        return self._search(requests, prune, image_scorer, batched=False, progress=progress)
