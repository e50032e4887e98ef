"""MMIE through a scripted local judge: the builder on a tiny release in both schemas (the README's
evaluation format and the hub's conversations), the >4-image drop, categories by id substring, the
exact prompt and the exact images MMIE-Score receives, main.py's score parse on odd replies, the means
per category worked by hand, skipped (never 0) without a judge or without the images, the bootstrap's
per-item ratings, and the text-only caveat in results.json, the log, the tables and `csr-bench score`."""

from __future__ import annotations

import base64
import hashlib
import io
import json
import logging
import re
from pathlib import Path

import pytest
from PIL import Image

from conftest import run_cli
from csr_bench.builders.mmie import build_mmie
from csr_bench.errors import CsrBenchError
from csr_bench.judge import NO_JUDGE, Judge, JudgeSettings
from csr_bench.scorers import SCORERS, ScoringContext, ScoringSkipped
from csr_bench.scorers.base import declared
from csr_bench.scorers.mmie import (CAVEAT, MSR_PROMPT, PBL_SYSTEM_PROMPT, SA_SYSTEM_PROMPT, MmieScorer, category_of,
                                    find_score, judge_prompt)
from csr_bench.scorers.unit_stats import task_stats
from csr_bench.tasks.registry import get_tasks
from judge_server import JudgeServer, Reply, clear_judge_env

# sha256 of the three prompts as Lillianwei-h/MMIE @ eb0fd6e prompts.py defines them (its module
# imported and hashed, not this code's copies)
PROMPT_SHA256 = {"SA": "9e29bd376367a88051001c1592bd75851fda68326c7ea762bb79170c080331a3",
                 "PBL": "b80214d31c9c25c5ed00d62a990bf422cf2bee304bd6dd29c328692b4b889d49",
                 "MSR": "72bc495ec21b8c185bee68c351981dbc9a041aee2ba1c27bd287caa9099a9681"}
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 160, 0)


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


def test_prompts_are_the_official_ones():
    found = {"SA": SA_SYSTEM_PROMPT, "PBL": PBL_SYSTEM_PROMPT, "MSR": MSR_PROMPT}
    assert {k: hashlib.sha256(v.encode("utf-8")).hexdigest() for k, v in found.items()} == PROMPT_SHA256
    # the quoted '### Feedback\n' in the reference's ''' string is a real newline
    assert "begin your feedback with '### Feedback\n', followed by" in SA_SYSTEM_PROMPT
    assert SA_SYSTEM_PROMPT.endswith("The final score should be an integer between 0 and 6.")
    assert MSR_PROMPT.endswith("The final score should be an integer between 0 to 6.")


@pytest.mark.parametrize("item_id, category", [
    ("SA_0001", "SA"), ("PBL_12", "PBL"), ("MSR_3", "MSR"),
    ("MSR_SAMPLE_7", "SA"),  # the substring pitfall: prompts.py tests "SA" first, so this MSR id is SA
    ("PBL_SAFETY", "SA"), ("msr_1", None), ("", None),
])
def test_category_by_id_substring_as_the_reference(item_id, category):
    assert category_of(item_id) == category


def record(item_id, question, prediction, gt=None, boxes=()):
    return {"id": item_id, "category": category_of(item_id), "question": question, "prompt_text": question,
            "gt_answer": gt, "n_question_images": len(boxes), "image_boxes": [list(b) for b in boxes],
            "prediction": prediction}


