"""Embedded world training: the word-level tokenizer, a tiny LLaVA trained on CPU in the vicuna_v1 format
(answer tokens only), and a tiny open_clip CLIP trained contrastively; all deterministic, saved and
reloaded offline. Toy data: coloured squares and circles with captions like "a red square."."""

from __future__ import annotations

import random
import re

import pytest
import torch
from PIL import Image, ImageDraw

from csr_bench.models.base import ContinuationRequest, GenerationRequest
from csr_bench.models.conversation import VICUNA_V1_SYSTEM, llava_v1_prompt
from csr_bench.models.llava import LlavaModel
from csr_bench.tasks.config import GenerationSettings
from csr_bench.world.tokenizer import SPACE, build_world_tokenizer, split_words
from csr_bench.world.train_clip import load_world_clip, save_world_clip, train_world_clip
from csr_bench.world.train_vlm import encode_examples, save_world_vlm, train_world_vlm

COLOURS = {"red": (220, 30, 30), "blue": (30, 50, 220)}
SHAPES = ("square", "circle")
CAPTIONS = [f"a {c} {s}." for c in COLOURS for s in SHAPES]
QUESTION = "Describe the image."
CORPUS = [QUESTION, "Is there a square in the image?"]
TINY_VLM = dict(image_size=32, patch_size=8, vision_hidden=32, text_hidden=64, text_layers=2, text_heads=4,
                text_kv_heads=2, batch_size=8, lr=3e-3, num_threads=1, vision_pretrain_steps=20,
                vision_pretrain_batch_size=16)


