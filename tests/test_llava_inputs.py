"""What LLaVA sees: the pad colour, the image the CSR search feeds (crop or pad), and prompt ids built
as LLaVA's ``tokenizer_image_token`` builds them, whatever the tokenizer's ``legacy`` flag."""

from __future__ import annotations

import io
import json
import shutil
from types import SimpleNamespace

import pytest
import torch
from PIL import Image

from csr_bench.methods.csr.search import SearchConfig, SearchRequest, SentenceBeamSearch
from csr_bench.errors import CsrBenchError
from csr_bench.models.conversation import llava_v1_prompt
from csr_bench.models.llava import encode_llava, expand_to_square, llava_prompt_ids, pad_colour

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
TEXT = "SYS USER: <image>\nDescribe it. ASSISTANT:"


# -- pad colour ------------------------------------------------------------------------------------

def test_pad_colour_truncates_as_llava_expand2square():
    processor = SimpleNamespace(image_processor=SimpleNamespace(image_mean=list(CLIP_MEAN)))
    assert pad_colour(processor) == (122, 116, 104)  # int(x*255); rounding would give (123, 117, 104)


# -- the image the search feeds --------------------------------------------------------------------

def _striped(width: int, height: int) -> Image.Image:
    """Every column its own colour, so a crop and a pad of it differ."""
    image = Image.new("RGB", (width, height))
    image.putdata([(7 * x % 256, 255 - 5 * x % 256, (x * y) % 256) for y in range(height) for x in range(width)])
    return image


def _fed_pixels(tiny_model, run) -> torch.Tensor:
    """The pixels the vision tower gets first while ``run()`` runs."""
    seen = []

    def record(module, args, kwargs):
        seen.append((args[0] if args else kwargs["pixel_values"]).detach().clone())

    hook = tiny_model.model.model.vision_tower.register_forward_pre_hook(record, with_kwargs=True)
    try:
        run()
    finally:
        hook.remove()
    assert seen
    return seen[0]


def _searched_pixels(tiny_model, image, mode: str, batched: bool = True) -> torch.Tensor:
    search = SentenceBeamSearch(tiny_model, SearchConfig(max_sentences=1, sentence_max_new_tokens=2, image=mode))
    request = SearchRequest("p", image, "im.png", "Describe the image.")
    find = search.search if batched else search.search_one_at_a_time
    return _fed_pixels(tiny_model, lambda: find([request], lambda nodes, tree: nodes[:1]))


@pytest.mark.parametrize("batched", [True, False])
def test_search_feeds_the_processors_centre_crop_or_llavas_pad(tiny_model, batched):
    image = _striped(48, 32)  # tiny-llava's processor: shortest side to 32, centre crop 32x32
    image_processor = tiny_model.processor.image_processor
    crop = _searched_pixels(tiny_model, image, "crop", batched)
    pad = _searched_pixels(tiny_model, image, "pad", batched)
    assert not torch.allclose(crop, pad)
    # crop: the shortest side is already 32, so the processor keeps the middle 32 columns, 8..40
    middle = image_processor(image.crop((8, 0, 40, 32)), return_tensors="pt")["pixel_values"]
    assert torch.allclose(crop, middle, atol=1e-6)
    # pad: LLaVA's expand2square with (122, 116, 104), then the processor (a resize of the 48x48 square)
    square = expand_to_square(image, (122, 116, 104))
    assert torch.allclose(pad, image_processor(square, return_tensors="pt")["pixel_values"], atol=1e-6)
    corner = torch.tensor([(c / 255 - m) / s for c, m, s in zip((122, 116, 104), CLIP_MEAN, CLIP_STD)])
    assert torch.allclose(pad[0, :, 0, 0], corner, atol=1e-5)  # the top rows are the pad colour


def test_evaluation_still_pads(tiny_model):
    from csr_bench.models.base import GenerationRequest
    from csr_bench.tasks.config import GenerationSettings

    image = _striped(48, 32)
    fed = _fed_pixels(tiny_model, lambda: tiny_model.generate(
        [GenerationRequest(image, "Describe the image.")], GenerationSettings(max_new_tokens=1)))
    square = expand_to_square(image, (122, 116, 104))
    assert torch.allclose(fed, tiny_model.processor.image_processor(square, return_tensors="pt")["pixel_values"],
                          atol=1e-6)


def test_square_images_give_the_same_pixels_cropped_or_padded(tiny_model):
    """The world's images are square: --search-image changes nothing there."""
    image = _striped(40, 40)
    assert torch.equal(_searched_pixels(tiny_model, image, "crop"),
                       _searched_pixels(tiny_model, image, "pad"))