def test_judge_prompt_by_hand():
    # main.py: get_prompt(id) + .format(question=dataset.py's text, answer=the answer's text); a string
    # answer is wrapped as [{"text": answer, "image": None}], so its text ends in one newline.
    sa = record("SA_1", "Tell a story.\nImage-0: <image>\n", "Once upon a time.")
    assert judge_prompt(sa) == (SA_SYSTEM_PROMPT + "### Question\nTell a story.\nImage-0: <image>\n\n"
                                "### Answer\nOnce upon a time.\n\n### Feedback\n")
    pbl = record("PBL_1", "How to bake?\n", "")  # an empty answer: just the newline
    assert judge_prompt(pbl) == PBL_SYSTEM_PROMPT + "### Question\nHow to bake?\n\n### Answer\n\n\n### Feedback\n"
    msr = record("MSR_1", "Solve x+1=2.\n", "x = 1", gt="x = 1")
    assert judge_prompt(msr) == (MSR_PROMPT + "### Question\nSolve x+1=2.\n\n### Answer\nx = 1\n\n### Correct Answer\n"
                                 "The correct answer to this question should be: x = 1\n### Feedback\n")
    # an MSR item whose reference text is null: str.format writes None, as main.py does
    assert "should be: None\n### Feedback\n" in judge_prompt({**msr, "gt_answer": None})
    # an SA id holding MSR still gets the SA prompt, with no reference answer
    assert judge_prompt({**msr, "id": "MSR_SA_2"}).startswith(SA_SYSTEM_PROMPT)
    with pytest.raises(CsrBenchError, match="names no category"):
        judge_prompt({**msr, "id": "item_9"})


@pytest.mark.parametrize("reply, expected", [
    ("### Feedback\nClear and vivid.\n### Score\n5", 5),
    ("### Score: 4.6", 5),  # round(float)
    ("### Score\n4.5", 4),  # Python's round: half to even
    ("### Score\n5.5", 6),
    ("### Score\n2.5", 2),
    ("### Score\n-1", -1),  # parsed; main.py then leaves it out (outside 0-6)
    ("### Score\n7", 7),
    ("### Feedback\nStep 2 of 3 is wrong.\n### Score\nI give it **3**/6", 3),  # numbers before the header ignored
    ("### Scores\n6", 6),  # the header is a prefix match
    ("### score\n5", None),  # case-sensitive
    ("Score: 5", None),
    ("", None),
])
def test_score_parse_on_odd_replies(reply, expected):
    assert find_score(reply) == expected


# --- a tiny release ---------------------------------------------------------------------------------

def picture(path: Path, size, colour) -> None:
    Image.new("RGB", size, colour).save(path)


