"""Safe loading: weights only from safetensors unless --allow-pickle, remote code only with
--trust-remote-code (csr_bench/safety.py, docs/safety-and-determinism.md)."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import torch

from conftest import REPO, assert_one_line_error, run_cli
from csr_bench.errors import CsrBenchError
from csr_bench.safety import loading_policy, loading_policy_as, set_loading_policy

# The tiny CLIP of csr_bench.models.clip.build_tiny_clip as an open_clip model config.
TINY_CLIP_CFG = {
    "embed_dim": 32,
    "vision_cfg": {"layers": 2, "width": 32, "head_width": 16, "mlp_ratio": 2.0, "patch_size": 8, "image_size": 32},
    "text_cfg": {"context_length": 32, "vocab_size": 49408, "width": 32, "heads": 2, "layers": 2, "mlp_ratio": 2.0},
}
CAPTIONS = ["a red square.", "a blue circle on the left."]


@pytest.fixture(autouse=True)
def _safe_default_policy():
    previous = set_loading_policy()
    yield
    set_loading_policy(previous.allow_pickle, previous.trust_remote_code)


@pytest.fixture(scope="module")
def tiny_clip_state() -> dict[str, torch.Tensor]:
    from csr_bench.models.clip import build_tiny_clip

    return {k: v.detach().clone() for k, v in build_tiny_clip(seed=3).model.state_dict().items()}


def _image():
    from PIL import Image

    return Image.new("RGB", (32, 32), (200, 30, 30))


def _clip_folder(folder: Path, state: dict, weights_name: str) -> Path:
    """An open_clip local-dir checkpoint: open_clip_config.json beside one weights file."""
    folder.mkdir(parents=True)
    (folder / "open_clip_config.json").write_text(json.dumps({"model_cfg": TINY_CLIP_CFG, "preprocess_cfg": {}}))
    if weights_name.endswith(".safetensors"):
        from safetensors.torch import save_file

        save_file({k: v.contiguous() for k, v in state.items()}, str(folder / weights_name))
    else:
        torch.save(state, folder / weights_name)
    return folder


def test_default_policy_is_safe():
    assert loading_policy().allow_pickle is False and loading_policy().trust_remote_code is False


@pytest.mark.parametrize("weights_name", ["open_clip_pytorch_model.bin", "model.pt", "weights.pth"])
def test_pickle_clip_checkpoint_is_refused_without_the_flag_and_loads_with_it(tmp_path, tiny_clip_state,
                                                                              weights_name):
    from csr_bench.models.clip import ClipScorer

    folder = _clip_folder(tmp_path / "clip", tiny_clip_state, weights_name)
    expected = ClipScorer.from_pretrained(
        f"local-dir:{_clip_folder(tmp_path / 'safe', tiny_clip_state, 'open_clip_model.safetensors')}",
        device="cpu").score(_image(), CAPTIONS)
    if weights_name.endswith(".pth") or weights_name.endswith(".bin"):  # open_clip's local-dir looks for these
        with pytest.raises(CsrBenchError) as refused:
            ClipScorer.from_pretrained(f"local-dir:{folder}", device="cpu")
        message = str(refused.value)
        assert "\n" not in message and weights_name in message and "--allow-pickle" in message
        with loading_policy_as(allow_pickle=True):
            loaded = ClipScorer.from_pretrained(f"local-dir:{folder}", device="cpu")
        assert loaded.score(_image(), CAPTIONS) == expected
    # a weights file given as pretrained=PATH, with a built-in model name
    import open_clip

    configs = tmp_path / "configs"
    configs.mkdir()
    (configs / "csr-bench-test-tiny.json").write_text(json.dumps(TINY_CLIP_CFG))
    open_clip.add_model_config(configs)
    with pytest.raises(CsrBenchError, match=re.escape(weights_name) + r".*--allow-pickle"):
        ClipScorer.from_pretrained("csr-bench-test-tiny", pretrained=str(folder / weights_name), device="cpu")
    with loading_policy_as(allow_pickle=True):
        loaded = ClipScorer.from_pretrained("csr-bench-test-tiny", pretrained=str(folder / weights_name), device="cpu")
    assert loaded.score(_image(), CAPTIONS) == expected


def test_safetensors_clip_checkpoint_loads_by_default(tmp_path, tiny_clip_state):
    from csr_bench.models.clip import ClipScorer

    folder = _clip_folder(tmp_path / "clip", tiny_clip_state, "open_clip_model.safetensors")
    # a pickle beside it is never the one chosen when safetensors is there
    torch.save({"not": torch.zeros(1)}, folder / "model.pth")
    scorer = ClipScorer.from_pretrained(f"local-dir:{folder}", device="cpu")
    assert all(torch.equal(scorer.model.state_dict()[k], v) for k, v in tiny_clip_state.items())


def test_pickle_clip_for_csr_is_a_one_line_error_naming_the_flag(tmp_path, tiny_clip_state):
    folder = _clip_folder(tmp_path / "clip", tiny_clip_state, "open_clip_pytorch_model.bin")
    result = run_cli("run", "--model", "tiny-llava", "--iterations", "1", "--limit", "2", "--max-new-tokens", "2",
                     "--clip-model", f"local-dir:{folder}", "--prompts", "1", "--max-sentences", "1",
                     "--output", str(tmp_path / "out"), "--quiet")
    assert_one_line_error(result, str(folder / "open_clip_pytorch_model.bin"), "--allow-pickle")


def _pickle_only_checkpoint(tiny_checkpoint: Path, folder: Path) -> Path:
    from safetensors.torch import load_file

    shutil.copytree(tiny_checkpoint, folder)
    torch.save(load_file(str(folder / "model.safetensors")), folder / "pytorch_model.bin")
    (folder / "model.safetensors").unlink()
    return folder


def test_model_folder_with_only_pytorch_model_bin_needs_the_flag(tmp_path, tiny_checkpoint):
    folder = _pickle_only_checkpoint(tiny_checkpoint, tmp_path / "pickled")
    args = ["eval", "--model", str(folder), "--tasks", "pope", "--data-root", "bundled", "--limit", "2",
            "--max-new-tokens", "2", "--output", str(tmp_path / "out"), "--quiet"]
    refused = run_cli(*args)
    assert_one_line_error(refused, str(folder / "pytorch_model.bin"), "--allow-pickle")
    assert not (tmp_path / "out" / "pickled" / "iter_0" / "results.json").exists()
    allowed = run_cli(*args, "--allow-pickle")
    assert allowed.returncode == 0, allowed.stderr
    assert json.loads((tmp_path / "out" / "pickled" / "iter_0" / "results.json").read_text())["results"]["pope"]


def test_pickled_weights_named_by_the_config_are_refused(tmp_path, tiny_checkpoint):
    from csr_bench.models.llava import check_llava_checkpoint

    folder = tmp_path / "named"
    shutil.copytree(tiny_checkpoint, folder)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "transformers_weights": "adapter_model.bin"}))
    with pytest.raises(CsrBenchError, match=r"adapter_model\.bin.*--allow-pickle"):
        check_llava_checkpoint(folder)


def _recording(monkeypatch, owner, calls: list):
    original = owner.from_pretrained

    def record(*args, **kwargs):
        calls.append((owner.__name__, kwargs))
        return original(*args, **kwargs)

    monkeypatch.setattr(owner, "from_pretrained", record)


def test_from_pretrained_gets_trust_remote_code_false_and_safetensors_only(monkeypatch, tiny_checkpoint):
    import transformers

    from csr_bench.models.llava import LlavaModel

    calls: list = []
    _recording(monkeypatch, transformers.AutoProcessor, calls)
    _recording(monkeypatch, transformers.LlavaForConditionalGeneration, calls)
    LlavaModel.from_pretrained(str(tiny_checkpoint), name="t", device="cpu")
    assert [name for name, _ in calls] == ["AutoProcessor", "LlavaForConditionalGeneration"]
    assert all(kwargs["trust_remote_code"] is False for _, kwargs in calls)
    assert calls[1][1]["use_safetensors"] is True
    calls.clear()
    with loading_policy_as(trust_remote_code=True, allow_pickle=True):
        LlavaModel.from_pretrained(str(tiny_checkpoint), name="t", device="cpu")
    assert all(kwargs["trust_remote_code"] is True for _, kwargs in calls)
    assert calls[1][1]["use_safetensors"] is None  # safetensors first, a .bin only when there is none


def test_code_shipped_with_a_checkpoint_runs_only_with_the_flag(tmp_path, tiny_checkpoint, monkeypatch):
    """A tokenizer_config.json whose auto_map points at a module in the checkpoint: transformers would
    import (run) it with trust_remote_code=True; csr-bench never asks for that unless told to."""
    from csr_bench.models.llava import LlavaModel

    folder = tmp_path / "remote-code"
    shutil.copytree(tiny_checkpoint, folder)
    marker = tmp_path / "remote-code-ran"
    (folder / "evil_tokenizer.py").write_text(
        "import pathlib\n"
        f"pathlib.Path({str(marker)!r}).write_text('ran')\n"
        "from transformers import PreTrainedTokenizerFast\n"
        "class EvilTokenizerFast(PreTrainedTokenizerFast):\n    pass\n")
    config = json.loads((folder / "tokenizer_config.json").read_text())
    config.update(tokenizer_class="EvilTokenizerFast", auto_map={"AutoTokenizer": [None, "evil_tokenizer.EvilTokenizerFast"]})
    (folder / "tokenizer_config.json").write_text(json.dumps(config))
    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))

    result = run_cli("eval", "--model", str(folder), "--tasks", "pope", "--data-root", "bundled", "--limit", "1",
                     "--max-new-tokens", "1", "--output", str(tmp_path / "out"), "--quiet")
    assert not marker.exists(), "remote code ran without --trust-remote-code"
    if result.returncode != 0:  # refused rather than loaded with the built-in classes: one line, naming the flag
        assert_one_line_error(result, "--trust-remote-code")
    LlavaModel.from_pretrained(str(folder), name="t", device="cpu")
    assert not marker.exists()
    with loading_policy_as(trust_remote_code=True):
        try:
            LlavaModel.from_pretrained(str(folder), name="t", device="cpu")
        except CsrBenchError:
            pass  # the shipped code may not even work; that it ran is the point
    assert marker.exists()


def test_dependencies_unpickle_resume_files_with_weights_only():
    """What csr-bench does not load itself but its libraries do, from files a run wrote: transformers'
    Trainer reads optimizer.pt / scheduler.pt / rng_state.pth on resume, peft a .bin adapter, open_clip a
    .pt/.bin checkpoint. All must go through torch.load(weights_only=True) (the restricted unpickler)."""
    import inspect

    import open_clip.factory
    import peft.utils.save_and_load
    import transformers.trainer

    trainer = inspect.getsource(transformers.trainer.Trainer)
    loads = re.findall(r"torch\.load\((?:[^()]|\([^()]*\))*\)", trainer)
    assert loads and all("weights_only=True" in call for call in loads), loads
    assert inspect.signature(peft.utils.save_and_load.torch_load).parameters["weights_only"].default is True
    assert inspect.signature(open_clip.factory.load_checkpoint).parameters["weights_only"].default is True


def test_csr_bench_itself_never_unpickles_or_trusts_remote_code():
    """No torch.load / pickle.load call in csr-bench's code, and no call that switches safety off."""
    import ast

    for path in (REPO / "csr_bench").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            func = node.func
            if isinstance(func, ast.Attribute) and isinstance(func.value, ast.Name):
                assert (func.value.id, func.attr) not in {("torch", "load"), ("pickle", "load"), ("pickle", "loads"),
                                                          ("dill", "load"), ("joblib", "load")}, \
                    f"{path}:{node.lineno}: {func.value.id}.{func.attr}"
            for keyword in node.keywords:
                unsafe = {"trust_remote_code": True, "weights_only": False, "use_safetensors": False,
                          "allow_pickle": True}
                if keyword.arg in unsafe and isinstance(keyword.value, ast.Constant):
                    assert keyword.value.value != unsafe[keyword.arg], f"{path}:{node.lineno}: {keyword.arg}"
