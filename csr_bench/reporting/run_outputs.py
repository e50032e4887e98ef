"""What a finished `csr-bench run` leaves for people to read: tables.md and tables.tex, plots/ and
report.html in the run folder. The results are already on disk by then, so a report that cannot be
made is a warning (rerun `csr-bench report`), never a failed run.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from csr_bench.errors import CsrBenchError
from csr_bench.progress import get_logger
from csr_bench.reporting.tables.iterations import iteration_table
from csr_bench.reporting.run_data import load_run
from csr_bench.reporting.tables.significance import summary_lines
from csr_bench.reporting.tables.format import render
from csr_bench.reporting.tables.run_tables import write_run_tables

if TYPE_CHECKING:
    from csr_bench.reporting.report.sample_browser import ImageSource

log = get_logger()


def write_run_outputs(run_dir: str | Path, images: ImageSource | None = None) -> dict[str, object]:
    """Write every table, the plots and the report (the documents' images from ``images``); returns their
    paths, the iteration table (markdown) and the summary lines of the change from iteration 0 to the
    last (``significance``)."""
    from csr_bench.reporting.report.page import write_report

    run = load_run(run_dir)
    outputs: dict[str, object] = {"tables": write_run_tables(run), "iteration_table": render(iteration_table([run])),
                                  "significance": summary_lines(run)}
    try:
        outputs["report"] = write_report(run, images=images)  # draws the plots into plots/ too
    except (CsrBenchError, OSError, ValueError) as exc:
        log.warning("could not write the report of %s: %s (rerun `csr-bench report %s`)", run.folder, exc, run.folder)
    outputs["plots"] = sorted((run.folder / "plots").glob("*.png"))
    return outputs


__all__ = ["write_run_outputs"]