def release(folder: Path) -> Path:
    """The README's evaluation format: SA with two images, one with text only, PBL with one image and a
    plain-string answer, MSR with one image file missing, MSR with 5 images (dropped)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "images").mkdir()
    picture(folder / "images" / "a.png", (4, 3), RED)
    picture(folder / "images" / "b.png", (2, 5), BLUE)
    picture(folder / "images" / "c.png", (3, 3), GREEN)
    none = [{"text": None, "image": None}]
    items = [
        {"id": "SA_001", "question": [{"text": "Tell a story.", "image": "images/a.png"},
                                      {"text": "Continue it.", "image": "images/b.png"}],
         "answer": [{"text": "Reference story.", "image": "images/c.png"}], "model": "gt", "gt_answer": none},
        {"id": "SA_002", "question": [{"text": "Write a fable.", "image": None}], "answer": "A fox.",
         "model": "gt", "gt_answer": none},
        {"id": "PBL_001", "question": [{"text": None, "image": "images/c.png"}, {"text": "How is it built?", "image": None}],
         "answer": "In steps.", "model": "gt", "gt_answer": none},
        {"id": "MSR_001", "question": [{"text": "Solve for x.", "image": "images/missing.png"},
                                       {"text": None, "image": "images/b.png"}],
         "answer": [{"text": "x = 1", "image": None}], "model": "gt", "gt_answer": [{"text": "x = 1", "image": None}]},
        {"id": "MSR_002", "question": [{"text": f"Figure {k}.", "image": "images/a.png"} for k in range(5)],
         "answer": "7", "model": "gt", "gt_answer": [{"text": "7", "image": None}]},
    ]
    source = folder / "data.json"
    source.write_text(json.dumps(items))
    return source


def built(tmp_path: Path) -> tuple[Path, list[dict]]:
    root = tmp_path / "data"
    counts = build_mmie(release(tmp_path / "release"), root / "mmie")
    assert counts == {"kept": {"SA": 2, "PBL": 1, "MSR": 1}, "dropped_over_4_images": {"SA": 0, "PBL": 0, "MSR": 1},
                      "image_files_missing": 1}
    rows = [json.loads(line) for line in (root / "mmie" / "mmie.jsonl").read_text().splitlines()]
    return root, rows


def test_builder_writes_the_judges_view_and_one_picture(tmp_path):
    root, rows = built(tmp_path)
    by_id = {r["id"]: r for r in rows}
    assert list(by_id) == ["SA_001", "SA_002", "PBL_001", "MSR_001"]  # MSR_002 (5 images) dropped
    sa = by_id["SA_001"]
    # dataset.py: each text part + "\n", then "Image-k: <image>\n" for each image found
    assert sa["question"] == "Tell a story.\nImage-0: <image>\nContinue it.\nImage-1: <image>\n"
    assert sa["prompt_text"] == ("Tell a story.\nImage-0: [image 1 of 2 in the picture, left to right]\n"
                                 "Continue it.\nImage-1: [image 2 of 2 in the picture, left to right]")
    assert sa["category"] == "SA" and sa["gt_answer"] is None and sa["n_question_images"] == 2
    # side by side at their own sizes: 4x3 then 2x5 on a 6x5 black canvas
    assert sa["image_boxes"] == [[0, 0, 4, 3], [4, 0, 2, 5]]
    with Image.open(root / "mmie" / sa["image"]) as image:
        assert image.size == (6, 5)
        assert image.getpixel((0, 0)) == RED and image.getpixel((3, 2)) == RED
        assert image.getpixel((4, 0)) == BLUE and image.getpixel((5, 4)) == BLUE
        assert image.getpixel((0, 4)) == (0, 0, 0)  # below the shorter image
    text_only = by_id["SA_002"]
    assert text_only["question"] == "Write a fable.\n" and text_only["prompt_text"] == "Write a fable."
    assert text_only["n_question_images"] == 0 and text_only["image_boxes"] == []
    with Image.open(root / "mmie" / text_only["image"]) as image:
        assert image.size == (64, 64)  # a blank picture: the evaluator needs one per document
    pbl = by_id["PBL_001"]
    assert pbl["question"] == "Image-0: <image>\nHow is it built?\n" and pbl["image_boxes"] == [[0, 0, 3, 3]]
    assert pbl["prompt_text"] == "Image-0: [the picture]\nHow is it built?"
    msr = by_id["MSR_001"]
    # the missing file gets no marker and no number (dataset.py prints "not found" and goes on)
    assert msr["question"] == "Solve for x.\nImage-0: <image>\n" and msr["gt_answer"] == "x = 1"
    assert msr["image_boxes"] == [[0, 0, 2, 5]]


def test_builder_reads_the_hub_rows_too(tmp_path):
    folder = tmp_path / "hub"
    folder.mkdir()
    picture(folder / "p.png", (2, 2), GREEN)
    rows = [{"id": "PBL_9", "catagory": "PBL", "field": "cooking",
             "conversations": [{"from": "human", "content": [{"text": "Bake bread.", "image": "p.png"}]},
                               {"from": "gpt", "content": [{"text": "Knead, rest, bake.", "image": None}]}]}]
    (folder / "rows.json").write_text(json.dumps(rows))
    counts = build_mmie(folder / "rows.json", tmp_path / "out")
    assert counts["kept"] == {"SA": 0, "PBL": 1, "MSR": 0}
    [row] = [json.loads(line) for line in (tmp_path / "out" / "mmie.jsonl").read_text().splitlines()]
    assert row["question"] == "Bake bread.\nImage-0: <image>\n" and row["gt_answer"] == "Knead, rest, bake."


@pytest.mark.parametrize("items, message", [
    ([{"id": "item_1", "question": [], "gt_answer": []}], "holds none of SA, PBL, MSR"),
    ([{"id": "SA_1", "question": []}, {"id": "SA_1", "question": []}], "appears twice"),
    ([{"id": "SA_1", "question": "text"}], "list of {\"text\", \"image\"} parts"),
    ([{"id": "SA_1"}], "neither 'question'"),
    ({"id": "SA_1"}, "JSON list"),
])
def test_builder_errors_name_the_item(tmp_path, items, message):
    source = tmp_path / "bad.json"
    source.write_text(json.dumps(items))
    with pytest.raises(CsrBenchError, match=message.replace("{", r"\{").replace("}", r"\}")):
        build_mmie(source, tmp_path / "out")


def test_builder_script_prints_the_counts(tmp_path, capsys):
    import importlib.util

    spec = importlib.util.spec_from_file_location("build_mmie", Path(__file__).parents[1] / "scripts" / "build_mmie.py")
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert script.main(["--source", str(release(tmp_path / "r")), "--out", str(tmp_path / "o")]) == 0
    out = capsys.readouterr().out
    assert "wrote 4 items" in out and "SA 2, PBL 1, MSR 1" in out and "more than 4 images: SA 0, PBL 0, MSR 1" in out
    assert script.main(["--source", str(tmp_path / "none.json"), "--out", str(tmp_path / "o")]) == 2
    assert "build_mmie: error: mmie:" in capsys.readouterr().err


# --- the judge ------------------------------------------------------------------------------------

PREDICTIONS = {"SA_001": "p-sa1", "SA_002": "p-sa2", "PBL_001": "p-pbl", "MSR_001": "p-msr"}
REPLIES = {"p-sa1": "### Feedback\nVivid.\n### Score\n5",
           "p-sa2": "### Score: 2.5",  # round(2.5) = 2
           "p-pbl": "### Feedback\nPractical.\n### Score: 4.6",  # 5
           "p-msr": "### Feedback\nRight answer.\n### Score\n3"}
# Kept: SA 5 and 2, PBL 5, MSR 3: mean (5 + 2 + 5 + 3) / 4 = 3.75; SA 3.5, PBL 5.0, MSR 3.0;
# percentage 3.75 / 6 x 100 = 62.5; 4 items kept, none unparsed or out of range.
EXPECTED = {"score": 3.75, "score_percent": 62.5, "score_SA": 3.5, "score_PBL": 5.0, "score_MSR": 3.0,
            "sample_size": 4.0, "judge_unparsed": 0.0, "judge_out_of_range": 0.0}


def scripted(request) -> Reply:
    answer = request.user.split("### Answer\n", 1)[1].split("\n", 1)[0]
    return Reply(REPLIES[answer])


def judge_of(server: JudgeServer) -> Judge:
    return Judge(JudgeSettings(server.url, "mmie-score"), None, timeout=2.0, retries=1, backoff=0.01, workers=2)


def records_of(root: Path, rows: list[dict]):
    """The built rows with their predictions, and a context that gives each one's document image."""
    by_id = {r["id"]: r for r in rows}

    def image_of(record):
        with Image.open(root / "mmie" / by_id[record["id"]]["image"]) as image:
            return image.convert("RGB")

    records = [{**{k: v for k, v in r.items() if k != "image"}, "prediction": PREDICTIONS[r["id"]], "doc_id": r["id"]}
               for r in rows]
    return records, image_of


