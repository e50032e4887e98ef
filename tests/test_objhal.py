"""Object HalBench (objhal, objhal_judge): RLHF-V's rule-based word path (refined synonyms that CHAIR
lacks, plurals, two-word objects, "seat" beside "toilet", an empty answer), the response- and
mention-level arithmetic worked by hand, the judge path against a scripted judge (its prompt
verbatim, an unreadable answer, the judge model recorded), the builder, the bootstrap's columns and
`csr-bench score objhal`.

nltk's WordNet data and spaCy's en_core_web_trf cannot be installed here, so the tests put small
stand-ins in their place: LEMMA below (what WordNet's noun lemmatiser gives for the plurals used) and
FakeNlp (lemmas and Penn tags for the judge's object names). The rest of each path is the real code.
"""

from __future__ import annotations

import base64
import json
from types import SimpleNamespace

import pytest

from coco_fixtures import captions, file_name, instances, write_json
from conftest import REPO
from csr_bench.cli import main as cli_main
from csr_bench.errors import CsrBenchError
from csr_bench.scorers.annotation_folder import forget as forget_annotations
from csr_bench.judge import NO_JUDGE, Judge, JudgeSettings
from csr_bench.scorers import SCORERS, ScoringContext, ScoringSkipped
from csr_bench.scorers import objhal
from csr_bench.scorers.base import declared
from csr_bench.scorers.chair import ChairScorer
from csr_bench.scorers.unit_stats import task_stats
from judge_server import JudgeServer, Reply, clear_judge_env

# WordNet's noun lemmas of the inflected words below (everything else is its own lemma).
LEMMA = {"dogs": "dog", "glasses": "glass", "cars": "car"}


@pytest.fixture(autouse=True)
def _stand_ins(monkeypatch):
    clear_judge_env(monkeypatch)
    monkeypatch.setattr(objhal, "_lemmatizer", lambda: lambda word: LEMMA.get(word, word))
    monkeypatch.setattr(objhal, "_spacy", lambda: FakeNlp())
    objhal.answer_mentions.cache_clear()
    forget_annotations()
    yield
    objhal.answer_mentions.cache_clear()
    forget_annotations()


# Ground truth = instances + objects the captions name (read by the objhal rule):
#   1: dog, car + "A brother walks his dog." (brother -> person: on the refined list, not CHAIR's)
#   2: dining table, cup + "A cup on a table."   3: bus + "A bus."   4 and 5: toilet   6: person
OBJECTS = {1: ["dog", "car"], 2: ["dining table", "cup"], 3: ["bus"], 4: ["toilet"], 5: ["toilet"], 6: ["person"]}
CAPTIONS = {1: ["A brother walks his dog."], 2: ["A cup on a table."], 3: ["A bus."], 4: [], 5: [], 6: []}
QUESTION = "Please describe this image in detail."


@pytest.fixture
def annotations(tmp_path):
    folder = tmp_path / "annotations"
    write_json(folder / "instances_val2014.json", instances(OBJECTS))
    write_json(folder / "captions_val2014.json", captions(CAPTIONS))
    return folder


