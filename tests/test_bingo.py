"""Bingo: both releases built into one layout (GitHub's "ground truth" rows without one dropped and
counted; the hub's image_path/answer), the judge protocol through a scripted local judge (HELM's
Prometheus-Vision prompt pinned by a golden file written from HELM's source, the image it receives,
the [RESULT] parse on odd replies, means per subset and subcategory worked by hand, skipped without a
judge or without images, the judge model recorded, the bootstrap's per-item scores), HELM's rule
metrics on hand-worked strings, and `csr-bench score` end to end."""

from __future__ import annotations

import base64
import hashlib
import io
import json
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_cli
from csr_bench.builders.bingo import build_bingo
from csr_bench.errors import CsrBenchError
from csr_bench.judge import NO_JUDGE, Judge, JudgeSettings
from csr_bench.scorers import SCORERS, ScoringContext, ScoringSkipped
from csr_bench.scorers import bingo
from csr_bench.scorers.base import declared
from csr_bench.scorers.bingo import BingoRulesScorer, BingoScorer, helm_prompt, helm_score, judge_messages, parse_score
from csr_bench.scorers.helm_text import f1_score, normalize_text, reference_metrics, rouge_l, rouge_tokens
from csr_bench.scorers.unit_stats import TaskStats, task_stats
from csr_bench.tasks.registry import get_tasks
from judge_server import JudgeServer, Reply, clear_judge_env

GOLDEN = Path(__file__).parent / "fixtures" / "bingo_judge_prompt.txt"
# sha256 of HELM's METRIC_PROMPT as Python evaluates it (stanford-crfm/helm @ 63754d05db6f,
# src/helm/benchmark/metrics/prometheus_vision_critique_metrics.py), computed from that file.
METRIC_PROMPT_SHA256 = "42f784b9ec31316a7bde28712b9a9ab10599a5bb3bbdf7499347fc0f5f75028d"


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


# --- the judge's prompt and its reading -------------------------------------------------------------

def test_prompt_is_helms():
    # The golden file is HELM's METRIC_PROMPT with its fields filled by HELM's _interpolate_fields,
    # written by evaluating the HELM source's literals (ast), not from this code.
    record = {"prediction": "The flag has 3 stripes: red, white and blue.",
              "reference": "The flag in the image has three horizontal stripes."}
    assert helm_prompt(record) == GOLDEN.read_text(encoding="utf-8")
    whole = bingo.PROMPT_SYSTEM + bingo.PROMPT_USER_PREFIX + bingo.PROMPT_TASK + bingo.PROMPT_ASSISTANT
    assert hashlib.sha256(whole.encode("utf-8")).hexdigest() == METRIC_PROMPT_SHA256
    system, user = judge_messages(record)
    # the judge sees VHELM's instruction, not the question (HELM's first text part of the request)
    assert "###The instruction to evaluate:\n" + bingo.INSTRUCTION + "\n\n###Response" in user
    assert user.startswith("###Task Description:\n") and user.endswith("###Feedback:\n")
    assert "<image>" not in user and "ASSISTANT:" not in user  # the server's chat template writes them
    assert system.startswith("A chat between a curious human") and system.endswith("the human's questions.")
    assert "[similarity between the reponse and the reference.]" in user  # [sic], verbatim


@pytest.mark.parametrize("reply, ours, helms", [
    ("Feedback: The response matches the reference. [RESULT] 5", 5, 5),
    ("Feedback: It names 2 of the 3 objects. [RESULT] 4", 4, 2),  # HELM reads the feedback's 2
    ("Similarity: 4.5", None, 4),  # a decimal is no 1-5 integer (the GPT-4V script's int() skips it)
    ("Feedback: close. [RESULT] 4.5", None, 4),
    ("Feedback: the answer is fine.", None, None),  # no score at all (the GPT-4V script crashes)
    ("", None, None),
    (None, None, None),
    ("4", 4, 4),  # a bare score
    ("Score: 3", 3, 3),
    ("Feedback: wavering. [RESULT] 3 ... [RESULT] 4", None, 3),  # two scores: never guessed
    ("Feedback: sure. [RESULT] 2\n[RESULT] 2", 2, 2),
    ("Feedback: ok. [result] (4)", 4, 4),
    ("Feedback: ok. [RESULT] 6", None, None),
    ("Feedback: ok. [RESULT] 45", None, 4),
    ("Feedback: ok. [RESULT] 4/5", 4, 4),
    ("The answer deserves 4 out of 5", None, 4),  # a digit in prose is no score
    ("Feedback: the format is [RESULT] (an integer number between 1 and 5)\n[RESULT] 3", 3, 1),
])
def test_score_parse_on_odd_replies(reply, ours, helms):
    assert parse_score(reply) == ours
    assert helm_score(reply) == helms


