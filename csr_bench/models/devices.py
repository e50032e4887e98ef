"""``--device`` checked before any work: one line naming the value and the way out, instead of a
traceback from ``model.to(device)`` after the data loaded and the run folder was made.
Details (the devices accepted): docs/models.md, "csr_bench/models/devices.py".
"""

from __future__ import annotations

import os
import re

from csr_bench.errors import CsrBenchError

DEVICE = re.compile(r"(cpu|cuda|mps)(?::(\d+))?")
SUPPORTED = "cpu, cuda, cuda:N or mps"


def check_device(device: str | None, *, training: bool = False, backend: str = "transformers") -> None:
    """Raise CsrBenchError unless ``device`` exists here (and, with ``training``, DPO can train on it).

    Imports torch only when the value names a GPU or the run is data-parallel: a CPU run's bad data
    is still found before torch loads."""
    if backend == "vllm":  # vLLM picks its GPUs itself
        from csr_bench.models.vllm_llava import check_device as check_vllm_device

        check_vllm_device(device)
        return
    from csr_bench import distributed

    if device in (None, "", "auto"):
        if distributed.is_distributed():
            _check_local_rank()
        return
    match = DEVICE.fullmatch(device)
    if match is None:
        raise CsrBenchError(f"--device {device} is not a device csr-bench runs on: use {SUPPORTED} "
                            "(or leave --device out: cuda when there is a GPU, else cpu)")
    kind, index = match.group(1), match.group(2)
    if kind == "cuda":
        _check_cuda(device, None if index is None else int(index))
        if index is None and distributed.is_distributed():
            _check_local_rank()
    elif kind == "mps":
        import torch

        mps = getattr(torch.backends, "mps", None)
        if mps is None or not mps.is_available():
            raise CsrBenchError(f"--device {device}: this torch {torch.__version__} has no usable MPS (Apple GPU) "
                                "backend here: pass --device cpu, or --device cuda on a machine with an NVIDIA GPU")
        if index not in (None, "0"):
            raise CsrBenchError(f"--device {device}: there is one MPS device, mps (or mps:0)")
    if training and not (kind == "cpu" or (kind == "cuda" and index in (None, "0"))):
        raise CsrBenchError(f"--device {device}: CSR's DPO training runs on 'cuda' (select the GPU with "
                            "CUDA_VISIBLE_DEVICES) or 'cpu'; pass one of them, or --iterations 0 to evaluate only")


def _check_cuda(device: str, index: int | None) -> None:
    import torch

    if not (torch.version.cuda or getattr(torch.version, "hip", None)):
        raise CsrBenchError(f"--device {device}: this torch {torch.__version__} has no CUDA: install a CUDA build "
                            "of torch (https://pytorch.org/get-started/locally/), or pass --device cpu")
    if not torch.cuda.is_available():
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")
        where = f" (CUDA_VISIBLE_DEVICES={visible!r})" if visible is not None else ""
        raise CsrBenchError(f"--device {device}: torch {torch.__version__} sees no GPU{where}: check the driver "
                            "with nvidia-smi and CUDA_VISIBLE_DEVICES, or pass --device cpu")
    count = torch.cuda.device_count()
    if index is not None and index >= count:
        raise CsrBenchError(f"--device {device}: only {count} GPU(s) visible here (cuda:0 to cuda:{count - 1}): "
                            "pass one of them, or --device cuda")


def _check_local_rank() -> None:
    """A data-parallel run puts process LOCAL_RANK on cuda:LOCAL_RANK when there are GPUs (else on the CPU)."""
    import torch

    if not torch.cuda.is_available():
        return
    local_rank, count = int(os.environ.get("LOCAL_RANK", "0")), torch.cuda.device_count()
    if local_rank >= count:
        raise CsrBenchError(f"data-parallel process LOCAL_RANK={local_rank} has no GPU of its own: only {count} "
                            "visible; start at most that many processes per node (torchrun --nproc_per_node)")
