"""``csr-bench inject``: a POVID-schema preference file from truthful answers, with hallucinations
injected by rules (offline) or by a judge endpoint. Needs no model: imports no torch."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from csr_bench.cli.config_flags import comma_list
from csr_bench.errors import CsrBenchError


def add_inject_parser(commands, parents: list[argparse.ArgumentParser]) -> argparse.ArgumentParser:
    inject = commands.add_parser(
        "inject", parents=parents, help="make POVID-style preference pairs: truthful answers vs hallucination-injected twins",
        description="Read INPUT (JSON list or JSONL; rows with image and prompt/question and answer, or LLaVA "
        "'conversations'), inject hallucinations into each answer and write OUTPUT in POVID's schema (id, image, "
        "conversations, rejected_conversations, plus 'injected': the edits), which `run --method povid "
        "--preferences OUTPUT` reads. Both injectors are csr-bench's own (POVID's GPT-4V prompt is unreleased).")
    inject.add_argument("input", metavar="INPUT", help="truthful answers: JSON list or JSONL")
    inject.add_argument("output", metavar="OUTPUT", help="POVID-schema JSON file to write")
    inject.add_argument("--injector", choices=["rules", "judge"], default="rules",
                        help="rules: swap an object for a co-occurring one, change a colour or size and a count "
                        "(offline, default); judge: ask the judge endpoint with csr-bench's injection prompt")
    inject.add_argument("--cooccurrence", metavar="FILE",
                        help="rules: co-occurrence table from a COCO instances_*.json (pycocotools) or a JSON "
                        "{category: {other: weight}} (default: a small hand-written COCO table)")
    inject.add_argument("--edits", type=comma_list("edit kinds"), default="object,attribute,count", metavar="KIND[,KIND]",
                        help="rules: edit kinds to make, one of each (default object,attribute,count)")
    inject.add_argument("--seed", type=int, default=0, help="rules: seed of the edits (default 0)")
    inject.add_argument("--judge-url", help="OpenAI-compatible judge endpoint (default $CSR_BENCH_JUDGE_URL); "
                        "the key is read from $CSR_BENCH_JUDGE_API_KEY only")
    inject.add_argument("--judge-model", help="judge model name (default $CSR_BENCH_JUDGE_MODEL)")
    return inject


def judge_cache_path(output: Path) -> Path:
    """Where the judge's answers are kept: beside OUTPUT, so a rerun resumes."""
    return output.with_name(output.name + ".judge_cache.jsonl")


def cmd_inject(args) -> int:
    from csr_bench.preference_data.injection.povid_file import inject_rows, read_rows
    from csr_bench.progress import get_logger
    from csr_bench.storage.files import atomic_write_text

    source, output = Path(args.input).expanduser(), Path(args.output).expanduser()
    if not source.is_file():
        raise CsrBenchError(f"inject: INPUT {source} is not a file")
    judge = rules = None
    if args.injector == "judge":
        from csr_bench.judge import NO_JUDGE, JudgeSettings, make_judge

        judge = make_judge(JudgeSettings.resolve(args.judge_url, args.judge_model), judge_cache_path(output))
        if judge is None:
            raise CsrBenchError(f"inject --injector judge: {NO_JUDGE}")
    else:
        from dataclasses import replace

        from csr_bench.preference_data.injection.rules import (EDIT_KINDS, InjectionRules, default_coco_rules,
                                                               load_table)

        kinds = tuple(args.edits)
        if set(kinds) - set(EDIT_KINDS):
            raise CsrBenchError(f"inject --edits {','.join(kinds)!r}: expected a comma list of {', '.join(EDIT_KINDS)}")
        rules = InjectionRules(load_table(args.cooccurrence)) if args.cooccurrence else default_coco_rules()
        rules = replace(rules, kinds=kinds)
    rows = read_rows(source)
    outcome = inject_rows(rows, rules=rules, judge=judge, seed=args.seed)
    reasons = ", ".join(f"{n} {reason}" for reason, n in outcome.skipped.most_common())
    if not outcome.rows:
        raise CsrBenchError(f"inject: no usable row in {source} ({outcome.read} read"
                            + (f"; skipped: {reasons}" if reasons else "") + ")")
    output.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(output, json.dumps(outcome.rows, ensure_ascii=False, indent=1) + "\n")
    get_logger().info("wrote %d pairs to %s (%d rows read%s)", len(outcome.rows), output, outcome.read,
                      f"; skipped: {reasons}" if reasons else "")
    return 0
