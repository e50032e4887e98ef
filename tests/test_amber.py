"""AMBER against inference.py's rules (junyangwang0410/AMBER @ 534babf), on tiny annotation files in
its schema, with the numbers worked by hand. The official NLP pipeline (nltk data, spaCy
en_core_web_lg) is not installable here: its noun function and its wiring are driven with fakes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conftest import REPO, assert_one_line_error, run_cli
from csr_bench.builders.amber import build_amber
from csr_bench.errors import CsrBenchError
from csr_bench.evaluation.evaluator import metric_intervals
from csr_bench.scorers import SCORERS, ScoringContext
from csr_bench.scorers import amber_nouns
from csr_bench.scorers.amber import (AmberOfflineScorer, AmberScorer, lenient_answer, match_nouns,
                                     official_answer)
from csr_bench.scorers.amber_nouns import lemmatize_offline, tagged_nouns
from csr_bench.scorers.base import declared
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.tasks.data import load_task_data
from csr_bench.tasks.registry import load_registry

RELATION = {"dog": ["puppy"], "cat": ["kitten"], "person": ["man", "woman", "people"], "tree": ["forest"],
            "forest": ["tree"], "car": [], "grass": ["ground"], "ground": ["floor"], "sky": [], "bench": []}
SAFE = "sky"  # the last line without a newline, as AMBER's own file
DESCRIPTIONS = {  # id -> (truth, hallu, prediction)
    1: (["dog", "person", "grass"], ["cat", "car"],
        "Two dogs and a puppy run on the grass under the sky. A man and a cat watch a car."),
    2: (["tree"], ["bench"], "Trees line a forest with benches and a dog."),
    3: (["dog", "grass"], ["cat"], "A dog on the grass."),
}
# What inference.py's loop does with them (the offline pipeline reads the same nouns here):
#   1: AMBER nouns dog puppy grass sky man cat car (7; "Two", "run", "watch" are no AMBER words)
#      dog, puppy -> truth dog (a truth object named twice covers it once); grass -> grass; sky: a safe
#      word (a noun, never unsafe); man -> person (association word); cat, car: hallu words -> unsafe,
#      both hallu objects covered.                              unsafe 2, truth 3/3, hallu 2/2
#   2: "Trees" is capitalised (inference.py does not lowercase): no AMBER word. forest -> truth tree
#      (association); benches -> bench, a hallu word: unsafe; dog: an AMBER word of neither list: unsafe.
#      nouns 3                                                  unsafe 2, truth 1/1, hallu 1/1
#   3: dog, grass: both truth.  nouns 2                         unsafe 0, truth 2/2, hallu 0/1
NOUNS, UNSAFE, TRUTH, COVERED, HALLU, HALLU_COVERED, CLEAN = 12, 4, 6, 6, 4, 3, 1
QUESTIONS = [  # (type, truth, response); official: only 'Yes' / 'No' exactly; lenient: the first word
    ("discriminative-hallucination", "no", "No"),            # right              | No  right
    ("discriminative-hallucination", "no", "No."),           # not 'No': wrong    | No  right
    ("discriminative-attribute-state", "yes", "Yes"),        # right              | Yes right
    ("discriminative-attribute-state", "no", " No"),         # no strip: wrong    | No  right
    ("discriminative-attribute-number", "yes", "yes"),       # case: wrong        | Yes right
    ("discriminative-attribute-number", "no", "Yes, there is"),  # wrong          | Yes wrong
    ("discriminative-attribute-action", "yes", ""),          # wrong              | unreadable
    ("discriminative-relation", "no", "No"),                 # right              | No  right
    ("relation", "yes", "No"),                               # wrong 'No'         | No  wrong
    ("relation", "yes", "There is no contact."),             # wrong              | unreadable
]


def write_annotations(folder):
    folder.mkdir(parents=True, exist_ok=True)
    entries = [{"id": i, "type": "generative", "truth": t, "hallu": h} for i, (t, h, _) in DESCRIPTIONS.items()]
    entries += [{"id": 4 + n, "type": kind, "truth": truth} for n, (kind, truth, _) in enumerate(QUESTIONS)]
    (folder / "annotations.json").write_text(json.dumps(entries))
    (folder / "relation.json").write_text(json.dumps(RELATION))
    (folder / "safe_words.txt").write_text(SAFE)
    return folder


@pytest.fixture
def annotations(tmp_path):
    return write_annotations(tmp_path / "annotations")


def _row(doc_id: int, kind: str, query: str) -> dict:
    from csr_bench.scorers.amber import dimension_of, part_of

    return {"id": doc_id, "query": query, "type": kind, "part": part_of(kind), "dimension": dimension_of(kind)}


def description_records():
    return [{**_row(i, "generative", "Describe this image."), "prediction": p} for i, (_, _, p) in DESCRIPTIONS.items()]


def question_records():
    return [{**_row(4 + n, kind, "Is there a cat in this image?"), "prediction": response}
            for n, (kind, _, response) in enumerate(QUESTIONS)]


def test_descriptions_hand_computed(annotations):
    scorer, context = AmberOfflineScorer(), ScoringContext(annotations=annotations)
    first = scorer.score_sample(description_records()[0], context)
    assert first == {"group": "generative", "nouns": ["dog", "puppy", "grass", "sky", "man", "cat", "car"],
                     "unsafe_nouns": ["cat", "car"],
                     "truth_objects": ["dog", "person", "grass"], "covered_truth": ["dog", "person", "grass"],
                     "hallu_objects": ["cat", "car"], "covered_hallu": ["cat", "car"]}
    second = scorer.score_sample(description_records()[1], context)
    assert second["nouns"] == ["forest", "bench", "dog"] and second["unsafe_nouns"] == ["bench", "dog"]
    metrics = scorer.aggregate(description_records(), context)
    # inference.py: every counter starts at 0.001 (metrics.txt)
    assert metrics["chair"] == pytest.approx(100 * UNSAFE / (0.001 + NOUNS))            # 4 / 12.001
    assert metrics["cover"] == pytest.approx(100 * COVERED / (0.001 + TRUTH))           # 6 / 6.001
    assert metrics["hal"] == pytest.approx(100 - 100 * CLEAN / (0.001 + 3))             # 1 clean of 3
    assert metrics["cog"] == pytest.approx(100 * HALLU_COVERED / (0.001 + HALLU))       # 3 / 4.001
    assert "f1" not in metrics and "amber_score" not in metrics and "not_yes_no" not in metrics


def test_questions_hand_computed(annotations):
    scorer, context = AmberOfflineScorer(), ScoringContext(annotations=annotations)
    metrics = scorer.aggregate(question_records(), context)

    def f1(p, r, epsilon=0.0001):
        return 100 * 2 * p * r / (p + r + epsilon)

    # all 10: right q1 q3 q8; 'No' answers q1 q8 q9, right q1 q8; 'no' labels q1 q2 q4 q6 q8
    assert metrics["accuracy"] == pytest.approx(100 * 3 / 10.001)
    assert metrics["precision"] == pytest.approx(100 * 2 / 3.001)
    assert metrics["recall"] == pytest.approx(100 * 2 / 5.001)
    assert metrics["f1"] == pytest.approx(f1(2 / 3.001, 2 / 5.001))
    # existence (q1 q2; F1 epsilon 0.001): right q1; 'No' answers q1; 'no' labels q1 q2
    assert metrics["existence_accuracy"] == pytest.approx(100 / 2.001)
    assert metrics["existence_f1"] == pytest.approx(f1(1 / 1.001, 1 / 2.001, 0.001))
    # attribute pools three sets, each starting at 0.001: q3..q7, right q3, no exact 'No'
    assert metrics["attribute_accuracy"] == pytest.approx(100 / 5.003)
    assert metrics["attribute_precision"] == metrics["attribute_recall"] == metrics["attribute_f1"] == 0
    assert metrics["state_accuracy"] == pytest.approx(100 / 2.001) and metrics["number_accuracy"] == 0
    assert metrics["action_accuracy"] == 0 and metrics["action_recall"] == 0  # no 'no' label: 0 / 0.001
    # relation ('discriminative-relation' and 'relation' alike): q8 q9 q10, right q8; 'No' q8 q9; 'no' label q8
    assert metrics["relation_accuracy"] == pytest.approx(100 / 3.001)
    assert metrics["relation_f1"] == pytest.approx(f1(1 / 2.001, 1 / 1.001))
    # lenient: right q1 q2 q3 q4 q5 q8; 'No' q1 q2 q4 q8 q9, right 4; 'no' labels 5
    assert metrics["lenient_accuracy"] == pytest.approx(100 * 6 / 10.001)
    assert metrics["lenient_f1"] == pytest.approx(f1(4 / 5.001, 4 / 5.001))
    assert metrics["lenient_attribute_accuracy"] == pytest.approx(100 * 3 / 5.003)
    assert metrics["not_yes_no"] == 6 and metrics["unreadable"] == 2
    assert "chair" not in metrics and "amber_score" not in metrics
    scored = [scorer.score_sample(r, context) for r in question_records()]
    assert [s["correct"] for s in scored] == [True, False, True, False, False, False, False, True, False, False]
    assert scored[1] == {"group": "existence", "label": "no", "answer": None, "lenient_answer": "No", "correct": False}


@pytest.mark.parametrize("response, official, lenient", [
    ("Yes", "Yes", "Yes"), ("No", "No", "No"), ("yes", None, "Yes"), ("Yes.", None, "Yes"),
    (" Yes", None, "Yes"), ("Yes, there is", None, "Yes"), ("NO!", None, "No"), ("", None, None),
    ("There is no dog.", None, None), ("Yes\n", None, "Yes"), ("I think so", None, None), ("Nope", None, None),
])
def test_answer_readings(response, official, lenient):
    assert official_answer(response) == official and lenient_answer(response) == lenient


def test_amber_score_needs_both_halves(annotations):
    context = ScoringContext(annotations=annotations)
    metrics = AmberOfflineScorer().aggregate(description_records() + question_records(), context)
    chair = 100 * 4 / 12.001
    f1 = 100 * 2 * (2 / 3.001) * (2 / 5.001) / (2 / 3.001 + 2 / 5.001 + 0.0001)
    assert metrics["amber_score"] == pytest.approx((100 - chair + f1) / 2)
    lenient = 100 * 2 * (4 / 5.001) ** 2 / (2 * 4 / 5.001 + 0.0001)
    assert metrics["lenient_amber_score"] == pytest.approx((100 - chair + lenient) / 2)
    declarations = SCORERS["amber"].metrics
    assert all(declared(declarations, key) is not None for key in metrics)
    assert [m.name for m in declarations if not any(m.matches(key) for key in metrics)] == []
    assert {m.name for m in declarations if m.gate} == {"chair", "hal", "f1"}


def test_match_nouns_official_order_with_similarity():
    """inference.py's branches that exact matching never reaches, with a similarity given."""
    association = {"dog": ["puppy"], "cat": [], "bird": [], "grass": []}
    vocabulary = frozenset(association) | {"puppy", "kitten"}
    pairs = {("cat", "puppy"), ("kitten", "bird"), ("kitten", "cat")}

    def similar(a, b):
        return a == b or (a, b) in pairs

    # cat: an exact hallu word (covers cat), then similar to the truth association word "puppy": that
    # clears the noun (inference.py has no continue after the exact hallu match) and covers dog
    found = match_nouns(["cat"], ["dog"], ["cat"], association, frozenset(), vocabulary, similar)
    assert (found.unsafe, found.truth_covered, found.hallu_covered) == ((False,), (True,), (True,))
    # kitten: no exact word of either list; the FIRST hallu word similar to it (bird, listed before
    # cat) is covered, and it stays unsafe
    found = match_nouns(["kitten"], ["dog"], ["bird", "cat"], association, frozenset(), vocabulary, similar)
    assert (found.unsafe, found.hallu_covered) == ((True,), (True, False))
    # exact matching only (the offline pipeline): nothing covered, still unsafe (an AMBER word)
    found = match_nouns(["kitten"], ["dog"], ["bird", "cat"], association, frozenset(), vocabulary, str.__eq__)
    assert (found.unsafe, found.hallu_covered) == ((True,), (False, False))
    # a safe word is a noun but never unsafe, even when it is a hallu word; non-AMBER words are dropped
    found = match_nouns(["cat", "tree", "grass"], ["grass"], ["cat"], association, frozenset({"cat"}), vocabulary,
                        str.__eq__)
    assert (found.nouns, found.unsafe, found.hallu_covered) == (("cat", "grass"), (False, False), (False,))