# Rule-based path, response by response (mentions in order; hallucinated = not in the image's truth):
#  r1 img 1 "Two dogs and a brother stand near a car. A cat sleeps."
#      dogs -> dog, brother -> person, car, cat: 4 mentions, cat hallucinated; names 3 of 3 truths; 12 words
#  r2 img 2 "A coffee table with wine glasses and a remote control."
#      "coffee table" -> dining table, "wine glass(es)" -> wine glass, "remote control" -> remote:
#      3 mentions, wine glass and remote hallucinated; names 1 of 2 truths; 10 words
#  r3 img 3 "Assistant: A bus." -> "A bus." (the script strips "Assistant:"): bus, right (CHAIR's
#      singulariser reads "bus" as "bu" and finds nothing); 1 of 1; 2 words
#  r4 img 4 "": no mention; 0 of 1 truth; 1 word (the script's "".split(" ") is [""])
#  r5 img 5 "The seat of the toilet is up.": "seat" dropped beside "toilet"; toilet right; 1 of 1; 7 words
# mentions 4+3+1+0+1 = 9, hallucinated 1+2 = 3, responses with a mention 4, with a hallucination 2:
#   response_hall = 2/4 = 50, object_hall = 3/9 = 33.33, chair_s = 2/5 = 40,
#   coverage = (3+1+1+0+1)/(3+2+1+1+1) = 6/8 = 75, avg_len = (12+10+2+1+7)/5 = 6.4
RECORDS = [
    {"image_id": 1, "question": QUESTION, "prediction": "Two dogs and a brother stand near a car. A cat sleeps."},
    {"image_id": 2, "question": QUESTION, "prediction": "A coffee table with wine glasses and a remote control."},
    {"image_id": 3, "question": QUESTION, "prediction": "Assistant: A bus."},
    {"image_id": 4, "question": QUESTION, "prediction": ""},
    {"image_id": 5, "question": QUESTION, "prediction": "The seat of the toilet is up."},
]
RULE_METRICS = {"response_hall": 50.0, "object_hall": 100 / 3, "chair_s": 40.0, "coverage": 75.0, "avg_len": 6.4,
                "responses_with_objects": 4.0}


def test_the_refined_list_is_the_reference_file():
    # 80 lines, one per COCO object, and the refined additions CHAIR's list lacks
    assert len(objhal.SYNONYMS_REFINE.splitlines()) == 80 and len(set(objhal.OBJECT_OF.values())) == 80
    assert objhal.OBJECT_OF["brother"] == objhal.OBJECT_OF["pedestrian"] == "person"
    assert objhal.OBJECT_OF["coffee table"] == "dining table" and objhal.OBJECT_OF["remote control"] == "remote"
    assert objhal.OBJECT_OF["motor bike"] == "motorcycle" and objhal.OBJECT_OF["cheesecake"] == "cake"
    assert objhal.DOUBLE_WORDS["baby cub"] == "cub" and objhal.DOUBLE_WORDS["toilet seat"] == "toilet"
    assert objhal.EXTRACT_PROMPT.startswith("You are an expert in image objects extraction")
    assert 'JSON list format: ["object_1", ..., "object_n"].' in objhal.EXTRACT_PROMPT


def test_word_rule_on_odd_answers():
    read = objhal.answer_mentions
    assert read(RECORDS[0]["prediction"]).objects == ("dog", "person", "car", "cat")
    assert read(RECORDS[1]["prediction"]).words == ("coffee table", "wine glass", "remote control")
    assert read(RECORDS[1]["prediction"]).objects == ("dining table", "wine glass", "remote")
    assert read("Assistant: A bus.").objects == ("bus",)
    assert read("").objects == () and objhal.count_words("") == 1
    assert read("The seat of the toilet is up.").objects == ("toilet",)
    assert read("A seat.").objects == ("chair",)  # no toilet: a seat is a chair
    assert read("A PEDESTRIAN, a baby cat and a passenger train!").objects == ("person", "cat", "train")
    assert read("A dog, a dog and dogs.").objects == ("dog", "dog", "dog")  # every mention counts
    assert read("A train track.").objects == ()  # merged into a phrase on no list
    assert objhal.count_words("  Two  dogs ") == 3  # split on single spaces, as the script: "Two", "", "dogs"