def decoded(url: str) -> Image.Image:
    return Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))).convert("RGB")


def test_the_judge_gets_the_prompt_and_the_question_images_and_the_means_are_by_hand(tmp_path):
    root, rows = built(tmp_path)
    records, image_of = records_of(root, rows)
    with JudgeServer(scripted) as server:
        metrics, items = MmieScorer().aggregate_items(records, ScoringContext(judge=judge_of(server), image_of=image_of,
                                                                              output_dir=tmp_path))
    assert metrics == pytest.approx(EXPECTED)
    assert items == [{"judge_score": 5}, {"judge_score": 2}, {"judge_score": 5}, {"judge_score": 3}]
    assert server.count == 4
    sent = {r.user.split("### Answer\n", 1)[1].split("\n", 1)[0]: r for r in server.requests}
    # main.py sends its whole prompt as the one user query, no system message of its own
    assert all(r.system is None and r.body["temperature"] == 0.0 and r.body["max_tokens"] == 1024
               for r in server.requests)
    assert sent["p-sa1"].user == (SA_SYSTEM_PROMPT + "### Question\nTell a story.\nImage-0: <image>\nContinue it.\n"
                                  "Image-1: <image>\n\n### Answer\np-sa1\n\n### Feedback\n")
    assert sent["p-msr"].user == (MSR_PROMPT + "### Question\nSolve for x.\nImage-0: <image>\n\n### Answer\np-msr\n\n"
                                  "### Correct Answer\nThe correct answer to this question should be: x = 1\n"
                                  "### Feedback\n")
    # the question's own images, one by one, in order, at their own sizes and pixels
    sa_images = [decoded(url) for url in sent["p-sa1"].images]
    assert [i.size for i in sa_images] == [(4, 3), (2, 5)]
    assert {sa_images[0].getpixel((x, y)) for x in range(4) for y in range(3)} == {RED}
    assert {sa_images[1].getpixel((x, y)) for x in range(2) for y in range(5)} == {BLUE}
    assert [decoded(u).size for u in sent["p-pbl"].images] == [(3, 3)]
    assert sent["p-sa2"].images == []  # a text-only question: no image, as dataset.py sends none
    lines = [json.loads(line) for line in (tmp_path / "judge_scores.jsonl").read_text().splitlines()]
    assert [(r["id"], r["category"], r["score"]) for r in lines] == [("SA_001", "SA", 5), ("SA_002", "SA", 2),
                                                                    ("PBL_001", "PBL", 5), ("MSR_001", "MSR", 3)]
    assert {r["judge_model"] for r in lines} == {"mmie-score"} and lines[1]["judge_answer"] == "### Score: 2.5"


