"""The LoRA merge (csr_bench.training.dpo._save_merged): done in fp32, saved in --merge-dtype, checked.

A tiny LLaVA saved in bf16 with weights of realistic scale (std 0.02, transformers' init) and a LoRA
update of ~1e-5 per weight, the size DPO at lr 1e-7 leaves: bf16 cannot hold it (its spacing near 0.02
is 1.2e-4), fp32 can. Everything runs on the CPU through real peft layers and real save/load.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import pytest
import torch

from csr_bench.training import dpo as training
from csr_bench.models.llava import load_llava_checkpoint
from csr_bench.models.tiny_llava import build_tiny_llava

LAYER = "model.language_model.layers.0.self_attn.q_proj"


def _peft(model, targets, r=8, alpha=16):
    from peft import LoraConfig, get_peft_model

    return get_peft_model(model, LoraConfig(r=r, lora_alpha=alpha, lora_dropout=0.0, target_modules=targets))


def _lora_layers(peft_model):
    from peft.tuners.lora import LoraLayer

    return [(name, module) for name, module in peft_model.named_modules() if isinstance(module, LoraLayer)]


@pytest.fixture(scope="module")
def bf16_checkpoint(tmp_path_factory) -> Path:
    model, processor = build_tiny_llava(seed=0)
    model = model.to(torch.bfloat16)
    weight = model.get_submodule(LAYER).weight.detach().float()
    assert 0.015 < float(weight.std()) < 0.025  # realistic scale, as LLaVA's layers
    path = tmp_path_factory.mktemp("bf16") / "tiny"
    model.save_pretrained(path)
    processor.save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def small_update(bf16_checkpoint):
    """A PeftModel (fp32) over the bf16 checkpoint, lora_B set by hand so the update is ~1e-5 per weight."""
    model, processor = load_llava_checkpoint(bf16_checkpoint, torch.float32)
    peft_model = _peft(model, training.language_model_linear_names(model)).eval()
    generator = torch.Generator().manual_seed(1)
    for _, module in _lora_layers(peft_model):
        weight = module.lora_B["default"].weight
        weight.data = torch.randn(weight.shape, generator=generator) * 3e-5
    deltas = [module.get_delta_weight("default").detach() for _, module in _lora_layers(peft_model)]
    delta_std = float(torch.cat([d.flatten() for d in deltas]).std())
    assert 3e-6 < delta_std < 3e-5, delta_std
    ids = torch.randint(5, len(processor.tokenizer), (2, 24), generator=generator)
    with torch.no_grad():
        logits = peft_model(input_ids=ids).logits
        with peft_model.disable_adapter():
            base_logits = peft_model(input_ids=ids).logits
    return {"peft": peft_model, "processor": processor, "ids": ids, "logits": logits, "base_logits": base_logits}


def _merged_logits(path: Path, ids) -> torch.Tensor:
    model, _ = load_llava_checkpoint(path, torch.float32)
    with torch.no_grad():
        return model.eval()(input_ids=ids).logits


TOLERANCE = 2e-6  # fp32 round-off of a 2-layer forward at these scales (measured ~2e-7)


def test_fp32_merge_gives_the_unmerged_models_logits(small_update, bf16_checkpoint, tmp_path):
    effect = (small_update["logits"] - small_update["base_logits"]).abs().max()
    assert effect > 20 * TOLERANCE  # the update is visible in fp32 logits: the comparison can fail
    path = training._save_merged(small_update["peft"], small_update["processor"], bf16_checkpoint, tmp_path,
                                 {}, {}, "float32", "cpu")
    assert torch.allclose(_merged_logits(path, small_update["ids"]), small_update["logits"], atol=TOLERANCE, rtol=0)
    check = json.loads((path / training.MERGE_CHECK).read_text())
    assert check["saved_dtype"] == "float32" and check["merged_in"] == "float32"
    assert check["overall"]["kept"] == 1.0 and check["below_threshold"] is False
    assert len(check["layers"]) == 2 * 7 and all(layer["kept"] == 1.0 for layer in check["layers"].values())
    # Loaded again in bf16 (as a GPU run with --dtype bfloat16 would), most of the update is gone.
    assert check["overall"]["kept_if_loaded_as"]["bfloat16"] < 0.5
    marker = json.loads((path / training.DONE_MARKER).read_text())
    assert marker["merge"] == {"merged_in": "float32", "saved_dtype": "float32", "kept": 1.0}


def test_the_old_bf16_merge_loses_the_update(small_update, bf16_checkpoint, tmp_path):
    """What the harness did before: LoRA merged into the bf16 training weights, saved in bf16."""
    model, _ = load_llava_checkpoint(bf16_checkpoint, torch.bfloat16)
    old = _peft(model, training.language_model_linear_names(model))
    trained = dict(small_update["peft"].named_parameters())
    for name, parameter in old.named_parameters():
        if "lora_" in name:
            parameter.data = trained[name].detach().clone()  # fp32 adapter, as peft keeps it in training
    old.merge_and_unload().save_pretrained(tmp_path / "old")
    small_update["processor"].save_pretrained(tmp_path / "old")
    logits = _merged_logits(tmp_path / "old", small_update["ids"])
    assert not torch.allclose(logits, small_update["logits"], atol=TOLERANCE, rtol=0)
    # Most of the update is rounded away in the saved weights: the share of ||delta||_F they keep,
    # 1 - ||W_old - (W_base + delta)||_F / ||delta||_F, is far below 1 (weights, not logits: a
    # comparison of logits this close depends on the matmul's thread count).
    saved, _ = load_llava_checkpoint(tmp_path / "old", torch.bfloat16)
    base, _ = load_llava_checkpoint(bf16_checkpoint, torch.bfloat16)
    error_sq = delta_sq = 0.0
    for name, module in _lora_layers(small_update["peft"]):
        layer = name.removeprefix("base_model.model.")
        delta = module.get_delta_weight("default").detach().double()
        exact = base.get_submodule(layer).weight.double() + delta
        error_sq += float((saved.get_submodule(layer).weight.double() - exact).square().sum())
        delta_sq += float(delta.square().sum())
    assert delta_sq > 0 and 1 - math.sqrt(error_sq / delta_sq) < 0.5


def test_bf16_save_warns_and_flags_the_loss(small_update, bf16_checkpoint, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="csr_bench"):
        path = training._save_merged(small_update["peft"], small_update["processor"], bf16_checkpoint, tmp_path,
                                     {}, {}, "bfloat16", "cpu")
    check = json.loads((path / training.MERGE_CHECK).read_text())
    assert check["saved_dtype"] == "bfloat16" and check["below_threshold"] is True
    assert check["overall"]["kept"] < 0.5
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "--merge-dtype float32" in warnings[0]
    assert f"{100 * check['overall']['kept']:.1f}%" in warnings[0]
    assert not torch.allclose(_merged_logits(path, small_update["ids"]), small_update["logits"], atol=TOLERANCE,
                              rtol=0)


@pytest.fixture
def hand_made(tmp_path):
    """One LoRA layer (r 1, alpha 1) whose update is d = 2**-13 on every weight; the base weights are
    2**-6 in the first half of the rows and 1.0 in the second. bf16 (8 significant bits) and fp16 (11)
    hold 2**-6 + 2**-13 exactly; 1.0 + 2**-13 rounds back to 1.0 in both (their spacing at 1 is 2**-7
    and 2**-10). So a bf16 or fp16 copy keeps the update on half the weights, and
    kept = 1 - ||d on half|| / ||d on all|| = 1 - 1/sqrt(2)."""
    model, processor = build_tiny_llava(seed=0)
    layer = model.get_submodule(LAYER)
    rows = layer.weight.shape[0]
    base = torch.cat([torch.full((rows // 2, layer.weight.shape[1]), 2.0 ** -6),
                      torch.ones(rows - rows // 2, layer.weight.shape[1])])
    layer.weight.data = base.clone()
    model.save_pretrained(tmp_path / "base")
    processor.save_pretrained(tmp_path / "base")
    peft_model = _peft(model, [LAYER], r=1, alpha=1)
    (name, module), = _lora_layers(peft_model)
    module.lora_A["default"].weight.data = torch.ones_like(module.lora_A["default"].weight)
    module.lora_B["default"].weight.data = torch.full_like(module.lora_B["default"].weight, 2.0 ** -13)
    return {"peft": peft_model, "processor": processor, "base": base, "root": tmp_path}


@pytest.mark.parametrize("dtype, kept", [("float32", 1.0), ("bfloat16", 1 - 1 / math.sqrt(2)),
                                          ("float16", 1 - 1 / math.sqrt(2))])
def test_merge_check_numbers_by_hand(hand_made, dtype, kept):
    path = training._save_merged(hand_made["peft"], hand_made["processor"], hand_made["root"] / "base",
                                 hand_made["root"] / dtype, {}, {}, dtype, "cpu")
    check = json.loads((path / training.MERGE_CHECK).read_text())
    layer = check["layers"][LAYER]
    numel = hand_made["base"].numel()
    assert layer["update_norm"] == pytest.approx(2.0 ** -13 * math.sqrt(numel), rel=1e-12)
    assert layer["kept"] == pytest.approx(kept, abs=1e-12)
    assert check["overall"]["kept"] == pytest.approx(kept, abs=1e-12)
    loaded = check["overall"]["kept_if_loaded_as"]
    assert loaded["float32"] == pytest.approx(kept, abs=1e-12)
    assert loaded["bfloat16"] == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-12)
    assert loaded["float16"] == pytest.approx(1 - 1 / math.sqrt(2), abs=1e-12)
    assert check["below_threshold"] is (dtype != "float32")
    from safetensors.torch import load_file

    # the file keeps llava-hf's original key names (transformers maps them back on save)
    saved = load_file(next(path.glob("*.safetensors")))["language_model.model.layers.0.self_attn.q_proj.weight"]
    assert saved.dtype == getattr(torch, dtype)
    half = hand_made["base"].shape[0] // 2
    assert torch.equal(saved[:half].float(), torch.full_like(saved[:half].float(), 2.0 ** -6 + 2.0 ** -13))
    expected_rest = 1.0 + 2.0 ** -13 if dtype == "float32" else 1.0
    assert torch.equal(saved[half:].float(), torch.full_like(saved[half:].float(), expected_rest))


def test_a_zero_update_has_no_kept_share(hand_made):
    (_, module), = _lora_layers(hand_made["peft"])
    module.lora_B["default"].weight.data.zero_()
    path = training._save_merged(hand_made["peft"], hand_made["processor"], hand_made["root"] / "base",
                                 hand_made["root"] / "zero", {}, {}, "bfloat16", "cpu")
    check = json.loads((path / training.MERGE_CHECK).read_text())
    assert check["overall"]["kept"] is None and check["below_threshold"] is False