def test_rule_metrics_by_hand(annotations):
    context = ScoringContext(annotations=annotations)
    scorer = SCORERS["objhal"]
    assert scorer.aggregate(RECORDS, context) == pytest.approx(RULE_METRICS)
    first = scorer.score_sample(RECORDS[0], context)
    assert first == {"mentioned_objects": ["dog", "person", "car", "cat"], "hallucinated_objects": ["cat"],
                     "ground_truth_objects": ["car", "dog", "person"]}
    # CHAIR's ground truth for image 1 lacks "person" ("brother" is not on its list): the lists differ
    chair = ChairScorer().score_sample(RECORDS[0], context)
    assert "person" not in chair["ground_truth_objects"]
    # every declared metric is reported, every reported key declared
    assert {m.name for m in scorer.metrics} == set(RULE_METRICS)
    assert all(declared(scorer.metrics, key) for key in RULE_METRICS)
    assert [m.name for m in scorer.metrics if m.gate] == ["response_hall", "object_hall"]
    assert {m.name: m.direction for m in scorer.metrics}["coverage"] == "higher"


def test_bad_inputs_are_one_line_errors(annotations, tmp_path):
    scorer = SCORERS["objhal"]
    with pytest.raises(CsrBenchError, match="^objhal: image_id 8 is not in the COCO annotations$"):
        scorer.score_sample({"image_id": 8, "prediction": "a dog"}, ScoringContext(annotations=annotations))
    with pytest.raises(CsrBenchError, match="^objhal: no COCO annotations"):
        scorer.score_sample(RECORDS[0], ScoringContext())
    with pytest.raises(CsrBenchError, match="image_id must be a COCO image id"):
        scorer.check_record({"image_id": "cat"})


def test_bootstrap_columns_come_from_the_stored_fields(annotations):
    context = ScoringContext(annotations=annotations)
    samples = [{**r, **SCORERS["objhal"].score_sample(r, context), "doc_id": str(i), "doc_index": i}
               for i, r in enumerate(RECORDS)]
    stats = task_stats("objhal", samples, "x")
    assert stats.unit == "response" and len(stats.doc_ids) == 5
    assert {name: float(stats.value(name)) for name in objhal.MEASURES} == pytest.approx(
        {k: v for k, v in RULE_METRICS.items() if k in objhal.MEASURES})
    assert stats.metrics()["object_hall"][1] is False  # lower is better


def test_missing_wordnet_is_one_line(monkeypatch):
    monkeypatch.undo()  # the real loader
    objhal._lemmatizer.cache_clear()
    try:
        from nltk.corpus import wordnet

        wordnet.ensure_loaded()
        pytest.skip("nltk's WordNet data is installed here")
    except LookupError:
        pass
    with pytest.raises(CsrBenchError) as raised:
        objhal._lemmatizer()
    assert str(raised.value) == objhal.MISSING_WORDNET and "\n" not in str(raised.value)


# -- the judge path ---------------------------------------------------------------------------------

ADJECTIVES = {"wooden", "red"}
SPACY_LEMMA = {"dogs": "dog", "glasses": "glass"}


class FakeNlp:
    """spaCy's interface as the script uses it: tokens with ``lemma_`` and ``tag_`` ("a" DT,
    adjectives JJ, other words NN)."""

    def __call__(self, text):
        return [SimpleNamespace(lemma_=SPACY_LEMMA.get(w, w), tag_="DT" if w == "a" else "JJ" if w in ADJECTIVES else "NN")
                for w in text.split()]


