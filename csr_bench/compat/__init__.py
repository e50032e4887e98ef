"""Work-arounds for third-party packages that misbehave in some environments (imported on demand)."""

from csr_bench.compat.torchvision_ops import ensure_torchvision_importable

__all__ = ["ensure_torchvision_importable"]