def test_an_unknown_search_image_mode_is_one_clear_error(tiny_model):
    with pytest.raises(CsrBenchError, match="--search-image"):
        SentenceBeamSearch(tiny_model, SearchConfig(image="squash"))


# -- prompt ids: LLaVA's tokenizer_image_token -----------------------------------------------------

CORPUS = ["A chat between a curious user and an artificial intelligence assistant.",
          "SYS USER: Describe it. ASSISTANT: The image shows a red cup on a table.",
          "Is there a person in the image? Yes, there is. No, there is not."] * 10


@pytest.fixture(scope="module")
def spm_llama(tmp_path_factory):
    """A Llama tokenizer from a SentencePiece model trained here (bpe, byte fallback, dummy prefix, as
    Llama's), saved once as transformers writes it, with "legacy" true and false in two copies of its
    tokenizer_config.json. Returns (sentencepiece processor, {legacy: folder})."""
    import sentencepiece as spm
    from transformers import AddedToken, LlamaTokenizer
    from transformers.convert_slow_tokenizer import generate_merges

    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(CORPUS), model_writer=model, vocab_size=400, model_type="bpe", byte_fallback=True,
        add_dummy_prefix=True, remove_extra_whitespaces=False, normalization_rule_name="identity",
        allow_whitespace_only_pieces=True, split_digits=True, unk_id=0, bos_id=1, eos_id=2, pad_id=-1,
        hard_vocab_limit=False, minloglevel=2)
    sp = spm.SentencePieceProcessor(model_proto=model.getvalue())
    vocab = {sp.id_to_piece(i): i for i in range(sp.get_piece_size())}
    tokenizer = LlamaTokenizer(vocab=vocab, merges=generate_merges(vocab), add_bos_token=True)
    tokenizer.add_tokens([AddedToken("<image>", special=True, normalized=False)])
    root = tmp_path_factory.mktemp("spm-llama")
    tokenizer.save_pretrained(root / "saved")
    folders = {}
    for legacy in (True, False):
        folder = root / f"legacy-{str(legacy).lower()}"
        shutil.copytree(root / "saved", folder)
        config = json.loads((folder / "tokenizer_config.json").read_text())
        (folder / "tokenizer_config.json").write_text(json.dumps({**config, "legacy": legacy}))
        folders[legacy] = folder
    return sp, folders


def _load(folder):
    from transformers import AutoTokenizer

    return AutoTokenizer.from_pretrained(folder)


@pytest.mark.parametrize("legacy", [True, False])
def test_prompt_ids_follow_llavas_rule_whatever_the_legacy_flag(spm_llama, legacy):
    sp, folders = spm_llama
    tokenizer = _load(folders[legacy])
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    ids = llava_prompt_ids(tokenizer, TEXT, "<image>", [image_id])
    # LLaVA with the slow (sentencepiece) tokenizer: BOS, each piece on its own, the image between
    head, tail = TEXT.split("<image>")
    assert ids == [sp.bos_id()] + sp.encode(head) + [image_id] + sp.encode(tail)
    after = ids.index(image_id)
    assert tokenizer.convert_ids_to_tokens(ids[after + 1:after + 3]) == ["\u2581", "<0x0A>"]  # 29871, 13 in Llama's
    assert ids[after + 1:after + 3] == [sp.piece_to_id("\u2581"), sp.piece_to_id("<0x0A>")]
    # without special tokens (trl's prompt call): the same ids less the BOS
    assert llava_prompt_ids(tokenizer, TEXT, "<image>", [image_id], add_special_tokens=False) == ids[1:]


def test_the_plain_call_with_legacy_false_drops_the_space_after_the_image(spm_llama):
    """Why the rule is needed: transformers 5 tokenises the text after a special token without ``▁``
    when "legacy" is false; with "legacy" true it agrees with LLaVA."""
    sp, folders = spm_llama
    for legacy, expected in ((True, ["\u2581", "<0x0A>"]), (False, ["<0x0A>", "D"])):
        tokenizer = _load(folders[legacy])
        ids = tokenizer(TEXT)["input_ids"]
        after = ids.index(tokenizer.convert_tokens_to_ids("<image>"))
        assert tokenizer.convert_ids_to_tokens(ids[after + 1:after + 3]) == expected