# --- the judge protocol, by hand --------------------------------------------------------------------

COLOURS = [(200, 10, 10), (10, 200, 10), (10, 10, 200), (200, 200, 10), (10, 200, 200), (200, 10, 200),
           (90, 90, 90), (250, 250, 250)]
GROUPS = [("t2i", "cor"), ("t2i", "cor"), ("t2i", "dis"), ("t2i", "dis"), ("Region", "east asia"),
          ("Region", "east asia"), ("OCR", "chinese"), ("factual", "non_factual")]
RECORDS = [{"id": f"annotation.jsonl:{i + 1}", "doc_id": f"annotation.jsonl:{i + 1}", "subset": s, "subcategory": c,
            "path": f"/{s}/{c}/{i}.png", "question": f"Question {i}?", "reference": f"Reference {i}.",
            "prediction": f"p-{i}"} for i, (s, c) in enumerate(GROUPS)]
REPLIES = {"p-0": "Feedback: The response matches the reference. [RESULT] 5",
           "p-1": "Feedback: It names 2 of the 3 objects. [RESULT] 4",  # HELM would read 2
           "p-2": "Similarity: 4.5",  # unparsed (HELM would read 4)
           "p-3": "Feedback: Mostly wrong. [RESULT] 2",
           "p-4": "Feedback: Partly right. [RESULT] 3",
           "p-5": "no score here",  # unparsed (HELM too)
           "p-6": "Feedback: Wrong characters. [RESULT] 1",
           "p-7": "I cannot judge this."}  # unparsed: factual has no parsed score, so no factual means
# Parsed scores 5, 4, 2, 3, 1 (p-2, p-5, p-7 unparsed, left out): overall 15/5 = 3.0;
# t2i (5 + 4 + 2)/3 = 11/3, t2i_cor (5 + 4)/2 = 4.5, t2i_dis 2/1 = 2.0; region and region_east_asia
# 3/1 = 3.0 (p-5 unparsed); ocr and ocr_chinese 1.0; factual: none. Unparsed 3. HELM's reading
# differs on p-1 (2 vs 4) and p-2 (4 vs unparsed): 2.
EXPECTED = {"score": 3.0, "score_t2i": 11 / 3, "score_t2i_cor": 4.5, "score_t2i_dis": 2.0, "score_region": 3.0,
            "score_region_east_asia": 3.0, "score_ocr": 1.0, "score_ocr_chinese": 1.0,
            "judge_unparsed": 3.0, "judge_helm_differs": 2.0}
SCORES = [5, 4, None, 2, 3, None, 1, None]


def image_of(record):
    return Image.new("RGB", (8, 6), COLOURS[int(record["path"].rsplit("/", 1)[1].split(".")[0])])


def response_of(request) -> str:
    return request.user.split("###Response to evaluate:\n", 1)[1].split("\n\n###Reference Answer", 1)[0]


def scripted(request) -> Reply:
    return Reply(REPLIES[response_of(request)])


def pixel(data_url: str) -> tuple[int, int, int]:
    header, encoded = data_url.split(",", 1)
    assert header.startswith("data:image/")
    return Image.open(io.BytesIO(base64.b64decode(encoded))).convert("RGB").getpixel((3, 3))


def make_judge(server: JudgeServer, model: str = "prometheus-vision") -> Judge:
    return Judge(JudgeSettings(server.url, model), None, timeout=2.0, retries=1, backoff=0.01, workers=2)


