"""POVID's image distortion for its stage-2 "inherent hallucination" term: the reference's
``add_diffusion_noise`` (llava/train/train_dpo_inherent.py), forward diffusion q(x_t | x_0) on the
1000-step sigmoid beta schedule, applied in [0, 1] pixel space before pad-to-square, and the
reference's way back to an image (``ToPILImage`` of the unclamped tensor: uint8 wrap-around)."""

from __future__ import annotations

import hashlib
from typing import Any

NUM_STEPS = 1000  # the reference's num_steps
BETA_MIN, BETA_MAX = 1e-5, 0.5e-2  # betas = sigmoid(linspace(-6, 6, 1000)) * (0.5e-2 - 1e-5) + 1e-5
DEFAULT_NOISE_STEP = 500  # the reference calls add_diffusion_noise(image_tensor, 500)


def noise_schedule(num_steps: int = NUM_STEPS):
    """(sqrt(alpha_bar_t), sqrt(1 - alpha_bar_t)) for t = 0..num_steps-1, float32, as the reference builds them."""
    import torch

    betas = torch.sigmoid(torch.linspace(-6, 6, num_steps)) * (BETA_MAX - BETA_MIN) + BETA_MIN
    alphas_prod = torch.cumprod(1 - betas, dim=0)
    return torch.sqrt(alphas_prod), torch.sqrt(1 - alphas_prod)


def add_diffusion_noise(image_tensor, noise_step: int = DEFAULT_NOISE_STEP, generator=None):
    """x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps, eps ~ N(0, I), of a [0, 1] CHW tensor.

    The reference draws eps with ``torch.randn_like`` (unseeded); ``generator`` makes it reproducible."""
    import torch

    from csr_bench.errors import CsrBenchError

    if not 0 <= int(noise_step) < NUM_STEPS:
        raise CsrBenchError(f"POVID noise step {noise_step} must be in [0, {NUM_STEPS - 1}]")
    signal, noise_scale = noise_schedule()
    eps = torch.randn(image_tensor.shape, generator=generator, dtype=image_tensor.dtype)
    return signal[int(noise_step)] * image_tensor + noise_scale[int(noise_step)] * eps


def to_uint8(tensor, clamp: bool = False):
    """[0, 1] floats -> uint8 as torchvision's ``to_pil_image`` does (``mul(255).byte()``): values outside
    [0, 1] wrap around (1.2 -> 306 -> 50); ``clamp`` saturates them instead (1.2 -> 255, -0.1 -> 0).

    The wrap-around is written out (truncate toward zero, then modulo 256) rather than left to a
    float->uint8 cast, whose out-of-range result C++ leaves undefined; tests compare it with ``.byte()``."""
    import torch

    scaled = tensor.mul(255)
    if clamp:
        return scaled.clamp(0, 255).to(torch.uint8)  # clamp first: in range, the cast truncates like .byte()
    return torch.remainder(scaled.to(torch.int64), 256).to(torch.uint8)


def image_to_tensor(image):
    """RGB PIL image -> [0, 1] float CHW tensor (torchvision's ``ToTensor``)."""
    import numpy as np
    import torch

    array = np.asarray(image.convert("RGB"), dtype=np.uint8)
    return torch.from_numpy(array.copy()).permute(2, 0, 1).float().div(255)


def tensor_to_image(tensor, clamp: bool = False):
    """CHW [0, 1] tensor -> RGB PIL image (``to_uint8``)."""
    from PIL import Image

    return Image.fromarray(to_uint8(tensor, clamp).permute(1, 2, 0).numpy(), mode="RGB")


def example_generator(seed: int, key: str):
    """A torch generator for one example's noise, from the training seed and the example's identity
    (the same draw whatever the order, the step or a resume: the reference's draw is unseeded)."""
    import torch

    digest = hashlib.sha256(f"{int(seed)}\0{key}".encode("utf-8")).digest()
    return torch.Generator().manual_seed(int.from_bytes(digest[:8], "little") & (2 ** 63 - 1))


def noisy_image(image: Any, noise_step: int = DEFAULT_NOISE_STEP, clamp: bool = False, generator=None):
    """The reference's noisy twin of a PIL image, before pad-to-square: ToTensor -> add_diffusion_noise
    -> ToPILImage (wrap-around unless ``clamp``)."""
    return tensor_to_image(add_diffusion_noise(image_to_tensor(image), noise_step, generator), clamp)
