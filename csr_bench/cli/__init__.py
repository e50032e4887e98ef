"""The ``csr-bench`` command: the parser (parser.py, method flags from config_flags.py) and the
commands, by what they need: a model (model_commands.py), finished runs (report_commands.py),
preference files (preference_commands.py: ``inject``) or nothing (list_commands.py). Start-up is
light: ``tasks``, ``models``, ``score``, ``table``, ``compare``, ``check``, ``plot``, ``report``, ``inject`` and
``--help`` never import torch or transformers.
"""

from __future__ import annotations

import logging
import os
import sys

from csr_bench.cli.list_commands import cmd_models, cmd_tasks
from csr_bench.cli.model_commands import cmd_eval, cmd_export, cmd_run, cmd_score, cmd_world
from csr_bench.cli.parser import PROG, build_parser
from csr_bench.cli.preference_commands import cmd_inject
from csr_bench.cli.report_commands import cmd_check, cmd_compare, cmd_plot, cmd_report, cmd_table
from csr_bench.cli.reward_commands import cmd_grade_reward
from csr_bench.errors import CsrBenchError

COMMANDS = {"run": cmd_run, "eval": cmd_eval, "score": cmd_score, "export": cmd_export, "world": cmd_world,
            "tasks": cmd_tasks, "models": cmd_models, "table": cmd_table, "plot": cmd_plot, "report": cmd_report,
            "check": cmd_check, "inject": cmd_inject, "compare": cmd_compare, "grade-reward": cmd_grade_reward}


def main(argv: list[str] | None = None) -> int:
    try:  # a method's flags come from its config: a broken third-party method is one line too
        parser = build_parser(argv)
    except CsrBenchError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    args = parser.parse_args(argv)
    from csr_bench.progress import set_quiet

    from csr_bench.distributed import is_main, shutdown

    set_quiet(args.quiet or not is_main())  # in a data-parallel run the main process reports for all
    logging.basicConfig(level=logging.INFO if is_main() else logging.WARNING, format=f"{PROG}: %(message)s", stream=sys.stderr)
    from csr_bench.redaction import install_log_redaction, redact_text
    from csr_bench.safety import set_loading_policy

    install_log_redaction()  # no judge key or hub token in a log line, whoever logs it
    set_loading_policy(allow_pickle=getattr(args, "allow_pickle", False),
                       trust_remote_code=getattr(args, "trust_remote_code", False))
    try:
        return COMMANDS[args.command](args)
    except CsrBenchError as exc:
        print(f"{PROG}: error: {redact_text(str(exc))}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # the reader went away (`csr-bench score ... | head`): stop quietly, as a pipe filter does
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's flush at exit would fail again
        return 1
    except OSError as exc:  # a full disk outside csr_bench.storage.files (a checkpoint, a plot): one line, not a traceback
        from csr_bench.storage.disk_errors import one_line

        message = one_line(exc)
        if message is None:
            raise
        print(f"{PROG}: error: {redact_text(message)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"{PROG}: interrupted; finished samples are saved, rerun the same command to resume",
              file=sys.stderr)
        return 130
    finally:
        shutdown()



if __name__ == "__main__":
    raise SystemExit(main())

