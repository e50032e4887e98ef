"""The plugin contract: a method and a benchmark that csr-bench has never seen, each written in a
temporary folder, run through ``csr-bench run`` as a user would run them.

The method is a package found through the ``csr_bench.methods`` entry-point group (a dist-info
folder on PYTHONPATH, as ``pip install`` writes one); the benchmark is a task folder given with
--include-tasks, with its own scorer. Neither needs an edit of csr-bench.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

TOY_METHOD = '''\
"""A toy alignment method: for each image, "chosen" names its colour, "rejected" a wrong one."""
from dataclasses import dataclass, field
from pathlib import Path

from csr_bench.methods.base import PairSet, method_dir
from csr_bench.training.config import DpoLoraConfig


@dataclass
class ToyConfig:
    images: str | None = field(default=None, metadata={"help": "folder of PNG images"})
    pairs_per_image: int = field(default=1, metadata={"min": 1, "help": "copies of each pair"})
    training: DpoLoraConfig = field(default_factory=DpoLoraConfig)


class CountingTerm:
    """Adds nothing to the loss, and counts the batches it was asked about."""
    name = "counting"

    def __init__(self, log):
        self.log = log

    def __call__(self, trainer, model, inputs):
        with open(self.log, "a") as out:
            out.write("batch\\n")
        parameter = next(p for p in model.parameters() if p.requires_grad)
        return 0.0 * parameter.sum()


class ToyMethod:
    name = "toy"
    config_class = ToyConfig

    def __init__(self, config=None, device=None):
        self.config, self.device = config or ToyConfig(), device
        self.loss_term = CountingTerm(Path(self.config.images).parent / "loss_term.log")

    def make_pairs(self, current):
        method_dir(current, self.name).mkdir(parents=True, exist_ok=True)
        (method_dir(current, self.name) / "seen.txt").write_text(current.model_source)
        pairs = [{"image": str(path), "prompt": "What colour is the image?", "chosen": "It is red.",
                  "rejected": "It is blue.", "prompt_id": f"{path.stem}-{copy}"}
                 for path in sorted(Path(self.config.images).glob("*.png"))
                 for copy in range(self.config.pairs_per_image)]
        return PairSet(pairs, {"images": len(pairs) // self.config.pairs_per_image})
'''

TOY_SCORER = '''\
from csr_bench.scorers import Metric


class SaysRed:
    required_fields = ("answer",)
    headline = ("red",)
    metrics = (Metric("red", "higher", "share of answers that say red (%)"),)

    def score_sample(self, record, context=None):
        return {"red": "red" in record["prediction"].lower()}

    def aggregate(self, records, context=None):
        return {"red": 100 * sum(self.score_sample(r)["red"] for r in records) / len(records)}
'''

TOY_TASK = """\
task: colours
description: does the model say the image is red
dataset: {local: colours}
doc_id: question_id
image_field: image
fields: [question_id, question, answer]
prompt: "{question}"
generation: {max_new_tokens: 4}
scorer: scorer.py:SaysRed
"""


@pytest.fixture()
def plugins(tmp_path):
    """A package with the toy method (registered as an entry point), a task folder, its data and images."""
    from PIL import Image

    site = tmp_path / "site"
    (site / "toy_method").mkdir(parents=True)
    (site / "toy_method" / "__init__.py").write_text(TOY_METHOD)
    info = site / "toy_method-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: toy-method\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[csr_bench.methods]\ntoy = toy_method:ToyMethod\n")

    images = tmp_path / "prompts" / "images"
    images.mkdir(parents=True)
    for i, colour in enumerate([(200, 30, 30), (30, 30, 200), (30, 200, 30)]):
        Image.new("RGB", (32, 32), colour).save(images / f"{i}.png")
    tasks = tmp_path / "tasks" / "colours"
    tasks.mkdir(parents=True)
    (tasks / "colours.yaml").write_text(TOY_TASK)
    (tasks / "scorer.py").write_text(TOY_SCORER)
    data = tmp_path / "data"
    data.mkdir()
    (data / "colours.jsonl").write_text("".join(
        json.dumps({"question_id": i, "question": "What colour is it?", "answer": "red",
                    "image": str(images / f"{i}.png")}) + "\n" for i in range(3)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(site), os.environ.get("PYTHONPATH", "")])}
    return {"root": tmp_path, "env": env, "images": images, "tasks": tasks.parent, "data": data}


def csr_bench(plugins, *args):
    return subprocess.run([sys.executable, "-m", "csr_bench", *args], capture_output=True, text=True,
                          env=plugins["env"], cwd=plugins["root"], timeout=600)


def test_a_new_method_and_a_new_benchmark_run_through_csr_bench_run(plugins):
    out = plugins["root"] / "out"
    result = csr_bench(plugins, "run", "--model", "tiny-llava", "--method", "toy", "--iterations", "1",
                       "--tasks", "colours", "--include-tasks", str(plugins["tasks"]),
                       "--data-root", str(plugins["data"]), "--images", str(plugins["images"]),
                       "--pairs-per-image", "2", "--learning-rate", "1e-3", "--lora-r", "8", "--lora-alpha", "16",
                       "--quiet", "--output", str(out))
    assert result.returncode == 0, result.stderr
    run = out / "tiny-llava-toy"  # a method other than CSR: <model>-<method>

    # the method's pairs, through the shared driver: 3 images x 2 copies, its own statistics beside them
    pairs = [json.loads(line) for line in (run / "iter_1" / "pairs" / "preferences.jsonl").read_text().splitlines()]
    assert [p["prompt_id"] for p in pairs] == ["0-0", "0-1", "1-0", "1-1", "2-0", "2-1"]
    assert {(p["chosen"], p["rejected"]) for p in pairs} == {("It is red.", "It is blue.")}
    summary = json.loads((run / "iter_1" / "pairs" / "summary.json").read_text())
    assert summary == {"method": "toy", "pairs": 6, "images": 3}
    # its own folder, and the model it was given: iteration 0's
    assert (run / "iter_1" / "toy" / "seen.txt").read_text() == str(run / "iter_0" / "model")
    # the shared trainer ran DPO on the 6 pairs (batch 1: 6 optimizer steps), with the method's loss term
    assert (plugins["root"] / "prompts" / "loss_term.log").read_text().count("batch") == 6
    inputs = json.loads((run / "iter_1" / "dpo_inputs.json").read_text())
    assert inputs["loss_term"] == "counting"
    assert list((run / "iter_1" / "model").glob("*.safetensors"))

    # the benchmark, scored by its own scorer at both iterations: the share of the saved answers saying red
    for k in (0, 1):
        samples = [json.loads(line)
                   for line in (run / f"iter_{k}" / "colours" / "samples.jsonl").read_text().splitlines()]
        expected = 100 * sum("red" in s["prediction"].lower() for s in samples) / 3
        results = json.loads((run / f"iter_{k}" / "results.json").read_text())
        assert len(samples) == 3 and results["results"]["colours"]["metrics"]["red"] == pytest.approx(expected)

    manifest = json.loads((run / "run.json").read_text())
    assert manifest["config"]["method"] == "toy" and manifest["config"]["method_config"]["pairs_per_image"] == 2
    assert manifest["iterations"][1]["pairs"] == "iter_1/pairs"
    # the tables show the new benchmark (its declared headline metric, per iteration) and name the method
    tables = (run / "tables.md").read_text()
    other = tables[tables.index("**Other benchmarks"):].split("\n\n")[1].splitlines()
    assert "colours red" in other[0] and other[2].startswith("| tiny-llava-toy ") and "+ TOY (iter 1)" in other[3]
    assert "**TOY iterations: hallucination metrics" in tables


def test_a_methods_flags_come_from_its_config(plugins):
    shown = csr_bench(plugins, "run", "--method", "toy", "--help")
    assert shown.returncode == 0, shown.stderr
    assert "--pairs-per-image" in shown.stdout and "--images" in shown.stdout and "--beta" in shown.stdout
    assert "--num-beams" not in shown.stdout  # CSR's search flags belong to CSR
    assert "--num-beams" in csr_bench(plugins, "run", "--help").stdout
    bad = csr_bench(plugins, "run", "--model", "tiny-llava", "--method", "toy", "--pairs-per-image", "0")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr
    assert "argument --pairs-per-image: must be at least 1, got 0" in bad.stderr


def test_an_unknown_method_names_the_known_ones(plugins):
    from conftest import assert_one_line_error

    assert_one_line_error(csr_bench(plugins, "run", "--method", "nosuch", "--iterations", "1"),
                          "unknown --method nosuch (known: csr, dpo, povid, self-reward, sima, toy)")
    assert "csr, dpo, povid, self-reward, sima, toy (default csr)" in " ".join(csr_bench(plugins, "run", "--help").stdout.split())


def test_a_config_field_whose_flag_is_taken_is_a_one_line_error(plugins):
    from conftest import assert_one_line_error

    method = plugins["root"] / "site" / "toy_method" / "__init__.py"
    method.write_text(method.read_text().replace(
        'pairs_per_image: int = field(default=1, metadata={"min": 1, "help": "copies of each pair"})',
        'seed: int = 0\n    pairs_per_image: int = 1'))
    assert_one_line_error(csr_bench(plugins, "run", "--method", "toy", "--iterations", "1"),
                          "ToyConfig.seed: its flag --seed is another option's too")
