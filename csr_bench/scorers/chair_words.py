"""chair.py's caption_to_words: which COCO objects a caption names, as CHAIR counts them, with nltk's
own code and no downloaded data (its Punkt model cannot be had here). Details (the pipeline, why
the objects found match): docs/benchmarks.md, "csr_bench/scorers/chair_words.py".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Mapping

from csr_bench.scorers.coco_objects import DOUBLE_WORDS, NODE_WORD
from csr_bench.scorers.singularize import singularize


@dataclass(frozen=True)
class CaptionObjects:
    words: tuple[str, ...]  # the object words as read (singularised, merged), in caption order
    objects: tuple[str, ...]  # their COCO node words, one per mention
    tokens: tuple[str, ...]  # every token after double-word merging (chair.py's "words"; Len counts them)


@lru_cache(maxsize=1)
def _tokenizers():
    """Loaded on first use: importing nltk takes a noticeable fraction of a second."""
    from nltk.tokenize.destructive import NLTKWordTokenizer
    from nltk.tokenize.punkt import PunktSentenceTokenizer

    return PunktSentenceTokenizer(), NLTKWordTokenizer()


def word_tokenize(text: str) -> list[str]:
    """nltk.word_tokenize(text) without the downloaded Punkt model (see the module docstring)."""
    sentences, words = _tokenizers()
    return [token for sentence in sentences.tokenize(text) for token in words.tokenize(sentence)]


def merge_double_words(words: list[str], double_words: Mapping[str, str] = DOUBLE_WORDS,
                       spans: list[tuple[int, int]] | None = None) -> list[tuple[str, tuple[int, int]]]:
    """(word, span) with each two-word object (``double_words``: CHAIR's, or Object HalBench's) merged
    into one word spanning both tokens, left to right."""
    spans = spans or [(0, 0)] * len(words)
    merged, i = [], 0
    while i < len(words):
        pair = " ".join(words[i:i + 2])
        if pair in double_words:
            merged.append((double_words[pair], (spans[i][0], spans[i + 1][1])))
            i += 2
        else:
            merged.append((words[i], spans[i]))
            i += 1
    return merged


# A response is read when it is scored, again when its task is aggregated and again for the run's
# intervals (four evaluations of 2,000 world captions in one `run`): the cache holds them all.
@lru_cache(maxsize=16384)
def caption_objects(caption: str) -> CaptionObjects:
    """The COCO objects a caption mentions, exactly as chair.py reads them."""
    return read_caption(caption)


def read_caption(caption: str) -> CaptionObjects:
    """caption_objects without its cache: for text read once (the annotations' own captions, whose
    objects CocoGroundTruth keeps per image), which would only push the responses out of it."""
    tokens = [word for word, _ in merge_double_words([singularize(w) for w in word_tokenize(caption.lower())])]
    words = listed_words(tokens, NODE_WORD)
    return CaptionObjects(words=tuple(words), objects=tuple(NODE_WORD[w] for w in words), tokens=tuple(tokens))


def listed_words(words: list[str], listed: Mapping[str, str]) -> list[str]:
    """chair.py's filter: "seat" dropped when "toilet" is there ("the seat of the toilet" is not a
    chair), then the words on the synonym list (``listed``: CHAIR's, or Object HalBench's refined one)."""
    if "toilet" in words and "seat" in words:
        words = [w for w in words if w != "seat"]
    return [w for w in words if w in listed]


def object_spans(caption: str) -> list[tuple[int, int, str]]:
    """(start, end, COCO object) of every object word in ``caption``, read by caption_objects'
    rules, for marking them in the text; [] when nltk rewrote a token beyond alignment."""
    lowered = caption.lower()
    text = lowered if len(lowered) == len(caption) else caption  # offsets must index the caption
    sentences, words = _tokenizers()
    try:
        spans = [(start + a, start + b) for start, end in sentences.span_tokenize(text)
                 for a, b in words.span_tokenize(text[start:end])]
    except ValueError:
        return []
    merged = merge_double_words([singularize(text[a:b].lower()) for a, b in spans], spans=spans)
    toilet = any(word == "toilet" for word, _ in merged)
    return [(a, b, NODE_WORD[word]) for word, (a, b) in merged
            if word in NODE_WORD and not (toilet and word == "seat")]
