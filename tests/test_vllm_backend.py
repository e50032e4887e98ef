"""The optional vLLM backend (``--model vllm:MODEL``), without vLLM.

vllm is not installed here (and there is no GPU), so nothing in this file runs vLLM. What is tested:
the pure parts (the prompt text and padded image handed to vLLM, the GenerationSettings ->
SamplingParams mapping, prompt-logprob summing, engine arguments), the ``vllm:`` model names, the
one-line error without the extra, and, with a fake ``vllm`` module put in ``sys.modules``, the
wiring of ``VllmLlava`` and the evaluator around it. The fake records what it is given and returns
canned outputs: it checks csr-bench's side of the calls, never vLLM's behaviour.
"""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from dataclasses import dataclass

import pytest
from PIL import Image

from conftest import assert_one_line_error, run_cli
from csr_bench.errors import CsrBenchError
from csr_bench.models.base import ContinuationRequest, GenerationRequest
from csr_bench.models.llava import expand_to_square, llava_prompt_ids, pad_colour
from csr_bench.models.registry import MODELS, resolve_model, run_name_for
from csr_bench.models.vllm_llava import (CONTINUATION_SAMPLING, ENGINE_ARGS_ENV, EXTRA_MESSAGE, build_requests,
                                         check_device, continuation_prompt, engine_args_from_env, sampling_kwargs,
                                         sum_continuation_logprobs, vllm_dtype, vllm_prompt)
from csr_bench.tasks.config import GenerationSettings

QUESTIONS = ["Is there a cat in the image?", "Describe it.", "What colour is the square on the left?"]


def _images():
    return [Image.new("RGB", (40, 30), (200, 30, 30)), Image.new("L", (20, 50), 90),
            Image.new("RGB", (24, 24), (1, 2, 3))]


# -- the pure parts ------------------------------------------------------------------------------
def test_prompt_is_the_transformers_adapters_text(tiny_model):
    for question in QUESTIONS:
        text = vllm_prompt(question, tiny_model.processor.image_token)
        assert text == tiny_model._text(question)  # the same text; vLLM expands the one placeholder itself
        assert text.count(tiny_model.processor.image_token) == 1
        assert text.endswith(f"USER: {tiny_model.processor.image_token}\n{question} ASSISTANT:")


def test_requests_carry_the_padded_image():
    colour = (122, 116, 104)
    requests = [GenerationRequest(image, question) for image, question in zip(_images(), QUESTIONS)]
    built = build_requests(requests, colour, "<image>")
    assert [b["prompt"] for b in built] == [vllm_prompt(q) for q in QUESTIONS]
    for request, item in zip(requests, built):
        assert set(item) == {"prompt", "multi_modal_data"} and set(item["multi_modal_data"]) == {"image"}
        image = item["multi_modal_data"]["image"]
        expected = expand_to_square(request.image.convert("RGB"), colour)
        assert image.mode == "RGB" and image.size[0] == image.size[1] == max(request.image.size)
        assert image.tobytes() == expected.tobytes()
    assert built[0]["multi_modal_data"]["image"].getpixel((0, 0)) == colour  # the 40x30 image, padded top and bottom


def test_sampling_parameters_follow_the_task():
    greedy = sampling_kwargs(GenerationSettings(max_new_tokens=7))
    assert greedy == {"n": 1, "max_tokens": 7, "stop": None, "skip_special_tokens": True, "temperature": 0.0}
    # temperature/top_p only matter when the task samples, as in the transformers adapter
    assert sampling_kwargs(GenerationSettings(temperature=0.7, top_p=0.9))["temperature"] == 0.0
    sampled = sampling_kwargs(GenerationSettings(do_sample=True, temperature=0.7, top_p=0.9))
    assert sampled["temperature"] == 0.7 and sampled["top_p"] == 0.9
    assert sampling_kwargs(GenerationSettings(do_sample=True))["temperature"] == 1.0
    with pytest.raises(CsrBenchError, match="num_beams=3 .*transformers backend"):
        sampling_kwargs(GenerationSettings(num_beams=3))


