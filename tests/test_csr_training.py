"""DPO + LoRA training (csr_bench.training.dpo) on the tiny LLaVA, through trl's DPOTrainer, on the CPU."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
from PIL import Image, ImageDraw

from csr_bench.training import dpo as training
from csr_bench.training.dpo_data import (PaddedImageCollator, build_preference_dataset, render_example,
                                    vicuna_v1_chat_template)
from csr_bench.training.dpo import DpoLoraConfig, language_model_linear_names, train_dpo
from csr_bench.errors import CsrBenchError
from csr_bench.models.base import ContinuationRequest
from csr_bench.models.conversation import VICUNA_V1_SYSTEM, llava_v1_prompt
from csr_bench.models.llava import LlavaModel, expand_to_square
from csr_bench.models.tiny_llava import build_processor, build_tiny_llava

COLOURS = ["red", "green", "blue", "yellow"]
PROMPTS = ["Describe this image.", "What is in the picture?", "Describe this image.", "What do you see?"]
# A large learning rate and a small adapter: a few steps must visibly move the tiny model.
FAST = dict(learning_rate=1e-3, lora_r=8, lora_alpha=16, warmup_ratio=0.0, seed=0)


def _records(root: Path) -> list[dict]:
    records = []
    for i, colour in enumerate(COLOURS):
        image = Image.new("RGB", (40 + 4 * i, 28), "white")  # not square: the pad-to-square path runs
        ImageDraw.Draw(image).rectangle([5, 5, 30, 20], fill=colour)
        image.save(root / f"img{i}.png")
        records.append({"id": i, "image": f"img{i}.png", "prompt": PROMPTS[i],
                        "chosen": f"A {colour} square.", "rejected": "A cat on a bed."})
    return records


class _Recorder:
    """Wraps trl's DPOTrainer to keep what the trainer was built with (before the merge unloads LoRA)."""

    trainers: list = []

    @classmethod
    def subclass(cls, base, callback=None):
        class Recording(base):
            def __init__(self, *args, **kwargs):
                super().__init__(*args, **kwargs)
                from peft.tuners.tuners_utils import BaseTunerLayer

                self.lora_modules = [name for name, module in self.model.named_modules()
                                     if isinstance(module, BaseTunerLayer)]
                self.adapters = list(self.model.peft_config)
                if callback is not None:
                    self.add_callback(callback)
                cls.trainers.append(self)

        return Recording


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, tiny_checkpoint):
    root = tmp_path_factory.mktemp("dpo")
    records = _records(root)
    jsonl = root / "preferences.jsonl"
    jsonl.write_text("".join(json.dumps(r) + "\n" for r in records))
    return {"root": root, "records": records, "jsonl": jsonl, "checkpoint": tiny_checkpoint}


@pytest.fixture(scope="module")
def trained(workspace):
    import trl

    patch = pytest.MonkeyPatch()
    patch.setattr(trl, "DPOTrainer", _Recorder.subclass(trl.DPOTrainer))
    try:
        output = workspace["root"] / "out"
        model_path = train_dpo(workspace["checkpoint"], workspace["jsonl"], workspace["root"], output,
                               DpoLoraConfig(**FAST), device="cpu")
    finally:
        patch.undo()
    return {"model": model_path, "output": output, "trainer": _Recorder.trainers[-1]}


def _margins(model: LlavaModel, root: Path, records: list[dict]) -> list[float]:
    requests = []
    for record in records:
        image = Image.open(root / record["image"]).convert("RGB")
        requests += [ContinuationRequest(image, record["prompt"], record["chosen"]),
                     ContinuationRequest(image, record["prompt"], record["rejected"])]
    scores = model.continuation_logprobs(requests)
    return [chosen - rejected for chosen, rejected in zip(scores[0::2], scores[1::2])]


def test_dpo_raises_the_chosen_minus_rejected_margin(trained, workspace):
    before = LlavaModel.from_pretrained(str(workspace["checkpoint"]), name="base", device="cpu")
    after = LlavaModel.from_pretrained(str(trained["model"]), name="dpo", device="cpu")
    margin_before = _margins(before, workspace["root"], workspace["records"])
    margin_after = _margins(after, workspace["root"], workspace["records"])
    mean_before = sum(margin_before) / len(margin_before)
    mean_after = sum(margin_after) / len(margin_after)
    assert mean_after > mean_before + 0.1, (margin_before, margin_after)