def test_official_noun_function_with_a_fake_tagger():
    tags = {"Dogs": "NNS", "run": "VBP", "on": "IN", "lawns": "NNS", "Rex": "NNP"}
    nouns = tagged_nouns("Dogs run on lawns Rex", str.split, lambda tokens: [(t, tags[t]) for t in tokens],
                         lambda word: word[:-1] if word.endswith("s") else word)
    assert nouns == ("Dog", "lawn", "Rex")  # NN* only, lemmatised, case kept


def test_offline_lemmatiser():
    vocabulary = {"dog", "grass", "bus", "glass", "leave", "sky", "knife", "bench", "chopsticks", "people",
                  "tennis", "person", "man"}
    cases = {"dogs": "dog", "grass": "grass", "bus": "bus", "buses": "bus", "glasses": "glass", "leaves": "leaf",
             "skies": "sky", "knives": "knife", "benches": "bench", "tennis": "tennis", "people": "people",
             "women": "woman", "men": "man",
             "chopsticks": "chopstick",  # as WordNet: the singular, which is no AMBER word
             "Dogs": "Dog", "running": "running"}
    assert {w: lemmatize_offline(w, vocabulary) for w in cases} == cases


def _clear_official():
    amber_nouns._load_official.cache_clear()
    amber_nouns.official_pipeline.cache_clear()