def test_unparsed_and_out_of_range_ratings_are_left_out_and_counted():
    rows = [record("SA_1", "q\n", "a"), record("SA_2", "q\n", "b"), record("PBL_1", "q\n", "c"),
            record("MSR_1", "q\n", "d", gt="1"), record("MSR_2", "q\n", "e", gt="2"), record("MSR_3", "q\n", "f", gt="3")]
    replies = {"a": "### Score\n6", "b": "I cannot grade this.", "c": "### Score\n-1", "d": "### Score\n7",
               "e": "### Score\n0", "f": "### Feedback\nok\n### Score\n4"}
    with JudgeServer(lambda r: Reply(replies[r.user.split("### Answer\n", 1)[1][0]])) as server:
        metrics, items = MmieScorer().aggregate_items(rows, ScoringContext(judge=judge_of(server)))
    # kept: SA 6, MSR 0 and 4 (b unparsed; -1 and 7 out of range): mean 10/3; SA 6; MSR 2; no PBL mean
    assert [i["judge_score"] for i in items] == [6, None, None, None, 0, 4]
    assert metrics == pytest.approx({"score": 10 / 3, "score_percent": 100 * (10 / 3) / 6, "score_SA": 6.0,
                                     "score_MSR": 2.0, "sample_size": 3.0, "judge_unparsed": 1.0,
                                     "judge_out_of_range": 2.0})
    assert "score_PBL" not in metrics  # main.py prints None for a category with no kept rating


def test_skipped_without_a_judge_or_without_the_images():
    rows = [record("SA_1", "Tell.\nImage-0: <image>\n", "a", boxes=[(0, 0, 2, 2)]), record("PBL_1", "How?\n", "b")]
    with pytest.raises(ScoringSkipped, match="no judge configured"):
        MmieScorer().aggregate(rows, ScoringContext())
    with JudgeServer(lambda r: Reply("### Score\n3")) as server:
        with pytest.raises(ScoringSkipped, match="--data-root"):  # never a judge blind to the question's images
            MmieScorer().aggregate(rows, ScoringContext(judge=judge_of(server)))
        assert server.count == 0
        # text-only questions need no images
        assert MmieScorer().aggregate(rows[1:], ScoringContext(judge=judge_of(server)))["score"] == 3.0
    assert MmieScorer().score_sample(rows[0]) == {}  # generation never waits on the judge