def shape_image(colour: str, shape: str, rng: random.Random, size: int = 32) -> Image.Image:
    grey = rng.randint(100, 160)
    image = Image.new("RGB", (size, size + rng.choice((0, 0, 6))), (grey, grey, grey))  # some not square
    side = rng.randint(size // 2, size - 6)
    x, y = rng.randint(0, size - side), rng.randint(0, size - side)
    draw = ImageDraw.Draw(image)
    (draw.rectangle if shape == "square" else draw.ellipse)((x, y, x + side, y + side), fill=COLOURS[colour])
    return image


def toy_examples(n: int, seed: int) -> list[tuple[Image.Image, str, str]]:
    rng = random.Random(seed)
    out = []
    for i in range(n):
        colour, shape = list(COLOURS)[i % 2], SHAPES[(i // 2) % 2]
        out.append((shape_image(colour, shape, rng), QUESTION, f"a {colour} {shape}."))
    return out


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: threads only add OpenMP waits on shared cores
    yield
    torch.set_num_threads(threads)


# -- tokenizer ---------------------------------------------------------------------------------

def test_word_tokenizer_round_trips_with_its_own_full_stop():
    tokenizer = build_world_tokenizer(["a red cup on the left.", "There is a fork, and a knife."])
    ids = tokenizer("red cup.")["input_ids"]
    assert tokenizer.convert_ids_to_tokens(ids) == ["<s>", f"{SPACE}red", f"{SPACE}cup", "."]
    assert tokenizer.decode(ids, skip_special_tokens=True) == "red cup."
    period = tokenizer.convert_tokens_to_ids(".")
    assert period not in (None, tokenizer.unk_token_id)
    text = " There is a fork, and a knife. a red cup on the left."
    ids = tokenizer(text, add_special_tokens=False)["input_ids"]
    assert tokenizer.unk_token_id not in ids
    assert ids.count(period) == 2
    assert tokenizer.decode(ids) == text.lstrip()  # Llama-like: the first word's space is dropped
    for k in range(len(ids)):  # prefix-stable, as the sentence search's text slicing needs
        assert tokenizer.decode(ids).startswith(tokenizer.decode(ids[:k]))
    assert [tokenizer.convert_ids_to_tokens(i) for i in (0, 1, 2, 3, 4)] == ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
    template = tokenizer(llava_v1_prompt("a red cup.") + " a fork.</s>")["input_ids"]
    assert tokenizer.unk_token_id not in template and template[-1] == tokenizer.eos_token_id
    assert tokenizer.decode(tokenizer(VICUNA_V1_SYSTEM)["input_ids"], skip_special_tokens=True) == VICUNA_V1_SYSTEM
    assert build_world_tokenizer(["b a.", "a c."]).get_vocab() == build_world_tokenizer(["a c.", "b a."]).get_vocab()
    assert split_words("a cup.\nA") == [f"{SPACE}a", f"{SPACE}cup", ".", f"{SPACE}A"]


# -- the VLM -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def trained_vlm(one_thread):
    losses: list[float] = []
    model, processor = train_world_vlm(toy_examples(64, seed=1), CORPUS, seed=0, steps=50,
                                       log=lambda step, loss: losses.append(loss), **TINY_VLM)
    return model, processor, losses


def test_training_lowers_the_answer_loss(trained_vlm):
    _, _, losses = trained_vlm
    assert len(losses) == 50
    assert sum(losses[-5:]) / 5 < 0.5 * sum(losses[:5]) / 5, losses


def test_training_sees_the_evaluation_prompt_and_labels_only_the_answer(trained_vlm):
    model, processor, _ = trained_vlm
    vlm = LlavaModel(model, processor, name="world", source="memory", device="cpu")
    image = toy_examples(1, seed=9)[0][0]
    encoded = encode_examples([(image, QUESTION, "a red square.")], processor)
    labels = encoded.labels[0]
    start = labels.index(next(label for label in labels if label != -100))
    assert encoded.input_ids[0][:start] == vlm._encode([image], [QUESTION])["input_ids"][0].tolist()
    assert processor.tokenizer.convert_ids_to_tokens(labels[start:]) == \
        [f"{SPACE}a", f"{SPACE}red", f"{SPACE}square", ".", "</s>"]
    assert torch.equal(encoded.pixel_values[0], vlm._encode([image], [QUESTION])["pixel_values"][0])


def test_greedy_captions_are_corpus_words_with_proper_spacing(trained_vlm):
    model, processor, _ = trained_vlm
    vlm = LlavaModel(model, processor, name="world", source="memory", device="cpu")
    held_out = toy_examples(8, seed=2)
    outputs = vlm.generate([GenerationRequest(image, QUESTION) for image, _, _ in held_out],
                           GenerationSettings(max_new_tokens=12))
    words = {piece.removeprefix(SPACE) for text in CAPTIONS + CORPUS for piece in split_words(text)}
    for text in outputs:
        assert text and re.fullmatch(r"[\w']+( [\w']+)*\.?( [\w']+( [\w']+)*\.?)*", text), outputs
        assert set(re.findall(r"[\w']+|\.", text)) <= words, outputs
    assert sum(text in CAPTIONS for text in outputs) >= 4, outputs  # fluent world sentences already

    from csr_bench.methods.csr.search import SentenceBeamSearch

    assert SentenceBeamSearch(vlm).sentence_end == {processor.tokenizer.convert_tokens_to_ids(".")}


def test_save_and_reload_gives_the_same_greedy_outputs(trained_vlm, tmp_path):
    model, processor, _ = trained_vlm
    folder = save_world_vlm(model, processor, tmp_path / "world-llava")
    assert (folder / "model.safetensors").is_file() and not list(folder.glob("*.bin"))
    before = LlavaModel(model, processor, name="world", source="memory", device="cpu")
    after = LlavaModel.from_pretrained(str(folder), name="world", device="cpu")
    held_out = toy_examples(6, seed=3)
    requests = [GenerationRequest(image, QUESTION) for image, _, _ in held_out]
    settings = GenerationSettings(max_new_tokens=12)
    assert after.generate(requests, settings) == before.generate(requests, settings)
    continuations = [ContinuationRequest(image, QUESTION, " a red circle.") for image, _, _ in held_out]
    assert after.continuation_logprobs(continuations) == pytest.approx(before.continuation_logprobs(continuations),
                                                                       abs=1e-4)


def test_same_seed_same_weights():
    examples = toy_examples(16, seed=4)
    knobs = dict(TINY_VLM, steps=4)
    a, _ = train_world_vlm(examples, CORPUS, seed=5, **knobs)
    b, _ = train_world_vlm(examples, CORPUS, seed=5, **knobs)
    c, _ = train_world_vlm(examples, CORPUS, seed=6, **knobs)
    state_a, state_b, state_c = a.state_dict(), b.state_dict(), c.state_dict()
    assert all(torch.equal(state_a[k], state_b[k]) for k in state_a)
    assert not all(torch.equal(state_a[k], state_c[k]) for k in state_a)


def cells_of(examples) -> list[tuple[Image.Image, list[tuple[int, int, int]]]]:
    """Every one of the 16 image tokens labelled with its image's (shape, colour, -): a crude but valid labelling."""
    labels = []
    for image, _, answer in examples:
        _, colour, shape = answer.rstrip(".").split()
        labels.append((image, [(SHAPES.index(shape) + 1, list(COLOURS).index(colour), 0)] * 16))
    return labels


CELL_CLASSES = (("",) + SHAPES, tuple(COLOURS), ("small",))


def test_vision_warm_up_aligns_image_tokens_with_the_words_and_leaves_the_language_model_alone():
    examples = toy_examples(32, seed=6)
    knobs = dict(TINY_VLM, steps=0)
    plain, _ = train_world_vlm(examples, CORPUS, seed=0, **dict(knobs, vision_pretrain_steps=0))
    warmed, processor = train_world_vlm(examples, CORPUS, seed=0, image_cells=cells_of(examples),
                                        cell_classes=CELL_CLASSES, **dict(knobs, vision_pretrain_steps=60))
    before, after = plain.state_dict(), warmed.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert changed and all(k.startswith(("model.vision_tower.", "model.multi_modal_projector.")) for k in changed)
    assert warmed.config.world_training["vision_pretrain_loss"] is not None

    # a held-out image's tokens now point at its colour word's embedding rather than the other colour's
    embeddings = warmed.get_input_embeddings().weight
    red, blue = (embeddings[processor.tokenizer.convert_tokens_to_ids(f"{SPACE}{c}")] for c in ("red", "blue"))
    held_out = toy_examples(8, seed=11)
    pixels = encode_examples(held_out, processor).pixel_values
    with torch.no_grad():
        hidden = warmed.model.vision_tower(pixel_values=pixels, output_hidden_states=True).hidden_states[-1][:, 1:]
        tokens = warmed.model.multi_modal_projector(hidden)  # what LLaVA puts in place of the <image> tokens
    cosine = torch.nn.functional.cosine_similarity
    right = sum(bool((cosine(t, red[None]) > cosine(t, blue[None])).float().mean() > 0.5) == ("red" in answer)
                for t, (_, _, answer) in zip(tokens, held_out))
    assert right == len(held_out)


def test_epochs_set_the_length_when_steps_is_none():
    losses: list[float] = []
    train_world_vlm(toy_examples(10, seed=7), CORPUS, steps=None, epochs=2, log=lambda s, l: losses.append(l),
                    **{k: v for k, v in TINY_VLM.items() if k != "batch_size"}, batch_size=4)
    assert len(losses) == 6  # ceil(10 / 4) = 3 batches a pass


def test_unknown_knob_is_refused():
    with pytest.raises(TypeError, match="hiden"):
        train_world_vlm(toy_examples(2, seed=0), hiden=3)


# -- the CLIP ----------------------------------------------------------------------------------

TINY_CLIP = dict(image_size=32, vision_width=8, text_width=32, head_width=16, embed_dim=32, batch_size=32, lr=3e-3)


def caption_pairs(n: int, seed: int) -> list[tuple[Image.Image, str]]:
    return [(image, answer) for image, _, answer in toy_examples(n, seed)]


@pytest.fixture(scope="module")
def trained_clip(one_thread):
    losses: list[float] = []
    scorer = train_world_clip(caption_pairs(128, seed=1), seed=0, steps=80,
                              log=lambda step, loss: losses.append(loss), **TINY_CLIP)
    return scorer, losses


def test_clip_ranks_the_matching_caption_first_on_held_out_images(trained_clip):
    scorer, losses = trained_clip
    assert sum(losses[-5:]) < sum(losses[:5])
    pairs = caption_pairs(24, seed=2)
    correct = 0
    for image, caption in pairs:
        scores = dict(zip(CAPTIONS, scorer.score(image, CAPTIONS)))
        correct += all(scores[caption] > scores[other] for other in CAPTIONS if other != caption)
        assert all(-100.0 <= s <= 100.0 for s in scores.values())
    assert correct >= 20, correct


def test_clip_save_and_load_round_trip_scores(trained_clip, tmp_path):
    from csr_bench.models.clip import ClipScorer

    scorer, _ = trained_clip
    folder = save_world_clip(scorer, tmp_path / "world-clip")
    assert sorted(p.name for p in folder.iterdir()) == ["open_clip_config.json", "open_clip_model.safetensors"]
    image = caption_pairs(1, seed=3)[0][0]
    expected = scorer.score(image, CAPTIONS)
    assert load_world_clip(folder).score(image, CAPTIONS) == pytest.approx(expected, abs=1e-4)
    assert ClipScorer.from_pretrained(f"local-dir:{folder}", device="cpu").score(image, CAPTIONS) == \
        pytest.approx(expected, abs=1e-4)


def test_trimmed_clip_keeps_the_world_tokens_and_scores_like_the_untrimmed_one(trained_clip, tmp_path):
    """The token embedding cut to the tokens of the world's texts: open_clip loads it as any local-dir
    model (its config, safetensors, the tokenizer in the folder), every kept row is the untrimmed row of
    the same token, the world's texts get the same tokens renumbered, and so the same scores."""
    from open_clip.tokenizer import SimpleTokenizer

    from csr_bench.models.clip import ClipScorer
    from csr_bench.world.train_clip import EOT, SOT, trim_world_clip, world_vocabulary_merges

    scorer, _ = trained_clip
    world = CAPTIONS + CORPUS
    folder = trim_world_clip(scorer, world, tmp_path / "trimmed")
    assert {"open_clip_config.json", "open_clip_model.safetensors", "tokenizer.json"} <= {p.name for p in folder.iterdir()}
    trimmed = load_world_clip(folder)
    merges = world_vocabulary_merges(world)
    vocab = trimmed.tokenizer.tokenizer.get_vocab()
    assert len(vocab) == 256 + 256 + len(merges) + 2 == trimmed.world_config["model_cfg"]["text_cfg"]["vocab_size"]
    assert vocab[EOT] == len(vocab) - 1 and vocab[SOT] == len(vocab) - 2  # argmax pooling finds the end token
    full, small = scorer.model.token_embedding.weight, trimmed.model.token_embedding.weight
    assert small.shape == (len(vocab), full.shape[1])
    old = SimpleTokenizer().encoder
    for token, new_id in vocab.items():
        assert torch.equal(small[new_id], full[old[token]]), token

    renumber = {old[token]: new_id for token, new_id in vocab.items()}
    before, after = scorer.tokenizer(world), trimmed.tokenizer(world)
    for b, a in zip(before.tolist(), after.tolist()):
        end = b.index(old[EOT]) + 1
        assert [renumber[i] for i in b[:end]] == a[:end] and set(a[end:]) <= {vocab[EOT]}
    image = caption_pairs(1, seed=3)[0][0]
    expected = scorer.score(image, world)
    assert trimmed.score(image, world) == pytest.approx(expected, abs=1e-5)
    assert ClipScorer.from_pretrained(f"local-dir:{folder}", device="cpu").score(image, world) == \
        pytest.approx(expected, abs=1e-5)
    assert len(trimmed.score(image, ["a green triangle!"])) == 1  # other words: smaller pieces, still scored
    resaved = save_world_clip(trimmed, tmp_path / "again")  # a trimmed CLIP saves with its tokenizer
    assert load_world_clip(resaved).score(image, world) == pytest.approx(expected, abs=1e-5)


def test_clip_same_seed_same_scores():
    pairs = caption_pairs(16, seed=5)
    knobs = dict(TINY_CLIP, steps=3)
    image = pairs[0][0]
    assert train_world_clip(pairs, seed=1, **knobs).score(image, CAPTIONS) == \
        train_world_clip(pairs, seed=1, **knobs).score(image, CAPTIONS)


def test_hard_negative_swaps_one_object_word_for_another():
    import random

    from csr_bench.world.train_clip import swapped

    words = ["cup", "ball", "traffic light", "fork"]
    rng = random.Random(0)
    for _ in range(20):
        out = swapped("There is a red traffic light on the left.", words, rng)
        assert out.startswith("There is a red ") and out.endswith(" on the left.")
        assert out[len("There is a red "):-len(" on the left.")] in {"cup", "ball", "fork"}
    assert swapped("There is a red cup. A fork too.", ["cup", "fork"], rng) == "There is a red fork. A fork too."
    assert swapped("The balloon is red.", words, rng) is None  # whole words only
    assert swapped("This is a simple picture with four objects.", words, rng) is None


def test_clip_hard_negatives_change_training_only_when_asked():
    pairs, words = caption_pairs(16, seed=5), list(SHAPES)  # "a red square." <-> "a red circle."
    knobs = dict(TINY_CLIP, steps=3)
    image = pairs[0][0]
    plain = train_world_clip(pairs, seed=1, **knobs).score(image, CAPTIONS)
    assert train_world_clip(pairs, seed=1, swap_words=words, hard_negatives=False, **knobs).score(image, CAPTIONS) == plain
    assert train_world_clip(pairs, seed=1, swap_words=words, **knobs).score(image, CAPTIONS) != plain