# The judge's answers, by the answer in the prompt (first ask, then the asks after an unreadable one):
#  j1 img 1: a list naming "dog" twice: each distinct name once -> dog, person, car, cat; cat hallucinated
#  j2 img 2: first prose (unreadable), then a preamble line and the list on the last line (read):
#      "wooden coffee table" -> its two-word object coffee table -> dining table; "wine glasses" -> wine
#      glass; "remote control" -> remote: 3 mentions, 2 hallucinated; names 1 of 2
#  j3 img 3 "A bus.": at most 3 words, no request, no objects; names 0 of 1
#  j4 img 5: a JSON object, never a list: unresolved after 3 asks, left out of every rate
#  j5 img 6: "man" -> person (right), "hot dog" -> hot dog (hallucinated), "pizza slice" -> the noun
#      run "pizza slice", on no list: dropped (the script's behaviour); names 1 of 1
# Over j1, j2, j3, j5: mentions 4+3+0+2 = 9, hallucinated 1+2+0+1 = 4, with a mention 3, all 3 hallucinate:
#   response_hall = 3/3 = 100, object_hall = 4/9 = 44.44, chair_s = 3/4 = 75,
#   coverage = (3+1+0+1)/(3+2+1+1) = 5/7 = 71.43, avg_len = (12+10+2+10)/4 = 8.5, unresolved 1
JUDGE_RECORDS = [
    {**RECORDS[0]}, {**RECORDS[1]},
    {"image_id": 3, "question": QUESTION, "prediction": "A bus."},
    {"image_id": 5, "question": QUESTION, "prediction": "The seat of the toilet is up and clean today."},
    {"image_id": 6, "question": QUESTION, "prediction": "A man with a hot dog and a pizza slice."},
]
JUDGE_ANSWERS = {
    RECORDS[0]["prediction"]: ['["dogs", "brother", "car", "cat", "dog"]'],
    RECORDS[1]["prediction"]: ["Sure! The objects are: coffee table, wine glass.",
                               'Objects:\n["wooden coffee table", "wine glasses", "remote control"]'],
    JUDGE_RECORDS[3]["prediction"]: ['{"objects": ["toilet"]}'],
    JUDGE_RECORDS[4]["prediction"]: ['["man", "hot dog", "pizza slice"]'],
}
JUDGE_METRICS = {"response_hall": 100.0, "object_hall": 400 / 9, "chair_s": 75.0, "coverage": 500 / 7,
                 "avg_len": 8.5, "responses_with_objects": 3.0, "unresolved": 1.0}


def _answer_in(prompt: str) -> str:
    return prompt.split("[Start of Examiner's Answer]\n\n")[1].split("\n\n[End of Examiner's Answer]")[0]


def scripted(request) -> Reply:
    answers = JUDGE_ANSWERS[_answer_in(request.user)]
    ask = {0.2: 0, 0.6: 1, 1.0: 2}[request.body["temperature"]]
    return Reply(answers[min(ask, len(answers) - 1)])


def judge_for(server, cache=None):
    return Judge(JudgeSettings(server.url, "judge-m"), cache, timeout=2.0, retries=0, backoff=0.01, workers=2)


def test_judge_metrics_by_hand(annotations, tmp_path):
    scorer = SCORERS["objhal_judge"]
    with JudgeServer(scripted) as server:
        context = ScoringContext(annotations=annotations, judge=judge_for(server), output_dir=tmp_path)
        metrics, items = scorer.aggregate_items(JUDGE_RECORDS, context)
    assert metrics == pytest.approx(JUDGE_METRICS)
    assert [item["mentioned_objects"] for item in items] == [
        ["dog", "person", "car", "cat"], ["dining table", "wine glass", "remote"], [], None, ["person", "hot dog"]]
    assert {item["judge_model"] for item in items} == {"judge-m"}
    assert items[3]["judge_objects"] is None
    # the script's prompt with the question and the answer put in, as the user turn
    first = next(r for r in server.requests if _answer_in(r.user) == RECORDS[0]["prediction"])
    assert first.user == objhal.extraction_prompt(QUESTION, RECORDS[0]["prediction"])
    assert "<image> Please describe this image in detail.\n\n[End of Question]" in first.user
    # 1 + 2 + 0 (short answer) + 3 (never readable) + 1 requests; first at the script's temperature 0.2
    # and max_tokens 512, the unreadable one again at 0.6 and 1.0
    assert server.count == 7
    assert first.system is None and (first.body["temperature"], first.body["max_tokens"]) == (0.2, 512)
    never = [r.body["temperature"] for r in server.requests if _answer_in(r.user) == JUDGE_RECORDS[3]["prediction"]]
    assert never == [0.2, 0.6, 1.0]
    written = [json.loads(line) for line in (tmp_path / "judge_objects.jsonl").read_text().splitlines()]
    assert [w["judge_model"] for w in written] == ["judge-m"] * 5 and written[2]["judge_answers"] == 0
    # the bootstrap reads the judge's stored mentions; the unresolved response has no row
    samples = [{**r, **scorer.score_sample(r, context), **item, "doc_id": str(i), "doc_index": i}
               for i, (r, item) in enumerate(zip(JUDGE_RECORDS, items))]
    stats = task_stats("objhal_judge", samples, "x")
    assert stats.doc_ids == ["0", "1", "2", "4"]
    assert float(stats.value("object_hall")) == pytest.approx(400 / 9)


