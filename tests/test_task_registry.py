"""Task YAMLs: the registry finds them, validates them and names the file on every error."""

import textwrap

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.tasks import get_tasks, load_registry, task_from_yaml

VALID = textwrap.dedent("""\
    task: mypope
    description: my POPE copy
    dataset: {local: mypope}
    doc_id: question_id
    image_field: image
    fields: [question_id, question, answer]
    prompt: "{question}"
    scorer: pope
""")


def test_pope_is_registered_with_the_llava_prompt():
    task = load_registry()["pope"]
    assert task.scorer == "pope"
    assert task.dataset.hub.path == "lmms-lab/POPE" and task.dataset.hub.split == "test"
    assert task.generation.max_new_tokens == 128 and task.generation.do_sample is False
    assert task.render_prompt({"question": "Is there a dog in the image?"}) == (
        "Is there a dog in the image?\nAnswer the question using a single word or phrase.")


def test_adding_a_task_is_adding_a_yaml(tmp_path):
    (tmp_path / "mypope.yaml").write_text(VALID)
    [task] = get_tasks("mypope", extra=[tmp_path])
    assert task.name == "mypope" and task.fields == ("question_id", "question", "answer")
    assert "pope" in load_registry(extra=[tmp_path])


@pytest.mark.parametrize("content, message", [
    ("task: pope\ndescription: a: b\n", "bad.yaml:2: malformed YAML (mapping values are not allowed here)"),
    ("- a list\n", "must be a YAML mapping"),
    (VALID + "colour: red\n", "unknown key(s) colour"),
    (VALID.replace("scorer: pope", "scorer: nope"), "unknown scorer 'nope'"),
    (VALID.replace('prompt: "{question}"', 'prompt: "{hint} {question}"'), "prompt uses hint"),
    (VALID.replace("fields: [question_id, question, answer]", "fields: [question_id, question]"),
     "needs field(s) answer"),
    (VALID.replace("doc_id: question_id\n", ""), "missing key(s) doc_id"),
    (VALID + "generation: {max_tokens: 3}\n", "generation: unknown key(s) max_tokens"),
])
def test_bad_yaml_is_a_one_line_error_naming_the_file(tmp_path, content, message):
    path = tmp_path / "bad.yaml"
    path.write_text(content)
    with pytest.raises(CsrBenchError) as info:
        task_from_yaml(path)
    assert str(path) in str(info.value) and message in str(info.value)
    assert "\n" not in str(info.value)


def test_unknown_task_and_duplicates(tmp_path):
    with pytest.raises(CsrBenchError, match=r"unknown task\(s\): nosuch \(known: .*pope"):
        get_tasks("pope,nosuch")
    (tmp_path / "again.yaml").write_text(VALID.replace("task: mypope", "task: pope"))
    with pytest.raises(CsrBenchError, match="already defined"):
        load_registry(extra=[tmp_path])
    with pytest.raises(CsrBenchError, match="task folder not found"):
        load_registry(extra=[tmp_path / "missing"])
