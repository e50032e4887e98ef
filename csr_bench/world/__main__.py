"""``python -m csr_bench.world OUT``: generate the embedded world and write its data root."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from csr_bench.errors import CsrBenchError


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m csr_bench.world", description=__doc__)
    parser.add_argument("out", type=Path, help="data root to write (use it as --data-root)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--n-train", type=int, default=3000)
    parser.add_argument("--n-eval", type=int, default=2000)
    parser.add_argument("--image-size", type=int, default=96)
    parser.add_argument("--n-prompt", type=int, default=1000, help="unlabelled CSR prompt images")
    args = parser.parse_args(argv)
    from csr_bench.world.benchmarks import write_world

    start = time.perf_counter()
    try:
        manifest = write_world(args.out, seed=args.seed, n_train=args.n_train, n_eval=args.n_eval,
                               image_size=args.image_size, n_prompt=args.n_prompt)
    except (CsrBenchError, ValueError) as exc:
        print(f"csr-bench: error: {exc}", file=sys.stderr)
        return 2
    counts = ", ".join(f"{k} {v}" for k, v in manifest["counts"].items())
    rates = manifest["partner_rate"]
    print(f"world v{manifest['world_version']} seed {args.seed} -> {args.out} in {time.perf_counter() - start:.1f} s: "
          f"{counts}; partner rate train {rates['train']:.3f}, eval {rates['eval']:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
