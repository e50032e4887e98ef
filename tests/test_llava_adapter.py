"""The LLaVA adapter on the real transformers class at tiny size."""

import json

import pytest
import torch
from PIL import Image

from csr_bench.errors import CsrBenchError
from csr_bench.models.base import ContinuationRequest, GenerationRequest
from csr_bench.models.llava import LlavaModel, check_llava_checkpoint, expand_to_square
from csr_bench.models.tiny_llava import build_tiny_llava
from csr_bench.tasks.config import GenerationSettings

QUESTIONS = ["Is there a cat in the image?", "What colour is the large square on the left of the picture?",
             "Describe it.", "Is there a bar?", "Please describe this image in detail.", "How many?",
             "Is there a red triangle next to a blue circle in the image?", "Yes or no?"]


def _images(n):
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (220, 220, 30)]
    return [Image.new("RGB", (40 + 7 * i, 30 + 3 * i), colours[i % 4]) for i in range(n)]


def test_tiny_llava_is_deterministic_from_its_seed():
    first, processor = build_tiny_llava(seed=0)
    second, processor2 = build_tiny_llava(seed=0)
    other, _ = build_tiny_llava(seed=1)
    for (name, a), b, c in zip(first.state_dict().items(), second.state_dict().values(), other.state_dict().values()):
        assert torch.equal(a, b), name
    assert any(not torch.equal(a, c) for a, c in zip(first.state_dict().values(), other.state_dict().values()))
    assert processor.tokenizer.get_vocab() == processor2.tokenizer.get_vocab()
    assert type(first).__name__ == "LlavaForConditionalGeneration"


def test_batched_generation_equals_one_at_a_time(tiny_model):
    requests = [GenerationRequest(image, question) for image, question in zip(_images(8), QUESTIONS)]
    lengths = {tiny_model.prompt_length(q) for q in QUESTIONS}
    assert len(lengths) > 4  # the batch really is padded
    settings = GenerationSettings(max_new_tokens=24)
    batched = tiny_model.generate(requests, settings)
    single = [tiny_model.generate([request], settings)[0] for request in requests]
    assert batched == single
    assert all(isinstance(text, str) and text for text in batched)


def test_continuation_logprobs_match_an_unpadded_forward(tiny_model):
    images = _images(3)
    requests = [ContinuationRequest(images[0], QUESTIONS[0], "Yes, there is a cat."),
                ContinuationRequest(images[1], QUESTIONS[1], "Red."),
                ContinuationRequest(images[2], QUESTIONS[6], "No")]
    batched = tiny_model.continuation_logprobs(requests)

    for request, score in zip(requests, batched):
        # Independent route: one unpadded sequence, default positions, full log-softmax.
        inputs = tiny_model._encode([request.image], [request.prompt])
        cont = tiny_model.tokenizer(request.continuation, add_special_tokens=False)["input_ids"]
        ids = torch.cat([inputs["input_ids"], torch.tensor([cont])], dim=1)
        with torch.no_grad():
            logits = tiny_model.model(input_ids=ids, pixel_values=inputs["pixel_values"]).logits[0]
        logprobs = torch.log_softmax(logits.float(), dim=-1)
        start = inputs["input_ids"].shape[1]
        expected = sum(float(logprobs[start + k - 1, token]) for k, token in enumerate(cont))
        assert score == pytest.approx(expected, abs=1e-4)
        assert score < 0


def test_pad_to_square_centres_the_image():
    image = Image.new("RGB", (80, 60), (255, 0, 0))
    square = expand_to_square(image, (1, 2, 3))
    assert square.size == (80, 80)
    assert square.getpixel((0, 0)) == (1, 2, 3) and square.getpixel((40, 79)) == (1, 2, 3)
    assert square.getpixel((40, 10)) == (255, 0, 0) and square.getpixel((40, 69)) == (255, 0, 0)
    assert expand_to_square(Image.new("RGB", (8, 8)), (0, 0, 0)).size == (8, 8)


def test_saved_checkpoint_loads_like_llava15_and_predicts_the_same(tiny_checkpoint, tiny_model):
    assert (tiny_checkpoint / "model.safetensors").is_file()
    config = json.loads((tiny_checkpoint / "config.json").read_text())
    assert config["model_type"] == "llava" and config["architectures"] == ["LlavaForConditionalGeneration"]
    loaded = LlavaModel.from_pretrained(str(tiny_checkpoint), name="saved")
    requests = [GenerationRequest(image, q) for image, q in zip(_images(3), QUESTIONS)]
    settings = GenerationSettings(max_new_tokens=16)
    assert loaded.generate(requests, settings) == tiny_model.generate(requests, settings)
    assert loaded.identity()["dtype"] == "float32" and loaded.identity()["device"] == "cpu"


def test_checkpoint_folder_checks(tmp_path, tiny_checkpoint):
    with pytest.raises(CsrBenchError, match="no config.json"):
        check_llava_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert"}))
    with pytest.raises(CsrBenchError, match="model_type 'bert' is not supported"):
        check_llava_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "llava"}))
    (tmp_path / "pytorch_model.bin").write_bytes(b"pickle")
    with pytest.raises(CsrBenchError, match="no .safetensors weights"):
        check_llava_checkpoint(tmp_path)
    check_llava_checkpoint(tiny_checkpoint)


def test_hub_model_offline_is_a_clear_error():
    with pytest.raises(CsrBenchError, match="cannot load model llava-hf/llava-1.5-7b-hf"):
        LlavaModel.from_pretrained("llava-hf/llava-1.5-7b-hf", name="llava15")


def test_sampled_generation_depends_on_each_request_seed_not_on_its_batch(tiny_model):
    settings = GenerationSettings(max_new_tokens=24, do_sample=True, temperature=1.0, top_p=0.9)
    requests = [GenerationRequest(image, question, seed=index) for index, (image, question)
                in enumerate(zip(_images(6), QUESTIONS))]
    together = tiny_model.generate(requests, settings)
    assert together == [tiny_model.generate([request], settings)[0] for request in requests]
    assert together == tiny_model.generate(requests[::-1], settings)[::-1]
    reseeded = tiny_model.generate([GenerationRequest(r.image, r.prompt, seed=r.seed + 100) for r in requests], settings)
    assert reseeded != together  # the seed, and only the seed, picks the sample
    greedy = tiny_model.generate(requests, GenerationSettings(max_new_tokens=24))
    assert greedy != together
    with pytest.raises(CsrBenchError, match="seed per request"):
        tiny_model.generate([GenerationRequest(requests[0].image, requests[0].prompt)], settings)


def test_input_length_counts_the_image_tokens_and_context_is_the_configured_one(tiny_model):
    config = tiny_model.model.config
    image_tokens = config.image_seq_length
    assert tiny_model.input_length("Describe it.") == tiny_model.prompt_length("Describe it.") - 1 + image_tokens
    inputs = tiny_model._encode(_images(1), ["Describe it."])
    assert tiny_model.input_length("Describe it.") == int(inputs["attention_mask"].sum())
    assert tiny_model.context_length() == config.text_config.max_position_embeddings