@pytest.fixture
def fake_nltk(monkeypatch):
    import nltk
    from nltk.stem import WordNetLemmatizer

    tags = {"dog": "NN", "dogs": "NNS", "kitten": "NN", "cat": "NN"}
    monkeypatch.setattr(nltk, "word_tokenize", lambda text: text.replace(".", " .").split())
    monkeypatch.setattr(nltk, "pos_tag", lambda tokens: [(t, tags.get(t, "DT")) for t in tokens])
    monkeypatch.setattr(WordNetLemmatizer, "lemmatize", lambda self, word: word.rstrip("s"))
    _clear_official()
    yield
    _clear_official()


def test_official_pipeline_missing_pieces(annotations, monkeypatch, fake_nltk):
    import nltk

    scorer, context = AmberScorer(), ScoringContext(annotations=annotations)
    description = description_records()[2]
    monkeypatch.setitem(sys.modules, "spacy", None)  # import spacy -> ImportError
    with pytest.raises(CsrBenchError, match=r"pip install spacy && python -m spacy download en_core_web_lg") as err:
        scorer.score_sample(description, context)
    assert "\n" not in str(err.value)
    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=lambda name: (_ for _ in ()).throw(OSError())))
    with pytest.raises(CsrBenchError, match="lacks spaCy's model en_core_web_lg; install: python -m spacy download"):
        scorer.score_sample(description, context)

    def no_data(tokens):
        raise LookupError("Resource averaged_perceptron_tagger_eng not found.")

    monkeypatch.setattr(nltk, "pos_tag", no_data)
    _clear_official()
    with pytest.raises(CsrBenchError) as err:
        scorer.score_sample(description, context)
    assert str(err.value) == (  # every missing piece in one line
        "amber: the official NLP pipeline lacks nltk's data (Punkt, the POS tagger, WordNet), spaCy's model "
        "en_core_web_lg; install: python -m nltk.downloader punkt punkt_tab averaged_perceptron_tagger "
        "averaged_perceptron_tagger_eng wordnet && python -m spacy download en_core_web_lg "
        "(or score with amber_offline, not official)")
    # questions need no NLP: scored, and check() only warns
    assert scorer.aggregate(question_records(), context)["accuracy"] == pytest.approx(300 / 10.001)
    scorer.check(context)


