"""Hallucination injection: the rule-based injector's edits by hand (object swaps for co-occurring
objects as CHAIR reads them, colour/size, counts, articles, case, plurals, determinism), the COCO
co-occurrence table from a tiny instances file, the judge injector through a scripted local
OpenAI-compatible server (prompt, format, cache/resume, no silent fallback), and `csr-bench inject`
end to end into POVID's schema, read back by the POVID loader, without importing torch."""

from __future__ import annotations

import json

import pytest

from conftest import assert_one_line_error, run_cli, run_without_heavy_imports
from csr_bench.errors import CsrBenchError
from csr_bench.judge import NO_JUDGE, Judge, JudgeSettings
from csr_bench.preference_data.injection.judge import INJECTION_SYSTEM, parse_injection
from csr_bench.preference_data.injection.povid_file import inject_rows
from csr_bench.preference_data.injection.rules import (InjectionRules, cooccurrence_from_coco, default_coco_rules,
                                                       inject, load_table, symmetric_table)
from judge_server import JudgeServer, Reply, clear_judge_env


@pytest.fixture(autouse=True)
def _clean_env(monkeypatch):
    clear_judge_env(monkeypatch)


def rules(table, colors=("red", "blue"), sizes=(), kinds=("object", "attribute", "count")):
    return InjectionRules({a: {b: 1.0 for b in others} for a, others in table.items()}, colors=colors, sizes=sizes,
                          words={"sports ball": "ball"}, kinds=kinds)


# -- rules -----------------------------------------------------------------------------------------

@pytest.mark.parametrize("seed", [0, 1, 7])
def test_one_edit_of_each_kind_with_articles_and_case(seed):
    # one candidate per kind, so every seed gives this: apple -> banana (its only co-occurring object;
    # "An" -> "A"), red -> blue (the only other colour), two -> three (never "one")
    made = inject("An apple and two forks lie on a red table.", rules({"apple": ["banana"]}), seed)
    assert made.text == "A banana and three forks lie on a blue table."
    assert made.records() == [{"kind": "object", "from": "apple", "to": "banana"},
                              {"kind": "count", "from": "two", "to": "three"},
                              {"kind": "attribute", "from": "red", "to": "blue"}]


def test_plurals_synonyms_and_capitals():
    made = inject("Two knives sit by a cup.", rules({"knife": ["fork"]}, kinds=("object", "count")), 0)
    assert made.text == "Three forks sit by a cup."
    # CHAIR reads "puppy" as dog; the injected object is written as the category's word ("ball")
    made = inject("A puppy sleeps.", rules({"dog": ["sports ball"]}, kinds=("object",)), 3)
    assert (made.text, made.records()) == ("A ball sleeps.", [{"kind": "object", "from": "puppy", "to": "ball"}])
    made = inject("An orange cat.", rules({}, colors=("orange", "red"), kinds=("attribute",)), 0)
    assert made.text == "A red cat."


def test_objects_already_named_are_not_injected():
    table = {"fork": ["knife"], "knife": ["fork"]}
    assert inject("A fork and a knife.", rules(table, kinds=("object",)), 0).edits == ()
    # the fork's partner is named, the cup's is not: only the cup can be swapped
    made = inject("A fork, a knife and a cup.", rules({**table, "cup": ["spoon"]}, kinds=("object",)), 5)
    assert made.text == "A fork, a knife and a spoon."


def test_counts_stay_plural_and_nothing_to_inject():
    made = inject("Two dogs.", rules({}, kinds=("count",)), 0)
    assert made.text == "Three dogs."  # two -> one would need "dog"
    assert {inject("Four dogs.", rules({}, kinds=("count",)), s).text for s in range(20)} == {"Three dogs.", "Five dogs."}
    assert inject("One dog.", rules({}, kinds=("count",)), 0).edits == ()
    nothing = inject("It is sunny.", default_coco_rules(), 0)
    assert (nothing.text, nothing.edits) == ("It is sunny.", ())
    with pytest.raises(CsrBenchError, match="unknown injection edit kind"):
        inject("A dog.", rules({}, kinds=("relation",)), 0)


def test_seeded_and_deterministic():
    text = "A man holds a small red cup next to two forks and a knife on a table."
    runs = [inject(text, default_coco_rules(), seed) for seed in range(12)]
    assert [inject(text, default_coco_rules(), seed) for seed in range(12)] == runs  # same seed, same twin
    assert len({r.text for r in runs}) > 1  # the seed chooses among the candidates
    for run in runs:  # each twin is the text with exactly its recorded edits
        assert len(run.edits) == 3 and run.text != text
        assert sorted(e.kind for e in run.edits) == ["attribute", "count", "object"]


