"""POVID (csr_bench.methods.povid): the reference's diffusion noise, its noisy-self log-probs and
stage-2 loss on synthetic numbers, the collator's noisy pixels, and one real two-stage iteration of
the tiny LLaVA through the shared driver (trl + peft steps on the CPU)."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from csr_bench.errors import CsrBenchError
from csr_bench.methods.povid import noise
from csr_bench.methods.povid.loss import PovidNoiseTerm, noisy_argmax_logps
from csr_bench.training.loss_terms import sequence_logps, sigmoid_dpo_losses
from preference_pairs import FAST, iteration_input, trained_once


# -- the noise -----------------------------------------------------------------------------------

def test_schedule_is_the_references_sigmoid_schedule():
    """betas = sigmoid(linspace(-6, 6, 1000)) * (5e-3 - 1e-5) + 1e-5, alpha_bar = cumprod(1 - beta),
    computed here directly in float64 numpy."""
    betas = 1 / (1 + np.exp(-np.linspace(-6, 6, 1000))) * (5e-3 - 1e-5) + 1e-5
    alpha_bar = np.cumprod(1 - betas)
    signal, scale = noise.noise_schedule()
    assert signal.shape == scale.shape == (1000,)
    np.testing.assert_allclose(signal.numpy(), np.sqrt(alpha_bar), rtol=1e-5)
    # float32 as the reference: 1 - alpha_bar loses digits near t = 0, hence an absolute tolerance
    np.testing.assert_allclose(scale.numpy(), np.sqrt(1 - alpha_bar), atol=1e-5)
    assert round(float(signal[500]), 3) == 0.863 and round(float(scale[500]), 3) == 0.505
    assert float(signal[500]) ** 2 + float(scale[500]) ** 2 == pytest.approx(1.0, abs=1e-6)


def test_noise_is_x_t_of_the_seeded_draw():
    x0 = torch.rand(3, 5, 4, generator=torch.Generator().manual_seed(1))
    noisy = noise.add_diffusion_noise(x0, 500, torch.Generator().manual_seed(7))
    eps = torch.randn(x0.shape, generator=torch.Generator().manual_seed(7))
    signal, scale = noise.noise_schedule()
    assert torch.allclose(noisy, signal[500] * x0 + scale[500] * eps)
    with pytest.raises(CsrBenchError, match="noise step 1000"):
        noise.add_diffusion_noise(x0, 1000)


def test_uint8_wraps_around_like_to_pil_image_and_clamp_saturates():
    values = torch.tensor([1.2, -0.1, 0.5, 2.0, -1.3])
    # 1.2*255 = 306 -> 306 - 256 = 50; -0.1*255 = -25.5 -> -25 -> 231; 127.5 -> 127; 510 -> 254; -331.5 -> -331 -> 181
    assert noise.to_uint8(values).tolist() == [50, 231, 127, 254, 181]
    assert noise.to_uint8(values).tolist() == values.mul(255).byte().tolist()  # torchvision's to_pil_image rule
    assert noise.to_uint8(values, clamp=True).tolist() == [255, 0, 127, 255, 0]
    pixel = torch.tensor([1.2, -0.1, 0.5]).view(3, 1, 1)
    assert noise.tensor_to_image(pixel).getpixel((0, 0)) == (50, 231, 127)
    assert noise.tensor_to_image(pixel, clamp=True).getpixel((0, 0)) == (255, 0, 127)


def test_noisy_image_round_trip_and_seeding():
    image = Image.new("RGB", (6, 4), (200, 30, 90))
    tensor = noise.image_to_tensor(image)
    assert tensor.shape == (3, 4, 6) and float(tensor[0, 0, 0]) == pytest.approx(200 / 255)
    one = noise.noisy_image(image, 500, generator=noise.example_generator(0, "a"))
    assert one.size == image.size
    again = noise.noisy_image(image, 500, generator=noise.example_generator(0, "a"))
    other = noise.noisy_image(image, 500, generator=noise.example_generator(1, "a"))
    assert np.array_equal(np.asarray(one), np.asarray(again))
    assert not np.array_equal(np.asarray(one), np.asarray(other))
    assert noise.noisy_image(image, 0, generator=noise.example_generator(0, "a")).getpixel((0, 0)) != (200, 30, 90)


# -- the loss ------------------------------------------------------------------------------------

def test_noisy_self_logps_take_the_argmax_under_noise_and_the_log_prob_under_the_clean_image():
    # one sequence of 4 tokens over a vocabulary of 3; the completion is tokens 2 and 3 (positions 1, 2 predict them)
    clean = torch.tensor([[[0.0, 0.0, 0.0], [1.0, 2.0, 3.0], [3.0, 1.0, 0.0], [9.0, 9.0, 9.0]]], requires_grad=True)
    noisy = torch.tensor([[[5.0, 0.0, 0.0], [9.0, 0.0, 0.0], [0.0, 0.0, 9.0], [0.0, 9.0, 0.0]]])
    mask = torch.tensor([[0, 0, 1, 1]])
    ids = torch.tensor([[0, 1, 2, 0]])

    def log_softmax(row, index):
        row = [float(v) for v in row]
        return row[index] - math.log(sum(math.exp(v) for v in row))

    # noisy argmax at positions 1 and 2: token 0 and token 2; scored under the clean rows 1 and 2
    expected = log_softmax([1, 2, 3], 0) + log_softmax([3, 1, 0], 2)
    got = noisy_argmax_logps(noisy, clean, mask)
    assert got.shape == (1,) and float(got[0].detach()) == pytest.approx(expected, abs=1e-6)
    got.sum().backward()  # the gradient reaches the clean logits only where the mask is on
    assert clean.grad[0, 0].abs().sum() == 0 and clean.grad[0, 3].abs().sum() == 0 and clean.grad[0, 1].abs().sum() > 0
    # the chosen tokens 2 then 0, under the same clean rows
    assert float(sequence_logps(clean, ids, mask)[0].detach()) == pytest.approx(log_softmax([1, 2, 3], 2)
                                                                       + log_softmax([3, 1, 0], 0), abs=1e-6)


def test_stage2_loss_is_the_mean_of_two_sigmoid_dpo_terms():
    beta = 0.1
    pc, pn, ph = torch.tensor([-3.0, -5.0]), torch.tensor([-4.0, -4.5]), torch.tensor([-6.0, -2.0])
    rc, rn, rh = torch.tensor([-3.5, -5.0]), torch.tensor([-4.0, -4.0]), torch.tensor([-5.0, -3.0])

    def dpo(a, b, c, d):
        return -math.log(1 / (1 + math.exp(-beta * ((a - b) - (c - d)))))

    noisy = sigmoid_dpo_losses(pc, pn, rc, rn, beta)
    standard = sigmoid_dpo_losses(pc, ph, rc, rh, beta)
    for i in range(2):
        assert float(noisy[i]) == pytest.approx(dpo(pc[i], pn[i], rc[i], rn[i]), rel=1e-6)
        assert float(standard[i]) == pytest.approx(dpo(pc[i], ph[i], rc[i], rh[i]), rel=1e-6)
    expected = sum(0.5 * dpo(pc[i], pn[i], rc[i], rn[i]) + 0.5 * dpo(pc[i], ph[i], rc[i], rh[i]) for i in range(2)) / 2
    # as the trainer composes it: dpo_weight * trl's mean loss + the term's weight * its mean loss
    term = PovidNoiseTerm(beta=beta)
    assert term.dpo_weight * float(standard.mean()) + term.weight * float(noisy.mean()) == pytest.approx(expected,
                                                                                                         rel=1e-6)


def test_the_trainer_hook_weights_trls_loss_and_hides_the_noisy_pixels_from_it():
    from csr_bench.training.dpo import _with_loss_term
    from csr_bench.training.dpo_data import VARIANT_PIXELS

    seen = {}

    class Base:
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            seen["trl"] = sorted(inputs)
            return torch.tensor(2.0)

    class Term:
        name, dpo_weight = "t", 0.5

        def __call__(self, trainer, model, inputs):
            seen["term"] = sorted(inputs)
            return torch.tensor(0.25)

    assert _with_loss_term(Base, None) is Base
    loss = _with_loss_term(Base, Term())().compute_loss(None, {"input_ids": 1, VARIANT_PIXELS: 2})
    assert float(loss) == 0.5 * 2.0 + 0.25
    assert seen == {"trl": ["input_ids"], "term": ["input_ids", VARIANT_PIXELS]}


# -- the collator ----------------------------------------------------------------------------------

def test_collator_adds_the_variant_pixels_processed_as_the_image_is(tmp_path):
    from csr_bench.models.tiny_llava import build_processor
    from csr_bench.training.dpo_data import VARIANT_PIXELS, PaddedImageCollator, build_preference_dataset
    from csr_bench.training.dpo import vicuna_v1_chat_template

    image = Image.new("RGB", (40, 28), "white")  # not square: the variant is made before the pad
    ImageDraw.Draw(image).rectangle([5, 5, 30, 20], fill="red")
    image.save(tmp_path / "a.png")
    records = [{"image": "a.png", "prompt": "Describe.", "chosen": "A red square.", "rejected": "A cat."}] * 2
    rows = [dict(row) for row in build_preference_dataset(records, tmp_path)]
    processor = build_processor()
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.unk_token or processor.tokenizer.eos_token
    sizes = []

    def identity(picture, key):
        sizes.append(picture.size)
        return picture

    batch = PaddedImageCollator(processor, image_variant=identity)(rows)
    assert sizes == [(40, 28), (40, 28)]
    assert batch[VARIANT_PIXELS].shape[0] == 2 == batch["pixel_values"].shape[0] // 2
    assert torch.equal(batch[VARIANT_PIXELS], batch["pixel_values"][:2])
    assert VARIANT_PIXELS not in PaddedImageCollator(processor)(rows)
    term = PovidNoiseTerm(seed=3)
    noisy = PaddedImageCollator(processor, image_variant=term.image_variant)(rows)[VARIANT_PIXELS]
    assert not torch.equal(noisy, batch["pixel_values"][:2])
    assert torch.equal(noisy[0], noisy[1])  # the same pair: the same draw (seeded by the pair, not its place)
    assert torch.equal(noisy, PaddedImageCollator(processor, image_variant=term.image_variant)(rows)[VARIANT_PIXELS])
    # the same pair with its image in another folder (another machine's cache): the same draw
    (tmp_path / "elsewhere").mkdir()
    image.save(tmp_path / "elsewhere" / "b.png")
    moved = [dict(row) for row in build_preference_dataset([{**records[0], "image": "b.png"}],
                                                            tmp_path / "elsewhere")]
    assert torch.equal(PaddedImageCollator(processor, image_variant=term.image_variant)(moved)[VARIANT_PIXELS][0],
                       noisy[0])


# -- one real two-stage iteration -----------------------------------------------------------------

def povid_method(pairs: Path, **changes):
    from csr_bench.methods.povid.config import PovidConfig
    from csr_bench.methods.povid.method import PovidMethod
    from csr_bench.training.config import DpoLoraConfig

    config = PovidConfig(preferences=str(pairs), prompt_images=str(pairs.parent), stage1_epochs=1,
                         training=DpoLoraConfig(**FAST))
    for key, value in changes.items():
        setattr(config, key, value)
    return PovidMethod(config, device="cpu")


def log_records(path: Path) -> list[dict]:
    """trl's log dicts among train.log's lines (the libraries' log records are there too)."""
    return [json.loads(line) for line in path.read_text().splitlines() if line.startswith("{")]


@pytest.fixture(scope="module")
def povid_run(tmp_path_factory, tiny_checkpoint):
    return trained_once(povid_method, tmp_path_factory.mktemp("povid"), tiny_checkpoint)


def test_two_stages_train_in_order_stage2_from_stage1s_merged_model(povid_run):
    iteration = povid_run["run"] / "iter_1"
    assert povid_run["model"] == iteration / "model"
    stage1 = json.loads((iteration / "stages" / "stage1" / "model" / "csr_dpo.json").read_text())
    stage2 = json.loads((iteration / "model" / "csr_dpo.json").read_text())
    assert Path(stage1["model_dir"]) == povid_run["checkpoint"].resolve()  # outside the run: absolute
    assert stage2["model_dir"] == "<run>/iter_1/stages/stage1/model"  # inside the run: run-relative
    assert "loss_term" not in stage1 and stage2["loss_term"] == "povid-noisy-self"
    assert stage2["loss_term_settings"] == {"noise_step": 500, "noise_clamp": False, "noise_seed": 0,
                                            "weight": 0.5, "beta": 0.1}
    assert stage1["num_preferences"] == stage2["num_preferences"] == 3
    assert stage1["preferences_sha256"] == stage2["preferences_sha256"]  # the same pairs, as the reference
    assert (iteration / "stages" / "stage1" / "trainer").is_dir() and (iteration / "trainer").is_dir()
    summary = json.loads((iteration / "pairs" / "summary.json").read_text())
    assert summary["method"] == "povid" and summary["pairs"] == 3 and summary["stages"] == ["stage1", "stage2"]


def test_stage2_logs_the_noisy_term_and_starts_at_log_2(povid_run):
    """At stage 2's first step the LoRA update is zero (B = 0), so the policy is its reference, the
    merged stage-1 model: both DPO terms are -log sigmoid(0) = log 2, their mean too."""
    stage2 = log_records(povid_run["run"] / "iter_1" / "train.log")
    first = stage2[0]
    assert first["step"] == 1
    assert first["povid/noisy_loss"] == pytest.approx(math.log(2), abs=1e-5)
    assert first["povid/noisy_margin"] == pytest.approx(0.0, abs=1e-5)
    assert first["loss"] == pytest.approx(math.log(2), abs=1e-4)
    assert first["povid/logps_noisy_self"] < 0
    # the term's chosen rows and completion mask are trl's: the same summed log-prob of the chosen answer
    assert first["povid/logps_chosen"] == pytest.approx(first["logps/chosen"], abs=1e-3)
    assert any(record.get("povid/noisy_margin", 0) != 0 for record in stage2[1:])  # it trains
    stage1 = log_records(povid_run["run"] / "iter_1" / "stages" / "stage1" / "train.log")
    assert stage1 and not any("povid/noisy_loss" in record for record in stage1)


def test_finished_iteration_is_returned_and_other_settings_are_refused(povid_run):
    from csr_bench.methods.driver import run_iteration
    from csr_bench.training.config import DpoLoraConfig

    marker = povid_run["run"] / "iter_1" / "model" / "csr_dpo.json"
    before = marker.stat().st_mtime_ns
    inputs = iteration_input(povid_run["run"], povid_run["checkpoint"])
    assert run_iteration(povid_method(povid_run["pairs"]), inputs) == povid_run["model"]
    assert marker.stat().st_mtime_ns == before
    with pytest.raises(CsrBenchError, match="noise_clamp"):
        run_iteration(povid_method(povid_run["pairs"], noise_clamp=True), inputs)
    with pytest.raises(CsrBenchError, match="learning_rate"):
        run_iteration(povid_method(povid_run["pairs"], training=DpoLoraConfig(**{**FAST, "learning_rate": 1e-4})),
                      inputs)


def test_povid_is_registered_with_its_flags():
    from csr_bench.methods.registry import default_config, default_iterations, method_class

    config = default_config("povid")
    assert method_class("povid").name == "povid" and default_iterations("povid") == 1
    assert (config.preferences, config.noise_step, config.noise_clamp, config.stage1_epochs) == ("povid", 500, False, 3)
    training = config.training
    assert (training.learning_rate, training.lora_r, training.lora_alpha, training.beta, training.lr_scheduler,
            training.warmup_ratio, training.batch_size, training.num_epochs) == (1e-7, 128, 256, 0.1, "cosine",
                                                                                 0.03, 1, 1)
    from csr_bench.methods.povid.method import PovidMethod
    from csr_bench.methods.povid.config import PovidConfig

    with pytest.raises(CsrBenchError, match="--povid-noise-step 1000"):
        PovidMethod(PovidConfig(noise_step=1000, prompt_images="coco"))


def test_a_stage_records_its_start_model_relative_to_the_run(tmp_path):
    from csr_bench.training import dpo
    from csr_bench.training.dpo import STAGES_DIR

    run = tmp_path / "stages"  # a run named like the folder: still its own run folder
    assert dpo.run_folder(run / "iter_2") == run
    assert dpo.run_folder(run / "iter_2" / STAGES_DIR / "stage1") == run
    assert dpo.run_folder(tmp_path / "iter_0" / "stages" / "iter_2") == tmp_path / "iter_0" / "stages"


def run_povid_iteration(pairs: str, run: str, checkpoint: str) -> None:
    """One POVID iteration with a checkpoint after every step (tests/test_fault_injection.py runs it in
    processes of its own, killed in either stage)."""
    from csr_bench.methods.driver import run_iteration
    from csr_bench.training.config import DpoLoraConfig

    method = povid_method(Path(pairs), training=DpoLoraConfig(**{**FAST, "save_steps": 1}))
    run_iteration(method, iteration_input(Path(run), Path(checkpoint)))


def test_the_driver_refuses_stages_it_cannot_lay_out_in_folders():
    from csr_bench.methods.base import TrainingStage
    from csr_bench.methods.driver import training_stages, stage_output

    class Method:
        name = "m"

        def __init__(self, names):
            self.names = names

        def training_stages(self, pair_set):
            return [TrainingStage(name, None) for name in self.names]

    with pytest.raises(CsrBenchError, match="gave no stage"):
        training_stages(Method([]), None)
    with pytest.raises(CsrBenchError, match="repeat"):
        training_stages(Method(["a", "a"]), None)
    for name in ("../up", "iter_2"):
        with pytest.raises(CsrBenchError, match="not a plain folder name"):
            training_stages(Method([name]), None)
    stages = training_stages(Method(["first", "second"]), None)
    assert stage_output(Path("iter_1"), stages, 0) == Path("iter_1/stages/first")
    assert stage_output(Path("iter_1"), stages, 1) == Path("iter_1")


def test_stage2s_first_noisy_log_prob_is_the_stage1_models_own_on_the_collators_noisy_image(povid_run):
    """Recomputed outside the trainer: stage 1's merged model, the collator's noisy pixels of each
    pair, the argmax under noise scored under the clean image. The first logged value (step 1: the
    policy is still stage 1's model) is one of these three."""
    from csr_bench.methods.povid.loss import PovidNoiseTerm
    from csr_bench.models.llava import load_llava_checkpoint
    from csr_bench.training.dpo_data import VARIANT_PIXELS, PaddedImageCollator, build_preference_dataset
    from csr_bench.training.dpo import vicuna_v1_chat_template

    iteration = povid_run["run"] / "iter_1"
    model, processor = load_llava_checkpoint(iteration / "stages" / "stage1" / "model", torch.float32)
    processor.chat_template = vicuna_v1_chat_template(processor.image_token)
    if processor.tokenizer.pad_token is None:
        processor.tokenizer.pad_token = processor.tokenizer.unk_token or processor.tokenizer.eos_token
    pairs = [json.loads(line) for line in (iteration / "pairs" / "preferences.jsonl").read_text().splitlines()]
    collator = PaddedImageCollator(processor, image_variant=PovidNoiseTerm(seed=0).image_variant)
    values = []
    with torch.no_grad():
        for row in build_preference_dataset(pairs, None):
            batch = collator([dict(row)])
            keep = {"input_ids": batch["input_ids"][:1], "attention_mask": batch["attention_mask"][:1]}
            clean = model(**keep, pixel_values=batch["pixel_values"][:1]).logits
            noisy = model(**keep, pixel_values=batch[VARIANT_PIXELS]).logits
            values.append(float(noisy_argmax_logps(noisy, clean, batch["completion_mask"][:1])[0]))
    first = log_records(iteration / "train.log")[0]["povid/logps_noisy_self"]
    assert min(abs(first - value) for value in values) < 1e-4, (first, values)  # another seed: 0.02 off