def test_continuation_logprobs_are_summed_over_the_tail():
    @dataclass
    class Logprob:
        logprob: float

    prompt = continuation_prompt([1, 5, 32000, 7], [11, 12], "IMAGE")
    assert prompt == {"prompt_token_ids": [1, 5, 32000, 7, 11, 12], "multi_modal_data": {"image": "IMAGE"}}
    logprobs = [None, {5: Logprob(-1.0)}, {32000: Logprob(-9.0)}, {7: Logprob(-2.0)},
                {11: Logprob(-0.5), 3: Logprob(-0.1)}, {12: Logprob(-0.25)}]
    assert sum_continuation_logprobs(logprobs, [11, 12], [1, 5, 32000, 7, 11, 12]) == -0.75
    with pytest.raises(CsrBenchError, match="does not end with"):
        sum_continuation_logprobs(logprobs, [11, 13], [1, 5, 32000, 7, 11, 12])
    with pytest.raises(CsrBenchError, match="no prompt log-probabilities"):
        sum_continuation_logprobs(logprobs[:-1] + [None], [11, 12])
    assert CONTINUATION_SAMPLING["prompt_logprobs"] == 0 and CONTINUATION_SAMPLING["max_tokens"] == 1


def test_engine_arguments_dtype_and_device():
    assert engine_args_from_env({}) == {}
    assert engine_args_from_env({ENGINE_ARGS_ENV: '{"tensor_parallel_size": 2}'}) == {"tensor_parallel_size": 2}
    bad = [("[2]", "JSON object"), ("{nope", "not JSON"), ('{"dtype": "float16"}', "may not set dtype")]
    for value, message in bad:
        with pytest.raises(CsrBenchError, match=message):
            engine_args_from_env({ENGINE_ARGS_ENV: value})
    assert vllm_dtype(None) == "float16" and vllm_dtype("auto") == "float16"
    assert vllm_dtype("float32") == "float32" and vllm_dtype("bfloat16") == "bfloat16"
    with pytest.raises(CsrBenchError, match="unknown --dtype"):
        vllm_dtype("int8")
    check_device(None), check_device("cuda")
    with pytest.raises(CsrBenchError, match="CUDA_VISIBLE_DEVICES"):
        check_device("cpu")


# -- model names -----------------------------------------------------------------------------------
def test_vllm_model_names(tiny_checkpoint):
    hub = resolve_model("vllm:llava-hf/llava-1.5-7b-hf")
    assert hub.backend == "vllm" and hub.name == "vllm:llava-hf/llava-1.5-7b-hf" and hub.hub_id is None
    assert run_name_for(hub.name) == "vllm-llava-hf-llava-1.5-7b-hf"  # never the transformers run's folder
    registered = resolve_model("vllm:llava15")
    assert registered.backend == "vllm" and "llava-hf/llava-1.5-7b-hf" in registered.description
    local = resolve_model(f"vllm:{tiny_checkpoint}")
    assert local.backend == "vllm" and local.name == f"vllm:{tiny_checkpoint.name}"
    assert all(spec.backend == "transformers" for spec in MODELS.values())
    assert resolve_model(str(tiny_checkpoint)).backend == "transformers"
    for name, message in [("vllm:", "needs a model"), ("vllm:world", "not a hub checkpoint"),
                          ("vllm:./no/such/dir", "no such folder"), ("vllm:nonsense", "not a hub id")]:
        with pytest.raises(CsrBenchError, match=message):
            resolve_model(name)


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed here")
def test_without_the_extra_it_is_a_one_line_error(tmp_path):
    result = run_cli("eval", "--model", "vllm:some/model", "--tasks", "pope", "--data-root", "bundled",
                     "--output", str(tmp_path))
    assert result.returncode == 2
    line = assert_one_line_error(result, "the vLLM backend needs the `vllm` extra", "csr-bench[vllm]")
    assert line == f"csr-bench: error: {EXTRA_MESSAGE}"


# -- the wiring, with a fake vllm ------------------------------------------------------------------
# Field names of vllm 0.30's SamplingParams and LLM keyword arguments that csr-bench may pass:
# the fake refuses others, so a misspelt argument fails here rather than on a GPU machine.
SAMPLING_FIELDS = {"n", "temperature", "top_p", "top_k", "min_p", "seed", "stop", "stop_token_ids", "ignore_eos",
                   "max_tokens", "min_tokens", "logprobs", "prompt_logprobs", "detokenize", "skip_special_tokens",
                   "spaces_between_special_tokens", "include_stop_str_in_output", "repetition_penalty"}