def test_official_pipeline_wiring_with_fakes(annotations, monkeypatch, fake_nltk):
    """spaCy's similarity > 0.8 decides what exact matching cannot: 'kitten' (cat's association word
    in this relation.json) is similar to 'dog' here, so it covers the truth dog and is no hallucination."""
    scores = {("kitten", "dog"): 0.85, ("kitten", "puppy"): 0.5}

    class Doc:
        def __init__(self, text):
            self.text = text

        def similarity(self, other):
            return 1.0 if self.text == other.text else scores.get((self.text, other.text), 0.1)

    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=lambda name: Doc))
    record = {**description_records()[2], "prediction": "A kitten and dogs."}  # truth dog grass, hallu cat
    found = AmberScorer().score_sample(record, ScoringContext(annotations=annotations))
    # kitten: exact hallu association word -> cat covered; then similar to truth "dog" (0.85) -> cleared
    assert found["nouns"] == ["kitten", "dog"] and found["unsafe_nouns"] == []
    assert found["covered_truth"] == ["dog"] and found["covered_hallu"] == ["cat"]


def test_unit_statistics_agree_and_give_intervals(annotations):
    context = ScoringContext(annotations=annotations)
    scorer = AmberOfflineScorer()
    records = [{**r, "doc_id": str(r["id"]), "doc_index": i}
               for i, r in enumerate(description_records() + question_records())]
    for record in records:
        record.update(scorer.score_sample(record, context))
    records = json.loads(json.dumps(records))  # as samples.jsonl gives them back
    metrics = scorer.aggregate(records, context)
    stats = task_stats("amber_world", records, "test", scorer="amber_offline")
    assert stats.unit == "query" and stats.strata_name == "group"
    assert set(stats.metrics()) == set(metrics) - {"not_yes_no", "unreadable"}
    for name in stats.metrics():
        assert float(stats.value(name)) == pytest.approx(metrics[name], abs=1e-9), name
    assert stats.metrics()["chair"][1] is False and stats.metrics()["f1"][1] is True  # directions
    found = metric_intervals("amber_offline", records, metrics, seed=0)
    low, high = found["intervals"]["amber_score"]
    assert low <= metrics["amber_score"] <= high
    index = np.zeros((2, len(records)), dtype=int)  # every unit the first description: CHAIR 2/7
    assert stats.value("chair", index) == pytest.approx([100 * 2 * 13 / (0.001 + 7 * 13)] * 2)


