"""``tiny-llava``: the real transformers LLaVA class at toy size, built offline and deterministically,
so tests and the offline default run the full code path. Details: docs/models.md,
"csr_bench/models/tiny_llava.py".
"""

from __future__ import annotations

from pathlib import Path

from csr_bench.models.conversation import VICUNA_V1_SYSTEM

IMAGE_SIZE = 32
PATCH_SIZE = 8
SPECIAL_TOKENS = ["<unk>", "<s>", "</s>", "<pad>", "<image>"]
# Text the tokenizer learns its merges from: the chat template, benchmark phrasing and common words.
_CORPUS = [
    VICUNA_V1_SYSTEM,
    "USER: ASSISTANT: Answer the question using a single word or phrase.",
    "Is there a person in the image? Yes, there is. No, there is not.",
    "Please describe this image in detail. The image shows a table with a cup, a plate and a fork.",
    "Answer with the option's letter from the given choices directly. A. B. C. D.",
    "When the provided information is insufficient, respond with 'Unanswerable'.",
    "person bicycle car motorcycle bus train truck boat bird cat dog horse sheep cow elephant bear "
    "zebra giraffe backpack umbrella handbag tie suitcase frisbee skis kite bottle cup fork knife spoon "
    "bowl banana apple sandwich orange broccoli carrot pizza donut cake chair couch bed toilet tv laptop "
    "mouse keyboard phone book clock vase scissors circle square triangle star red green blue yellow "
    "white black small large left right top bottom one two three four five zero",
]


def build_tokenizer():
    """A small BPE tokenizer (sentencepiece-style ``▁`` word marks, like Llama's) that adds <s>."""
    import string

    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tokenizer = Tokenizer(models.BPE(unk_token="<unk>"))
    # "always": "▁" after <image> too, as LLaVA-1.5's legacy Llama tokenizer ("first" would drop it)
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always")
    tokenizer.decoder = decoders.Metaspace(replacement="▁", prepend_scheme="first")
    alphabet = sorted(set(string.printable) - set(" \t\r\x0b\x0c") | {"▁"})
    trainer = trainers.BpeTrainer(vocab_size=384, special_tokens=SPECIAL_TOKENS, initial_alphabet=alphabet,
                                  show_progress=False)
    tokenizer.train_from_iterator(_CORPUS, trainer)
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", tokenizer.token_to_id("<s>"))])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>",
                                   extra_special_tokens={"image_token": "<image>"})


def build_processor():
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # before transformers' image processors import torchvision
    from transformers import CLIPImageProcessorPil, LlavaProcessor

    image_processor = CLIPImageProcessorPil(size={"shortest_edge": IMAGE_SIZE},
                                            crop_size={"height": IMAGE_SIZE, "width": IMAGE_SIZE})
    return LlavaProcessor(image_processor=image_processor, tokenizer=build_tokenizer(), patch_size=PATCH_SIZE,
                          vision_feature_select_strategy="default", num_additional_image_tokens=1)


def build_tiny_llava(seed: int = 0):
    """(model, processor): a LlavaForConditionalGeneration with random weights fixed by ``seed``."""
    from csr_bench.compat import ensure_torchvision_importable

    ensure_torchvision_importable()  # transformers' configs import its image utilities, hence torchvision
    import torch
    from transformers import CLIPVisionConfig, LlamaConfig, LlavaConfig, LlavaForConditionalGeneration

    processor = build_processor()
    tokenizer = processor.tokenizer
    vision = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
                              image_size=IMAGE_SIZE, patch_size=PATCH_SIZE, projection_dim=32)
    text = LlamaConfig(vocab_size=len(tokenizer), hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=1024,
                       bos_token_id=tokenizer.bos_token_id, eos_token_id=tokenizer.eos_token_id,
                       pad_token_id=tokenizer.pad_token_id)
    config = LlavaConfig(vision_config=vision, text_config=text,
                         image_token_index=tokenizer.convert_tokens_to_ids("<image>"),
                         image_seq_length=(IMAGE_SIZE // PATCH_SIZE) ** 2,
                         vision_feature_select_strategy="default", vision_feature_layer=-2)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = LlavaForConditionalGeneration(config)
    model.generation_config.pad_token_id = tokenizer.pad_token_id
    return model.eval(), processor


def save_tiny_llava(path: str | Path, seed: int = 0) -> Path:
    """Write a llava-hf format checkpoint (config, safetensors weights, processor) to ``path``."""
    model, processor = build_tiny_llava(seed)
    path = Path(path)
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path
