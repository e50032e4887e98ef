"""The NLP pieces of AMBER's generative scoring (inference.py's extract_nouns and check_synonyms_word),
in two forms that the matching rule (scorers/amber.py, ``match_nouns``) takes as they are:

- ``official_pipeline``: inference.py's own: nltk.word_tokenize, nltk.pos_tag (tags NN*), WordNet's
  lemmatiser, and spaCy en_core_web_lg similarity > 0.8. Loaded on first use; a one-line error says
  what to install when nltk's data or the spaCy model is missing.
- ``offline_pipeline``: what runs with no downloaded data (the `amber_offline` scorer, labelled not
  official): nltk's Treebank tokenizer without Punkt's data (as scorers/chair_words.py), no POS tagger
  (every token is a candidate; the association-vocabulary filter still applies), a rule-based
  lemmatiser (pattern.en's singularize, sparing AMBER words that are no plurals) instead of WordNet,
  and exact string equality instead of vector similarity.

Details (what each substitution changes): docs/benchmarks.md, "csr_bench/scorers/amber.py".
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Callable, Collection

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.chair_words import word_tokenize
from csr_bench.scorers.singularize import singularize

SIMILARITY = 0.8  # inference.py's --similarity_score default
NLTK_DATA = "punkt punkt_tab averaged_perceptron_tagger averaged_perceptron_tagger_eng wordnet"


@dataclass(frozen=True)
class Pipeline:
    """How nouns are read from a response and when two words count as the same object."""

    name: str
    nouns: Callable[[str], tuple[str, ...]]  # the response's nouns, lemmatised, in order (before the vocabulary filter)
    similar: Callable[[str, str], bool]  # inference.py's check_synonyms_word(noun, word, 0.8)
    official: bool


def tagged_nouns(text: str, tokenize: Callable[[str], list[str]], tag: Callable[[list[str]], list[tuple[str, str]]],
                 lemmatize: Callable[[str], str]) -> tuple[str, ...]:
    """inference.py's extract_nouns with its three nltk pieces given: the tokens tagged NN* (NN, NNS,
    NNP, NNPS), each lemmatised. No lowercasing, as inference.py: "Trees" stays "Trees"."""
    return tuple(lemmatize(word) for word, pos in tag(tokenize(text)) if pos.startswith("NN"))


class MissingPipeline(CsrBenchError):
    """The official NLP pipeline (nltk data, spaCy and its model) is not installed."""


@lru_cache(maxsize=1)
def _load_official() -> tuple[Callable[[str], tuple[str, ...]], Callable[[str], object]]:
    """nltk's tokenizer, tagger and WordNet lemmatiser, and spaCy's en_core_web_lg; one error naming
    every missing piece and the commands that install them."""
    missing: list[tuple[str, str]] = []  # (what, how to install it)
    nltk = lemmatizer = nlp = None
    try:
        import nltk
        from nltk.stem import WordNetLemmatizer
    except ImportError:
        missing.append(("nltk", "pip install nltk"))
    else:
        lemmatizer = WordNetLemmatizer()
        try:
            nltk.pos_tag(nltk.word_tokenize("A dog."))
            lemmatizer.lemmatize("dogs")
        except LookupError:
            missing.append(("nltk's data (Punkt, the POS tagger, WordNet)", f"python -m nltk.downloader {NLTK_DATA}"))
    try:
        import spacy
    except ImportError:
        missing.append(("spaCy and its model en_core_web_lg",
                        "pip install spacy && python -m spacy download en_core_web_lg"))
    else:
        try:
            nlp = spacy.load("en_core_web_lg")
        except OSError:
            missing.append(("spaCy's model en_core_web_lg", "python -m spacy download en_core_web_lg"))
    if missing:
        raise MissingPipeline(f"amber: the official NLP pipeline lacks {', '.join(what for what, _ in missing)}; "
                              f"install: {' && '.join(how for _, how in missing)} "
                              "(or score with amber_offline, not official)")

    def nouns(text: str) -> tuple[str, ...]:
        return tagged_nouns(text, nltk.word_tokenize, nltk.pos_tag, lemmatizer.lemmatize)

    return nouns, nlp


@lru_cache(maxsize=1)
def official_pipeline() -> Pipeline:
    """inference.py's pipeline; MissingPipeline (a one-line CsrBenchError) when a piece is not installed."""
    nouns, nlp = _load_official()
    import warnings

    @lru_cache(maxsize=65536)
    def doc(word: str):
        return nlp(word)

    @lru_cache(maxsize=262144)
    def similar(word1: str, word2: str) -> bool:
        with warnings.catch_warnings():  # inference.py ignores spaCy's "empty vector" UserWarning
            warnings.simplefilter("ignore", UserWarning)
            return doc(word1).similarity(doc(word2)) > SIMILARITY

    return Pipeline("official", lru_cache(maxsize=16384)(nouns), similar, official=True)


def _looks_plural(word: str) -> bool:
    return word.endswith("s") and not word.endswith(("ss", "us", "is"))


def lemmatize_offline(word: str, vocabulary: Collection[str]) -> str:
    """A stand-in for WordNet's noun lemmatiser: an AMBER word that does not look plural as it is
    ("grass", "glass", "bus", "tennis", "people", where pattern.en's singularize alone would cut the
    first four to "gras", "glas", "bu", "tenni"), else pattern.en's singular. Like WordNet, a plural
    AMBER word becomes its singular even when only the plural is an AMBER word ("chopsticks" ->
    "chopstick", "sunglasses" -> "sunglass": inference.py never counts them), and "leaves" becomes
    "leaf", not the AMBER word "leave"."""
    if word in vocabulary and not _looks_plural(word):
        return word
    return singularize(word)


def offline_pipeline(vocabulary: Collection[str]) -> Pipeline:
    """The substitute with no downloaded data: every Treebank token a candidate, the rule-based
    lemmatiser, exact equality for similarity."""
    vocabulary = frozenset(vocabulary)

    @lru_cache(maxsize=16384)
    def nouns(text: str) -> tuple[str, ...]:
        return tuple(lemmatize_offline(token, vocabulary) for token in word_tokenize(text))

    return Pipeline("offline", nouns, lambda word1, word2: word1 == word2, official=False)


__all__ = ["MissingPipeline", "NLTK_DATA", "Pipeline", "SIMILARITY", "lemmatize_offline",
           "official_pipeline", "offline_pipeline", "tagged_nouns"]