@pytest.mark.parametrize("change, message", [
    ({"id": "X_1"}, "names no category"), ({"question": None}, "question must be a string"),
    ({"gt_answer": 3}, "gt_answer must be a string or null"), ({"image_boxes": [[0, 0, 2]]}, "image_boxes"),
])
def test_bad_records_are_one_line_errors(change, message):
    with pytest.raises(CsrBenchError, match=message):
        MmieScorer().check_record({**record("SA_1", "q\n", "a"), **change})


def test_a_box_outside_the_document_image_is_an_error():
    rows = [record("SA_1", "q\n", "a", boxes=[(0, 0, 9, 9)])]
    with JudgeServer(lambda r: Reply("### Score\n3")) as server, pytest.raises(CsrBenchError, match="outside"):
        MmieScorer().aggregate(rows, ScoringContext(judge=judge_of(server), image_of=lambda r: Image.new("RGB", (4, 4))))


def test_every_declared_metric_is_reported():
    keys = set(mmie_aggregates()["mmie"][0])
    scorer = SCORERS["mmie"]
    assert all(declared(scorer.metrics, k) is not None for k in keys)
    assert all(any(m.matches(k) for k in keys) for m in scorer.metrics)
    assert set(scorer.headline) <= keys
    # the ratings are on 0-6 (what `table --by-aspect` normalises with), the percentage on 0-100
    assert declared(scorer.metrics, "score").bounds == declared(scorer.metrics, "score_MSR").bounds == (0.0, 6.0)
    assert declared(scorer.metrics, "score_percent").bounds == (0.0, 100.0)


def test_bootstrap_resamples_the_kept_ratings():
    rows = [{**record(i, "q\n", "p"), "doc_index": n, "doc_id": i, "judge_score": s}
            for n, (i, s) in enumerate([("SA_1", 5), ("SA_2", 2), ("PBL_1", 5), ("PBL_2", None), ("MSR_1", 3)])]
    stats = task_stats("mmie", rows, "test")
    assert stats.unit == "judged item" and stats.strata_name == "category" and stats.doc_ids == ["SA_1", "SA_2",
                                                                                                   "PBL_1", "MSR_1"]
    values = {name: float(stats.value(name)) for name in stats.metrics()}
    assert values == pytest.approx({k: v for k, v in EXPECTED.items()
                                    if k not in ("sample_size", "judge_unparsed", "judge_out_of_range")})


def test_intervals_agree_with_the_scored_metrics():
    from test_unit_stats import ScriptedJudge

    from csr_bench.evaluation.evaluator import score_records

    ids = [f"{('SA', 'PBL', 'MSR')[i % 3]}_{i}" for i in range(30)]
    rows = [{**record(item_id, "q\n", f"answer {i}", gt="1"), "doc_id": item_id, "doc_index": i}
            for i, item_id in enumerate(ids)]
    judge = ScriptedJudge(["### Score\n6", "### Score: 1.4", "no score", "### Score\n4", "### Score\n9"])
    scored = score_records(SCORERS["mmie"], rows, ScoringContext(judge=judge), seed=1)
    assert scored["metrics"]["judge_unparsed"] > 0 and scored["metrics"]["judge_out_of_range"] > 0
    assert set(scored["intervals"]) == set(scored["metrics"]) - {"sample_size", "judge_unparsed", "judge_out_of_range"}