def test_means_by_hand_the_prompt_and_image_sent_and_the_judge_model_recorded(tmp_path):
    with JudgeServer(scripted) as server:
        metrics, items = BingoScorer().aggregate_items(
            RECORDS, ScoringContext(judge=make_judge(server), output_dir=tmp_path, image_of=image_of))
    assert metrics == pytest.approx(EXPECTED)
    assert "score_factual" not in metrics and "score_factual_non_factual" not in metrics
    assert items == [{"judge_score": s} for s in SCORES]
    assert server.count == len(RECORDS)  # one request per answer (HELM: one respondent)
    by_response = {response_of(r): r for r in server.requests}
    for i, record in enumerate(RECORDS):
        request = by_response[record["prediction"]]
        system, user = judge_messages(record)
        assert request.system == system and request.user == user
        assert request.body["max_tokens"] == 200 and request.body["temperature"] == 0.0
        assert len(request.images) == 1 and pixel(request.images[0]) == COLOURS[i]  # the document's own image
        assert f"###Reference Answer (Score 5):\nReference {i}.\n" in user
    rows = [json.loads(line) for line in (tmp_path / "judge_scores.jsonl").read_text().splitlines()]
    assert [r["score"] for r in rows] == SCORES and [r["parsed"] for r in rows] == [s is not None for s in SCORES]
    assert [r["helm_score"] for r in rows][:3] == [5, 2, 4]
    assert {r["judge_model"] for r in rows} == {"prometheus-vision"}
    assert rows[2]["judge_answer"] == "Similarity: 4.5" and rows[4]["subcategory"] == "east asia"


def test_skipped_without_a_judge_or_without_images():
    with pytest.raises(ScoringSkipped, match="no judge configured"):
        BingoScorer().aggregate(RECORDS, ScoringContext(image_of=image_of))
    with JudgeServer(scripted) as server:
        with pytest.raises(ScoringSkipped, match="--data-root"):
            BingoScorer().aggregate(RECORDS, ScoringContext(judge=make_judge(server)))
        assert server.count == 0  # never a judge blind to the image
    assert BingoScorer().score_sample(RECORDS[0]) == {}  # generation never waits on the judge


def test_bad_records_are_one_line_errors():
    with pytest.raises(CsrBenchError, match="Bingo reference must be a non-empty string"):
        BingoScorer().check_record({**RECORDS[0], "reference": None})
    with pytest.raises(CsrBenchError, match="Bingo subcategory"):
        BingoRulesScorer().score_sample({**RECORDS[0], "subcategory": ""})


def test_bootstrap_resamples_the_stored_scores():
    rows = [{**r, "doc_index": i, "judge_score": s} for i, (r, s) in enumerate(zip(RECORDS, SCORES))]
    stats = task_stats("bingo", json.loads(json.dumps(rows)), "test")
    assert stats.unit == "judged item" and stats.strata_name == "subcategory"
    assert stats.split_names == ["factual/non_factual", "ocr/chinese", "region/east_asia", "t2i/cor", "t2i/dis"]
    values = {name: float(stats.value(name)) for name in stats.metrics() if name in EXPECTED}
    assert values == pytest.approx({k: v for k, v in EXPECTED.items() if not k.startswith("judge_")})
    again = TaskStats.from_json("bingo", json.loads(json.dumps(stats.to_json())), "here")
    assert float(again.value("score_t2i")) == pytest.approx(11 / 3)
    with pytest.raises(CsrBenchError, match="carry no 'judge_score'"):
        task_stats("bingo", [{**r, "doc_index": i} for i, r in enumerate(RECORDS)], "test")


# --- HELM's rule metrics ----------------------------------------------------------------------------

def test_helm_text_metrics_by_hand():
    # normalize_text: lower, punctuation out, then articles, then whitespace
    assert normalize_text("  The Two-lines, AN apple!") == "twolines apple"
    assert normalize_text("The cat", False) == "the cat"
    # F1 of word sets: {two, lines, are, parallel} vs {lines, are, not, parallel}: 3 shared, P = R = 3/4
    assert f1_score("The two lines are parallel.", "Lines are not parallel") == pytest.approx(0.75)
    # ROUGE-L: [the, two, line, are, parallel] vs [line, are, not, parallel] (Porter: lines -> line);
    # LCS 3, P = 3/4, R = 3/5, F = 2 * 0.75 * 0.6 / 1.35 = 2/3
    assert rouge_tokens("The two lines are parallel.") == ["the", "two", "line", "are", "parallel"]
    assert rouge_l("The two lines are parallel.", "Lines are not parallel") == pytest.approx(2 / 3)
    assert rouge_tokens("Café 中文 naïve") == ["caf", "na", "ve"]  # outside a-z0-9 is a word break
    assert rouge_l("图中文字是你好", "你好") == 0.0 and f1_score("图中文字是你好", "你好") == 0.0
    assert reference_metrics("Seven.", " seven ") == {"exact_match": 0.0, "quasi_exact_match": 1.0,
                                                      "quasi_leave_articles_exact_match": 1.0,
                                                      "f1_score": 1.0, "rouge_l": 1.0}
    assert reference_metrics("An apple.", "   ") == {k: 0.0 for k in reference_metrics("a", "b")}  # empty answer
    assert reference_metrics("the lines", "the lines")["exact_match"] == 1.0


