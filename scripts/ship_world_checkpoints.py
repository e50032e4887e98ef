"""Train the embedded world's VLM and CLIP from scratch and refresh the copies csr-bench ships.

    python scripts/ship_world_checkpoints.py [--seed 0] [--check | --from WORLD_FOLDER] [--clip-only]

The default build copies csr_bench/bundled/world-seed<seed>/model and clip instead of training them
for many minutes. This script is how those files were made: `build_world(train=True)` with the
default knobs in a temporary CSR_BENCH_HOME (the CLIP saved with its token embedding cut to the
world's words, as every build saves it), then a copy of both checkpoints and of the knobs they were
trained with (which the build compares before using them). With --check it writes nothing and reports
whether a fresh training gives byte-identical weights to the shipped ones (expected on the same
machine and thread count; other CPUs can round differently). With --from it ships the checkpoints of
a world already built that way (`csr-bench world build --train` with the default knobs), instead of
training them again; a world whose VLM was the shipped one (`csr-bench world build` when only the
CLIP's knobs or format changed) ships its CLIP beside that same VLM. With --clip-only the training
(or the check) is the CLIP's alone, beside the shipped VLM (about 7 minutes on one idle core instead
of 30); its weights do not depend on the VLM's.
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

PARTS = ("model", "clip")


def digest(folder: Path) -> dict[str, str]:
    """sha256 of every safetensors file under the model/ and clip/ folders of ``folder``."""
    return {str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
            for part in PARTS for p in sorted((folder / part).rglob("*.safetensors"))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--check", action="store_true", help="compare a fresh training with the shipped files")
    parser.add_argument("--from", dest="built", type=Path, metavar="WORLD_FOLDER",
                        help="ship the VLM and CLIP of this built world (trained here with the default knobs)")
    parser.add_argument("--clip-only", action="store_true",
                        help="train and ship (or check) only the CLIP, keeping the shipped VLM")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as home:
        os.environ["CSR_BENCH_HOME"] = home
        from dataclasses import asdict

        from csr_bench.world import MODELS_VERSION
        from csr_bench.world.build import build_world, shipped_dir, world_dir
        from csr_bench.world.train_clip import WorldClipConfig
        from csr_bench.world.train_vlm import WorldVlmConfig

        target = shipped_dir(args.seed)
        previous = json.loads((target / "build.json").read_text()) if (target / "build.json").is_file() else {}
        shipped = {key if "/" in key else f"model/{key}": value  # older records: the VLM's files only
                   for key, value in previous.get("sha256", {}).items()}
        if args.built and not args.check:
            built = args.built
            record = json.loads((built / "build.json").read_text())
            wanted = {"models_version": MODELS_VERSION, "seed": args.seed, "vlm": asdict(WorldVlmConfig()),
                      "clip": asdict(WorldClipConfig()), "world": {}, "clip_source": "trained"}
            wrong = [key for key, value in wanted.items() if record.get(key) != value]
            same_vlm = {k: v for k, v in digest(built).items() if k.startswith("model/")} == \
                {k: v for k, v in shipped.items() if k.startswith("model/")}
            if record.get("vlm_source") != "trained" and not same_vlm:
                wrong.append("vlm_source")
            if wrong:
                print(f"{built} was not built by `csr-bench world build --train` with the default knobs "
                      f"of this version (differs in: {', '.join(wrong)})", file=sys.stderr)
                return 1
        else:
            if args.clip_only:  # the shipped VLM in place: the build trains only the CLIP
                shutil.copytree(target / "model", world_dir(args.seed) / "model")
            built = build_world(args.seed, world_dir(args.seed), train=True)
            record = json.loads((built / "build.json").read_text())
        fresh = digest(built)
        if args.check:
            if args.clip_only:
                shipped = {key: value for key, value in shipped.items() if key.startswith("clip/")}
                fresh = {key: value for key, value in fresh.items() if key.startswith("clip/")}
            same = shipped == fresh
            print(f"fresh training {'matches' if same else 'DIFFERS FROM'} the shipped checkpoints in {target}")
            return 0 if same else 1
        shutil.rmtree(target, ignore_errors=True)
        target.mkdir(parents=True)
        for part in PARTS:
            shutil.copytree(built / part, target / part)
        (target / "build.json").write_text(json.dumps({
            "models_version": MODELS_VERSION, "seed": args.seed, "vlm": record["vlm"], "clip": record["clip"],
            "examples": record["examples"], "clip_pairs": record["clip_pairs"],
            "vlm_seconds": record.get("vlm_seconds", previous.get("vlm_seconds")), "clip_seconds": record.get("clip_seconds"),
            "sha256": fresh, "made_by": "python scripts/ship_world_checkpoints.py"}, indent=2) + "\n")
        size = sum(p.stat().st_size for p in target.rglob("*") if p.is_file())
        print(f"shipped world seed {args.seed} VLM and CLIP -> {target} ({size / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