def test_merged_model_folder_is_a_plain_safetensors_checkpoint(trained):
    folder = trained["model"]
    assert folder == trained["output"] / "model"
    names = {p.name for p in folder.iterdir()}
    assert any(name.endswith(".safetensors") for name in names)
    assert not any(name.startswith("adapter_") for name in names), names
    assert not any(name.endswith(".bin") for name in names), names
    marker = json.loads((folder / training.DONE_MARKER).read_text())
    assert marker["num_preferences"] == 4 and marker["train_metrics"]["resumed_from"] is None
    config = json.loads((folder / "config.json").read_text())
    assert config["model_type"] == "llava"
    model = LlavaModel.from_pretrained(str(folder), name="dpo", device="cpu")
    assert type(model.model).__name__ == "LlavaForConditionalGeneration"
    assert not any("lora" in name for name in model.model.state_dict())


def test_lora_targets_exactly_the_language_model_linear_layers(trained):
    trainer = trained["trainer"]
    lora = set(trainer.lora_modules)
    model, _ = build_tiny_llava()
    expected = {f"base_model.model.{name}" for name, module in model.named_modules()
                if isinstance(module, torch.nn.Linear) and ".language_model." in f".{name}"}
    assert len(expected) == 2 * 7  # 2 Llama layers x (q, k, v, o, gate, up, down)
    assert lora == expected
    assert not any(part in name for name in lora for part in ("vision_tower", "multi_modal_projector", "lm_head"))
    assert {n.removeprefix("base_model.model.") for n in expected} == set(language_model_linear_names(model))


def test_reference_is_the_adapter_switched_off_and_cpu_runs_fp32(trained):
    trainer = trained["trainer"]
    assert trainer.ref_model is None  # trl then scores the reference under model.disable_adapter()
    assert trainer.adapters == ["default"]  # no "ref" copy of the adapter
    assert trainer.args.bf16 is False and trainer.args.use_cpu is True
    assert trainer.args.beta == 0.1 and trainer.args.loss_type == ["sigmoid"]
    assert trainer.args.lr_scheduler_type == "cosine"
    assert trainer.args.per_device_train_batch_size == 1
    assert trainer.args.activation_checkpointing is True


def test_training_prompt_is_llava_v1_prompt_with_the_system_message_once(workspace):
    processor = build_processor()
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    dataset = build_preference_dataset(workspace["records"], workspace["root"])
    row = dataset[1]
    record = workspace["records"][1]
    image = Image.open(workspace["root"] / record["image"]).convert("RGB")
    rendered = render_example(processor, {**row, "images": [image]})
    assert rendered["prompt"] == llava_v1_prompt(record["prompt"])
    assert rendered["prompt"].count(VICUNA_V1_SYSTEM) == 1
    assert rendered["chosen"] == " " + record["chosen"] + "</s>"
    assert rendered["rejected"] == " " + record["rejected"] + "</s>"

    # What trl's collator actually feeds the model: token ids and pixels as LLaVA-1.5 trains and we evaluate.
    batch = PaddedImageCollator(processor)([dict(row)])
    model, eval_processor = build_tiny_llava()
    evaluator = LlavaModel(model, eval_processor, name="tiny", source="tiny", device="cpu")
    evaluated = evaluator._encode([image], [record["prompt"]])
    prompt_ids = evaluated["input_ids"][0].tolist()  # BOS + llava_v1_prompt, image tokens expanded
    tokenizer = processor.tokenizer
    for index, answer in enumerate((record["chosen"], record["rejected"])):
        ids = batch["input_ids"][index][batch["attention_mask"][index].bool()].tolist()
        completion = tokenizer(" " + answer + "</s>", add_special_tokens=False)["input_ids"]
        assert ids == prompt_ids + completion
        mask = batch["completion_mask"][index][batch["attention_mask"][index].bool()].tolist()
        assert mask == [0] * len(prompt_ids) + [1] * len(completion)
    assert tokenizer.decode(ids[:len(prompt_ids)]).count(VICUNA_V1_SYSTEM) == 1
    expected_pixels = evaluated["pixel_values"][0]
    assert torch.allclose(batch["pixel_values"][0], expected_pixels)
    padded = expand_to_square(image, evaluator.pad_colour)
    assert padded.size == (44, 44)


def test_multi_turn_template_follows_vicuna_v1_separators():
    processor = build_processor()
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    text = processor.apply_chat_template(
        [{"role": "user", "content": [{"type": "image"}, {"type": "text", "text": "Q1"}]},
         {"role": "assistant", "content": [{"type": "text", "text": "A1"}]},
         {"role": "user", "content": [{"type": "text", "text": "Q2"}]}],
        tokenize=False, add_generation_prompt=True)
    assert text == f"{VICUNA_V1_SYSTEM} USER: <image>\nQ1 ASSISTANT: A1</s>USER: Q2 ASSISTANT:"


