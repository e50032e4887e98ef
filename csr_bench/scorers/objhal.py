"""Object HalBench (RLHF-V, Yu et al., 2024): CHAIR-style object hallucination in detailed answers
about 300 COCO images, scored as RLHF-V's eval/eval_gpt_obj_halbench.py does and summarised as its
eval/summarize_gpt_obj_halbench_review.py reports (RLHF-V/RLHF-V@8daac8a, identical in
RLHF-V/RLAIF-V@83d917b but for an assert). Two scorers:

- ``objhal`` (the default): the script's rule-based path (``--use_gpt`` off): the answer is
  tokenised and lemmatised with nltk's WordNet lemmatiser, two-word objects merged, and every
  word on RLHF-V's refined synonym list (``synonyms_refine.txt``, below) is a mention of its COCO
  object. Needs nltk's WordNet data (loaded on first use; a one-line error says how to get it).
- ``objhal_judge``: the script's ``--use_gpt`` path: a judge LLM (csr_bench.judge) lists the objects
  of each answer with the script's prompt, verbatim; the names are read with spaCy's
  ``en_core_web_trf`` (lemmas, noun tags) as the script reads them. Skipped with the reason when no
  judge is configured; never falls back to the rules. The judge model is recorded per sample.

Ground truth, as for CHAIR: the COCO instance categories of the image plus the objects that its
human captions name, the captions read by this file's word rule. Details (metrics, odd cases,
differences from the script): docs/benchmarks.md, "Object HalBench".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from csr_bench.errors import CsrBenchError
from csr_bench.scorers.base import JudgedAggregate, Metric, ScoringContext
from csr_bench.scorers.chair import CocoGroundTruth, coco_image_id, ground_truth as chair_ground_truth
from csr_bench.scorers.chair_words import listed_words, merge_double_words, word_tokenize
from csr_bench.scorers.coco_objects import qualified_words
from csr_bench.scorers.sample_columns import Columns, ratio

# RLHF-V's refined COCO synonym list, verbatim: RLHF-V/RLHF-V@8daac8a8f30df123818ae9d3a0e3f0018497714c
# eval/data/synonyms_refine.txt (the same file in RLHF-V/RLAIF-V@83d917b2e8118ca8e7877a796d72af9bb3e6b356).
# One COCO object per line, its name first. Against CHAIR's list (scorers/coco_objects.py) it adds
# "brother", "pedestrian", "coffee table" (-> dining table) and "remote control" (-> remote), and its
# " motor bike" and " cheesecake" have no stray leading space (CHAIR can never match those two).
SYNONYMS_REFINE = """\
person, girl, boy, man, woman, kid, child, chef, baker, people, adult, rider, children, baby, worker, passenger, sister, brother, biker, policeman, cop, officer, lady, cowboy, bride, groom, male, female, guy, traveler, mother, father, gentleman, pitcher, player, skier, snowboarder, skater, skateboarder, guy, foreigner, child, gentleman, caller, offender, coworker, trespasser, patient, politician, soldier, grandchild, serviceman, walker, drinker, doctor, bicyclist, thief, buyer, teenager, student, camper, driver, solider, hunter, shopper, villager, pedestrian
bicycle, bike, unicycle, minibike, trike
car, automobile, van, minivan, sedan, suv, hatchback, cab, jeep, coupe, taxicab, limo, taxi
motorcycle, scooter, motor bike, motor cycle, motorbike, scooter, moped
airplane, jetliner, plane, air plane, monoplane, aircraft, jet, jetliner, airbus, biplane, seaplane
bus, minibus, trolley
train, locomotive, tramway, caboose
truck, pickup, lorry, hauler, firetruck
boat, ship, liner, sailboat, motorboat, dinghy, powerboat, speedboat, canoe, skiff, yacht, kayak, catamaran, pontoon, houseboat, vessel, rowboat, trawler, ferryboat, watercraft, tugboat, schooner, barge, ferry, sailboard, paddleboat, lifeboat, freighter, steamboat, riverboat, battleship, steamship
traffic light, street light, traffic signal, stop light, streetlight, stoplight
fire hydrant, hydrant
stop sign
parking meter
bench, pew
bird, ostrich, owl, seagull, goose, duck, parakeet, falcon, robin, pelican, waterfowl, heron, hummingbird, mallard, finch, pigeon, sparrow, seabird, osprey, blackbird, fowl, shorebird, woodpecker, egret, chickadee, quail, bluebird, kingfisher, buzzard, willet, gull, swan, bluejay, flamingo, cormorant, parrot, loon, gosling, waterbird, pheasant, rooster, sandpiper, crow, raven, turkey, oriole, cowbird, warbler, magpie, peacock, cockatiel, lorikeet, puffin, vulture, condor, macaw, peafowl, cockatoo, songbird
cat, kitten, feline, tabby
dog, puppy, beagle, pup, chihuahua, schnauzer, dachshund, rottweiler, canine, pitbull, collie, pug, terrier, poodle, labrador, doggie, doberman, mutt, doggy, spaniel, bulldog, sheepdog, weimaraner, corgi, cocker, greyhound, retriever, brindle, hound, whippet, husky
horse, colt, pony, racehorse, stallion, equine, mare, foal, palomino, mustang, clydesdale, bronc, bronco
sheep, lamb, ram, lamb, goat, ewe
cow, cattle, oxen, ox, calf, cattle, holstein, heifer, buffalo, bull, zebu, bison
elephant
bear, panda
zebra
giraffe
backpack, knapsack
umbrella
handbag, wallet, purse, briefcase
tie, bow, bow tie
suitcase, suit case, luggage
frisbee
skis, ski
snowboard
sports ball, ball
kite
baseball bat
baseball glove
skateboard
surfboard, longboard, skimboard, shortboard, wakeboard
tennis racket, racket
bottle
wine glass
cup
fork
knife, pocketknife, knive
spoon
bowl, container
banana
apple
sandwich, burger, sub, cheeseburger, hamburger
orange
broccoli
carrot
hot dog
pizza
donut, doughnut, bagel
cake, cheesecake, cupcake, shortcake, coffeecake, pancake
chair, seat, stool
couch, sofa, recliner, futon, loveseat, settee, chesterfield
potted plant, houseplant
bed
dining table, table, desk, coffee table
toilet, urinal, commode, toilet, lavatory, potty
tv, monitor, televison, television
laptop, computer, notebook, netbook, lenovo, macbook, laptop computer
mouse
remote, remote control
keyboard
cell phone, mobile phone, phone, cellphone, telephone, phon, smartphone, iPhone
microwave
oven, stovetop, stove, stove top oven
toaster
sink
refrigerator, fridge, fridge, freezer
book
clock
vase
scissors
teddy bear, teddybear
hair drier, hairdryer
toothbrush
"""

# The script's extraction prompt (eval_gpt_obj_halbench.py, prompt_template), verbatim.
EXTRACT_PROMPT = """You are an expert in image objects extraction according to a question answer pair. We asked an examiner to answer a question about a picture.