def test_cooccurrence_from_a_coco_instances_file(tmp_path):
    cats = [{"id": 48, "name": "fork"}, {"id": 49, "name": "knife"}, {"id": 47, "name": "cup"}]
    anns = [(1, 48), (1, 49), (1, 49), (2, 48), (2, 49), (2, 47), (3, 48)]
    instances = {"images": [{"id": i} for i in (1, 2, 3)], "categories": cats,
                 "annotations": [{"id": n, "image_id": i, "category_id": c, "bbox": [0, 0, 1, 1], "area": 1,
                                  "iscrowd": 0} for n, (i, c) in enumerate(anns, 1)]}
    path = tmp_path / "instances_train2014.json"
    path.write_text(json.dumps(instances))
    # fork in images 1, 2, 3; knife in 1, 2; cup in 2
    expected = {"fork": {"cup": 1 / 3, "knife": 2 / 3}, "knife": {"cup": 0.5, "fork": 1.0},
                "cup": {"fork": 1.0, "knife": 1.0}}
    assert cooccurrence_from_coco(path) == expected  # the same divisions: exact
    assert load_table(path) == expected
    plain = tmp_path / "table.json"
    plain.write_text(json.dumps({"fork": {"knife": 2}}))
    assert load_table(plain) == {"fork": {"knife": 2.0}}
    bad = tmp_path / "bad.json"
    bad.write_text("[1, 2]")
    with pytest.raises(CsrBenchError, match="expected a COCO instances file"):
        load_table(bad)
    assert symmetric_table([("a", "b")]) == {"a": {"b": 1.0}, "b": {"a": 1.0}}


# -- judge ------------------------------------------------------------------------------------------

def test_parse_injection_format():
    made = parse_injection("ANSWER:\nA dog on a red mat.\nCHANGES:\n- cat -> dog\n- blue -> red\n")
    assert (made.text, made.changes) == ("A dog on a red mat.", ("cat -> dog", "blue -> red"))
    assert parse_injection("ANSWER: A dog.").text == "A dog."
    assert parse_injection("Sure! A dog.") is None and parse_injection("ANSWER:\nCHANGES:\n- x") is None


ROWS = [
    {"id": "a", "image": "COCO_train2014_000000000001.jpg",
     "conversations": [{"from": "human", "value": "<image>\nDescribe this image in detail."},
                       {"from": "gpt", "value": "A cat sits on a blue sofa."}]},
    {"id": "b", "image": "b.jpg", "prompt": "What is this?", "answer": "Two dogs play with a frisbee."},
    {"id": "c", "image": "c.jpg", "prompt": "What is this?", "answer": "It is sunny."},
    {"id": "d", "prompt": "What is this?", "answer": "A dog."},
    {"id": "e", "image": "e.jpg", "conversations": [{"from": "human", "value": "<image>\nQ"},
                                                    {"from": "gpt", "value": "A"}, {"from": "human", "value": "Q2"},
                                                    {"from": "gpt", "value": "A2"}]},
]


def judge_script(request):
    answer = request.user.split("Correct answer: ", 1)[1].split("\n\nReply in exactly", 1)[0]
    if "sunny" in answer:
        return Reply("I cannot do that.")
    return Reply(f"ANSWER:\n{answer.replace('blue', 'green').replace('Two', 'Three')}\nCHANGES:\n- one change")


def test_judge_injection_prompt_cache_and_reasons(tmp_path):
    cache = tmp_path / "cache.jsonl"
    with JudgeServer(judge_script) as server:
        judge = Judge(JudgeSettings(server.url, "judge-m"), cache, timeout=2.0, retries=0, workers=2)
        outcome = inject_rows(ROWS, judge=judge)
        assert server.count == 3  # rows a, b, c; d has no image, e is multi-turn
        first = next(r for r in server.requests if "A cat sits" in r.user)
        assert first.system == INJECTION_SYSTEM and first.body["temperature"] == 0.0
        assert "Question: Describe this image in detail.\n\nCorrect answer: A cat sits on a blue sofa." in first.user
        again = inject_rows(ROWS, judge=Judge(JudgeSettings(server.url, "judge-m"), cache, retries=0))
        assert server.count == 3  # all from the cache: a rerun resumes
    assert again.rows == outcome.rows
    assert [r["id"] for r in outcome.rows] == ["a", "b"]
    assert outcome.rows[0]["rejected_conversations"][1]["value"] == "A cat sits on a green sofa."
    assert outcome.rows[1]["rejected_conversations"][1]["value"] == "Three dogs play with a frisbee."
    assert outcome.rows[1]["conversations"][0] == {"from": "human", "value": "<image>\nWhat is this?"}
    assert outcome.skipped == {"judge reply not in the ANSWER:/CHANGES: format": 1, "no image": 1,
                               "not a single question and answer (multi-turn conversation)": 1}