RULE_CASES = [  # (subset, subcategory, reference, prediction)
    ("t2i", "cor", "The two lines are parallel.", "  Lines are not parallel  "),
    ("factual", "factual", "Seven.", "seven"),
    ("OCR", "chinese", "图中文字是你好", "你好"),
    ("OCR", "chinese", "An apple.", ""),
    ("Region", "africa", "The cat", "the Cat!"),
    ("t2i", "dis", "the lines are parallel", "Yes, the lines are parallel."),
]
# Per answer (F1, ROUGE-L): (3/4, 2/3), (1, 1), (0, 0), (0, 0), (1, 1), and for the last
# F1 {yes, lines, are, parallel} vs {lines, are, parallel}: P 3/4, R 1, F = 1/(0.5/0.75 + 0.5/1) = 6/7;
# ROUGE-L [the, line, are, parallel] in [yes, the, line, are, parallel]: P 4/5, R 1, F = 8/9.
# Means x100: F1 (3/4 + 1 + 1 + 6/7)/6 = 101/168; ROUGE-L (2/3 + 1 + 1 + 8/9)/6 = 16/27.
# Exact: none ("Seven." vs "seven"); quasi and quasi-leave-articles: "seven" and "cat"/"the cat": 2/6.
RULES_EXPECTED = {
    "f1_score": 100 * 101 / 168, "rouge_l": 100 * 16 / 27, "exact_match": 0.0,
    "quasi_exact_match": 100 / 3, "quasi_leave_articles_exact_match": 100 / 3,
    "f1_score_t2i": 100 * (3 / 4 + 6 / 7) / 2, "rouge_l_t2i": 100 * (2 / 3 + 8 / 9) / 2,
    "f1_score_t2i_cor": 75.0, "rouge_l_t2i_cor": 100 * 2 / 3, "f1_score_t2i_dis": 100 * 6 / 7,
    "rouge_l_t2i_dis": 100 * 8 / 9, "f1_score_factual": 100.0, "rouge_l_factual": 100.0,
    "f1_score_factual_factual": 100.0, "rouge_l_factual_factual": 100.0, "f1_score_ocr": 0.0, "rouge_l_ocr": 0.0,
    "f1_score_ocr_chinese": 0.0, "rouge_l_ocr_chinese": 0.0, "f1_score_region": 100.0, "rouge_l_region": 100.0,
    "f1_score_region_africa": 100.0, "rouge_l_region_africa": 100.0,
}
RULE_RECORDS = [{"id": str(i), "doc_id": str(i), "subset": s, "subcategory": c, "path": f"/{s}/{c}/{i}.png",
                 "question": "Q?", "reference": ref, "prediction": pred}
                for i, (s, c, ref, pred) in enumerate(RULE_CASES)]


def test_rule_metrics_by_hand_and_their_bootstrap():
    metrics = SCORERS["bingo_rules"].aggregate(RULE_RECORDS, ScoringContext())
    assert metrics == pytest.approx(RULES_EXPECTED)
    stored = [{**r, "doc_index": i, **BingoRulesScorer().score_sample(r)} for i, r in enumerate(RULE_RECORDS)]
    assert stored[5]["f1_score"] == pytest.approx(6 / 7) and stored[5]["rouge_l"] == pytest.approx(8 / 9)
    stats = task_stats("bingo_rules", stored, "test")
    assert stats.unit == "answer" and stats.strata_name == "subcategory"
    assert {n: float(stats.value(n)) for n in stats.metrics()} == pytest.approx(RULES_EXPECTED)


def test_every_declared_metric_is_reported():
    for name, keys in ((n, set(agg)) for n, [agg] in bingo_aggregates().items()):
        scorer = SCORERS[name]
        assert all(declared(scorer.metrics, k) is not None for k in keys), name
        assert all(any(m.matches(k) for k in keys) for m in scorer.metrics), name
        assert set(scorer.headline) <= keys
    assert declared(SCORERS["bingo"].metrics, "score_t2i_cor").description.startswith("mean judge score of one sub")
    assert declared(SCORERS["bingo_rules"].metrics, "rouge_l_t2i").description == "ROUGE-L of one subset (x100)"
    assert {declared(SCORERS["bingo"].metrics, k).bounds for k in ("score", "score_t2i", "score_t2i_cor")} == {(1, 5)}
    assert declared(SCORERS["bingo_rules"].metrics, "rouge_l").bounds == (0, 100)


