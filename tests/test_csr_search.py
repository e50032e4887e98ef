"""Sentence-level beam search: the diverse group beam search core on hand-computed toy cases, and
the batched, prefix-reusing search against the straightforward one-node-at-a-time search."""

import pytest
import torch
from PIL import Image

from csr_bench.models.clip import build_tiny_clip
from csr_bench.methods.csr.group_beam import group_beam_search
from csr_bench.methods.csr.rewards import clip_text, kept_by_reference, prune
from csr_bench.methods.csr.search import SearchConfig, SearchRequest, SentenceBeamSearch

PAD, END, A, B, C = range(5)
NEG = -100.0
# A toy language model: log-scores of the next token given the last one (state = last token).
START = torch.tensor([NEG, -3.0, -1.0, -2.0, -4.0])
AFTER = {A: torch.tensor([NEG, -0.5, -5.0, -3.0, -2.0]), B: torch.tensor([NEG, -1.0, -2.0, -5.0, -4.0]),
         C: torch.tensor([NEG, -0.1, -5.0, -5.0, -5.0]), PAD: torch.full((5,), NEG), END: torch.full((5,), NEG)}


def _toy(penalty, max_new_tokens=5, beams=2, groups=2):
    return group_beam_search(START[None], lambda tokens: torch.stack([AFTER[int(t)] for t in tokens]),
                             lambda indices: None, num_beams=beams, num_groups=groups, diversity_penalty=penalty,
                             end_tokens={END}, max_new_tokens=max_new_tokens, num_return=beams)[0]


def test_diverse_groups_hand_computed():
    # step 1: group 0 takes A (-1); group 1 sees A penalised by 10 and takes B (-2).
    # step 2: group 0: END after A scores -1.5 -> hypothesis [A, END] = -1.5 / 2; its running beam
    #   continues with C, and the group is done (worst -0.75 >= best -1.5 / 2). Group 1: C is
    #   penalised (group 0 chose it), END after B scores -3 -> [B, END] = -3 / 2; done.
    best, second = _toy(penalty=10.0)
    assert (best.tokens, best.score, best.logprob, best.end_token) == ([A, END], -0.75, -1.5, END)
    assert (second.tokens, second.score, second.logprob) == ([B, END], -1.5, -3.0)


def test_without_penalty_groups_collapse():
    best, second = _toy(penalty=0.0)
    assert best.tokens == second.tokens == [A, END]


def test_length_cap_returns_running_beams():
    best, second = _toy(penalty=10.0, max_new_tokens=1)
    assert (best.tokens, best.score, best.end_token) == ([A], -1.0, None)
    assert (second.tokens, second.score) == ([B], -2.0)


def test_dropping_finished_groups_changes_no_decision():
    """Beams of finished groups leave the batch (``drop_finished``): same hypotheses, scores and
    log-probabilities as feeding them padding to the end, on random toy models of several rows."""
    generator = torch.Generator().manual_seed(0)
    shrank = 0
    for trial in range(40):
        vocab, rows = 7, 1 + trial % 4
        groups = 1 + trial % 3
        beams = groups * (1 + trial % 2)
        table = torch.log_softmax(3 * torch.randn(vocab, vocab, generator=generator), -1)
        table[:, PAD] = NEG
        start = torch.log_softmax(3 * torch.randn(rows, vocab, generator=generator), -1)
        batch_sizes = []

        def run(drop):
            def advance(tokens):
                batch_sizes.append(len(tokens))
                return table[tokens]
            return group_beam_search(start, advance, lambda indices: None, num_beams=beams, num_groups=groups,
                                     diversity_penalty=1.5, end_tokens={END}, max_new_tokens=12, num_return=beams,
                                     drop_finished=drop)

        assert run(True) == run(False)
        shrank += min(batch_sizes, default=rows * beams) < rows * beams
    assert shrank > 5  # the batch did shrink in many of the problems


