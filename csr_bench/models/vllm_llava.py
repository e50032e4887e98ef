"""LLaVA-1.5 through vLLM: the optional backend for generation at scale (``--model vllm:MODEL``),
evaluation only, keeping csr-bench's protocol where vLLM lets it. Requests are built by pure
functions (no vllm import); ``load_vllm_llava`` imports vllm. Details: docs/vllm.md,
"csr_bench/models/vllm_llava.py".
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any, Mapping, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.models.base import ContinuationRequest, GenerationRequest, VisionLanguageModel
from csr_bench.models.conversation import llava_v1_prompt
from csr_bench.models.llava import DTYPES, expand_to_square, image_token_id, llava_prompt_ids
from csr_bench.safety import ALLOW_PICKLE_FLAG, hf_kwargs, loading_policy

EXTRA_MESSAGE = ("the vLLM backend needs the `vllm` extra: pip install -c constraints.txt 'csr-bench[vllm]' "
                 "on a Linux machine with NVIDIA GPUs, in a fresh virtualenv (vllm brings its own CUDA torch; "
                 "docs/vllm.md)")
# Extra keyword arguments for vllm.LLM, as a JSON object, e.g. '{"tensor_parallel_size": 2}'.
ENGINE_ARGS_ENV = "CSR_BENCH_VLLM_ARGS"
# Set by csr-bench because they are the protocol (or come from its own flags).
RESERVED_ENGINE_ARGS = ("model", "tokenizer", "dtype", "limit_mm_per_prompt", "mm_processor_kwargs",
                        "generation_config", "trust_remote_code")
# vLLM load formats that unpickle weights: only with --allow-pickle (csr_bench.safety).
PICKLE_LOAD_FORMATS = ("pt", "npcache")
_HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


# -- pure parts (no vllm) ------------------------------------------------------------------------
def vllm_prompt(user_text: str, image_token: str = "<image>") -> str:
    """The prompt text vLLM gets: LLaVA-1.5's vicuna_v1 prompt with one image placeholder, the very
    text ``LlavaModel`` gives its processor (vLLM, not the text, expands the placeholder)."""
    return llava_v1_prompt(user_text, image_token=image_token)


def build_requests(requests: Sequence[GenerationRequest], pad_colour: tuple[int, int, int],
                   image_token: str = "<image>") -> list[dict[str, Any]]:
    """vLLM prompts (``TextPrompt`` dicts): the templated text and the RGB image padded to a square."""
    return [{"prompt": vllm_prompt(r.prompt, image_token),
             "multi_modal_data": {"image": expand_to_square(r.image.convert("RGB"), pad_colour)}}
            for r in requests]


def sampling_kwargs(settings) -> dict[str, Any]:
    """``SamplingParams`` keyword arguments for a task's GenerationSettings.

    Greedy (temperature 0) unless the task samples; ``max_new_tokens`` becomes ``max_tokens``. No
    stop strings: generation ends at the end-of-sequence token, as in the transformers adapter,
    and special tokens are left out of the text (its ``skip_special_tokens=True`` decode).
    Beam search is not what ``LLM.generate`` does, so ``num_beams > 1`` is refused."""
    if settings.num_beams != 1:
        raise CsrBenchError(f"the vLLM backend decodes greedily or by sampling; num_beams={settings.num_beams} "
                            "(beam search) needs the transformers backend (a model name without 'vllm:')")
    if settings.max_new_tokens < 1:
        raise CsrBenchError(f"max_new_tokens must be at least 1 (got {settings.max_new_tokens})")
    kwargs: dict[str, Any] = {"n": 1, "max_tokens": settings.max_new_tokens, "stop": None,
                              "skip_special_tokens": True, "temperature": 0.0}
    if settings.do_sample:
        kwargs["temperature"] = 1.0 if settings.temperature is None else float(settings.temperature)
        kwargs["top_p"] = 1.0 if settings.top_p is None else float(settings.top_p)
    return kwargs


def continuation_prompt(prompt_ids: Sequence[int], continuation_ids: Sequence[int], image) -> dict[str, Any]:
    """A vLLM token prompt (``TokensPrompt`` dict): the templated prompt's ids (one image token,
    which vLLM expands) followed by the continuation's, with the padded image."""
    return {"prompt_token_ids": [*prompt_ids, *continuation_ids], "multi_modal_data": {"image": image}}


# vLLM's prompt_logprobs: one entry per prompt token (None for the first), each a mapping from token
# id to a Logprob whose .logprob is the log-probability of that token at its position.
CONTINUATION_SAMPLING = {"n": 1, "max_tokens": 1, "temperature": 0.0, "prompt_logprobs": 0, "detokenize": False}


