"""Train the embedded world's VLM from scratch and refresh the copy csr-bench ships.

    python scripts/ship_world_checkpoints.py [--seed 0] [--check | --from WORLD_FOLDER]

The default build copies csr_bench/bundled/world-seed<seed>/model instead of training for several
minutes (the CLIP trains in under a minute and is not shipped). This script is how those files were
made: `build_world(train=True)` with the default knobs in a temporary CSR_BENCH_HOME, then a copy of
the checkpoint and of the knobs it was trained with (which the build compares before using it). With --check it writes nothing and
reports whether a fresh training gives byte-identical weights to the shipped ones (expected on the
same machine and thread count; other CPUs can round differently). With --from it ships the VLM of
a world already built that way (`csr-bench world build --train` with the default knobs), instead of
training it again.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path


def digest(folder: Path) -> dict[str, str]:
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(folder.rglob("*.safetensors"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="compare a fresh training with the shipped files")
    parser.add_argument("--from", dest="built", type=Path, metavar="WORLD_FOLDER",
                        help="ship the VLM of this built world (trained here with the default knobs)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["CSR_BENCH_HOME"] = home
        from dataclasses import asdict

        from csr_bench.world import WORLD_VERSION
        from csr_bench.world.build import build_world, shipped_dir, world_dir
        from csr_bench.world.train_vlm import WorldVlmConfig

        if args.built and not args.check:
            built = args.built
            record = json.loads((built / "build.json").read_text())
            wanted = {"world_version": WORLD_VERSION, "seed": args.seed, "vlm": asdict(WorldVlmConfig()),
                      "world": {}, "vlm_source": "trained"}
            wrong = [key for key, value in wanted.items() if record.get(key) != value]
            if wrong:
                print(f"{built} was not built by `csr-bench world build --train` with the default knobs "
                      f"of this version (differs in: {', '.join(wrong)})", file=sys.stderr)
                return 1
        else:
            built = build_world(args.seed, world_dir(args.seed), train=True)
            record = json.loads((built / "build.json").read_text())
        target = shipped_dir(args.seed)
        fresh = digest(built / "model")
        if args.check:
            shipped = json.loads((target / "build.json").read_text()).get("sha256", {})
            same = shipped == fresh
            print(f"fresh training {'matches' if same else 'DIFFERS FROM'} the shipped checkpoint in {target}")
            return 0 if same else 1
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        shutil.copytree(built / "model", target / "model")
        (target / "build.json").write_text(json.dumps({
            "world_version": WORLD_VERSION, "seed": args.seed, "vlm": record["vlm"], "examples": record["examples"],
            "vlm_seconds": record.get("vlm_seconds"),
            "sha256": fresh, "made_by": "python scripts/ship_world_checkpoints.py"}, indent=2) + "\n")
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"shipped world seed {args.seed} VLM -> {target} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