def test_encoded_ids_expand_the_image_as_the_processor_does(spm_llama):
    """With "legacy" true the processor's own ids are LLaVA's: ``encode_llava`` gives exactly them (576
    image tokens for LLaVA-1.5, 16 here), and the same ids from the "legacy" false tokenizer."""
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    _, folders = spm_llama
    image = _striped(48, 32)
    text = llava_v1_prompt("Describe it.")
    encoded = {}
    for legacy in (True, False):
        processor = LlavaProcessor(
            image_processor=CLIPImageProcessorPil(size={"shortest_edge": 32}, crop_size={"height": 32, "width": 32}),
            tokenizer=_load(folders[legacy]), patch_size=8, vision_feature_select_strategy="default",
            num_additional_image_tokens=1)
        encoded[legacy] = encode_llava(processor, [image], [text])
        if legacy:
            own = processor(images=[image], text=[text], return_tensors="pt")
            assert encoded[legacy]["input_ids"].tolist() == own["input_ids"].tolist()
            assert torch.equal(encoded[legacy]["pixel_values"], own["pixel_values"])
            assert int((own["input_ids"] == processor.image_token_id).sum()) == (32 // 8) ** 2
    assert encoded[True]["input_ids"].tolist() == encoded[False]["input_ids"].tolist()


def test_rule_offset_without_a_bos():
    """LLaVA's offset logic: no BOS in front of the first piece, every piece kept whole, one image id."""
    class Words:
        bos_token_id = 1

        def __call__(self, text, add_special_tokens=True):
            return {"input_ids": [len(word) + 10 for word in text.split()]}

    assert llava_prompt_ids(Words(), "ab c <image> defg", "<image>", [99, 99]) == [12, 11, 99, 99, 14]


def test_world_tokenizer_ids_are_unchanged():
    """The world's word-level tokenizer gives the same ids by the rule as for the whole text (the
    hallucination gate's predictions stay put)."""
    from csr_bench.world.tokenizer import build_world_tokenizer

    tokenizer = build_world_tokenizer(["a red cup on the table.", "Is there a dog in the image?"])
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    for question in ("Describe the image.", "Is there a dog in the image?\nAnswer with yes or no.", " odd  space "):
        text = llava_v1_prompt(question)
        for special in (True, False):
            assert llava_prompt_ids(tokenizer, text, "<image>", [image_id], add_special_tokens=special) == \
                tokenizer(text, add_special_tokens=special)["input_ids"]


def test_tiny_llava_tokenises_whole_prompts_as_llavas_rule(tiny_model):
    """tiny-llava's tokenizer starts every piece with ``▁`` (as LLaVA-1.5's legacy one): the rule is
    harmless there, and the processor's own ids (what lmms-eval's llava_hf feeds) are the model's."""
    tokenizer = tiny_model.tokenizer
    text = tiny_model._text("Describe it.")
    image_id = tokenizer.convert_tokens_to_ids("<image>")
    plain = tokenizer(text)["input_ids"]
    assert llava_prompt_ids(tokenizer, text, "<image>", [image_id]) == plain
    assert tokenizer.convert_ids_to_tokens(plain[plain.index(image_id) + 1:plain.index(image_id) + 3]) == \
        ["\u2581", "\n"]
    image = _striped(48, 32)
    fed = tiny_model._encode([image], ["Describe it."])["input_ids"][0].tolist()
    square = expand_to_square(image, (122, 116, 104))
    assert fed == tiny_model.processor(images=[square], text=[text], return_tensors="pt")["input_ids"][0].tolist()


def test_dpo_prompt_ids_are_the_evaluations(tiny_model, tmp_path):
    """trl's collator tokenises the prompt with its image in one call: it gets LLaVA's ids too."""
    from csr_bench.training.dpo_data import PaddedImageCollator, build_preference_dataset, vicuna_v1_chat_template
    from csr_bench.models.tiny_llava import build_processor

    image = _striped(44, 30)
    image.save(tmp_path / "a.png")
    processor = build_processor()
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    record = {"image": "a.png", "prompt": "Describe the image.", "chosen": "A cup.", "rejected": "A dog."}
    row = build_preference_dataset([record], tmp_path)[0]
    batch = PaddedImageCollator(processor)([dict(row)])
    prompt = tiny_model._encode([image], [record["prompt"]])["input_ids"][0].tolist()
    ids = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
    assert ids[:len(prompt)] == prompt
    assert prompt[prompt.index(processor.image_token_id) + (32 // 8) ** 2] == \
        processor.tokenizer.convert_tokens_to_ids("\u2581")
