"""Save the tiny LLaVA as a llava-hf format checkpoint (config, safetensors, processor).

The folder loads exactly as LLaVA-1.5 does, so it is a quick way to try `--model DIR`:

    python scripts/save_tiny_llava.py /tmp/tiny-llava15
    csr-bench eval --model /tmp/tiny-llava15 --tasks pope --data-root bundled
"""

import argparse

from csr_bench.models.tiny_llava import save_tiny_llava


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("path", help="output folder")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    print(f"saved to {save_tiny_llava(args.path, seed=args.seed)}")


if __name__ == "__main__":
    main()