def test_end_token_outside_the_top_group_size_is_ignored():
    # one group of 2 beams: END ranks 3rd at step 1, so no hypothesis is closed there
    hyps = _toy(penalty=0.0, beams=2, groups=1)
    assert all(len(h.tokens) >= 2 for h in hyps)


def _reference_prune(nodes, tree):
    return prune(nodes, mode="reference", tree=tree)


def test_batched_search_equals_one_node_at_a_time(tiny_model):
    requests = [SearchRequest(f"p{i}", Image.new("RGB", (40 + 9 * i, 30 + 4 * i), (60 * i, 120, 200)), f"im{i}.png",
                              question)
                for i, question in enumerate(["Describe the following image.", "What's happening in the scene?",
                                              "What is this photo about'?"])]
    # a KV budget of about 4 nodes of 5 beams per forward pass: the 9 nodes of a step take several passes
    width = tiny_model._encode([r.image for r in requests], [r.prompt for r in requests])["input_ids"].shape[1]
    search = SentenceBeamSearch(tiny_model, SearchConfig(max_sentences=3, sentence_max_new_tokens=10,
                                                         batch_tokens=4 * 5 * (width + 10 + 20)))
    passes = []
    split = search._passes
    search._passes = lambda *args: passes.append([len(rows) for rows in split(*args)]) or split(*args)
    clip = build_tiny_clip(seed=0)
    batched = search.search(requests, _reference_prune, image_scorer=clip)
    assert passes[0] == [3] and all(len(p) > 1 for p in passes[1:]) and max(max(p) for p in passes) > 1
    plain = search.search_one_at_a_time(requests, _reference_prune, image_scorer=clip)
    for fast, slow in zip(batched, plain):
        key = lambda n: (n.depth, n.token_ids)  # noqa: E731
        fast_nodes, slow_nodes = sorted(fast.nodes(), key=key), sorted(slow.nodes(), key=key)
        assert [(n.depth, n.token_ids, n.text, n.finished) for n in fast_nodes] == \
            [(n.depth, n.token_ids, n.text, n.finished) for n in slow_nodes]
        for a, b in zip(fast_nodes, slow_nodes):
            assert a.beam_score == pytest.approx(b.beam_score, abs=1e-4)
            assert a.logprob == pytest.approx(b.logprob, abs=1e-4)
            assert a.image_score == pytest.approx(b.image_score, abs=1e-4)
        assert list(map(fast.response, fast.paths())) == list(map(slow.response, slow.paths()))
    for request, tree in zip(requests, batched):  # R_I: the scorer's own numbers for each sentence alone
        nodes = list(tree.nodes())
        alone = [clip.score(request.image, [clip_text(n.text)])[0] for n in nodes]
        assert [n.image_score for n in nodes] == pytest.approx(alone, abs=1e-4)
    stats = batched[0].stats()
    # 5 first sentences, 1 + 2 kept; 15 second sentences, 1 + 2 kept; 15 third sentences end the responses
    assert stats == {"nodes": 5 + 15 + 15, "complete_responses": 15, "max_depth": 3}
    assert len(batched[0].roots) == 5 and len({n.text for n in batched[0].roots}) == 5  # diverse candidates


def test_first_sentences_carry_the_models_own_log_probabilities(tiny_model):
    """A candidate's summed log-probability equals the model's score of those tokens, computed
    independently by one plain forward pass over prompt + sentence."""
    image = Image.new("RGB", (48, 32), (200, 40, 40))
    prompt = "Describe the following image."
    search = SentenceBeamSearch(tiny_model, SearchConfig(max_sentences=1, sentence_max_new_tokens=8))
    [tree] = search.search([SearchRequest("p", image, "im.png", prompt)], _reference_prune)
    inputs = tiny_model._encode([image], [prompt], image="crop")  # the search's default, as the reference
    for root in tree.roots:
        ids = torch.cat([inputs["input_ids"], torch.tensor([root.token_ids])], dim=1)
        with torch.no_grad():
            logits = tiny_model.model(input_ids=ids, pixel_values=inputs["pixel_values"]).logits[0].float()
        start = inputs["input_ids"].shape[1]
        logprobs = torch.log_softmax(logits, -1)
        expected = sum(float(logprobs[start + k - 1, t]) for k, t in enumerate(root.token_ids))
        assert root.logprob == pytest.approx(expected, abs=1e-3)
        assert root.beam_score <= root.logprob / len(root.token_ids) + 1e-6  # penalties only lower it