def test_annotation_errors(tmp_path, annotations):
    scorer = AmberOfflineScorer()
    with pytest.raises(CsrBenchError, match="pass --annotations DIR"):
        scorer.score_sample(question_records()[0], ScoringContext())
    with pytest.raises(CsrBenchError, match="id 99 is not in annotations.json"):
        scorer.score_sample({**question_records()[0], "id": 99}, ScoringContext(annotations=annotations))
    with pytest.raises(CsrBenchError, match="id 4 is a generative query in the data but discriminative-hallucination"):
        scorer.score_sample({**question_records()[0], "type": "generative"}, ScoringContext(annotations=annotations))
    broken = write_annotations(tmp_path / "broken")
    (broken / "relation.json").write_text(json.dumps({k: v for k, v in RELATION.items() if k != "car"}))
    with pytest.raises(CsrBenchError, match="id 1.*hallu word 'car' is not in relation.json"):
        scorer.score_sample(question_records()[0], ScoringContext(annotations=broken))
    (broken / "safe_words.txt").unlink()
    with pytest.raises(CsrBenchError, match="holds no safe_words.txt"):
        scorer.check(ScoringContext(annotations=broken))


def test_tasks_listed():
    result = run_cli("tasks", check=True)
    listed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert {"amber", "amber_g", "amber_d", "amber_world"} <= listed
    registry = load_registry()
    assert registry["amber"].scorer == registry["amber_g"].scorer == registry["amber_d"].scorer == "amber"
    assert registry["amber_world"].scorer == "amber_offline"
    assert registry["amber_g"].filter == {"part": "generative"} and registry["amber_d"].filter == {"part": "discriminative"}
    assert registry["amber"].strata == registry["amber_world"].strata == "dimension"


def _write_predictions(path, records):
    path.write_text("".join(json.dumps(r) + "\n" for r in records))
    return path


def test_score_command(tmp_path, annotations):
    questions = _write_predictions(tmp_path / "questions.jsonl", question_records())
    outcome = json.loads(run_cli("score", "amber", str(questions), "--annotations", str(annotations), "--json",
                                 check=True).stdout)
    assert outcome["n"] == 10 and outcome["metrics"]["accuracy"] == pytest.approx(300 / 10.001)
    assert "f1" in outcome["intervals"]
    both = _write_predictions(tmp_path / "both.jsonl", description_records() + question_records())
    outcome = json.loads(run_cli("score", "amber_world", str(both), "--annotations", str(annotations), "--json",
                                 check=True).stdout)
    assert outcome["metrics"]["chair"] == pytest.approx(400 / 12.001) and "amber_score" in outcome["metrics"]
    assert_one_line_error(run_cli("score", "amber_world", str(both), "--json"), "--annotations")
    # the official scorer on descriptions, without spaCy here: one line saying what to install
    if subprocess.run([sys.executable, "-c", "import spacy"], capture_output=True).returncode != 0:
        assert_one_line_error(run_cli("score", "amber", str(both), "--annotations", str(annotations), "--json"),
                              "en_core_web_lg")


