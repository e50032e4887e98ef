"""Task YAMLs: the registry finds them, validates them and names the file on every error."""

import subprocess
import sys
import textwrap

import pytest

from csr_bench.errors import CsrBenchError
from csr_bench.scorers import SCORERS, declared_metric
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


def test_aspects_label_a_task_without_changing_its_samples(tmp_path):
    (tmp_path / "mypope.yaml").write_text(VALID)
    [plain] = get_tasks("mypope", extra=[tmp_path])
    (tmp_path / "mypope.yaml").write_text(VALID + "aspects: [perception, hallucination, perception]\n")
    [tagged] = get_tasks("mypope", extra=[tmp_path])
    assert plain.aspects == () and tagged.aspects == ("perception", "hallucination")
    assert tagged.to_dict() == plain.to_dict()  # retagging a task never invalidates its samples


@pytest.mark.parametrize("content, message", [
    ("task: pope\ndescription: a: b\n", "bad.yaml:2: malformed YAML (mapping values are not allowed here)"),
    ("- a list\n", "must be a YAML mapping"),
    (VALID + "colour: red\n", "unknown key(s) colour"),
    (VALID.replace("scorer: pope", "scorer: nope"), "unknown scorer 'nope'"),
    (VALID.replace('prompt: "{question}"', 'prompt: "{hint} {question}"'), "prompt uses hint"),
    (VALID.replace("doc_id: question_id\n", ""), "missing key(s) doc_id"),
    (VALID + "generation: {max_tokens: 3}\n", "generation: unknown key(s) max_tokens"),
    (VALID + "aspects: [perception, vibes]\n", "unknown aspect(s) vibes"),
    (VALID + "aspects: perception\n", "'aspects' must be a list"),
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


def test_a_scorer_lacking_fields_is_refused_when_the_task_is_chosen(tmp_path):
    (tmp_path / "mypope.yaml").write_text(VALID.replace("fields: [question_id, question, answer]",
                                                        "fields: [question_id, question]"))
    with pytest.raises(CsrBenchError) as info:
        get_tasks("mypope", extra=[tmp_path])
    assert str(info.value) == f"{tmp_path / 'mypope.yaml'}: scorer 'pope' needs field(s) answer in 'fields'"


def test_builtin_tasks_are_folders_named_as_the_task():
    for name, task in load_registry().items():
        assert task.source_file.endswith(f"/{name}/{name}.yaml"), task.source_file


TOY_SCORER = """\
from csr_bench.scorers import Metric


class ToyScorer:
    required_fields = ("answer",)
    headline = ("hits",)
    metrics = (Metric("hits", "higher", "share of answers containing the expected word (%)"),)

    def score_sample(self, record, context=None):
        return {"correct": record["answer"] in record["prediction"].lower()}

    def aggregate(self, records, context=None):
        return {"hits": 100 * sum(self.score_sample(r)["correct"] for r in records) / len(records)}
"""
TOY_PROMPT = """\
def ask(doc):
    return f"Say {doc['answer']}."
"""
TOY = VALID.replace("task: mypope", "task: toy").replace("scorer: pope", "scorer: scorer.py:ToyScorer")


def toy_folder(root, name="toy", scorer=TOY_SCORER, task=TOY):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / f"{name}.yaml").write_text(task)
    (folder / "scorer.py").write_text(scorer)
    return folder


def test_a_task_folder_brings_its_own_scorer_and_prompt(tmp_path):
    folder = toy_folder(tmp_path)
    (folder / "toy.yaml").write_text(TOY.replace('prompt: "{question}"', "prompt_builder: prompt.py:ask"))
    (folder / "prompt.py").write_text(TOY_PROMPT)
    [task] = get_tasks("toy", extra=[tmp_path])
    assert task.scorer == f"{(folder / 'scorer.py').resolve()}:ToyScorer"  # what results.json records
    assert task.to_dict()["scorer"] == "scorer.py:ToyScorer" and task.to_dict()["prompt_builder"] == "prompt.py:ask"
    assert task.render_prompt({"answer": "cat"}) == "Say cat."
    scorer = SCORERS[task.scorer]
    assert scorer.name == task.scorer and scorer.score_sample({"answer": "cat", "prediction": "A Cat."})["correct"]
    assert scorer.aggregate([{"answer": "cat", "prediction": "cat"}, {"answer": "dog", "prediction": "cat"}]) == \
        {"hits": 50.0}
    assert declared_metric(task.scorer, "hits").direction == "higher"  # tables and the gate read this
    assert task.scorer in SCORERS and task.scorer not in list(SCORERS)  # found by reference, not listed


def test_two_task_folders_may_each_hold_a_scorer_py(tmp_path):
    toy_folder(tmp_path, "toy")
    toy_folder(tmp_path, "toy2", scorer=TOY_SCORER.replace('("hits",)', '("misses",)').replace(
        '"hits", "higher"', '"misses", "lower"'), task=TOY.replace("task: toy", "task: toy2"))
    first, second = get_tasks("toy,toy2", extra=[tmp_path])
    assert SCORERS[first.scorer].headline == ("hits",) and SCORERS[second.scorer].headline == ("misses",)


def test_a_flat_yaml_and_a_folder_in_one_include_folder(tmp_path):
    toy_folder(tmp_path)
    (tmp_path / "mypope.yaml").write_text(VALID)
    assert {"toy", "mypope", "pope"} <= set(load_registry(extra=[tmp_path]))


@pytest.mark.parametrize("scorer, message", [
    ("raise RuntimeError('broken on purpose')\n", "cannot load it (RuntimeError: broken on purpose)"),
    ("class ToyScorer:\n    pass\n", "has no required_fields, headline, metrics, score_sample, aggregate"),
    (TOY_SCORER.replace('(Metric("hits", "higher", "share of answers containing the expected word (%)"),)',
                        '("hits",)'), "its metrics must be csr_bench.scorers.Metric declarations"),
])
def test_a_broken_task_folder_scorer_is_a_one_line_error_naming_the_yaml(tmp_path, scorer, message):
    folder = toy_folder(tmp_path, scorer=scorer)
    with pytest.raises(CsrBenchError) as info:
        get_tasks("toy", extra=[tmp_path])
    assert str(info.value).startswith(f"{folder / 'toy.yaml'}: scorer ") and message in str(info.value)
    assert "\n" not in str(info.value)


def test_a_missing_scorer_file_is_refused_when_the_yaml_is_read(tmp_path):
    folder = toy_folder(tmp_path)
    (folder / "scorer.py").unlink()
    with pytest.raises(CsrBenchError, match=r"toy\.yaml: 'scorer: scorer\.py:ToyScorer': no file .*scorer\.py"):
        load_registry(extra=[tmp_path])


def test_a_reference_the_registry_cannot_load_is_an_unknown_scorer():
    """Reporting looks scorers up by what results.json recorded; a moved or missing file is no scorer."""
    assert SCORERS.get("/no/such/folder/scorer.py:ToyScorer") is None and SCORERS.get("nope") is None
    assert SCORERS.get("scorer.py:ToyScorer") is None  # relative: only a task YAML's folder gives it meaning
    assert declared_metric("/no/such/folder/scorer.py:ToyScorer", "hits") is None


def test_listing_tasks_imports_no_scorer():
    code = ("import sys\nfrom csr_bench.tasks import load_registry\nload_registry()\n"
            "print(sorted(m for m in sys.modules if m.startswith('csr_bench.scorers.')))\n")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    # the MMBench prompt shows the options its scorer reads, so both share scorers/mmbench.py's rule
    assert result.stdout.strip() == "['csr_bench.scorers.base', 'csr_bench.scorers.mmbench']"


def test_a_scorer_in_an_installed_module_is_named_module_colon_class(tmp_path):
    (tmp_path / "mygqa.yaml").write_text(VALID.replace("task: mypope", "task: mygqa").replace(
        "scorer: pope", "scorer: csr_bench.scorers.gqa:GqaScorer"))
    [task] = get_tasks("mygqa", extra=[tmp_path])
    assert task.scorer == "csr_bench.scorers.gqa:GqaScorer" == task.to_dict()["scorer"]
    assert SCORERS[task.scorer].score_sample({"answer": "table", "prediction": "Table."}) == {"correct": True}
    (tmp_path / "mygqa.yaml").write_text(VALID.replace("task: mypope", "task: mygqa").replace(
        "scorer: pope", "scorer: csr_bench.scorers.gqa:NoSuchScorer"))
    with pytest.raises(CsrBenchError, match=r"mygqa\.yaml: scorer csr_bench\.scorers\.gqa:NoSuchScorer: cannot load it "
                                            r"\(AttributeError"):
        get_tasks("mygqa", extra=[tmp_path])
