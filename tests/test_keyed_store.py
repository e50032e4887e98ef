"""storage.keyed_store: a resume reads what is done, per-process shards merge in the order asked,
a crash's unfinished append is cut off whole, and a store made with other settings is refused."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.storage.keyed_store import KeyedStore

ROOT = Path(__file__).resolve().parent.parent


def _as_process(monkeypatch, rank, world_size):
    monkeypatch.setenv("WORLD_SIZE", str(world_size))
    monkeypatch.setenv("RANK", str(rank))


def test_a_resume_reads_the_done_keys_and_appends_the_rest(tmp_path):
    path = tmp_path / "samples.jsonl"
    store = KeyedStore(path, key="doc_id")
    assert len(store) == 0 and store.own_path == path  # one process: its appends go to the file itself
    store.append([{"doc_id": 1, "prediction": "yes"}, {"doc_id": "1", "prediction": "no"}])

    resumed = KeyedStore(path, key="doc_id")
    assert 1 in resumed and "1" in resumed and 2 not in resumed  # keys compare as JSON text: 1 is not "1"
    assert resumed[1] == {"doc_id": 1, "prediction": "yes"} and resumed["1"]["prediction"] == "no"
    resumed.append([{"doc_id": 2, "prediction": "no"}])
    assert path.read_text() == ('{"doc_id": 1, "prediction": "yes"}\n{"doc_id": "1", "prediction": "no"}\n'
                                '{"doc_id": 2, "prediction": "no"}\n')
    assert [r["doc_id"] for r in KeyedStore(path, key="doc_id").records()] == [1, "1", 2]


def test_each_process_appends_to_its_shard_and_the_main_one_merges_them_in_order(tmp_path, monkeypatch):
    path = tmp_path / "trees.jsonl"
    _as_process(monkeypatch, 0, 2)
    main = KeyedStore(path, key="prompt_id")
    assert main.own_path.name == "trees.rank0-of-2.jsonl"
    main.append([{"prompt_id": "b"}])
    _as_process(monkeypatch, 1, 2)
    other = KeyedStore(path, key="prompt_id")  # opened after the main one wrote: reads its shard too
    assert other.own_path.name == "trees.rank1-of-2.jsonl" and "b" in other
    other.append([{"prompt_id": "c"}, {"prompt_id": "a"}])

    _as_process(monkeypatch, 0, 2)
    assert "a" not in main  # not read yet
    main.reload()
    assert [r["prompt_id"] for r in main.records()] == ["b", "c", "a"]
    assert [p.name for p in main.shards()] == ["trees.rank0-of-2.jsonl", "trees.rank1-of-2.jsonl"]
    main.merge(["a", "b", "c"])
    assert path.read_text() == '{"prompt_id": "a"}\n{"prompt_id": "b"}\n{"prompt_id": "c"}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["trees.jsonl"]


def test_a_resume_with_another_process_count_reads_every_shard(tmp_path, monkeypatch):
    path = tmp_path / "samples.jsonl"
    for rank, doc in ((0, 0), (1, 1), (2, 2)):  # a three-process run killed before its merge
        _as_process(monkeypatch, rank, 3)
        KeyedStore(path, key="doc_id").append([{"doc_id": doc}])
    monkeypatch.delenv("WORLD_SIZE")
    monkeypatch.delenv("RANK")
    alone = KeyedStore(path, key="doc_id")
    assert [r["doc_id"] for r in alone.records()] == [0, 1, 2]
    alone.append([{"doc_id": 3}])  # one process appends to samples.jsonl itself
    assert path.read_text() == '{"doc_id": 3}\n' and len(alone.shards()) == 3


def test_merge_writes_the_records_as_changed_in_place(tmp_path):
    path = tmp_path / "samples.jsonl"
    store = KeyedStore(path, key="doc_id")
    store.append([{"doc_id": 2, "doc_index": 1}, {"doc_id": 1, "doc_index": 0}])
    store[1]["judged"] = True  # e.g. a judge's decision merged into the record by scoring
    store.merge([1, 2])
    assert path.read_text() == ('{"doc_id": 1, "doc_index": 0, "judged": true}\n'
                                '{"doc_id": 2, "doc_index": 1}\n')


def _append_killed_at(point: str, path: Path) -> None:
    """A process that appends one batch of two records to ``path`` and is killed at fault point ``point``."""
    code = ("import sys; from pathlib import Path; from csr_bench.storage.keyed_store import KeyedStore; "
            "KeyedStore(Path(sys.argv[1]), key='doc_id').append([{'doc_id': 3}, {'doc_id': 4}])")
    env = {**os.environ, "CSR_BENCH_FAULT": point, "PYTHONPATH": str(ROOT)}
    result = subprocess.run([sys.executable, "-c", code, str(path)], env=env, capture_output=True, text=True,
                            timeout=60)
    assert result.returncode == -9, result.stderr  # SIGKILL, as at a power cut


@pytest.mark.parametrize("point", ["torn:samples.jsonl", "unsealed:samples.jsonl"])
def test_an_append_killed_midway_is_cut_off_whole_on_resume(tmp_path, point):
    path = tmp_path / "samples.jsonl"
    KeyedStore(path, key="doc_id").append([{"doc_id": 1}, {"doc_id": 2}])
    committed = '{"doc_id": 1}\n{"doc_id": 2}\n'
    _append_killed_at(point, path)
    # torn: half of the batch's 28 bytes written, which is its first line, whole; unsealed: all of it,
    # the marker not yet removed. Either way the batch is unfinished, complete lines included.
    written = '{"doc_id": 3}\n' if point.startswith("torn") else '{"doc_id": 3}\n{"doc_id": 4}\n'
    assert path.read_text() == committed + written

    resumed = KeyedStore(path, key="doc_id")
    assert [r["doc_id"] for r in resumed.records()] == [1, 2]  # the batch is redone whole, never half
    assert path.read_text() == committed  # repaired on disk
    assert not (tmp_path / ".samples.jsonl.appending").exists()
    resumed.append([{"doc_id": 3}, {"doc_id": 4}])
    assert path.read_text() == committed + '{"doc_id": 3}\n{"doc_id": 4}\n'


def test_a_store_made_with_other_settings_is_refused_in_one_line(tmp_path):
    task_dir = tmp_path / "pope"
    path, settings_file = task_dir / "samples.jsonl", task_dir / "task_run.json"

    def open_store(settings):
        return KeyedStore(path, key="doc_id", settings=settings, settings_file=settings_file,
                          stage="pope: the earlier samples", ignore=("batch_size",))

    open_store({"model": "m1", "generation": {"max_new_tokens": 8}, "batch_size": 4}).append([{"doc_id": 1}])
    assert json.loads(settings_file.read_text()) == {"model": "m1", "generation": {"max_new_tokens": 8},
                                                      "batch_size": 4}
    # a setting that does not change the output (ignored) may differ: resumed
    assert 1 in open_store({"model": "m1", "generation": {"max_new_tokens": 8}, "batch_size": 32})

    with pytest.raises(CsrBenchError) as refused:
        open_store({"model": "m1", "generation": {"max_new_tokens": 16}, "batch_size": 4})
    message = str(refused.value)
    assert "\n" not in message
    assert message.startswith(f"pope: the earlier samples in {task_dir} was made with other settings "
                              "(generation.max_new_tokens 8 -> 16): rerun with the earlier settings")
    assert path.read_text() == '{"doc_id": 1}\n'  # nothing was touched
    assert json.loads(settings_file.read_text())["generation"] == {"max_new_tokens": 8}