class _ScriptedVisionJudge:
    model = "scripted"
    workers = 1

    def complete(self, prompt, *, system=None, max_tokens=512, temperature=0.0, images=()):
        assert len(images) == 1
        return REPLIES[prompt.split("###Response to evaluate:\n", 1)[1].split("\n\n###Reference", 1)[0]]


def bingo_aggregates() -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: aggregates that report every declared key."""
    judged = SCORERS["bingo"].aggregate(RECORDS, ScoringContext(judge=_ScriptedVisionJudge(), image_of=image_of))
    return {"bingo": [judged], "bingo_rules": [SCORERS["bingo_rules"].aggregate(RULE_RECORDS, ScoringContext())]}


# --- the two releases, built into one layout --------------------------------------------------------

def _png(path: Path, colour) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (8, 6), colour).save(path)


def github_release(tmp_path: Path) -> tuple[Path, Path]:
    """annotation.jsonl's schema: path, question, "ground truth" (absent on some lines)."""
    images = tmp_path / "gh_images"
    lines = [
        {"path": "/t2i/cor/0.png", "question": "The two lines are parallel. Why?",
         "ground truth": "The two lines are parallel, because their slopes are equal"},
        {"path": "/t2i/dis/0.png", "question": "The two lines are not parallel. Why?",
         "ground truth": "The two lines are parallel, because their slopes are equal"},
        {"path": "/OCR/chinese/1_cn.png", "question": "What does the text say?"},  # no ground truth: dropped
        {"path": "/Region/east asia/0.png", "question": "Where is this festival?",
         "ground truth": "It is the Spring Festival in China."},
        {"path": "/factual/non_factual/3.png", "question": "How many legs?", "ground truth": "7"},  # image missing
    ]
    for i, line in enumerate(lines[:4]):
        _png(images / line["path"].lstrip("/"), COLOURS[i])
    annotations = tmp_path / "annotation.jsonl"
    annotations.write_text("".join(json.dumps(line, ensure_ascii=False) + "\n" for line in lines), encoding="utf-8")
    return annotations, images


def hub_release(tmp_path: Path) -> Path:
    """PahaII/Bingo's schema: <Subject>.json with image_path, question, answer, and images/<image_path>."""
    hub = tmp_path / "PahaII_Bingo"
    (hub / "images").mkdir(parents=True)
    t2i = [{"image_path": "t2i/cor/5.png", "question": "Is the sum 10?", "answer": "Yes, 4 + 6 = 10."},
           {"image_path": "t2i/dis/5.png", "question": "Is the sum 11?", "answer": None}]  # no answer: dropped
    region = [{"image_path": "Region/africa/0_a.png", "question": "What dish is this?", "answer": "Jollof rice."},
              {"image_path": "7.png", "question": "Which city?", "answer": "Cairo."}]  # no subcategory folder
    (hub / "T2I.json").write_text(json.dumps(t2i), encoding="utf-8")  # a JSON list
    (hub / "Region.json").write_text("".join(json.dumps(r) + "\n" for r in region), encoding="utf-8")  # JSON Lines
    for i, path in enumerate(["t2i/cor/5.png", "t2i/dis/5.png", "Region/africa/0_a.png", "7.png"]):
        _png(hub / "images" / path, COLOURS[4 + i])
    return hub


def test_github_release_drops_rows_without_ground_truth_or_image(tmp_path):
    annotations, images = github_release(tmp_path)
    counts = build_bingo(tmp_path / "data" / "bingo", github_annotations=annotations, images=images)
    assert counts["rows"] == 3 and counts["dropped (no ground truth): OCR/chinese"] == 1
    assert counts["dropped (image missing)"] == 1 and counts["Region/east asia"] == 1
    rows = [json.loads(line) for line in (tmp_path / "data" / "bingo" / "bingo.jsonl").read_text().splitlines()]
    assert rows[0] == {"id": "annotation.jsonl:1", "subset": "t2i", "subcategory": "cor", "path": "/t2i/cor/0.png",
                       "question": "The two lines are parallel. Why?",
                       "reference": "The two lines are parallel, because their slopes are equal",
                       "image": "images/t2i/cor/0.png"}
    assert [r["id"] for r in rows] == ["annotation.jsonl:1", "annotation.jsonl:2", "annotation.jsonl:4"]
    assert Image.open(tmp_path / "data" / "bingo" / rows[2]["image"]).getpixel((0, 0)) == COLOURS[3]


