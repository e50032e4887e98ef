"""``python -m csr_bench.interop.lmms_eval.launch ARGS``: lmms-eval's command line (same ARGS as
``python -m lmms_eval``), with the torchvision shim applied before lmms-eval imports torchvision.

On a CPU-only torch with PyPI's CUDA torchvision, lmms-eval cannot even start without the shim.
lmms-eval exits 0 even when an evaluation fails: read its results files, not this exit status.
"""

from __future__ import annotations

import sys

from csr_bench.compat import ensure_torchvision_importable


def main(argv: list[str] | None = None) -> int:
    ensure_torchvision_importable()
    from lmms_eval.cli.dispatch import main as lmms_eval_main

    sys.argv = ["lmms-eval", *(sys.argv[1:] if argv is None else argv)]
    lmms_eval_main()
    return 0


if __name__ == "__main__":
    sys.exit(main())
