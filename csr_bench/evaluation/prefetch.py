"""Images decoded ahead of the model: a torch DataLoader whose worker processes load the next
batches' images while the current batch generates, so image I/O is off the critical path.

A bad image stays a one-line error: the worker hands the CsrBenchError back as a value and the
main process raises it (a DataLoader would wrap it in a multi-line traceback).
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


def batch_images(data: Any, batches: Sequence[Sequence[int]], workers: int) -> Iterator[tuple[Sequence[int], list]]:
    """(batch, its images) in order; with ``workers`` > 0 the images are loaded by that many worker
    processes, two batches ahead each."""
    dataset = _BatchImages(data, batches)
    if workers > 0 and len(batches) > 1:
        from torch.utils.data import DataLoader

        loaded = DataLoader(dataset, batch_size=None, num_workers=workers, prefetch_factor=2,
                            collate_fn=lambda images: images)
    else:
        loaded = (dataset[k] for k in range(len(dataset)))
    for batch, images in zip(batches, loaded):
        if isinstance(images, CsrBenchError):
            raise images
        yield batch, images


__all__ = ["batch_images"]
