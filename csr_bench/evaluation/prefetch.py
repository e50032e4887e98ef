"""Images decoded ahead of the model: a torch DataLoader whose worker processes load the next
batches' images while the current batch generates, so image I/O is off the critical path.
Details (errors, dying workers): docs/speed.md, "csr_bench/evaluation/prefetch.py".
"""

from __future__ import annotations

from typing import Any, Iterator, Sequence

from csr_bench.errors import CsrBenchError


class _BatchImages:
    """Map-style dataset: item k is the list of images of batch k (or the error that stopped it)."""

    def __init__(self, data: Any, batches: Sequence[Sequence[int]]):
        self.data, self.batches = data, batches

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, k: int) -> list[Any] | CsrBenchError:
        try:
            return [self.data.image(i) for i in self.batches[k]]
        except CsrBenchError as exc:
            return exc


def _die_with_parent(worker_id: int, parent: int | None = None) -> None:
    """DataLoader worker_init_fn: SIGKILL this worker when the process that started it dies (Linux)."""
    import os
    import signal
    import sys

    if not sys.platform.startswith("linux"):
        return
    import ctypes

    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, int(signal.SIGKILL), 0, 0, 0)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        return
    if parent is not None and os.getppid() != parent:  # the parent died before the prctl
        os.kill(os.getpid(), signal.SIGKILL)


def batch_images(data: Any, batches: Sequence[Sequence[int]], workers: int) -> Iterator[tuple[Sequence[int], list]]:
    """(batch, its images) in order; with ``workers`` > 0 the images are loaded by that many worker
    processes, two batches ahead each."""
    dataset = _BatchImages(data, batches)
    if workers > 0 and len(batches) > 1:
        import functools
        import os

        from torch.utils.data import DataLoader

        loaded = DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=2,
                            collate_fn=lambda images: images,
                            worker_init_fn=functools.partial(_die_with_parent, parent=os.getpid()))
    else:
        loaded = (dataset[k] for k in range(len(dataset)))
    for batch, images in zip(batches, loaded):
        if isinstance(images, CsrBenchError):
            raise images
        yield batch, images


__all__ = ["batch_images"]
