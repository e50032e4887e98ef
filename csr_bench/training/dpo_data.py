"""Preference pairs as trl DPO data for LLaVA: the vicuna_v1 chat template, the dataset, and a
collator that loads images padded square and restores the tokenizer's leading BOS, so training
sees the prompt evaluation feeds the model. Details: docs/training.md, "The preference data".
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

from csr_bench.errors import CsrBenchError
from csr_bench.images import open_rgb
from csr_bench.storage.files import read_jsonl_objects
from csr_bench.models.conversation import VICUNA_V1_SYSTEM
from csr_bench.models.llava import LlavaPromptProcessor, pad_colour
from csr_bench.training.config import DPO_PROMPTS

# The batch key of the pixel values of each example's image variant (a loss term's ``image_variant``,
# POVID's noised image), for the chosen rows; trl's own forward never sees it (training/dpo.py).
VARIANT_PIXELS = "variant_pixel_values"

# -- the chat template -------------------------------------------------------------------------

def _jinja_string(text: str) -> str:
    return json.dumps(text)  # a double-quoted, backslash-escaped literal that jinja parses


def vicuna_v1_chat_template(image_token: str = "<image>", system: str = VICUNA_V1_SYSTEM) -> str:
    """LLaVA-1.5's ``conv_vicuna_v1`` (SeparatorStyle.TWO, sep " ", sep2 "</s>") as a jinja chat template.

    ``system + " USER: " + <image>\\n + text + " ASSISTANT: " + answer + eos + "USER: " ...``; with
    ``add_generation_prompt`` it ends at ``" ASSISTANT:"``. Images (trl puts them first in the user
    turn) become ``image_token + "\\n"`` before the text. A leading system message replaces the default.
    No BOS: the tokenizer's own leading special tokens are added at collation (``PaddedImageCollator``).
    """
    return (
        "{% set ns = namespace(system=" + _jinja_string(system) + ", start=0) %}"
        "{% if messages and messages[0]['role'] == 'system' %}"
        "{% set ns.start = 1 %}"
        "{% if messages[0]['content'] is string %}{% set ns.system = messages[0]['content'] %}"
        "{% else %}{% set ns.system = messages[0]['content'] | selectattr('type', 'equalto', 'text')"
        " | map(attribute='text') | join('') %}{% endif %}"
        "{% endif %}"
        "{{ ns.system + ' ' }}"
        "{% for message in messages[ns.start:] %}"
        "{% if message['role'] == 'user' %}{{ 'USER: ' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for part in message['content'] %}{% if part['type'] == 'image' %}"
        "{{ " + _jinja_string(image_token) + " + '\\n' }}{% endif %}{% endfor %}"
        "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
        "{% endif %}{{ ' ' }}"
        "{% elif message['role'] == 'assistant' %}{{ 'ASSISTANT: ' }}"
        "{% if message['content'] is string %}{{ message['content'] }}{% else %}"
        "{% for part in message['content'] %}{% if part['type'] == 'text' %}{{ part['text'] }}{% endif %}{% endfor %}"
        "{% endif %}{{ eos_token }}"
        "{% endif %}"
        "{% endfor %}"
        "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}"
    )


# -- preferences -------------------------------------------------------------------------------

def load_preferences(preferences: Sequence[dict] | Path | str) -> list[dict]:
    """Records from a list or a JSONL file (one JSON object per line; blank lines skipped)."""
    if isinstance(preferences, (str, Path)):
        path = Path(preferences)
        if not path.is_file():
            raise CsrBenchError(f"preference file {path} does not exist")
        records = [record for _, record in read_jsonl_objects(path, "preferences")]
        if not records:
            raise CsrBenchError(f"preference file {path} holds no records: nothing to train on")
        return records
    records = list(preferences)
    if not records:
        raise CsrBenchError("no preference records: nothing to train on")
    return records


def _record_name(record: dict, index: int) -> str:
    for key in ("id", "question_id", "image"):
        if record.get(key) is not None:
            return f"preference record {index} ({key} {record[key]})"
    return f"preference record {index}"


def resolve_image(image: str | Path, images_root: Path | None) -> Path:
    path = Path(image)
    if not path.is_absolute() and images_root is not None:
        path = Path(images_root) / path
    return path


def reference_turns(question: str, answer: str, system: str = VICUNA_V1_SYSTEM) -> tuple[str, str]:
    """(user text, assistant text) that ``vicuna_v1_chat_template`` renders as the reference's DPO text.

    The reference's human turn is its search prompt ``llava_v1_prompt(question)`` with ``<image>``
    removed, stripped, and ``"<image>\n"`` put in front (``preprocess_multimodal``), i.e.
    ``"<image>\n" + system + " USER: \n" + question + " ASSISTANT:"``; its template then adds
    ``" ASSISTANT: " + answer + "</s>"``. Our template writes the image and the first " ASSISTANT:"
    itself, so the user text stops before that " ASSISTANT:" and the reference's second one opens the
    answer: trl's prompt ends at the first "ASSISTANT:" and the completion, the labelled part, is
    ``" ASSISTANT: " + answer + "</s>"``, the tokens the reference labels."""
    return f"{system} USER: \n{question}", f"ASSISTANT: {answer}"


def build_preference_dataset(records: Sequence[dict], images_root: Path | None, prompt_form: str = "clean"):
    """A ``datasets.Dataset`` in trl's conversational vision-preference format.

    Columns: ``images`` (a one-element list with the image *path*; the collator loads and pads it),
    ``prompt`` ([user message]), ``chosen`` and ``rejected`` ([assistant message]). Answers are stripped:
    the template writes the single space after "ASSISTANT:". ``prompt_form`` "reference": the
    reference's doubled prompt (``reference_turns``).
    """
    from datasets import Dataset

    if prompt_form not in DPO_PROMPTS:
        raise CsrBenchError(f"--dpo-prompt {prompt_form!r}: choose from {', '.join(DPO_PROMPTS)}")
    if not records:
        raise CsrBenchError("no preference records: nothing to train on")
    rows = {"images": [], "prompt": [], "chosen": [], "rejected": []}
    for index, record in enumerate(records):
        name = _record_name(record, index)
        if not isinstance(record, dict):
            raise CsrBenchError(f"{name}: expected an object with image, prompt, chosen, rejected")
        for key in ("image", "prompt", "chosen", "rejected"):
            if not isinstance(record.get(key), str) or not record[key].strip():
                raise CsrBenchError(f"{name}: missing or empty '{key}'")
        image = resolve_image(record["image"], images_root)
        if not image.is_file():
            raise CsrBenchError(f"{name}: image {image} not found")
        rows["images"].append([str(image)])
        prompt, chosen, rejected = record["prompt"].strip(), record["chosen"].strip(), record["rejected"].strip()
        if prompt_form == "reference":
            _, chosen = reference_turns(prompt, chosen)
            prompt, rejected = reference_turns(prompt, rejected)
        rows["prompt"].append([{"role": "user", "content": prompt}])
        rows["chosen"].append([{"role": "assistant", "content": chosen}])
        rows["rejected"].append([{"role": "assistant", "content": rejected}])
    return Dataset.from_dict(rows)


def load_padded_image(path: str | Path, pad_colour: tuple[int, int, int]):
    """RGB, padded to a square with the processor's mean colour: what ``LlavaModel`` feeds at evaluation."""
    from csr_bench.models.llava import expand_to_square

    return expand_to_square(open_rgb(path), pad_colour)