def write_input(path, rows, jsonl=True):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows) if jsonl else json.dumps(rows))
    return path


def test_cli_inject_judge_resumes_and_never_falls_back(tmp_path):
    source = write_input(tmp_path / "answers.jsonl", ROWS)
    output = tmp_path / "povid.json"
    missing = run_cli("inject", str(source), str(output), "--injector", "judge")
    assert_one_line_error(missing, NO_JUDGE)
    assert not output.exists()
    with JudgeServer(judge_script) as server:
        args = ("inject", str(source), str(output), "--injector", "judge", "--judge-url", server.url,
                "--judge-model", "m", "--quiet")
        first = run_cli(*args)
        assert first.returncode == 0, first.stderr
        written = output.read_text()
        again = run_cli(*args)
        assert again.returncode == 0, again.stderr
        assert server.count == 3 and output.read_text() == written
    assert "wrote 2 pairs" in first.stderr and "1 no image" in first.stderr
    assert (tmp_path / "povid.json.judge_cache.jsonl").is_file()


def test_cli_inject_rules_writes_povid_schema_read_by_the_povid_loader(tmp_path):
    from PIL import Image

    from csr_bench.preference_data.base import SourceContext
    from csr_bench.preference_data.sources import load_preference_set

    images = tmp_path / "images"
    images.mkdir()
    for name in ("COCO_train2014_000000000001.jpg", "b.jpg", "c.jpg"):
        Image.new("RGB", (8, 8)).save(images / name)
    source = write_input(tmp_path / "answers.json", ROWS, jsonl=False)
    output = tmp_path / "out" / "povid.json"
    result = run_cli("inject", str(source), str(output), "--seed", "3", "--quiet")
    assert result.returncode == 0, result.stderr
    rows = json.loads(output.read_text())
    assert [r["id"] for r in rows] == ["a", "b"]
    assert set(rows[0]) == {"id", "image", "conversations", "rejected_conversations", "injected"}
    # each twin is exactly what the injector makes of the row's answer with the row's seed
    for row in rows:
        truthful, twin = row["conversations"][1]["value"], row["rejected_conversations"][1]["value"]
        made = inject(truthful, default_coco_rules(), seed=f"3:{row['id']}")
        assert twin == made.text != truthful and row["injected"] == made.records()
    assert rows[1]["injected"][0] == {"kind": "count", "from": "Two", "to": "Three"}
    assert "1 nothing to inject" in result.stderr
    pairs = load_preference_set(str(output), SourceContext(cache_dir=tmp_path / "cache", images_dir=images),
                                schema="povid").pairs
    assert [(p["prompt"], p["chosen"], p["rejected"]) for p in pairs] == [
        (r["conversations"][0]["value"].removeprefix("<image>\n"), r["conversations"][1]["value"],
         r["rejected_conversations"][1]["value"]) for r in rows]


def test_cli_inject_errors_are_one_line_and_no_torch(tmp_path):
    assert_one_line_error(run_cli("inject", str(tmp_path / "none.json"), str(tmp_path / "o.json")), "is not a file")
    useless = write_input(tmp_path / "useless.jsonl", [ROWS[2], ROWS[3]])
    assert_one_line_error(run_cli("inject", str(useless), str(tmp_path / "o.json")),
                          "no usable row", "1 no image", "1 nothing to inject")
    assert_one_line_error(run_cli("inject", str(useless), str(tmp_path / "o.json"), "--edits", "object,relation"),
                          "--edits 'object,relation': expected a comma list of object, attribute, count")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"id": 1}\n{oops\n')
    assert_one_line_error(run_cli("inject", str(broken), str(tmp_path / "o.json")), "broken.jsonl:2")
    source = write_input(tmp_path / "answers.jsonl", ROWS[:2])
    run_without_heavy_imports("from csr_bench.cli import main\n"
                              f"assert main(['inject', {str(source)!r}, {str(tmp_path / 'o.json')!r}, '--quiet']) == 0\n")