def test_hub_release_reads_image_path_and_answer(tmp_path):
    counts = build_bingo(tmp_path / "bingo", hub=hub_release(tmp_path), link=True)
    rows = [json.loads(line) for line in (tmp_path / "bingo" / "bingo.jsonl").read_text().splitlines()]
    assert [(r["id"], r["subset"], r["subcategory"], r["reference"]) for r in rows] == [
        ("T2I.json:1", "t2i", "cor", "Yes, 4 + 6 = 10."),
        ("Region.json:1", "Region", "africa", "Jollof rice."), ("Region.json:2", "Region", "all", "Cairo.")]
    assert counts["dropped (no answer): t2i/dis"] == 1 and counts["no subcategory in the image path: Region"] == 1
    assert (tmp_path / "bingo" / "images" / "Region" / "africa" / "0_a.png").is_symlink()


def test_builder_errors_name_the_line(tmp_path):
    bad = tmp_path / "annotation.jsonl"
    bad.write_text(json.dumps({"path": "/t2i/cor/0.png", "question": "q", "ground truth": "a"}) + "\n"
                   + json.dumps({"path": "t2i_0.png", "question": "q", "ground truth": "a"}) + "\n")
    with pytest.raises(CsrBenchError, match=r"annotation.jsonl:2: path must look like /main_category/subcategory/file"):
        build_bingo(tmp_path / "out", github_annotations=bad, images=tmp_path)
    with pytest.raises(CsrBenchError, match="none of T2I.json"):
        build_bingo(tmp_path / "out", hub=tmp_path)
    result = run_cli("score", "bingo_rules", str(tmp_path / "missing.jsonl"))
    assert result.returncode != 0 and "Traceback" not in result.stderr


def test_task_yamls():
    judged, rules = get_tasks(["bingo", "bingo_rules"])
    for task in (judged, rules):
        assert task.prompt == bingo.INSTRUCTION + "\n{question}" and task.generation.max_new_tokens == 100
        assert task.dataset.local == "bingo" and task.doc_id == "id" and task.strata == "subcategory"
        assert set(task.aspects) == {"bias", "fairness", "multilinguality", "robustness", "hallucination"}
    assert (judged.scorer, rules.scorer) == ("bingo", "bingo_rules")
    listed = run_cli("tasks", check=True).stdout
    assert "bingo " in listed and "bingo_rules " in listed


# --- csr-bench score, end to end, in both schemas ----------------------------------------------------

def _predictions(folder: Path, data: Path, answers: list[str]) -> Path:
    rows = [json.loads(line) for line in (data / "bingo.jsonl").read_text(encoding="utf-8").splitlines()]
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "samples.jsonl"
    path.write_text("".join(json.dumps({**{k: v for k, v in r.items() if k != "image"}, "prediction": a},
                                       ensure_ascii=False) + "\n" for r, a in zip(rows, answers)), encoding="utf-8")
    return path


CLI_REPLIES = {"right": "Feedback: Correct. [RESULT] 5", "half": "Feedback: 1 error. [RESULT] 3",
               "wrong": "Feedback: Wrong. [RESULT] 1"}