def test_an_end_of_sequence_step_marks_its_node_finished_and_is_no_sentence(small_world):
    """The world VLM ends its descriptions with "." then </s>, and there every one of the 5 groups'
    candidates is </s> alone (its probability outweighs the diversity penalty). None becomes a node:
    the sentence before it is ``finished``, ranked only among its own siblings, and it is the last
    sentence of exactly one complete response."""
    from conftest import WORLD_VLM
    from csr_bench.methods.csr.rewards import calibrate
    from csr_bench.models.llava import LlavaModel

    model = LlavaModel.from_pretrained(str(WORLD_VLM), name="world-vlm")
    images = sorted((small_world / "prompts" / "images").iterdir())[:1]
    requests = [SearchRequest(f"p{i}", Image.open(path).convert("RGB"), path.name, "Describe the image.")
                for i, path in enumerate(images)]
    search = SentenceBeamSearch(model, SearchConfig(sentence_max_new_tokens=30))
    ended = []  # (node, its hypotheses) where a hypothesis was the end-of-sequence token alone
    children = search._children

    def spy(row, prefix, hyps):
        if row.parent is not None and any(h.tokens == [search.eos] for h in hyps):
            ended.append((row.parent, hyps))
        return children(row, prefix, hyps)

    search._children = spy
    trees = search.search(requests, _reference_prune, image_scorer=build_tiny_clip(seed=0))
    assert ended and all(len(hyps) == 5 for _, hyps in ended)
    assert all(parent.finished and parent.text.endswith(".") for parent, _ in ended)
    for tree in trees:
        nodes = list(tree.nodes())
        assert all(n.text.strip() for n in nodes)  # no ending node, so none is ranked
        assert set(calibrate(tree, "reference", 0.9)) == {id(n) for n in nodes if kept_by_reference(n.text)}
        finished = [n for n in nodes if n.finished]
        assert len(tree.paths()) == len(finished)  # one complete response per finished sentence
        assert sorted(len(p) for p in tree.paths()) == sorted(n.depth for n in finished)


def test_progress_counts_each_prompt_once_when_it_is_complete(small_world, tiny_model, capsys):
    """``progress(n)`` (a bar's update, for one bar over many batches) is told of every prompt once,
    when its search ends: also a prompt whose last step made only end-of-sequence candidates (the
    world VLM's way to end, which no new sentence marks). transformers' ``past_key_values``
    FutureWarning of every forward pass is not shown; used alone, the search shows its own bar."""
    import warnings

    from conftest import WORLD_VLM
    from csr_bench.models.llava import LlavaModel

    model = LlavaModel.from_pretrained(str(WORLD_VLM), name="world-vlm")
    images = sorted((small_world / "prompts" / "images").iterdir())[:2]
    requests = [SearchRequest(f"p{i}", Image.open(path).convert("RGB"), path.name, "Describe the image.")
                for i, path in enumerate(images)]
    search = SentenceBeamSearch(model, SearchConfig(sentence_max_new_tokens=30))
    calls = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trees = search.search(requests, _reference_prune, progress=calls.append)
    assert sum(calls) == len(requests) and all(n > 0 for n in calls)
    assert all(any(n.finished for n in tree.nodes()) for tree in trees)
    assert not [w for w in caught if "past_key_values" in str(w.message)]
    capsys.readouterr()
    alone = SentenceBeamSearch(tiny_model, SearchConfig(max_sentences=1, sentence_max_new_tokens=4))
    alone.search([SearchRequest("p", Image.new("RGB", (32, 32)), "im.png", "Describe.")], _reference_prune)
    bars = capsys.readouterr().err
    assert "csr search" in bars and "1/1" in bars