def test_finished_output_is_returned_without_training(trained, workspace, monkeypatch):
    import trl

    class Boom:
        def __init__(self, *args, **kwargs):
            raise AssertionError("trained again")

    monkeypatch.setattr(trl, "DPOTrainer", Boom)
    again = train_dpo(workspace["root"] / "no-such-model", [], None, trained["output"], DpoLoraConfig(**FAST))
    assert again == trained["model"]


def test_interrupted_training_resumes_from_its_last_checkpoint(trained, workspace, monkeypatch):
    import trl
    from transformers import TrainerCallback

    class Interrupt(Exception):
        pass

    class StopAfterStep3(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == 3:  # checkpoint-2 is on disk
                raise Interrupt()

    original = trl.DPOTrainer
    output = workspace["root"] / "resumed"
    config = DpoLoraConfig(**FAST, save_steps=2)
    monkeypatch.setattr(trl, "DPOTrainer", _Recorder.subclass(original, StopAfterStep3()))
    with pytest.raises(Interrupt):
        train_dpo(workspace["checkpoint"], workspace["jsonl"], workspace["root"], output, config, device="cpu")
    assert (output / "trainer" / "checkpoint-2").is_dir()
    assert not (output / "model" / training.DONE_MARKER).exists()

    monkeypatch.setattr(trl, "DPOTrainer", _Recorder.subclass(original))
    path = train_dpo(workspace["checkpoint"], workspace["jsonl"], workspace["root"], output, config, device="cpu")
    marker = json.loads((path / training.DONE_MARKER).read_text())
    assert marker["train_metrics"]["resumed_from"] == "checkpoint-2"
    # Same data order, same optimizer state: the resumed run ends where the uninterrupted one did.
    from safetensors.torch import load_file

    resumed = load_file(next(path.glob("*.safetensors")))
    straight = load_file(next(trained["model"].glob("*.safetensors")))
    assert resumed.keys() == straight.keys()
    for name in resumed:
        assert torch.allclose(resumed[name], straight[name], atol=1e-6), name


def test_one_labelled_bar_and_the_log_dicts_in_train_log(workspace, tmp_path, capsys):
    """transformers' own bar and its PrinterCallback are replaced by one DpoConsole: one bar over the
    optimizer steps, labelled, the last log's loss and reward margin in its postfix; every log dict
    of the training (the trainer state's log_history) is a JSON line of train.log, none on stdout."""
    import re

    import trl

    patch = pytest.MonkeyPatch()
    patch.setattr(trl, "DPOTrainer", _Recorder.subclass(trl.DPOTrainer))
    output = tmp_path / "out"
    try:
        train_dpo(workspace["checkpoint"], workspace["jsonl"], workspace["root"], output,
                  DpoLoraConfig(**FAST, logging_steps=1), device="cpu", label="iter 7 dpo")
    finally:
        patch.undo()
    trainer = _Recorder.trainers[-1]
    kinds = [type(callback).__name__ for callback in trainer.callback_handler.callbacks]
    assert kinds.count("DpoConsole") == 1 and "PrinterCallback" not in kinds and "ProgressCallback" not in kinds
    out, err = capsys.readouterr()
    assert "{'" not in out and "{'" not in err

    logged = [json.loads(line) for line in (output / training.TRAIN_LOG).read_text().splitlines()
              if line.startswith("{")]
    # 4 pairs, batch 1, 1 epoch: 4 steps, one log each, then the training's summary
    assert [record["step"] for record in logged] == [1, 2, 3, 4, 4]
    assert all("loss" in record and "rewards/margins" in record for record in logged[:4])
    assert logged == [{k: v for k, v in entry.items() if k != "total_flos"} for entry in trainer.state.log_history]

    segments = [part.strip() for part in re.split(r"[\r\n]", err) if "%|" in part]
    assert segments and all(part.startswith(("iter 7 dpo:", "Loading weights:", "Writing model shards:"))
                            for part in segments)
    bar = [part for part in segments if part.startswith("iter 7 dpo:")]
    assert sum(" 0/4 " in part for part in bar) == 1  # one bar: it starts once
    # the postfix: the latest of each, the summary's mean loss last
    margin = [record["rewards/margins"] for record in logged if "rewards/margins" in record][-1]
    assert "4/4" in bar[-1] and f"loss={logged[-1]['train_loss']:.4g}" in bar[-1] and f"margin={margin:.4g}" in bar[-1]


def test_training_log_takes_library_warnings_and_records_off_the_console(tmp_path, capsys, monkeypatch):
    import logging
    import warnings

    monkeypatch.setenv("HF_TOKEN", "hf_secret-in-a-training-log")
    loggers = [logging.getLogger(name) for name in training.TRAINING_LOGGERS]
    before = [(logger.handlers[:], logger.propagate, logger.level) for logger in loggers]
    path = tmp_path / training.TRAIN_LOG
    with training.training_log(path):
        warnings.warn("a library warning", FutureWarning)
        logging.getLogger("trl.trainer.dpo_trainer").warning("a trl warning")
        logging.getLogger("transformers.trainer").info("***** Running training *****")
        logging.getLogger("peft.tuners").debug("below INFO")
        logging.getLogger("transformers.trainer").warning("pushing with token %s", "hf_secret-in-a-training-log")
    text = path.read_text()
    assert "pushing with token" in text and "hf_secret-in-a-training-log" not in text  # redacted, as on the console
    assert "FutureWarning: a library warning" in text and "WARNING trl.trainer.dpo_trainer: a trl warning" in text
    assert "INFO transformers.trainer: ***** Running training *****" in text and "below INFO" not in text
    assert capsys.readouterr() == ("", "")
    assert [(logger.handlers, logger.propagate, logger.level) for logger in loggers] == before
    logging.getLogger("trl.after").warning("after training")
    assert "after training" not in path.read_text()


def test_other_inputs_in_the_same_output_folder_are_refused(workspace, tmp_path):
    (tmp_path / training.INPUTS_FILE).write_text(json.dumps({"model_dir": "elsewhere"}))
    with pytest.raises(CsrBenchError, match=r"the DPO training in .* was made with other settings \(.*\): .*--overwrite.*--run-name"):
        train_dpo(workspace["checkpoint"], workspace["records"], workspace["root"], tmp_path,
                  DpoLoraConfig(**FAST), device="cpu")


def test_missing_image_and_empty_preferences_are_one_line_errors(workspace, tmp_path):
    records = [dict(workspace["records"][0]), {**workspace["records"][1], "image": "gone.png"}]
    with pytest.raises(CsrBenchError) as error:
        train_dpo(workspace["checkpoint"], records, workspace["root"], tmp_path / "a", DpoLoraConfig(**FAST))
    message = str(error.value)
    assert "\n" not in message and "gone.png" in message and "record 1" in message

    with pytest.raises(CsrBenchError, match="no preference records"):
        train_dpo(workspace["checkpoint"], [], workspace["root"], tmp_path / "b")
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(CsrBenchError, match="empty.jsonl"):
        train_dpo(workspace["checkpoint"], empty, workspace["root"], tmp_path / "c")
    broken = tmp_path / "broken.jsonl"
    broken.write_text('{"image": "img0.png"}\nnot json\n')
    with pytest.raises(CsrBenchError, match="broken.jsonl:2"):
        train_dpo(workspace["checkpoint"], broken, workspace["root"], tmp_path / "d")
    with pytest.raises(CsrBenchError, match="missing or empty 'chosen'"):
        train_dpo(workspace["checkpoint"], [{**workspace["records"][0], "chosen": " "}], workspace["root"],
                  tmp_path / "e")


def test_trained_model_is_merged_in_fp32_and_checked(trained):
    check = json.loads((trained["model"] / training.MERGE_CHECK).read_text())
    assert check["saved_dtype"] == "float32" and check["overall"]["kept"] == 1.0
    assert check["overall"]["update_norm"] > 0 and len(check["layers"]) == 2 * 7
    inputs = json.loads((trained["output"] / training.INPUTS_FILE).read_text())
    assert inputs["batch"] == {"per_device_batch_size": 1, "gradient_accumulation_steps": 1, "world_size": 1,
                               "effective_batch": 1}
    assert inputs["config"]["merge_dtype"] == "float32" and inputs["config"]["dpo_prompt"] == "clean"


def test_effective_batch_counts_processes_and_accumulation(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "4")
    batch = training.effective_batch(DpoLoraConfig(batch_size=2, gradient_accumulation_steps=3))
    assert batch == {"per_device_batch_size": 2, "gradient_accumulation_steps": 3, "world_size": 4,
                     "effective_batch": 24}


def test_a_changed_accumulation_or_world_size_is_refused_on_resume(workspace, tmp_path, monkeypatch):
    records = workspace["records"]
    fingerprint = training._fingerprint(workspace["checkpoint"], records, workspace["root"], DpoLoraConfig(**FAST),
                                        tmp_path)
    (tmp_path / training.INPUTS_FILE).write_text(json.dumps(fingerprint, default=str))
    with pytest.raises(CsrBenchError, match=r"\(batch.effective_batch 1 -> 4; batch.gradient_accumulation_steps 1 -> 4; "
                       r"config.gradient_accumulation_steps 1 -> 4\)"):
        train_dpo(workspace["checkpoint"], records, workspace["root"], tmp_path,
                  DpoLoraConfig(**FAST, gradient_accumulation_steps=4), device="cpu")
    monkeypatch.setenv("WORLD_SIZE", "2")
    assert training._fingerprint(workspace["checkpoint"], records, workspace["root"],
                                 DpoLoraConfig(**FAST), tmp_path) != fingerprint


@pytest.mark.parametrize("field, value", [("merge_dtype", "float64"), ("dpo_prompt", "raw"),
                                          ("gradient_accumulation_steps", 0)])
def test_bad_dpo_options_are_one_line_errors(workspace, tmp_path, field, value):
    with pytest.raises(CsrBenchError) as error:
        train_dpo(workspace["checkpoint"], workspace["records"], workspace["root"], tmp_path,
                  DpoLoraConfig(**{**FAST, field: value}), device="cpu")
    assert "\n" not in str(error.value) and str(value) in str(error.value)


def test_reference_dpo_prompt_is_the_references_doubled_text(workspace):
    """The reference's text (construct.py + preprocess_multimodal + preprocess_v1), written out by hand."""
    processor = build_processor()
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    records = workspace["records"]
    dataset = build_preference_dataset(records, workspace["root"], prompt_form="reference")
    row, record = dataset[1], records[1]  # "What is in the picture?"
    image = Image.open(workspace["root"] / record["image"]).convert("RGB")
    rendered = render_example(processor, {**row, "images": [image]})
    system = ("A chat between a curious user and an artificial intelligence assistant. The assistant gives "
              "helpful, detailed, and polite answers to the user's questions.")  # LLaVA's conv_vicuna_v1
    assert VICUNA_V1_SYSTEM == system
    expected_prompt = f"{system} USER: <image>\n{system} USER: \nWhat is in the picture? ASSISTANT:"
    assert rendered["prompt"] == expected_prompt
    assert rendered["chosen"] == " ASSISTANT: A green square.</s>"  # labelled, as the reference labels it
    assert rendered["rejected"] == " ASSISTANT: A cat on a bed.</s>"
    # the reference's whole text: its human turn is its search prompt, <image> moved to the front
    search_prompt = llava_v1_prompt(record["prompt"])
    human = "<image>\n" + search_prompt.replace("<image>", "").strip()
    assert rendered["prompt"] + rendered["chosen"] == f"{system} USER: {human} ASSISTANT: {record['chosen']}</s>"

    # the ids the collator feeds: the evaluation's ids of that text (it is llava_v1_prompt of the user
    # text "SYS USER: \nQ"), then the completion, the only part trained on
    batch = PaddedImageCollator(processor)([dict(row)])
    assert llava_v1_prompt(f"{system} USER: \n{record['prompt']}") == expected_prompt
    model, eval_processor = build_tiny_llava()
    evaluator = LlavaModel(model, eval_processor, name="tiny", source="tiny", device="cpu")
    expected = evaluator._encode([image], [f"{system} USER: \n{record['prompt']}"])["input_ids"][0].tolist()
    completion = processor.tokenizer(" ASSISTANT: A green square.</s>", add_special_tokens=False)["input_ids"]
    ids = batch["input_ids"][0][batch["attention_mask"][0].bool()].tolist()
    assert ids == expected + completion and expected[0] == processor.tokenizer.bos_token_id
    mask = batch["completion_mask"][0][batch["attention_mask"][0].bool()].tolist()
    assert mask == [0] * len(expected) + [1] * len(completion)


def test_dpo_flags_reach_the_training_config():
    from csr_bench.cli.model_commands import method_config_from_args
    from csr_bench.cli.parser import build_parser

    args = build_parser().parse_args(["run", "--model", "llava15", "--gradient-accumulation-steps", "4",
                                      "--merge-dtype", "float16", "--dpo-prompt", "reference"])
    training_config = method_config_from_args(args).training
    assert (training_config.gradient_accumulation_steps, training_config.merge_dtype,
            training_config.dpo_prompt) == (4, "float16", "reference")
    defaults = method_config_from_args(build_parser().parse_args(["run", "--model", "llava15"])).training
    assert (defaults.gradient_accumulation_steps, defaults.merge_dtype, defaults.dpo_prompt) == (1, "float32", "clean")