def test_cli_score_sends_each_document_image_and_skips_without_images_or_judge(tmp_path):
    annotations, images = github_release(tmp_path)
    build_bingo(tmp_path / "data" / "bingo", github_annotations=annotations, images=images)
    predictions = _predictions(tmp_path / "run", tmp_path / "data" / "bingo", ["right", "half", "wrong"])
    skipped = run_cli("score", "bingo", str(predictions), "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout) == {"task": "bingo", "n": 3, "metrics": {}, "skipped": NO_JUDGE}
    with JudgeServer(lambda request: Reply(CLI_REPLIES[response_of(request)])) as server:
        blind = run_cli("score", "bingo", str(predictions), "--json", "--judge-url", server.url, "--judge-model", "pv")
        assert blind.returncode == 0, blind.stderr
        assert "--data-root" in json.loads(blind.stdout)["skipped"] and server.count == 0
        scored = run_cli("score", "bingo", str(predictions), "--json", "--judge-url", server.url, "--judge-model", "pv",
                         "--data-root", str(tmp_path / "data"))
    assert scored.returncode == 0, scored.stderr
    # 5 (t2i/cor), 3 (t2i/dis), 1 (Region/east asia): overall 3.0, t2i 4.0
    assert json.loads(scored.stdout)["metrics"] == pytest.approx(
        {"score": 3.0, "score_t2i": 4.0, "score_t2i_cor": 5.0, "score_t2i_dis": 3.0, "score_region": 1.0,
         "score_region_east_asia": 1.0, "judge_unparsed": 0.0, "judge_helm_differs": 1.0})  # "1 error" -> HELM 1
    colours = {response_of(r): pixel(r.images[0]) for r in server.requests}
    assert colours == {"right": COLOURS[0], "half": COLOURS[1], "wrong": COLOURS[3]}  # line 3 was dropped
    rows = [json.loads(line) for line in (tmp_path / "run" / "judge_scores.jsonl").read_text().splitlines()]
    assert {r["judge_model"] for r in rows} == {"pv"}


def test_cli_score_rules_on_the_hub_schema(tmp_path):
    build_bingo(tmp_path / "data" / "bingo", hub=hub_release(tmp_path))
    predictions = _predictions(tmp_path / "run", tmp_path / "data" / "bingo",
                               ["Yes, 4 + 6 = 10.", "It is jollof rice", ""])
    result = run_cli("score", "bingo_rules", str(predictions), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)["metrics"]
    # 1: identical, all 1. 2: "jollof rice" vs "it is jollof rice": F1 P 2/4 R 1 -> 2/3; ROUGE-L
    # [jollof, rice] in [it, is, jollof, rice]: P 2/4, R 1 -> 2/3; quasi no. 3: empty, all 0.
    assert metrics["exact_match"] == pytest.approx(100 / 3) and metrics["quasi_exact_match"] == pytest.approx(100 / 3)
    assert metrics["f1_score"] == pytest.approx(100 * (1 + 2 / 3) / 3)
    assert metrics["rouge_l_region"] == pytest.approx(100 * (2 / 3) / 2)
    assert metrics["rouge_l_region_all"] == 0.0 and metrics["f1_score_t2i_cor"] == 100.0


def test_evaluates_offline_from_the_built_folder(tmp_path, tiny_model):
    """The evaluator on the GitHub-built folder: bingo judged with each document's image (the evaluator's
    own images), its per-item scores stored; bingo_rules scored by the rules; both skipped-or-not correctly."""
    from csr_bench.evaluation import EvalConfig, evaluate

    annotations, images = github_release(tmp_path)
    build_bingo(tmp_path / "data" / "bingo", github_annotations=annotations, images=images)
    with JudgeServer(lambda request: Reply("Feedback: fine. [RESULT] 4")) as server:
        results = evaluate(EvalConfig(model="tiny-llava", tasks=["bingo", "bingo_rules"],
                                      data_root=str(tmp_path / "data"), output=str(tmp_path / "out"),
                                      max_new_tokens=3, batch_size=4, judge_url=server.url, judge_model="pv"),
                           model=tiny_model)
    judged, rules = results["results"]["bingo"], results["results"]["bingo_rules"]
    assert judged["n_samples"] == 3 and judged["metrics"]["score"] == 4.0 and judged["metrics"]["score_t2i_cor"] == 4.0
    assert sorted(pixel(r.images[0]) for r in server.requests) == sorted([COLOURS[0], COLOURS[1], COLOURS[3]])
    assert rules["n_samples"] == 3 and {"rouge_l", "f1_score", "rouge_l_t2i_cor", "f1_score_region"} <= set(rules["metrics"])
    run = tmp_path / "out" / "tiny-llava" / "iter_0"
    assert {s["judge_score"] for s in map(json.loads, (run / "bingo" / "samples.jsonl").read_text().splitlines())} == {4}
    stored = {s["doc_id"]: s for s in map(json.loads, (run / "bingo_rules" / "samples.jsonl").read_text().splitlines())}
    assert sorted(stored) == ["annotation.jsonl:1", "annotation.jsonl:2", "annotation.jsonl:4"]
    first = stored["annotation.jsonl:1"]
    assert first["prompt"] == bingo.INSTRUCTION + "\nThe two lines are parallel. Why?"
    assert first["rouge_l"] == pytest.approx(rouge_l(first["reference"], first["prediction"].strip()))
