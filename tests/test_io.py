"""Crash-safe writes: atomic JSON, and JSONL whose cut-short last line is dropped on read."""

import json

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.storage.files import append_jsonl, atomic_write_json, read_jsonl_records


def test_atomic_write_leaves_no_temporary_files(tmp_path):
    target = tmp_path / "sub" / "results.json"
    atomic_write_json(target, {"a": 1})
    atomic_write_json(target, {"a": 2})
    assert json.loads(target.read_text()) == {"a": 2}
    assert [p.name for p in target.parent.iterdir()] == ["results.json"]


def test_truncated_tail_is_dropped_and_file_repaired(tmp_path):
    path = tmp_path / "samples.jsonl"
    append_jsonl(path, [{"doc_id": 1}, {"doc_id": 2}])
    with open(path, "a") as handle:
        handle.write('{"doc_id": 3, "predic')  # a crash in the middle of an append
    assert read_jsonl_records(path) == [{"doc_id": 1}, {"doc_id": 2}]
    assert path.read_text() == '{"doc_id": 1}\n{"doc_id": 2}\n'
    append_jsonl(path, [{"doc_id": 3}])
    assert [r["doc_id"] for r in read_jsonl_records(path)] == [1, 2, 3]


def test_complete_last_line_without_newline_is_kept(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"doc_id": 1}\n{"doc_id": 2}')
    assert read_jsonl_records(path) == [{"doc_id": 1}, {"doc_id": 2}]
    append_jsonl(path, [{"doc_id": 3}])
    assert [r["doc_id"] for r in read_jsonl_records(path)] == [1, 2, 3]


def test_reading_without_repair_leaves_the_file_as_it_is(tmp_path):
    path = tmp_path / "samples.jsonl"
    for text in ('{"doc_id": 1}\n{"doc_', '{"doc_id": 1}\n{"doc_id": 2}'):  # a cut line; no final newline
        path.write_text(text)
        assert read_jsonl_records(path, repair=False) == [{"doc_id": 1}, {"doc_id": 2}][:text.count("}")]
        assert path.read_text() == text


def test_corrupt_middle_line_is_an_error_naming_the_line(tmp_path):
    path = tmp_path / "samples.jsonl"
    path.write_text('{"doc_id": 1}\nnot json\n{"doc_id": 3}\n')
    with pytest.raises(CsrBenchError, match=r"samples.jsonl:2: malformed JSON line"):
        read_jsonl_records(path)


def test_strict_reader_names_the_line(tmp_path):
    from csr_bench.storage.files import read_jsonl_objects

    path = tmp_path / "p.jsonl"
    path.write_text('{"a": 1}\n\n{"b": 2}\n')
    assert read_jsonl_objects(path) == [(1, {"a": 1}), (3, {"b": 2})]
    path.write_text('{"a": 1}\n[1, 2]\n')
    with pytest.raises(CsrBenchError, match=r"p.jsonl:2: expected a JSON object, got list"):
        read_jsonl_objects(path)
    path.write_text('{"a": 1}\n{"a": \n')
    with pytest.raises(CsrBenchError, match=r"p.jsonl:2: malformed JSON"):
        read_jsonl_objects(path)
    with pytest.raises(CsrBenchError, match=r"missing.jsonl: cannot read records"):
        read_jsonl_objects(tmp_path / "missing.jsonl")