[Start of Question]

<image> {question}

[End of Question]

[Start of Examiner's Answer]

{answer}

[End of Examiner's Answer]


Assume that the answer is correct, please identify all visible objects that are directly shown in the image. Please following the instructions in below:

1. You should only mention objects that are explicitly mentioned in the examiner's answer.
2. You should only extract the object names without the attributes of the objects.
3. You should not include the properties of the object, like the color, material, etc. as part of the object name in your result.
4. Make your answer precise. Present the results in a JSON list format: [\"object_1\", ..., \"object_n\"].
5. You should return an empty JSON list () if no visible objects can be found.
"""

SHORT_ANSWER_WORDS = 3  # the script asks no judge for an answer of at most 3 words: no objects
# The script's Chat.chat_completion (eval/gpt4_grpc.py) asks at temperature 0.2 with max_tokens 512 and
# asks the same again while the answer cannot be read; a repeat here would come back from the judge
# cache, so each further ask is at a higher temperature, three asks in all.
JUDGE_TEMPERATURES = (0.2, 0.6, 1.0)
JUDGE_MAX_TOKENS = 512
SPACY_MODEL = "en_core_web_trf"
NOUN_TAGS = ("NNP", "NNPS", "NN", "NNS")  # the script's postagging
MISSING_WORDNET = ("objhal: the official rule lemmatises with nltk's WordNet, whose data is not installed: "
                   "python -m nltk.downloader wordnet")
MISSING_SPACY = (f"objhal_judge: the official rule reads the judge's object names with spaCy's {SPACY_MODEL}: "
                 f"pip install spacy && python -m spacy download {SPACY_MODEL}")
MISSING_ANNOTATIONS = ("objhal: no COCO annotations: pass --annotations DIR holding instances_*.json and "
                       "captions_*.json")


def _parse_synonyms(text: str) -> dict[str, str]:
    """word -> COCO object, as the script builds ``inverse_synonym_dict`` (a word on two lines: the later)."""
    inverse = {}
    for line in text.splitlines():
        names = [s.strip() for s in line.strip().split(", ")]
        for name in names:
            inverse[name] = names[0]
    return inverse


OBJECT_OF: dict[str, str] = _parse_synonyms(SYNONYMS_REFINE)


def _double_words() -> dict[str, str]:
    """The script's double_word_dict: the list's two-word names (and home plate, train track, which
    name no object but keep "train" from firing), qualified animals and vehicles, and three fixes."""
    merged = {word: word for word in OBJECT_OF if len(word.strip().split(" ")) >= 2}
    merged.update({"home plate": "home plate", "train track": "train track"})
    merged.update(qualified_words())
    return merged


DOUBLE_WORDS: dict[str, str] = _double_words()


@lru_cache(maxsize=1)
def _lemmatizer() -> Callable[[str], str]:
    """nltk's WordNetLemmatizer().lemmatize (the script's ``lemma.lemmatize``), loaded on first use."""
    try:
        from nltk.stem import WordNetLemmatizer

        lemmatizer = WordNetLemmatizer()
        lemmatizer.lemmatize("dogs")  # reads the WordNet data now, not in the middle of a run
    except LookupError:
        raise CsrBenchError(MISSING_WORDNET) from None
    return lemmatizer.lemmatize


def answer_text(prediction: str) -> str:
    """The answer as the script reads it from an answer file: "Assistant:" removed, stripped."""
    return str(prediction).replace("Assistant:", "").strip()


def count_words(prediction: str) -> int:
    """The script's length: ``len(cap.strip().split(" "))`` (an empty answer is one word)."""
    return len(answer_text(prediction).strip().split(" "))


@dataclass(frozen=True)
class Mentions:
    words: tuple[str, ...]  # the listed words as read (lemmatised, merged), one per mention
    objects: tuple[str, ...]  # their COCO objects


def _mentions(words: list[str]) -> Mentions:
    """The script's filter (chair.py's): "seat" dropped beside "toilet", then the words on the list."""
    words = listed_words(words, OBJECT_OF)
    return Mentions(tuple(words), tuple(OBJECT_OF[w] for w in words))


def read_words(text: str) -> Mentions:
    """The script's caption_to_words: lower-case, nltk word tokens, WordNet lemmas, two-word objects
    merged left to right, "seat" dropped beside "toilet", the words on the refined list."""
    lemmatize = _lemmatizer()
    words = [lemmatize(w) for w in word_tokenize(text.lower())]
    return _mentions([word for word, _ in merge_double_words(words, DOUBLE_WORDS)])


@lru_cache(maxsize=16384)
def answer_mentions(prediction: str) -> Mentions:
    """The COCO objects an answer mentions by the rule-based path (cached: read when scored and aggregated)."""
    return read_words(answer_text(prediction))


class ObjHalGroundTruth(CocoGroundTruth):
    """CHAIR's COCO ground truth (instances and captions of the folder), the captions read by
    Object HalBench's own word rule (WordNet lemmas, the refined list) instead of CHAIR's."""

    task = "objhal"

    @staticmethod
    def read(caption: str) -> Mentions:
        return read_words(caption)


def ground_truth(context: ScoringContext | None) -> ObjHalGroundTruth:
    return chair_ground_truth(context, ObjHalGroundTruth, MISSING_ANNOTATIONS)


# -- metrics ---------------------------------------------------------------------------------------

def sample_columns(mentions: Sequence[Sequence[str]], truths: Sequence[Sequence[str]],
                   words: Sequence[int]) -> Columns:
    """Per response: object mentions, hallucinated mentions, distinct ground-truth objects it names,
    ground-truth objects, words."""
    truths = [set(t) for t in truths]
    return {
        "mentioned": np.array([len(m) for m in mentions], dtype=int),
        "hallucinated": np.array([sum(o not in t for o in m) for m, t in zip(mentions, truths)], dtype=int),
        "recalled": np.array([len(t & set(m)) for m, t in zip(mentions, truths)], dtype=int),
        "ground_truth": np.array([len(t) for t in truths], dtype=int),
        "words": np.array(list(words), dtype=int),
    }


def response_hall(c: Columns) -> np.ndarray:
    """CHAIRs_refine: responses with a hallucinated object / responses naming any object."""
    return 100 * ratio(np.sum(c["hallucinated"] > 0, axis=-1), np.sum(c["mentioned"] > 0, axis=-1))


def object_hall(c: Columns) -> np.ndarray:
    """CHAIRi: hallucinated mentions / mentions."""
    return 100 * ratio(np.sum(c["hallucinated"], axis=-1), np.sum(c["mentioned"], axis=-1))


def chair_s(c: Columns) -> np.ndarray:
    """CHAIRs: responses with a hallucinated object / all responses."""
    return 100 * ratio(np.sum(c["hallucinated"] > 0, axis=-1), c["hallucinated"].shape[-1])


def coverage(c: Columns) -> np.ndarray:
    """obj_rec: distinct ground-truth objects named, summed over responses / ground-truth objects, summed."""
    return 100 * ratio(np.sum(c["recalled"], axis=-1), np.sum(c["ground_truth"], axis=-1))


def avg_len(c: Columns) -> np.ndarray:
    return ratio(np.sum(c["words"], axis=-1), c["words"].shape[-1])


MEASURES: dict[str, Callable[[Columns], np.ndarray]] = {
    "response_hall": response_hall, "object_hall": object_hall, "chair_s": chair_s, "coverage": coverage,
    "avg_len": avg_len}

METRICS = (
    Metric("response_hall", "lower", "share of responses naming a COCO object that name a hallucinated one (%), "
           "Object HalBench's response-level rate (CHAIRs_refine)", gate=True),
    Metric("object_hall", "lower", "share of object mentions that are hallucinated (%), the mention-level rate "
           "(CHAIRi)", gate=True),
    Metric("chair_s", "lower", "share of all responses with a hallucinated object (%), CHAIRs"),
    Metric("coverage", "higher", "ground-truth objects named, out of the images' ground-truth objects (%), obj_rec"),
    Metric("avg_len", "none", "words per response (split on spaces)"),
    Metric("responses_with_objects", "none", "responses naming at least one COCO object", count=True),
)


def _metrics(columns: Columns) -> dict[str, float]:
    metrics = {name: float(measure(columns)) for name, measure in MEASURES.items()}
    metrics["responses_with_objects"] = float(np.sum(columns["mentioned"] > 0))
    return metrics


def _image_id(record: dict[str, Any]) -> int:
    return coco_image_id(record, "objhal")


def _check_record(record: dict[str, Any]) -> None:
    _image_id(record)


class ObjHalScorer:
    name = "objhal"
    required_fields = ("image_id",)
    headline = ("response_hall", "object_hall", "coverage")
    metrics = METRICS

    def check(self, context: ScoringContext | None) -> None:
        """Load the annotations and WordNet now, so a run stops before any generation."""
        ground_truth(context)
        _lemmatizer()

    def check_record(self, record: dict[str, Any]) -> None:
        _check_record(record)

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        truth = ground_truth(context).objects(_image_id(record))
        mentioned = answer_mentions(str(record["prediction"])).objects
        return {"mentioned_objects": list(mentioned), "hallucinated_objects": [o for o in mentioned if o not in truth],
                "ground_truth_objects": sorted(truth)}

    def aggregate(self, records: Sequence[dict[str, Any]], context: ScoringContext | None = None) -> dict[str, float]:
        truth = ground_truth(context)
        return _metrics(sample_columns([answer_mentions(str(r["prediction"])).objects for r in records],
                                       [truth.objects(_image_id(r)) for r in records],
                                       [count_words(r["prediction"]) for r in records]))


# -- the judge path (--use_gpt) --------------------------------------------------------------------

def extraction_prompt(question: str, answer: str) -> str:
    """The script's prompt with the question and the answer put in (str.replace, as the script does)."""
    return EXTRACT_PROMPT.replace("{question}", question).replace("{answer}", answer)


def parse_object_list(content: str) -> list[str] | None:
    """The script's parse_object_list: the answer as JSON, else its last line when it holds '["';
    None when neither is a JSON list of strings (the script would ask again)."""
    try:
        found = json.loads(content)
    except ValueError:
        if '["' not in content:
            return None
        try:
            found = json.loads(content.strip().split("\n")[-1])
        except ValueError:
            return None
    if not isinstance(found, list) or not all(isinstance(item, str) for item in found):
        return None
    return found


@lru_cache(maxsize=1)
def _spacy() -> Callable[[str], Any]:
    """spaCy's en_core_web_trf (the script's ``nlp``), loaded on first use."""
    try:
        import spacy

        return spacy.load(SPACY_MODEL)
    except (ImportError, OSError):
        raise CsrBenchError(MISSING_SPACY) from None


def _noun_runs(doc) -> list[str]:
    """The script's postagging: the lemmas of each run of noun-tagged tokens, joined by spaces."""
    found, run = [], ""
    for token in doc:
        if token.tag_ in NOUN_TAGS:
            run += f" {token.lemma_}"
        elif run:
            found.append(run.strip())
            run = ""
    if run:
        found.append(run.strip())
    return found


def _double_words_only(lemmas: list[str]) -> list[str]:
    """The script's get_double_words_only: only the two-word objects among the lemmas."""
    found, i = [], 0
    while i < len(lemmas):
        pair = " ".join(lemmas[i:i + 2])
        if pair in DOUBLE_WORDS:
            found.append(DOUBLE_WORDS[pair])
            i += 2
        else:
            i += 1
    return found


def judge_mentions(extracted: Sequence[str]) -> Mentions:
    """The script's get_pred_objs_match and caption_objects_to_coco_objects: each name the judge
    listed is read as "a <name>" by spaCy; its two-word objects if it has any, else its noun runs;
    each distinct result once; then "seat" beside "toilet" dropped and the words on the list kept."""
    nlp = _spacy()
    refined: list[str] = []
    for text in extracted:
        doc = nlp(f"a {text}")
        doubles = _double_words_only([token.lemma_ for token in doc])
        refined += doubles if doubles else _noun_runs(doc)
    return _mentions(list(dict.fromkeys(refined)))


def extract(judge, question: str, prediction: str) -> dict[str, Any]:
    """The judge's object list for one answer: None when no answer could be read after every ask."""
    answer = answer_text(prediction)
    if len(answer.strip().split()) <= SHORT_ANSWER_WORDS:
        return {"judge_objects": [], "judge_answer": None, "judge_answers": 0}
    prompt = extraction_prompt(question, answer)
    content = None
    for asks, temperature in enumerate(JUDGE_TEMPERATURES, start=1):
        content = judge.complete(prompt, max_tokens=JUDGE_MAX_TOKENS, temperature=temperature)
        found = parse_object_list(content)
        if found is not None:
            return {"judge_objects": found, "judge_answer": content, "judge_answers": asks}
    return {"judge_objects": None, "judge_answer": content, "judge_answers": len(JUDGE_TEMPERATURES)}


class ObjHalJudgeScorer(JudgedAggregate):
    name = "objhal_judge"
    benchmark = "objhal_judge"
    required_fields = ("image_id", "question")
    headline = ("response_hall", "object_hall", "coverage")
    metrics = (*METRICS, Metric("unresolved", "lower", "responses whose judge answer never held a readable "
                                                         "object list (left out of every rate)", count=True))
    judge_fields = ("mentioned_objects", "judge_objects", "judge_model")

    def check(self, context: ScoringContext | None) -> None:
        """The annotations, and with a judge configured spaCy's model, before any generation."""
        ground_truth(context)
        if context is not None and context.judge is not None:
            _spacy()

    def check_record(self, record: dict[str, Any]) -> None:
        _check_record(record)
        if not isinstance(record["question"], str):
            raise CsrBenchError(f"objhal_judge: question must be a string, got {record['question']!r}")

    def score_sample(self, record: dict[str, Any], context: ScoringContext | None = None) -> dict[str, Any]:
        """The image's ground truth; the mentions come from the judge, in aggregate."""
        return {"ground_truth_objects": sorted(ground_truth(context).objects(_image_id(record)))}

    def aggregate_items(self, records: Sequence[dict[str, Any]],
                        context: ScoringContext | None = None) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """The metrics and, per record, the judge's list, the COCO objects read from it (None when
        unreadable) and the judge model."""
        judge = self.judge_records(records, context)
        truth = ground_truth(context)
        _spacy()  # before any request: without it no judge answer could be read
        from csr_bench.judge import judge_map
        from csr_bench.progress import get_logger

        answers = judge_map(judge, lambda r: extract(judge, r["question"], str(r["prediction"])), records,
                            desc="objhal judge")
        model = getattr(judge, "model", None)
        items = [{"mentioned_objects": None if a["judge_objects"] is None else list(judge_mentions(a["judge_objects"]).objects),
                  "judge_objects": a["judge_objects"], "judge_model": model} for a in answers]
        unresolved = [i for i, item in enumerate(items) if item["mentioned_objects"] is None]
        if unresolved:
            get_logger().warning("objhal_judge: no object list in %d judge answer(s) for %d response(s), left out of "
                                 "the rates: image_id %s", len(JUDGE_TEMPERATURES), len(unresolved),
                                 ", ".join(str(records[i]["image_id"]) for i in unresolved[:10]))
        if context.output_dir is not None:
            _write_extractions(Path(context.output_dir) / "judge_objects.jsonl", records, answers, items)
        kept = [i for i, item in enumerate(items) if item["mentioned_objects"] is not None]
        metrics = _metrics(sample_columns([items[i]["mentioned_objects"] for i in kept],
                                          [truth.objects(_image_id(records[i])) for i in kept],
                                          [count_words(records[i]["prediction"]) for i in kept]))
        metrics["unresolved"] = float(len(unresolved))
        return metrics, items


def _write_extractions(path: Path, records, answers, items) -> None:
    from csr_bench.storage.files import atomic_write_jsonl

    atomic_write_jsonl(path, [{"image_id": r["image_id"], **a, "mentioned_objects": item["mentioned_objects"],
                         "judge_model": item["judge_model"]}
             for r, a, item in zip(records, answers, items)])


def unit_columns(samples: Sequence[dict[str, Any]]) -> tuple[list[int], Columns]:
    """For the bootstrap (scorers.unit_stats): the positions of the responses with mentions (a judge's
    unreadable answer has none) and their columns, from what scoring stored (no annotations needed)."""
    kept = [i for i, r in enumerate(samples) if r["mentioned_objects"] is not None]  # KeyError: not judged
    return kept, sample_columns([samples[i]["mentioned_objects"] for i in kept],
                                [samples[i]["ground_truth_objects"] for i in kept],
                                [count_words(samples[i]["prediction"]) for i in kept])