def test_judge_path_never_falls_back(annotations):
    scorer = SCORERS["objhal_judge"]
    with pytest.raises(ScoringSkipped, match=NO_JUDGE.split(":")[0]):
        scorer.aggregate(JUDGE_RECORDS, ScoringContext(annotations=annotations))
    assert objhal.parse_object_list("[]") == [] and objhal.parse_object_list("none") is None
    assert objhal.parse_object_list('Here:\n["cat"]') == ["cat"] and objhal.parse_object_list("[1, 2]") is None


def test_missing_spacy_is_one_line(monkeypatch):
    monkeypatch.undo()
    objhal._spacy.cache_clear()
    import importlib.util

    if importlib.util.find_spec("spacy") is not None:
        pytest.skip("spaCy is installed here")
    with pytest.raises(CsrBenchError) as raised:
        objhal._spacy()
    assert str(raised.value) == objhal.MISSING_SPACY


# -- data and the command ---------------------------------------------------------------------------

def test_builder_and_score_command(annotations, tmp_path, capsys):
    from PIL import Image
    import io

    from csr_bench.builders.objhal import build_objhal
    from csr_bench.tasks.data import load_task_data
    from csr_bench.tasks.registry import load_registry

    coco = tmp_path / "coco"
    write_json(coco / "annotations" / "instances_val2014.json", instances(OBJECTS))
    write_json(coco / "annotations" / "captions_val2014.json", captions(CAPTIONS))
    (coco / "val2014").mkdir()
    Image.new("RGB", (8, 6), (1, 2, 3)).save(coco / "val2014" / file_name(2))
    buffer = io.BytesIO()
    Image.new("RGB", (8, 6), (9, 9, 9)).save(buffer, format="JPEG")
    items = tmp_path / "obj_halbench_300_with_image.jsonl"
    items.write_text(json.dumps({"image_id": 1, "question": QUESTION, "image": base64.b64encode(buffer.getvalue()).decode()})
                     + "\n" + json.dumps({"image_id": "2", "question": "Describe it."}) + "\n")
    assert build_objhal(items, coco, tmp_path / "data" / "objhal") == {"items": 2}
    task = load_registry()["objhal"]
    data = load_task_data(task, tmp_path / "data")
    assert [(r["image_id"], r["question"]) for r in data.rows] == [(1, QUESTION), (2, "Describe it.")]
    assert data.image(0).size == (8, 6) and data.annotations == tmp_path / "data" / "objhal" / "annotations"
    subset = json.loads((tmp_path / "data" / "objhal" / "annotations" / "instances_val2014.json").read_text())
    assert sorted(i["id"] for i in subset["images"]) == [1, 2]
    items.write_text(json.dumps({"image_id": 7, "question": QUESTION}) + "\n")
    with pytest.raises(CsrBenchError, match="image_id 7 .* is in no COCO 2014 annotation file"):
        build_objhal(items, coco, tmp_path / "x")

    predictions = tmp_path / "samples.jsonl"
    predictions.write_text("".join(json.dumps(r) + "\n" for r in RECORDS))
    assert cli_main(["score", "objhal", str(predictions), "--annotations", str(annotations), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["n"] == 5 and result["metrics"] == pytest.approx(RULE_METRICS)
    assert "object_hall" in result["intervals"]
    assert cli_main(["score", "objhal_judge", str(predictions), "--annotations", str(annotations), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["skipped"].startswith(NO_JUDGE.split(":")[0])
    judged = tmp_path / "judged" / "samples.jsonl"
    judged.parent.mkdir()
    judged.write_text("".join(json.dumps(r) + "\n" for r in JUDGE_RECORDS))
    with JudgeServer(scripted) as server:
        assert cli_main(["score", "objhal_judge", str(judged), "--annotations", str(annotations), "--json",
                         "--judge-url", server.url, "--judge-model", "judge-m"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["metrics"] == pytest.approx(JUDGE_METRICS) and result["interval_method"]["n_units"] == 4
    written = (judged.parent / "judge_objects.jsonl").read_text().splitlines()
    assert [json.loads(line)["judge_model"] for line in written] == ["judge-m"] * 5
    assert REPO.joinpath("tasks", "objhal_judge", "objhal_judge.yaml").is_file()


def test_real_wordnet_when_installed(annotations, monkeypatch):
    """With nltk's WordNet data present (NLTK_DATA), the real lemmatiser gives the same numbers as the
    stand-in, and its own odd case: nltk keeps "men" (itself a WordNet noun), which is on no list."""
    from nltk.corpus import wordnet

    try:
        wordnet.ensure_loaded()
    except LookupError:
        pytest.skip("nltk's WordNet data is not installed here")
    monkeypatch.undo()  # the real lemmatiser
    objhal._lemmatizer.cache_clear()
    objhal.answer_mentions.cache_clear()
    assert SCORERS["objhal"].aggregate(RECORDS, ScoringContext(annotations=annotations)) == pytest.approx(RULE_METRICS)
    assert objhal.read_words("two men and three women on skis").objects == ("person", "skis")


class _DictJudge:
    """The scripted answers above without a server (for objhal_aggregates)."""

    model = "dict-judge"
    workers = 1

    def complete(self, prompt, *, system=None, max_tokens=512, temperature=0.0):
        answers = JUDGE_ANSWERS[_answer_in(prompt)]
        return answers[min({0.2: 0, 0.6: 1, 1.0: 2}[temperature], len(answers) - 1)]


def objhal_aggregates() -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: aggregates of both scorers reporting every declared key
    (the stand-ins for WordNet and spaCy in place; the annotations in a temporary folder)."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as folder, pytest.MonkeyPatch.context() as patch:
        annotations = Path(folder)
        write_json(annotations / "instances_val2014.json", instances(OBJECTS))
        write_json(annotations / "captions_val2014.json", captions(CAPTIONS))
        patch.setattr(objhal, "_lemmatizer", lambda: lambda word: LEMMA.get(word, word))
        patch.setattr(objhal, "_spacy", lambda: FakeNlp())
        objhal.answer_mentions.cache_clear()
        forget_annotations()
        try:
            rule = SCORERS["objhal"].aggregate(RECORDS, ScoringContext(annotations=annotations))
            judged = SCORERS["objhal_judge"].aggregate(JUDGE_RECORDS, ScoringContext(annotations=annotations,
                                                                                      judge=_DictJudge()))
        finally:
            objhal.answer_mentions.cache_clear()
            forget_annotations()
    return {"objhal": [rule], "objhal_judge": [judged]}


def test_the_declarations_helper_covers_every_declaration():
    found = objhal_aggregates()
    assert found["objhal_judge"][0] == pytest.approx(JUDGE_METRICS)
    for name, results in found.items():
        keys = set(results[0])
        assert all(any(m.matches(k) for k in keys) for m in SCORERS[name].metrics), name
        assert all(declared(SCORERS[name].metrics, k) for k in keys), name
