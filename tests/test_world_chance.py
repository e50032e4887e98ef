"""Chance levels of the world's benchmarks (csr_bench.world.chance) on hand-made records, checked
against values computed by hand; and the world's default task set is what docs/world-benchmarks.md's
measurement decided."""

import re
from pathlib import Path

import pytest

from csr_bench.models.registry import MODELS, WORLD_DATA_TASKS, WORLD_TASKS
from csr_bench.world_at_chance import WORLD_AT_CHANCE, world_left_out_reason
from csr_bench.world.chance import (Chance, above_chance, gqa_chance, measurement, measurement_table, mmbench_chance,
                                    mme_chance, pope_chance, scienceqa_chance, seed_chance, task_chance, vizwiz_chance)

DOC = Path(__file__).resolve().parent.parent / "docs" / "world-benchmarks.md"


def test_seed_random_guess_and_best_letter():
    options = {"choice_a": "cup", "choice_b": "fork", "choice_c": "dog", "choice_d": "car"}
    records = [{**options, "answer": "A"}, {**options, "answer": "A"}, {**options, "answer": "B"},
               {**options, "answer": "C", "data_type": "video"}]  # not an image question: left out, as scored
    chance = seed_chance(records)
    assert chance.guess == pytest.approx(25.0)  # 1/4 on each
    assert (chance.constant, chance.constant_answer) == (pytest.approx(200 / 3), "A")  # 2 of the 3
    assert chance.level == pytest.approx(25.0)  # options to guess among: the guess decides


def test_scienceqa_mean_of_one_over_choices():
    records = [{"choices": ["a", "b"], "answer": 0}, {"choices": ["a", "b", "c"], "answer": 0},
               {"choices": ["a", "b", "c", "d"], "answer": 1}]
    chance = scienceqa_chance(records)
    assert chance.guess == pytest.approx(100 * (1 / 2 + 1 / 3 + 1 / 4) / 3)  # 36.11
    assert (chance.constant, chance.constant_answer) == (pytest.approx(200 / 3), "A")


def test_mmbench_circular_chance_is_the_product_over_copies():
    nan = float("nan")
    group0 = [{"index": k * 1_000_000, "A": "a", "B": "b", "C": "c", "D": "d", "answer": letter}
              for k, letter in enumerate("ADCB")]  # 4 copies of 4 options, rotated answers
    group1 = [{"index": 1 + k * 1_000_000, "A": "x", "B": "y", "C": "z", "D": nan, "answer": "B"}
              for k in range(2)]  # 2 copies of 3 options (D missing, as MMBench marks it)
    chance = mmbench_chance(group0 + group1)
    assert chance.guess == pytest.approx(100 * ((1 / 4) ** 4 + (1 / 3) ** 2) / 2)  # 5.75
    # a constant letter is right on a group only if every copy's answer is it: only "B" on group 1
    assert (chance.constant, chance.constant_answer) == (pytest.approx(50.0), "B")


def test_mme_coin_per_question_and_constant_answer():
    records = [{"question_id": f"existence/{i}.png", "category": "existence", "answer": answer}
               for i in (1, 2) for answer in ("Yes", "No")]
    records += [{"question_id": "count/3.png", "category": "count", "answer": answer} for answer in ("Yes", "Yes", "No")]
    chance = mme_chance(records)
    # existence: acc 50 + acc+ 0.5^2 = 25 -> 75; count (one image, 3 questions): 50 + 0.5^3 = 12.5 -> 62.5
    assert chance.guess == pytest.approx(137.5)
    # always "yes": existence acc 50 + acc+ 0 = 50, count acc 2/3 + acc+ 0 = 66.67 -> 116.67; "no": 50 + 33.3
    assert (chance.constant, chance.constant_answer) == (pytest.approx(50 + 200 / 3), "yes")
    assert chance.level == pytest.approx(137.5)
    assert mme_chance(records, "cognition") is None  # no cognition category: nothing to be at chance on


def test_pope_gqa_vizwiz_constant_answers():
    pope = pope_chance([{"answer": "yes"}, {"answer": "yes"}, {"answer": "no"}])
    assert (pope.guess, pope.constant, pope.constant_answer) == (50.0, pytest.approx(200 / 3), "yes")
    gqa = gqa_chance([{"answer": a} for a in ("yes", "no", "no", "red")])
    assert (gqa.guess, gqa.constant, gqa.constant_answer, gqa.level) == (None, 50.0, "no", 50.0)
    vizwiz = vizwiz_chance([{"answers": ["unanswerable"] * 10}, {"answers": ["yes"] * 10},
                            {"answers": ["yes"] * 10}, {"answers": ["red"] * 8 + ["dark red"] * 2}])
    # "yes": 100 on two of four -> 50; "red": 100 on one (every leave-one-out keeps >= 3 "red") -> 25;
    # "dark red": on its record (8 x min(1, 2/3) + 2 x 1/3) / 10 = 0.6 -> 15
    assert (vizwiz.constant, vizwiz.constant_answer, vizwiz.level) == (pytest.approx(50.0), "yes", pytest.approx(50.0))