def sum_continuation_logprobs(prompt_logprobs: Sequence[Any], continuation_ids: Sequence[int],
                              prompt_token_ids: Sequence[int] | None = None) -> float:
    """The summed log-probability of the last ``len(continuation_ids)`` prompt tokens."""
    n = len(continuation_ids)
    if prompt_token_ids is not None and list(prompt_token_ids[-n:]) != list(continuation_ids):
        raise CsrBenchError("vLLM's prompt does not end with the continuation's tokens")
    entries = list(prompt_logprobs)[-n:]
    if len(entries) != n or any(entry is None or token not in entry for entry, token in zip(entries, continuation_ids)):
        raise CsrBenchError("vLLM returned no prompt log-probabilities for the continuation's tokens")
    return float(sum(entry[token].logprob for entry, token in zip(entries, continuation_ids)))


def engine_args_from_env(environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Extra ``vllm.LLM`` arguments from $CSR_BENCH_VLLM_ARGS (a JSON object); {} when unset."""
    raw = (os.environ if environ is None else environ).get(ENGINE_ARGS_ENV, "").strip()
    if not raw:
        return {}
    try:
        args = json.loads(raw)
    except ValueError as exc:
        raise CsrBenchError(f"${ENGINE_ARGS_ENV} is not JSON ({exc})") from None
    if not isinstance(args, dict):
        raise CsrBenchError(f"${ENGINE_ARGS_ENV} must be a JSON object of vllm.LLM arguments, "
                            f"e.g. '{{\"tensor_parallel_size\": 2}}'")
    reserved = sorted(set(args) & set(RESERVED_ENGINE_ARGS))
    if reserved:
        raise CsrBenchError(f"${ENGINE_ARGS_ENV} may not set {', '.join(reserved)} (csr-bench sets them; "
                            "the model comes from --model, the dtype from --dtype)")
    return args


def vllm_dtype(dtype: str | None) -> str:
    """The dtype name for vLLM, by ``LlavaModel``'s rule: fp16 unless --dtype says otherwise (LLaVA-1.5's
    own evaluation and the CSR reference ran in fp16)."""
    if dtype and dtype != "auto":
        if dtype not in DTYPES:
            raise CsrBenchError(f"unknown --dtype {dtype} (choose from {', '.join(DTYPES)})")
        return dtype
    return "float16"


def check_device(device: str | None) -> None:
    if device not in (None, "auto", "cuda"):
        raise CsrBenchError(f"--device {device} is not supported by the vLLM backend: it uses the GPUs vLLM sees "
                            "(choose them with CUDA_VISIBLE_DEVICES; several with "
                            f"${ENGINE_ARGS_ENV}='{{\"tensor_parallel_size\": N}}')")


def resolve_vllm_source(rest: str, registered: Mapping[str, Any]) -> tuple[str, str, bool]:
    """(display name, what vLLM loads, whether it is a local folder) for ``vllm:REST``: a registered
    hub model (``vllm:llava15``), a checkpoint folder, or a hub id (``vllm:llava-hf/llava-1.5-7b-hf``)."""
    if not rest:
        raise CsrBenchError("--model vllm: needs a model after it, e.g. vllm:llava-hf/llava-1.5-7b-hf")
    if rest in registered:
        hub_id = getattr(registered[rest], "hub_id", None)
        if not hub_id:
            raise CsrBenchError(f"--model vllm:{rest}: '{rest}' is built by csr-bench, not a hub checkpoint; "
                                f"the vLLM backend loads hub ids and llava-hf checkpoint folders")
        return rest, hub_id, False
    path = Path(rest).expanduser()
    if path.is_dir():
        return path.resolve().name, str(path.resolve()), True
    if rest.startswith((".", "/", "~")) or not _HUB_ID.match(rest):
        raise CsrBenchError(f"--model vllm:{rest}: no such folder, and not a hub id (owner/name)")
    return rest, rest, False


# -- the model -----------------------------------------------------------------------------------
class VllmLlava(VisionLanguageModel):
    """A ``vllm.LLM`` serving a llava-hf checkpoint, with its HF processor for the tokenizer and pad colour."""

    def __init__(self, llm, processor, sampling_params_cls, *, name: str, source: str, dtype: str,
                 vllm_version: str, engine_args: Mapping[str, Any] | None = None):
        from csr_bench.models.llava import pad_colour

        self.llm = llm
        self.processor = processor
        self.tokenizer = processor.tokenizer
        self.image_token = getattr(processor, "image_token", None) or "<image>"
        self.pad_colour = pad_colour(processor)
        self.sampling_params_cls = sampling_params_cls
        self.name = name
        self.source = source
        self.dtype = dtype
        self.vllm_version = vllm_version
        self.engine_args = dict(engine_args or {})

    def _text(self, prompt: str) -> str:
        return vllm_prompt(prompt, self.image_token)

    def generate(self, requests: Sequence[GenerationRequest], settings) -> list[str]:
        if not requests:
            return []
        kwargs = sampling_kwargs(settings)
        params = self.sampling_params_cls(**kwargs)
        if settings.do_sample:  # each request's own seed (vLLM's per-request generator): batch-invariant samples
            if any(r.seed is None for r in requests):
                raise CsrBenchError("sampled generation needs a seed per request (GenerationRequest.seed)")
            params = [self.sampling_params_cls(**kwargs, seed=int(r.seed)) for r in requests]
        # Handed over at once: vLLM schedules them itself (continuous batching); outputs keep the order.
        outputs = self.llm.generate(build_requests(requests, self.pad_colour, self.image_token), params,
                                    use_tqdm=False)
        return [output.outputs[0].text.strip() for output in outputs]

    def continuation_logprobs(self, requests: Sequence[ContinuationRequest]) -> list[float]:
        """Through vLLM's ``prompt_logprobs``. Nothing in csr-bench calls it with this backend (CSR's
        search and training use the transformers model); it is here to complete the interface."""
        if not requests:
            return []
        prompts, continuations = [], []
        for request in requests:
            ids = self.tokenizer(request.continuation, add_special_tokens=False)["input_ids"]
            if not ids:
                raise CsrBenchError(f"empty continuation for prompt {request.prompt[:60]!r}")
            image = expand_to_square(request.image.convert("RGB"), self.pad_colour)
            prompts.append(continuation_prompt(self._prompt_ids(request.prompt), ids, image))
            continuations.append(ids)
        outputs = self.llm.generate(prompts, self.sampling_params_cls(**CONTINUATION_SAMPLING), use_tqdm=False)
        return [sum_continuation_logprobs(output.prompt_logprobs, ids, getattr(output, "prompt_token_ids", None))
                for output, ids in zip(outputs, continuations)]

    def _prompt_ids(self, prompt: str) -> list[int]:
        """The templated prompt's ids with one image token (vLLM expands it), built as LLaVA's
        ``tokenizer_image_token`` (``models.llava.llava_prompt_ids``), as the transformers adapter."""
        return llava_prompt_ids(self.tokenizer, self._text(prompt), self.image_token, [image_token_id(self.processor)])

    def prompt_length(self, prompt: str) -> int:
        return len(self._prompt_ids(prompt))

    def identity(self) -> dict[str, Any]:
        # "backend" and the vllm version keep samples of the two backends (or of two vllm releases)
        # apart on resume: the samples store compares this, less the name, with the earlier run's.
        return {"name": self.name, "source": self.source, "class": "LlavaForConditionalGeneration",
                "backend": "vllm", "vllm_version": self.vllm_version, "dtype": self.dtype, "device": "cuda",
                "engine_args": dict(sorted(self.engine_args.items()))}


# -- loading (imports vllm) ----------------------------------------------------------------------
def _import_vllm():
    try:
        import vllm
    except ImportError:
        raise CsrBenchError(EXTRA_MESSAGE) from None
    except Exception as exc:  # installed, but unusable here (e.g. no CUDA)
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CsrBenchError(f"cannot import vllm ({reason}); {EXTRA_MESSAGE}") from None
    return vllm


def safe_engine_args(engine_args: dict[str, Any]) -> dict[str, Any]:
    """Weights from safetensors only (``load_format``), unless ``--allow-pickle`` (csr_bench.safety)."""
    engine_args = dict(engine_args)
    if loading_policy().allow_pickle:
        return engine_args
    if str(engine_args.get("load_format", "safetensors")) in PICKLE_LOAD_FORMATS:
        raise CsrBenchError(f"{ENGINE_ARGS_ENV}: load_format={engine_args['load_format']!r} reads pickled weights; "
                            f"pass {ALLOW_PICKLE_FLAG} to allow it")
    engine_args.setdefault("load_format", "safetensors")
    return engine_args


def _load_processor(source: str):
    """The checkpoint's HF processor (PIL backend), for the tokenizer, the image token and the pad colour."""
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()
    import transformers
    from transformers import AutoProcessor

    transformers.logging.set_verbosity_error()
    try:
        return AutoProcessor.from_pretrained(source, backend="pil", **hf_kwargs())
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CsrBenchError(f"cannot load model {source}: {reason}") from None