def leading_special_ids(tokenizer) -> list[int]:
    """The ids a tokenizer puts in front of a text when it adds special tokens (Llama: [BOS])."""
    with_special = tokenizer("a")["input_ids"]
    without = tokenizer("a", add_special_tokens=False)["input_ids"]
    if without and with_special[len(with_special) - len(without):] == without:
        return list(with_special[:len(with_special) - len(without)])
    return []


class PaddedImageCollator:
    """trl's ``DataCollatorForVisionPreference``, fed images loaded from their paths and padded square,
    with the tokenizer's leading special tokens (BOS) put back in front of every sequence.

    trl tokenizes with ``add_special_tokens=False``; its rows are flushed left, so the BOS column goes
    first for all of them: in ``input_ids``, 1 in ``attention_mask``, 0 in ``completion_mask`` (not trained).

    ``image_variant(image, key) -> image`` (a loss term's, e.g. POVID's noise): each example's image is
    also changed by it before the pad to square (``key``: the example's identity, ``example_key``) and
    processed as the image is; the batch carries those pixel values under ``VARIANT_PIXELS``.
    """

    def __init__(self, processor, max_length: int | None = None, image_variant=None):
        from trl.trainer.dpo_trainer import DataCollatorForVisionPreference

        self.prefix = leading_special_ids(processor.tokenizer)
        inner_max = max_length - len(self.prefix) if max_length is not None else None
        if inner_max is not None and inner_max < 1:
            raise CsrBenchError(f"DPO max_length {max_length} is too short")
        # the prompt call (text + image) builds its ids as LLaVA's tokenizer_image_token, as evaluation does
        self.inner = DataCollatorForVisionPreference(processor=LlavaPromptProcessor(processor), max_length=inner_max)
        self.pad_colour = pad_colour(processor)
        self.image_processor = processor.image_processor
        self.image_variant = image_variant

    def _variant_pixels(self, examples: list[dict[str, Any]]):
        from csr_bench.models.llava import expand_to_square

        images = []
        for example in examples:
            paths = example["images"]
            if len(paths) != 1 or not isinstance(paths[0], (str, Path)):
                raise CsrBenchError("an image variant needs one image path per preference pair")
            image = open_rgb(paths[0])
            images.append(expand_to_square(self.image_variant(image, example_key(example, image)), self.pad_colour))
        return self.image_processor(images=images, return_tensors="pt")["pixel_values"]

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        variant = self._variant_pixels(examples) if self.image_variant is not None else None
        prepared = []
        for example in examples:
            example = dict(example)
            example["images"] = [load_padded_image(path, self.pad_colour) if isinstance(path, (str, Path)) else path
                                 for path in example["images"]]
            prepared.append(example)
        batch = self.inner(prepared)
        if self.prefix:
            input_ids = batch["input_ids"]
            rows, n = input_ids.shape[0], len(self.prefix)
            for key in list(batch.keys()):
                value = batch[key]
                if not isinstance(value, torch.Tensor) or value.shape != input_ids.shape:
                    continue
                if key == "input_ids":
                    front = torch.tensor(self.prefix, dtype=value.dtype).expand(rows, n)
                elif key == "attention_mask":
                    front = torch.ones(rows, n, dtype=value.dtype)
                else:  # completion_mask, token type ids: the prefix is neither completion nor image
                    front = torch.zeros(rows, n, dtype=value.dtype)
                batch[key] = torch.cat([front.to(value.device), value], dim=1)
        if variant is not None:
            batch[VARIANT_PIXELS] = variant.to(batch["pixel_values"].dtype)
        return batch


def example_key(example: dict[str, Any], image) -> str:
    """A dataset row's identity: its image's pixels (a digest of the decoded RGB image, not its path,
    so the same data gives the same draw wherever it lies) and its prompt and answers. It seeds the
    row's image variant, which thus depends neither on the row's place in the shuffled order, nor on
    a resume, nor on the folder the images are in."""
    import hashlib

    pixels = hashlib.sha256(image.tobytes()).hexdigest()
    return json.dumps([pixels, list(image.size), example["prompt"], example["chosen"], example["rejected"]],
                      sort_keys=True, ensure_ascii=False)


def render_example(processor, example: dict[str, Any]) -> dict[str, str]:
    """The prompt/chosen/rejected strings trl's vision collator renders for one dataset row."""
    from trl.data_utils import apply_chat_template, prepare_multimodal_messages

    images = example.get("images") or []
    messages = {
        "prompt": prepare_multimodal_messages(example["prompt"], images=images),
        "chosen": prepare_multimodal_messages(example["chosen"]),
        "rejected": prepare_multimodal_messages(example["rejected"]),
    }
    return apply_chat_template(messages, processor)