def test_verdict_is_the_lower_bound_above_chance():
    chance = Chance("seed", "accuracy", guess=25.0, constant=33.0, constant_answer="D")
    assert above_chance(30.0, chance) and not above_chance(25.0, chance) and not above_chance(20.0, chance)


def test_chance_from_world_data_through_the_task_loaders(small_world):
    """The small world: 4 MMBench groups of 4 copies of 4 options, SEED's 4 options, MME's 4 perception
    categories with two questions per image: the rules' values by hand."""
    assert task_chance("mmbench", small_world).guess == pytest.approx(100 / 256)
    assert task_chance("seed", small_world).guess == pytest.approx(25.0)
    assert task_chance("mme", small_world).guess == pytest.approx(4 * (50 + 25))
    assert task_chance("chair", small_world) is None


def test_measurement_table_rows(small_world):
    results = {"mmbench": {"metrics": {"accuracy": 0.0}, "intervals": {"accuracy": [0.0, 0.0]}},
               "seed": {"metrics": {"accuracy": 40.0}, "intervals": {"accuracy": [30.0, 50.0]}},
               "chair": {"metrics": {"chair_s": 80.0, "chair_i": 40.0}, "intervals": {"chair_s": [70.0, 90.0]}}}
    rows = {row["column"]: row for row in measurement(results, small_world)}
    assert [rows[c]["verdict"] for c in ("SEED", "MMB", "CHAIR_S", "CHAIR_I")] == [True, False, None, None]
    table = measurement_table(list(rows.values()))
    assert "| mmbench | MMB | 0.0 | [0.0, 0.0] | 0.4 (random guess; always 'A': 0.0) | at chance |" in table
    assert "| chair | CHAIR_I | 40.0 | – | none (a generation metric) | kept |" in table


def _doc_rows():
    text = DOC.read_text(encoding="utf-8")
    table = text[text.index("<!-- world-benchmarks:begin -->"):text.index("<!-- world-benchmarks:end -->")]
    rows = [[c.strip() for c in line.strip().strip("|").split("|")] for line in table.splitlines()
            if line.startswith("| ") and not line.startswith("| task")]
    return [dict(zip(("task", "column", "value", "interval", "chance", "verdict"), row)) for row in rows]


def test_default_world_set_is_what_the_measurement_decided():
    rows = _doc_rows()
    assert {row["task"] for row in rows} == set(WORLD_DATA_TASKS)
    at_chance = {row["task"] for row in rows if row["verdict"] == "at chance"}
    assert at_chance == set(WORLD_AT_CHANCE)
    assert {row["task"] for row in rows if row["verdict"] in ("above chance", "kept")} == set(WORLD_TASKS)
    assert MODELS["world"].default_tasks == WORLD_TASKS
    # the footnote's numbers are the documented measurement's
    for row in rows:
        if row["verdict"] == "at chance":
            chance = re.match(r"[\d.]+", row["chance"]).group(0)
            assert f"{row['value']} {row['interval']} against a chance of {chance}" in WORLD_AT_CHANCE[row["task"]]
            assert "docs/world-benchmarks.md" in world_left_out_reason(row["task"])
    # the documented intervals exclude or include chance as their verdict says
    for row in rows:
        if row["verdict"] in ("above chance", "at chance", "kept (at chance)"):
            low = float(row["interval"].strip("[]").split(",")[0])
            level = float(re.match(r"[\d.]+", row["chance"]).group(0))
            assert (low > level) == (row["verdict"] == "above chance"), row
    # a task the issue keeps in the world run (amber_world) is kept with a metric at chance, said so
    kept_at_chance = {row["task"] for row in rows if row["verdict"] == "kept (at chance)"}
    assert kept_at_chance <= set(WORLD_TASKS) - set(WORLD_AT_CHANCE)


def test_run_defaults_to_the_world_set():
    from csr_bench.run import RunConfig

    assert RunConfig().tasks == list(WORLD_TASKS)
    assert not set(WORLD_AT_CHANCE) & set(RunConfig().tasks)
    assert RunConfig(tasks=["mmbench"]).tasks == ["mmbench"]  # still runnable when named