def load_vllm_llava(source: str, *, name: str, local: bool, device: str | None = None,
                    dtype: str | None = None) -> VllmLlava:
    vllm = _import_vllm()  # first: without the extra, say so before anything else is loaded
    check_device(device)
    engine_args = safe_engine_args(engine_args_from_env())
    if local:
        from csr_bench.models.llava import check_llava_checkpoint

        check_llava_checkpoint(Path(source))
    processor = _load_processor(source)
    torch_dtype = vllm_dtype(dtype)
    try:
        llm = vllm.LLM(model=source, dtype=torch_dtype, limit_mm_per_prompt={"image": 1},
                       # The processor's PIL backend, as LlavaModel (transformers 5 would pick torchvision).
                       mm_processor_kwargs={"backend": "pil"},
                       # vLLM's neutral defaults: a checkpoint's generation_config.json cannot change the protocol.
                       generation_config="vllm", trust_remote_code=loading_policy().trust_remote_code,
                       **engine_args)
    except (OSError, ValueError) as exc:
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise CsrBenchError(f"vLLM cannot load model {source}: {reason}") from None
    return VllmLlava(llm, processor, vllm.SamplingParams, name=name, source=source, dtype=torch_dtype,
                     vllm_version=str(getattr(vllm, "__version__", "unknown")), engine_args=engine_args)