LLM_ARGS = {"dtype", "limit_mm_per_prompt", "mm_processor_kwargs", "generation_config", "tensor_parallel_size",
            "gpu_memory_utilization", "max_model_len", "seed", "enforce_eager", "trust_remote_code", "load_format"}
FAKE_IMAGE_TOKENS = 5  # vLLM expands the image token into the image's feature positions (576 for LLaVA-1.5)


def _fake_vllm(image_token_id: int):
    """A stand-in for the ``vllm`` module: records the engine arguments and requests, returns canned outputs."""
    calls = {"llm": [], "generate": []}

    class SamplingParams:
        def __init__(self, **kwargs):
            unknown = set(kwargs) - SAMPLING_FIELDS
            if unknown:
                raise TypeError(f"unexpected SamplingParams arguments {unknown}")
            self.kwargs = kwargs

    @dataclass
    class Logprob:
        logprob: float

    class LLM:
        def __init__(self, model, **kwargs):
            unknown = set(kwargs) - LLM_ARGS
            if unknown:
                raise TypeError(f"unexpected LLM arguments {unknown}")
            calls["llm"].append({"model": model, **kwargs})

        def generate(self, prompts, sampling_params=None, *, use_tqdm=True):
            calls["generate"].append({"prompts": list(prompts), "params": sampling_params.kwargs,
                                      "use_tqdm": use_tqdm})
            outputs = []
            for k, prompt in enumerate(prompts):
                if "prompt_token_ids" in prompt:
                    ids = []
                    for token in prompt["prompt_token_ids"]:
                        ids.extend([token] * (FAKE_IMAGE_TOKENS if token == image_token_id else 1))
                    logprobs = [None] + [{token: Logprob(-0.5)} for token in ids[1:]]
                    outputs.append(types.SimpleNamespace(prompt_token_ids=ids, prompt_logprobs=logprobs,
                                                         outputs=[types.SimpleNamespace(text="")]))
                else:
                    answer = "  Yes\n" if k % 2 == 0 else " No"
                    outputs.append(types.SimpleNamespace(prompt_token_ids=None, prompt_logprobs=None,
                                                         outputs=[types.SimpleNamespace(text=answer)]))
            return outputs

    module = types.ModuleType("vllm")
    module.__version__ = "0.30.0+fake"
    module.LLM, module.SamplingParams = LLM, SamplingParams
    return module, calls


@pytest.fixture
def fake_vllm(monkeypatch, tiny_model):
    module, calls = _fake_vllm(tiny_model.tokenizer.convert_tokens_to_ids(tiny_model.processor.image_token))
    monkeypatch.setitem(sys.modules, "vllm", module)
    monkeypatch.setenv(ENGINE_ARGS_ENV, '{"tensor_parallel_size": 2}')
    return calls


def test_generate_and_logprobs_wiring_with_a_fake_vllm(fake_vllm, tiny_checkpoint, tiny_model):
    spec = resolve_model(f"vllm:{tiny_checkpoint}")
    model = spec.loader(spec.name, device=None, dtype="bfloat16")
    [engine] = fake_vllm["llm"]
    assert engine == {"model": str(tiny_checkpoint), "dtype": "bfloat16", "limit_mm_per_prompt": {"image": 1},
                      "mm_processor_kwargs": {"backend": "pil"}, "generation_config": "vllm",
                      "trust_remote_code": False, "load_format": "safetensors", "tensor_parallel_size": 2}
    assert model.identity() == {"name": spec.name, "source": str(tiny_checkpoint),
                                "class": "LlavaForConditionalGeneration", "backend": "vllm",
                                "vllm_version": "0.30.0+fake", "dtype": "bfloat16", "device": "cuda",
                                "engine_args": {"load_format": "safetensors", "tensor_parallel_size": 2}}
    for question in QUESTIONS:
        assert model.prompt_length(question) == tiny_model.prompt_length(question)

    requests = [GenerationRequest(image, question) for image, question in zip(_images(), QUESTIONS)]
    assert model.generate(requests, GenerationSettings(max_new_tokens=9)) == ["Yes", "No", "Yes"]
    [call] = fake_vllm["generate"]
    assert call["params"] == sampling_kwargs(GenerationSettings(max_new_tokens=9)) and call["use_tqdm"] is False
    colour = pad_colour(tiny_model.processor)
    assert [p["prompt"] for p in call["prompts"]] == [tiny_model._text(q) for q in QUESTIONS]
    for request, prompt in zip(requests, call["prompts"]):
        expected = expand_to_square(request.image.convert("RGB"), colour)
        image = prompt["multi_modal_data"]["image"]
        assert image.size == expected.size and image.tobytes() == expected.tobytes()
    with pytest.raises(CsrBenchError, match="num_beams"):
        model.generate(requests, GenerationSettings(num_beams=2))
    assert model.generate([], GenerationSettings()) == []

    continuations = [ContinuationRequest(_images()[0], QUESTIONS[0], "Yes, a cat."),
                     ContinuationRequest(_images()[1], QUESTIONS[1], "Red")]
    scores = model.continuation_logprobs(continuations)
    call = fake_vllm["generate"][-1]
    assert call["params"] == CONTINUATION_SAMPLING
    for request, prompt, score in zip(continuations, call["prompts"], scores):
        cont = tiny_model.tokenizer(request.continuation, add_special_tokens=False)["input_ids"]
        head = llava_prompt_ids(tiny_model.tokenizer, tiny_model._text(request.prompt), "<image>",
                                [tiny_model.tokenizer.convert_tokens_to_ids("<image>")])  # LLaVA's rule
        assert prompt["prompt_token_ids"] == head + cont
        assert score == pytest.approx(-0.5 * len(cont))


