"""A word-level tokenizer for the embedded world, built deterministically from a corpus, with exact,
prefix-stable decoding, as the CSR sentence search needs. Details: docs/world.md,
"csr_bench/world/tokenizer.py".
"""

from __future__ import annotations

import string
from typing import Iterable

from csr_bench.models.conversation import VICUNA_V1_SYSTEM

SPACE = "\u2581"  # "▁", sentencepiece's word mark
SPECIAL_TOKENS = ("<unk>", "<s>", "</s>", "<pad>", "<image>")
TEMPLATE_TEXTS = (VICUNA_V1_SYSTEM, "USER:", "ASSISTANT:", "USER: <image>\n ASSISTANT:")


def _normalizer():
    from tokenizers import Regex, normalizers

    return normalizers.Replace(Regex(r"\s+"), " ")


def _pre_tokenizer():
    from tokenizers import pre_tokenizers

    return pre_tokenizers.Sequence([
        pre_tokenizers.Metaspace(replacement=SPACE, prepend_scheme="always", split=True),
        pre_tokenizers.Punctuation("isolated"),
    ])


def split_words(text: str) -> list[str]:
    """The pieces (vocabulary entries) ``text`` splits into, before any lookup."""
    return [piece for piece, _ in _pre_tokenizer().pre_tokenize_str(_normalizer().normalize_str(text))]


def word_vocabulary(corpus: Iterable[str]) -> list[str]:
    """Special tokens, then every piece of the corpus and the template in both forms, sorted."""
    pieces: set[str] = {SPACE}
    for char in string.punctuation + string.digits:
        pieces.update({char, SPACE + char})
    for text in list(TEMPLATE_TEXTS) + list(corpus):
        for piece in split_words(text):
            bare = piece.removeprefix(SPACE)
            if bare:
                pieces.update({bare, SPACE + bare})
    pieces.difference_update(SPECIAL_TOKENS)
    return list(SPECIAL_TOKENS) + sorted(pieces)


def build_world_tokenizer(corpus: Iterable[str], *, model_max_length: int = 2048):
    """A ``PreTrainedTokenizerFast`` (WordLevel) over ``corpus`` plus the chat template's words."""
    from tokenizers import AddedToken, Tokenizer, decoders, models, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {token: index for index, token in enumerate(word_vocabulary(corpus))}
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.normalizer = _normalizer()
    tokenizer.pre_tokenizer = _pre_tokenizer()
    tokenizer.decoder = decoders.Metaspace(replacement=SPACE, prepend_scheme="always", split=True)
    tokenizer.add_special_tokens([AddedToken(token, special=True, normalized=False) for token in SPECIAL_TOKENS])
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", vocab["<s>"])])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, bos_token="<s>", eos_token="</s>",
                                   unk_token="<unk>", pad_token="<pad>", model_max_length=model_max_length,
                                   clean_up_tokenization_spaces=False,
                                   extra_special_tokens={"image_token": "<image>"})
