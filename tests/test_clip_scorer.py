"""R_I with a tiny open_clip CLIP: trained for a few seconds on red vs blue squares, it must rank the
matching caption first on held-out images; scores are exactly 100 x cosine and independent of batching."""

from __future__ import annotations

import random

import pytest
import torch
import torch.nn.functional as F
from PIL import Image

from csr_bench.models.clip import ClipScorer, build_tiny_clip
from csr_bench.methods.csr.rewards import select_pair
from csr_bench.methods.csr.tree import CandidateTree, SentenceNode
from csr_bench.errors import CsrBenchError

CAPTIONS = ["a red square", "a blue square"]


def square(color: str, rng: random.Random) -> Image.Image:
    """A red or blue square of random size and place on a random grey background."""
    grey = rng.randint(80, 170)
    image = Image.new("RGB", (32, 32), (grey, grey, grey))
    size = rng.randint(10, 20)
    x, y = rng.randint(0, 32 - size), rng.randint(0, 32 - size)
    strong, weak = rng.randint(180, 255), (rng.randint(0, 60), rng.randint(0, 60))
    fill = (strong, *weak) if color == "red" else (*weak, strong)
    image.paste(fill, (x, y, x + size, y + size))
    return image


def squares(n: int, seed: int) -> tuple[list[Image.Image], list[int]]:
    rng = random.Random(seed)
    labels = [i % 2 for i in range(n)]
    return [square("red" if label == 0 else "blue", rng) for label in labels], labels


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """Tiny models gain nothing from threads, and on busy shared cores OpenMP waits make them 100x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained(one_thread) -> ClipScorer:
    scorer = build_tiny_clip(seed=0)
    model = scorer.model.train()
    images, labels = squares(256, seed=1)
    pixels = torch.stack([scorer.preprocess(im) for im in images])
    targets = torch.tensor(labels)
    tokens = scorer.tokenizer(CAPTIONS)
    optimizer = torch.optim.Adam(model.parameters(), lr=3e-3)
    generator = torch.Generator().manual_seed(0)
    flush = torch.set_flush_denormal(True)  # near-zero losses make subnormal gradients, slow on CPU
    try:
        for _ in range(60):  # image-to-caption contrastive loss over the two captions
            batch = torch.randperm(len(images), generator=generator)[:32]
            image_features = F.normalize(model.encode_image(pixels[batch]), dim=-1)
            text_features = F.normalize(model.encode_text(tokens), dim=-1)
            logits = model.logit_scale.exp() * image_features @ text_features.T
            loss = F.cross_entropy(logits, targets[batch])
            if loss.item() < 1e-3:
                break
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
    finally:
        torch.set_flush_denormal(False) if flush else None
    model.eval()
    return scorer


def test_trained_tiny_clip_ranks_the_matching_caption_first(trained):
    images, labels = squares(40, seed=2)  # held out
    for image, label in zip(images, labels):
        scores = trained.score(image, CAPTIONS)
        assert scores[label] > scores[1 - label], (label, scores)


def test_image_scores_drive_the_pair_at_lambda_one(trained):
    image = squares(1, seed=3)[0][0]  # a red square
    roots = [SentenceNode(text=f" There is {c}.", token_ids=[], logprob=-1.0, beam_score=-0.1, finished=True,
                          depth=1) for c in CAPTIONS[::-1]]
    for root, score in zip(roots, trained.score(image, [r.text.strip() for r in roots])):
        root.image_score = score
    tree = CandidateTree("q", "red.png", "Describe the image.", roots)
    for mode in ("reference", "paper"):
        pair = select_pair(tree, mode, 1.0)
        assert (pair.chosen, pair.rejected) == ("There is a red square.", "There is a blue square."), mode


def test_scores_are_100_times_cosine():
    scorer = build_tiny_clip(seed=0)
    image, sentences = squares(1, seed=4)[0][0], ["a red square", "a dog on a mat", ""]
    with torch.no_grad():
        image_features = scorer.model.encode_image(scorer.preprocess(image).unsqueeze(0))
        text_features = scorer.model.encode_text(scorer.tokenizer(sentences))
    expected = 100 * F.normalize(text_features, dim=-1) @ F.normalize(image_features, dim=-1)[0]
    assert scorer.score(image, sentences) == pytest.approx(expected.tolist(), abs=1e-4)
    assert scorer.score(image, []) == []


def test_no_clamp_keeps_negative_scores():
    scorer = build_tiny_clip(seed=0)
    images, _ = squares(6, seed=5)
    scores = [s for row in scorer.score_many([(im, CAPTIONS + ["a dog", "grass", "two cats"]) for im in images])
              for s in row]
    assert any(s < 0 for s in scores)  # a random tiny CLIP has negative cosines; they are not clipped


def test_batching_does_not_change_scores(tmp_path):
    one_by_one = build_tiny_clip(seed=7)
    one_by_one.text_batch_size = one_by_one.image_batch_size = 1
    batched = build_tiny_clip(seed=7)
    images, _ = squares(3, seed=6)
    path = tmp_path / "square.png"
    images[2].save(path)
    items = [(images[0], ["a red square", "a blue square", "a cat"]), (images[1], []), (str(path), ["grass"])]
    many = batched.score_many(items)
    assert many[1] == []
    singles = [[one_by_one.score(image, [s])[0] for s in sentences] for image, sentences in items]
    for got, want in zip(many, singles):
        assert got == pytest.approx(want, abs=1e-4)
    assert batched(images[0], ["a cat"]) == pytest.approx([many[0][2]], abs=1e-4)


def test_equal_texts_get_identical_scores_whatever_the_batch():
    """Sibling sentences that say the same thing must tie exactly under R_I (ranks break ties by
    sibling order), so equal texts are encoded once: bit-identical rows, and the same values as the
    text encoded alone (up to float rounding)."""
    scorer = build_tiny_clip(seed=2)
    image = squares(1, seed=9)[0][0]
    texts = ["a red square", "a cat", "a red square", "grass", "a red square", "a cat"]
    embeddings = scorer.encode_texts(texts)
    assert embeddings.shape == (6, 32)
    assert torch.equal(embeddings[0], embeddings[2]) and torch.equal(embeddings[0], embeddings[4])
    assert torch.equal(embeddings[1], embeddings[5])
    scores = scorer.score(image, texts)
    assert scores[0] == scores[2] == scores[4] and scores[1] == scores[5]
    alone = {text: scorer.score(image, [text])[0] for text in set(texts)}
    assert scores == pytest.approx([alone[t] for t in texts], abs=1e-4)


def test_same_seed_same_model():
    a, b = build_tiny_clip(seed=3), build_tiny_clip(seed=3)
    image = squares(1, seed=8)[0][0]
    assert a.score(image, CAPTIONS) == b.score(image, CAPTIONS)


@pytest.mark.parametrize("model_name, pretrained, quick_gelu", [
    ("ViT-L-14-336", "openai", True),  # LLaVA-1.5's tower: OpenAI trained it with QuickGELU
    ("ViT-B-32", "laion2b_s34b_b79k", False),
])
def test_openai_weights_get_the_quick_gelu_they_were_trained_with(monkeypatch, model_name, pretrained, quick_gelu):
    """open_clip's ViT-L-14-336 config uses plain GELU and only warns for the openai tag; R_I must be
    computed by the network the weights belong to (the reference's HF CLIP uses quick_gelu)."""
    import open_clip

    from csr_bench.models import clip

    seen = {}

    def create(name, **kwargs):
        seen.update(kwargs, name=name)
        raise RuntimeError("stop here: no weights offline")

    monkeypatch.setattr(clip, "_clip_checkpoint", lambda *args: None)
    monkeypatch.setattr(open_clip, "create_model_and_transforms", create)
    with pytest.raises(CsrBenchError, match="stop here"):
        ClipScorer.from_pretrained(model_name, pretrained)
    assert (seen["name"], seen["force_quick_gelu"]) == (model_name, quick_gelu)


def test_offline_from_pretrained_is_a_one_line_error(tmp_path):
    with pytest.raises(CsrBenchError) as error:
        ClipScorer.from_pretrained()  # ViT-L-14-336 / openai: no hub here (conftest sets HF_HUB_OFFLINE)
    message = str(error.value)
    assert "\n" not in message
    assert "ViT-L-14-336" in message and "cannot be downloaded" in message and "pretrained=/path/to/file" in message
    with pytest.raises(CsrBenchError, match="pretrained=/path/to/file"):
        ClipScorer.from_pretrained(pretrained=str(tmp_path / "missing.pt"))