def test_vllm_loads_safetensors_and_no_remote_code_unless_asked(fake_vllm, tiny_checkpoint, monkeypatch):
    from csr_bench.safety import loading_policy_as

    spec = resolve_model(f"vllm:{tiny_checkpoint}")
    monkeypatch.setenv(ENGINE_ARGS_ENV, '{"load_format": "pt"}')
    with pytest.raises(CsrBenchError, match="load_format='pt' reads pickled weights; pass --allow-pickle"):
        spec.loader(spec.name, device=None, dtype="bfloat16")
    with loading_policy_as(allow_pickle=True, trust_remote_code=True):
        spec.loader(spec.name, device=None, dtype="bfloat16")
    engine = fake_vllm["llm"][-1]
    assert (engine["load_format"], engine["trust_remote_code"]) == ("pt", True)
    monkeypatch.setenv(ENGINE_ARGS_ENV, '{"trust_remote_code": true}')
    with pytest.raises(CsrBenchError, match="trust_remote_code"):
        spec.loader(spec.name, device=None, dtype="bfloat16")


def test_evaluation_through_the_backend_and_no_resume_across_backends(fake_vllm, tiny_checkpoint, tmp_path):
    from csr_bench.evaluation import EvalConfig, evaluate

    config = EvalConfig(model=f"vllm:{tiny_checkpoint}", tasks=["pope"], data_root="bundled", output=str(tmp_path),
                        run_name="both", limit=5, batch_size=2, dtype="float16")
    results = evaluate(config)
    assert results["model"]["backend"] == "vllm" and results["model"]["vllm_version"] == "0.30.0+fake"
    assert sum(len(call["prompts"]) for call in fake_vllm["generate"]) == 5
    assert max(len(call["prompts"]) for call in fake_vllm["generate"]) == 2  # --batch-size: requests per hand-over
    samples_file = tmp_path / "both" / "iter_0" / "pope" / "samples.jsonl"
    samples = [json.loads(line) for line in samples_file.read_text().splitlines()]
    assert {s["prediction"] for s in samples} <= {"Yes", "No"} and len(samples) == 5
    assert evaluate(config)["results"]["pope"]["n_generated"] == 0  # resumes its own samples

    # The same run folder with the transformers backend: the samples' fingerprint differs.
    with pytest.raises(CsrBenchError, match=r"other settings \(.*model\.backend vllm -> "):
        evaluate(EvalConfig(model=str(tiny_checkpoint), tasks=["pope"], data_root="bundled", output=str(tmp_path),
                            run_name="both", limit=5, device="cpu"))


def test_csr_iterations_refuse_the_vllm_backend(tmp_path):
    result = run_cli("run", "--model", "vllm:some/model", "--iterations", "1", "--data-root", "bundled",
                     "--output", str(tmp_path))
    assert_one_line_error(result, "the vllm backend only generates", "transformers model")
    assert not any(tmp_path.iterdir())  # refused before any work
