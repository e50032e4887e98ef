"""Progress bars with rate and ETA for every long loop; ``--quiet`` turns them into log lines only."""

from __future__ import annotations

import logging

_quiet = False


def set_quiet(quiet: bool) -> None:
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def progress_bar(total: int, desc: str, unit: str = "sample", initial: int = 0):
    """A tqdm bar on stderr (rate and ETA in its default format), disabled when quiet."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=_quiet, dynamic_ncols=True,
                leave=True)


def get_logger() -> logging.Logger:
    return logging.getLogger("csr_bench")