def _fake_repo(root, images):
    data = root / "data"
    write_annotations(data)
    queries = [{"id": i, "image": f"AMBER_{i}.jpg", "query": "Describe this image."} for i in DESCRIPTIONS]
    queries += [{"id": 4 + n, "image": f"AMBER_{1 + n % 3}.jpg", "query": f"Question {n}?"} for n in range(len(QUESTIONS))]
    (data / "query").mkdir()
    (data / "query" / "query_all.json").write_text(json.dumps(queries))
    images.mkdir()
    for i in DESCRIPTIONS:
        Image.new("RGB", (8, 6), "white").save(images / f"AMBER_{i}.jpg")
    return root


def test_build_amber(tmp_path):
    repo, images = _fake_repo(tmp_path / "AMBER", tmp_path / "images"), tmp_path / "images"
    out = tmp_path / "data" / "amber"
    assert build_amber(repo, images, out) == {"queries": 13, "images": 3}
    rows = [json.loads(line) for line in (out / "amber.jsonl").read_text().splitlines()]
    assert rows[0] == {"id": 1, "image": "images/AMBER_1.jpg", "query": "Describe this image.", "type": "generative",
                       "part": "generative", "dimension": "generative"}
    assert [(r["part"], r["dimension"]) for r in rows[3:]] == [
        ("discriminative", d) for d in ["existence"] * 2 + ["attribute"] * 5 + ["relation"] * 3]
    for name in ("annotations.json", "relation.json", "safe_words.txt"):  # unchanged
        assert (out / "annotations" / name).read_bytes() == (repo / "data" / name).read_bytes()
    data = load_task_data(load_registry()["amber_d"], tmp_path / "data")
    assert len(data) == 10 and data.annotations == out / "annotations" and data.image(0).size == (8, 6)

    script = [sys.executable, str(REPO / "scripts" / "build_amber.py"), "--amber-repo", str(repo), "--out",
              str(tmp_path / "x")]
    (images / "AMBER_2.jpg").unlink()
    failed = subprocess.run(script + ["--images", str(images)], capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.strip().splitlines() == [
        f"build_amber: error: amber: image AMBER_2.jpg (query id 2) not found in {images}"]
    failed = subprocess.run([*script[:3], str(tmp_path), *script[4:], "--images", str(images)],
                            capture_output=True, text=True)
    assert failed.returncode == 2 and failed.stderr.strip().splitlines() == [
        f"build_amber: error: amber: {tmp_path / 'data/query/query_all.json'} not found "
        "(is --amber-repo a clone of junyangwang0410/AMBER?)"]


def amber_aggregates(folder) -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: each AMBER scorer's aggregates on records reporting every
    declared key (both halves). The two scorers share rules and declarations; the official NLP pipeline
    is not installable here, so both are the offline pipeline's numbers."""
    context = ScoringContext(annotations=write_annotations(folder))
    metrics = AmberOfflineScorer().aggregate(description_records() + question_records(), context)
    return {"amber": [metrics], "amber_offline": [metrics]}


def test_eval_end_to_end_on_the_tiny_model(tmp_path):
    """Built data, read through a task (local folder, annotations, strata), generated, scored, with intervals."""
    repo = _fake_repo(tmp_path / "AMBER", tmp_path / "images")
    build_amber(repo, tmp_path / "images", tmp_path / "data" / "amber_world")
    run_cli("eval", "--model", "tiny-llava", "--tasks", "amber_world", "--data-root", str(tmp_path / "data"),
            "--max-new-tokens", "4", "--limit", "8", "--output", str(tmp_path / "out"), "--quiet", check=True)
    results = json.loads((tmp_path / "out" / "tiny-llava" / "iter_0" / "results.json").read_text())
    entry = results["results"]["amber_world"]
    samples = [json.loads(line) for line in
               (tmp_path / "out" / "tiny-llava" / "iter_0" / "amber_world" / "samples.jsonl").read_text().splitlines()]
    # --limit 8 deals round-robin over the four dimensions (strata: dimension): two of each
    assert sorted(s["dimension"] for s in samples) == sorted(["generative", "existence", "attribute", "relation"] * 2)
    assert {"chair", "f1", "amber_score"} <= set(entry["metrics"]) and "amber_score" in entry["intervals"]


@pytest.mark.skipif(not os.environ.get("AMBER_REPO"), reason="set AMBER_REPO to a clone of junyangwang0410/AMBER")
def test_matches_inference_py(monkeypatch, tmp_path):
    """AMBER's own inference.py (from the clone AMBER_REPO names; nothing of it is copied here) on its
    full annotations, with the same NLP pieces injected into both (tokens, a tagger dropping every
    7th token, the offline lemmatiser, a hash-based similarity that calls ~5% of word pairs similar)
    and its rounding switched off: every number it prints equals ours."""
    import contextlib
    import hashlib
    import importlib.util
    import io
    import random

    import nltk
    from nltk.stem import WordNetLemmatizer

    from csr_bench.scorers.amber_nouns import Pipeline
    from csr_bench.scorers.chair_words import word_tokenize

    repo = Path(os.environ["AMBER_REPO"])
    data = repo / "data"
    relation = json.loads((data / "relation.json").read_text())
    vocabulary = set(relation) | {w for words in relation.values() for w in words}

    def similarity(a, b):
        return 1.0 if a == b else (0.9 if int(hashlib.md5(f"{a}|{b}".encode()).hexdigest()[:8], 16) % 20 == 0 else 0.1)

    class Doc:
        def __init__(self, text):
            self.text = text

        def similarity(self, other):
            return similarity(self.text, other.text)

    def tag(tokens):
        return [(t, "NN" if i % 7 else "VB") for i, t in enumerate(tokens)]

    monkeypatch.setitem(sys.modules, "spacy", types.SimpleNamespace(load=lambda name: Doc))
    monkeypatch.setattr(nltk, "word_tokenize", word_tokenize)
    monkeypatch.setattr(nltk, "pos_tag", tag)
    monkeypatch.setattr(WordNetLemmatizer, "lemmatize", lambda self, word: lemmatize_offline(word, vocabulary))
    spec = importlib.util.spec_from_file_location("amber_inference", repo / "inference.py")
    inference = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(inference)

    annotations = json.loads((data / "annotations.json").read_text())
    rng, words = random.Random(0), sorted(vocabulary)
    responses = []
    for entry in annotations:
        if entry["type"] == "generative":
            pool = entry["truth"] + entry["hallu"] + [w for o in entry["truth"] + entry["hallu"] for w in relation[o]]
            pool += rng.sample(words, 5)
            text = " ".join(f"a {rng.choice(pool)}{rng.choice(['', 's'])} ," for _ in range(rng.randint(0, 12))) + " ."
        else:
            text = rng.choice(["Yes", "No", "No", "yes", "No.", "Yes, it is", ""])
        responses.append({"id": entry["id"], "response": text})
    (tmp_path / "responses.json").write_text(json.dumps(responses))
    inference.args = types.SimpleNamespace(
        word_association=str(data / "relation.json"), safe_words=str(data / "safe_words.txt"),
        inference_data=str(tmp_path / "responses.json"), annotation=str(data / "annotations.json"),
        metrics=str(data / "metrics.txt"), similarity_score=0.8, evaluation_type="a")
    inference.round = lambda value, digits=None: value
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        inference.main(inference.args)
    official, section = {}, None
    for line in printed.getvalue().splitlines():
        line = line.strip()
        if line.endswith(":"):
            section = line[:-1]
        elif ":" in line:
            name, value = line.split(":", 1)
            official[(section, name.strip())] = float(value)

    class Injected(AmberScorer):
        def pipeline(self, annotations):
            return Pipeline("injected", lambda text: tagged_nouns(text, word_tokenize, tag,
                                                                  lambda w: lemmatize_offline(w, vocabulary)),
                            lambda a, b: similarity(a, b) > 0.8, official=False)

    kinds = {e["id"]: e["type"] for e in annotations}
    ours = Injected().aggregate([{"id": r["id"], "type": kinds[r["id"]], "prediction": r["response"]} for r in responses],
                                ScoringContext(annotations=data))
    prefixes = {"Generative Task": "", "Descriminative Task": "", "Exsitence": "existence_", "Attribute": "attribute_",
                "State": "state_", "Number": "number_", "Action": "action_", "Relation": "relation_"}
    assert len(official) == 32
    for (section, name), value in official.items():
        assert ours[prefixes[section] + name.lower()] == pytest.approx(value, abs=1e-9), (section, name)
