"""Progress bars with rate and ETA for every long loop; ``--quiet`` turns them into log lines only."""

from __future__ import annotations

import logging
import os
import sys

_quiet = False


def set_quiet(quiet: bool) -> None:
    """Quiet: no bars of ours, nor transformers' and huggingface_hub's own (loading and saving
    weights, downloads), whether they are imported yet or not."""
    global _quiet
    _quiet = quiet
    if quiet:
        os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"  # read when huggingface_hub is imported
        if "transformers" in sys.modules:
            sys.modules["transformers"].logging.disable_progress_bar()  # huggingface_hub's too
        elif "huggingface_hub" in sys.modules:
            sys.modules["huggingface_hub"].utils.disable_progress_bars()


def is_quiet() -> bool:
    return _quiet


def progress_bar(total: int, desc: str, unit: str = "sample", initial: int = 0):
    """A tqdm bar on stderr (rate and ETA in its default format), disabled when quiet."""
    from tqdm.auto import tqdm

    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=_quiet, dynamic_ncols=True,
                leave=True)


def get_logger() -> logging.Logger:
    return logging.getLogger("csr_bench")
