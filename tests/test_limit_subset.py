"""--limit N on a task with strata: N documents dealt round-robin over the strata (tasks/subset.py),
checked against selections counted by hand, once through the functions and once through
`csr-bench eval` on the small world's POPE."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from conftest import REPO, WORLD_VLM, run_cli
from csr_bench.errors import CsrBenchError
from csr_bench.tasks.config import task_from_yaml
from csr_bench.tasks.registry import load_registry
from csr_bench.tasks.subset import select_documents

POPE = load_registry()["pope"]
MME = load_registry()["mme"]

# a POPE of 9 questions in file order: 5 adversarial, 1 popular, 3 random
ROWS = [{"question_id": q, "category": c} for q, c in
        [(1, "adv"), (2, "adv"), (3, "adv"), (4, "adv"), (5, "adv"), (6, "pop"), (7, "ran"), (8, "ran"), (9, "ran")]]
# The round-robin order by hand: adv 0, pop 5, ran 6, adv 1, ran 7, adv 2, ran 8, adv 3, adv 4.


def test_limit_deals_documents_round_robin_over_the_strata():
    seven = select_documents(POPE, ROWS, 7)
    assert seven.indices == [0, 1, 2, 5, 6, 7, 8]  # adv 0 1 2, pop 5, ran 6 7 8: the pop stratum runs dry
    assert seven.per_stratum == {"adv": 3, "pop": 1, "ran": 3}
    assert seven.describe() == {"limit": 7, "strata": "category", "per_stratum": {"adv": 3, "pop": 1, "ran": 3}}
    four = select_documents(POPE, ROWS, 4)
    assert four.indices == [0, 1, 5, 6] and four.per_stratum == {"adv": 2, "pop": 1, "ran": 1}
    assert set(four.indices) <= set(seven.indices)  # a larger limit keeps a smaller one's samples
    for limit in (9, 50):  # the whole task: not a subset
        everything = select_documents(POPE, ROWS, limit)
        assert everything.indices == list(range(9)) and not everything.is_subset
    assert not select_documents(POPE, ROWS, None).is_subset


def test_a_task_without_strata_takes_the_first_documents():
    chair = load_registry()["chair"]
    assert chair.strata is None
    subset = select_documents(chair, ROWS, 4)
    assert subset.indices == [0, 1, 2, 3] and subset.describe() == {"limit": 4, "strata": None}


def test_strata_unit_keeps_an_image_pair_whole():
    # MME: two questions per image (question_id = image); acc+ needs both, so a pair is never cut
    rows = [{"question_id": q, "category": c} for q, c in
            [("e1", "existence"), ("e1", "existence"), ("e2", "existence"), ("e2", "existence"),
             ("c1", "count"), ("c1", "count")]]
    assert MME.strata == "category" and MME.strata_unit == "question_id"
    assert select_documents(MME, rows, 1).indices == [0, 1]  # the first unit, whole (2 documents for --limit 1)
    assert select_documents(MME, rows, 3).indices == [0, 1, 4, 5]
    assert select_documents(MME, rows, 4).per_stratum == {"existence": 2, "count": 2}
    assert not select_documents(MME, rows, 5).is_subset  # the third unit completes the task


def test_strata_are_not_part_of_the_samples_fingerprint():
    """Strata choose documents, never change a sample: earlier runs' samples stay resumable."""
    assert "strata" not in POPE.to_dict() and "strata_unit" not in MME.to_dict()


@pytest.mark.parametrize("extra, fragment", [
    ("strata: image\n", "'strata' must be one of the columns listed in 'fields' (got 'image')"),
    ("strata_unit: question_id\n", "'strata_unit' needs 'strata'"),
])
def test_strata_must_name_a_field(tmp_path, extra, fragment):
    text = (REPO / "tasks" / "pope" / "pope.yaml").read_text().replace("strata: category", "#")
    path = tmp_path / "pope.yaml"
    path.write_text(text + extra)
    with pytest.raises(CsrBenchError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        task_from_yaml(path)


def _results(out: Path) -> dict:
    return json.loads((out / "w" / "iter_0" / "results.json").read_text())["results"]["pope"]


def test_eval_limit_spreads_pope_over_its_splits(small_world, tmp_path):
    """The small world's POPE, cut to 5 adversarial, 1 popular and 3 random questions (in the world's
    file order: split by split), as ROWS above; --limit 7 then --limit 4 through the real CLI."""
    keep = {"adversarial": [1, 2, 3, 4, 5], "popular": [37], "random": [73, 74, 75]}
    rows = [json.loads(line) for line in (small_world / "pope" / "pope.jsonl").read_text().splitlines()]
    kept = [row for row in rows if row["question_id"] in keep[row["category"]]]
    assert [row["question_id"] for row in kept] == [1, 2, 3, 4, 5, 37, 73, 74, 75]
    root = tmp_path / "data" / "pope"
    shutil.copytree(small_world / "pope" / "images", root / "images")
    (root / "pope.jsonl").write_text("".join(json.dumps(row) + "\n" for row in kept))

    def evaluate(limit: int):
        return run_cli("eval", "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root", str(tmp_path / "data"),
                       "--output", str(tmp_path / "out"), "--run-name", "w", "--limit", str(limit), "--quiet",
                       check=True)

    summary = evaluate(7).stdout
    entry = _results(tmp_path / "out")
    assert entry["n_samples"] == 7 and entry["n_documents"] == 9 and entry["n_generated"] == 7
    assert entry["subset"] == {"limit": 7, "strata": "category",
                               "per_stratum": {"adversarial": 3, "popular": 1, "random": 3}}
    assert entry["doc_ids"] == [1, 2, 3, 37, 73, 74, 75]
    assert "n=7 of 9" in summary

    evaluate(4)
    entry = _results(tmp_path / "out")
    assert entry["doc_ids"] == [1, 2, 37, 73] and entry["n_generated"] == 0  # all reused from the --limit 7 run
    assert entry["subset"]["per_stratum"] == {"adversarial": 2, "popular": 1, "random": 1}

    full = run_cli("eval", "--model", str(WORLD_VLM), "--tasks", "pope", "--data-root", str(tmp_path / "data"),
                   "--output", str(tmp_path / "out"), "--run-name", "w", "--quiet", check=True).stdout
    entry = _results(tmp_path / "out")
    assert "subset" not in entry and "doc_ids" not in entry and entry["n_samples"] == 9 and entry["n_generated"] == 2
    assert "n=9 " in full and " of 9" not in full