def mmie_aggregates() -> dict[str, list[dict[str, float]]]:
    """For tests/test_metric_declarations.py: an aggregate that reports every declared key."""
    from test_unit_stats import ScriptedJudge

    rows = [record(f"{('SA', 'PBL', 'MSR')[i % 3]}_{i}", "q\n", f"answer {i}", gt="1") for i in range(12)]
    judge = ScriptedJudge(["### Score\n5", "### Score\n3", "no score", "### Score\n8", "### Score\n4", "### Score: 1.2"])
    return {"mmie": [SCORERS["mmie"].aggregate(rows, ScoringContext(judge=judge))]}


def test_task_yaml():
    task = get_tasks(["mmie"])[0]
    assert task.scorer == "mmie" and task.prompt == "{prompt_text}" and task.generation.max_new_tokens == 512
    assert task.dataset.local == "mmie" and task.dataset.hub is None and task.doc_id == "id"
    assert set(task.aspects) == {"reasoning", "knowledge"}
    assert "mmie " in run_cli("tasks", check=True).stdout


# --- end to end: the caveat reaches the user --------------------------------------------------------

def test_cli_score_needs_the_images_and_says_the_caveat(tmp_path):
    root, rows = built(tmp_path)
    records, _ = records_of(root, rows)
    predictions = tmp_path / "run" / "samples.jsonl"
    predictions.parent.mkdir()
    predictions.write_text("".join(json.dumps(r) + "\n" for r in records))
    skipped = run_cli("score", "mmie", str(predictions), "--json")
    assert skipped.returncode == 0, skipped.stderr
    assert json.loads(skipped.stdout) == {"task": "mmie", "n": 4, "metrics": {}, "skipped": NO_JUDGE, "caveat": CAVEAT}
    with JudgeServer(scripted) as server:
        blind = run_cli("score", "mmie", str(predictions), "--json", "--judge-url", server.url, "--judge-model", "m")
        assert blind.returncode == 0 and "--data-root" in json.loads(blind.stdout)["skipped"] and server.count == 0
        scored = run_cli("score", "mmie", str(predictions), "--data-root", str(root), "--judge-url", server.url,
                         "--judge-model", "m")
    assert scored.returncode == 0, scored.stderr
    assert f"caveat: {CAVEAT}" in scored.stdout
    assert re.search(r"^  score +3\.75 ", scored.stdout, re.M) and re.search(r"^  score_SA +3\.50 ", scored.stdout, re.M)


def test_evaluation_records_and_logs_the_caveat_and_the_table_prints_it(tmp_path, tiny_model, caplog):
    from csr_bench.evaluation import EvalConfig, evaluate

    root, _ = built(tmp_path)
    with JudgeServer(lambda r: Reply("### Feedback\nText only.\n### Score\n2")) as server:
        with caplog.at_level(logging.WARNING, logger="csr_bench"):
            results = evaluate(EvalConfig(model="tiny-llava", tasks=["mmie"], data_root=str(root),
                                          output=str(tmp_path / "out"), max_new_tokens=3, batch_size=4,
                                          judge_url=server.url, judge_model="mmie-score"), model=tiny_model)
        assert server.count == 4
    entry = results["results"]["mmie"]
    assert entry["caveat"] == CAVEAT and entry["n_samples"] == 4
    assert entry["metrics"]["score"] == 2.0 and entry["metrics"]["score_percent"] == pytest.approx(100 / 3)
    assert any(CAVEAT in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    stored = json.loads((tmp_path / "out" / "tiny-llava" / "iter_0" / "results.json").read_text())
    assert stored["results"]["mmie"]["caveat"] == CAVEAT
    samples = [json.loads(line) for line in
               (tmp_path / "out" / "tiny-llava" / "iter_0" / "mmie" / "samples.jsonl").read_text().splitlines()]
    prompts = {s["id"]: s["prompt"] for s in samples}
    assert prompts["PBL_001"] == "Image-0: [the picture]\nHow is it built?"  # the model's view: no <image>
    assert {s["judge_score"] for s in samples} == {2}
    table = run_cli("table", str(tmp_path / "out" / "tiny-llava"), check=True).stdout
    other = table[table.index("**Other benchmarks"):]
    assert "mmie score" in other and f"mmie: {CAVEAT}" in other
