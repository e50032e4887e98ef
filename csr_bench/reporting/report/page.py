"""`csr-bench report RUN_DIR`: one self-contained static HTML page of a run, to look at and to pass
around: its tables and plots, and a sample browser (images beside the answers of every iteration,
CHAIR's hallucinated words marked, POPE's mistakes, the preference pairs with their rewards).

Everything is inline (CSS, images as data: URIs) and there is no script: the file opens anywhere,
offline, with nothing to load. Built with the standard library; no torch at import.
"""

from __future__ import annotations

import base64
from html import escape
from pathlib import Path

from csr_bench.storage.files import atomic_write_text
from csr_bench.reporting.run_data import RunData, load_run
from csr_bench.reporting.report.sample_browser import ImageSource, pairs_section, task_section

MAX_SAMPLES = 50  # documents per task and pairs per iteration: the page stays light on big runs

STYLE = """
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1d232a; margin: 0; background: #f6f7f9; }
main { max-width: 1180px; margin: 0 auto; padding: 16px 24px 48px; }
header { background: #1f3a5f; color: #fff; padding: 18px 24px; }
header h1 { margin: 0 0 6px; font-size: 22px; }
header dl { display: flex; flex-wrap: wrap; gap: 4px 22px; margin: 0; }
header dt { opacity: .7; } header dd { margin: 0 0 0 4px; font-weight: 600; }
header dl div { display: flex; }
nav { background: #fff; border-bottom: 1px solid #dde1e6; padding: 8px 24px; position: sticky; top: 0; z-index: 1; }
nav a { margin-right: 14px; color: #1f5fa8; text-decoration: none; } nav a:hover { text-decoration: underline; }
section { scroll-margin-top: 44px; }
h2 { border-bottom: 2px solid #1f3a5f; padding-bottom: 4px; margin-top: 32px; }
h3 { margin: 22px 0 6px; } h4 { margin: 10px 0 4px; }
section.task { background: #fff; border: 1px solid #dde1e6; border-radius: 6px; padding: 4px 16px 12px; margin: 12px 0; }
table { border-collapse: collapse; margin: 8px 0; background: #fff; }
th, td { border: 1px solid #d5dae0; padding: 4px 8px; vertical-align: top; text-align: left; }
thead th { background: #eef1f5; }
.tables { overflow-x: auto; } .table-note { color: #5b6570; font-size: 12px; }
.ci { color: #5b6570; font-size: 11px; white-space: nowrap; }
figure { display: inline-block; margin: 8px 12px 8px 0; background: #fff; border: 1px solid #dde1e6; padding: 6px; }
figure img { max-width: 100%; height: auto; display: block; } figcaption { color: #5b6570; font-size: 12px; }
details { margin: 6px 0; } summary { cursor: pointer; font-weight: 600; }
.sample { display: flex; gap: 14px; padding: 10px 0; border-top: 1px solid #eceff2; }
.thumb { width: 128px; height: auto; image-rendering: pixelated; border: 1px solid #ccd2d8; flex: none;
  align-self: flex-start; object-fit: contain; }
.noimage { width: 128px; min-height: 64px; flex: none; background: #eef0f2; color: #6b7580; font-size: 12px;
  display: flex; align-items: center; justify-content: center; text-align: center; word-break: break-all; }
.body { flex: 1; min-width: 0; } .doc { color: #6b7580; font-size: 12px; }
.prompt { white-space: pre-wrap; font-weight: 600; } .expected { color: #2d5a2d; margin: 2px 0; }
table.answers { width: 100%; } table.answers th { width: 56px; white-space: nowrap; background: #f4f6f8; }
td.answer { white-space: pre-wrap; } td.verdict { width: 150px; }
mark.hallucinated { background: #ffc9c9; color: #8a0000; font-weight: 600; border-radius: 2px; padding: 0 1px; }
mark.object { background: #d3f2d3; border-radius: 2px; padding: 0 1px; }
.good { color: #1c7c1c; font-weight: 600; } .bad { color: #b01818; font-weight: 600; } .score { color: #444; }
.missing, .note { color: #6b7580; font-style: italic; }
table.pairs td.chosen { background: #f1fbf1; } table.pairs td.rejected { background: #fdf3f3; }
.reward { font-size: 12px; color: #5b6570; font-weight: 600; }
"""


def _plot_figure(path: Path) -> str:
    """A plot PNG inline, shown at the size it was drawn (its dpi), not stretched to the page."""
    from PIL import Image

    with Image.open(path) as image:
        width = round(image.width * 96 / float(image.info.get("dpi", (96, 96))[0]))
    uri = "data:image/png;base64," + base64.b64encode(path.read_bytes()).decode("ascii")
    return (f'<figure><img src="{uri}" width="{width}" alt="{escape(path.stem)}">'
            f"<figcaption>{escape(path.stem)}</figcaption></figure>")


def _header(run: RunData) -> str:
    method = run.config.get("method") or "evaluation"
    facts = {"model": run.model, "iterations": ", ".join(str(i.iteration) for i in run.iterations),
             "method": method}
    if run.method_config.get("calibration"):
        facts["calibration"] = run.method_config["calibration"]
    if run.method_config.get("lam") is not None:
        facts["λ"] = str(run.method_config["lam"])
    items = "".join(f"<div><dt>{escape(k)}</dt><dd>{escape(str(v))}</dd></div>" for k, v in facts.items())
    return f"<header><h1>{escape(run.name)}</h1><dl>{items}</dl></header>"


def _tables(run: RunData) -> str:
    from csr_bench.reporting.tables.run_tables import render_run_tables

    return f'<div class="tables">{render_run_tables([run], "html")}</div>'


def _subset_note(run: RunData) -> str:
    """A note above the tables when some results were computed on a --limit subset of a task."""
    notes = [f"iter_{item.iteration}: {note}" for item in run.iterations for task in item.results
             if (note := item.subset_note(task))]
    if not notes:
        return ""
    return ('<p class="note">Computed on a subset of the documents (<code>--limit</code>), not comparable with '
            f'full-benchmark numbers: {escape("; ".join(notes))}.</p>')


def _plots(run: RunData) -> str:
    from csr_bench.reporting.report.plots import write_plots

    figures = [_plot_figure(path) for path in write_plots(run) if path.suffix == ".png"]
    return "".join(figures) or '<p class="note">No plots: the run has no data to plot.</p>'


def _task_names(run: RunData) -> list[str]:
    """Every task of the run, in the order the results list them."""
    return list(dict.fromkeys(task for item in run.iterations for task in item.results))


def render_report(run: RunData, max_samples: int = MAX_SAMPLES, images: ImageSource | None = None) -> str:
    """The report page of a loaded run, as one HTML string; the documents' images from ``images``."""
    tasks = _task_names(run)
    toc = ['<a href="#tables">Tables</a>', '<a href="#plots">Plots</a>', '<a href="#samples">Samples</a>']
    toc += [f'<a href="#task-{escape(task)}">{escape(task)}</a>' for task in tasks]
    toc.append('<a href="#pairs">Preference pairs</a>')
    body = [
        _header(run), f"<nav>{''.join(toc)}</nav><main>",
        '<section id="tables"><h2>Tables</h2>', _subset_note(run), _tables(run), "</section>",
        '<section id="plots"><h2>Plots</h2>', _plots(run), "</section>",
        '<section id="samples"><h2>Samples</h2>',
        '<p class="note">Each document\'s image beside the answer of every iteration. In captions, '
        '<mark class="hallucinated">red</mark> marks an object CHAIR counts as hallucinated, '
        '<mark class="object">green</mark> one that is in the image.</p>',
        *(task_section(run, task, images, max_samples) for task in tasks), "</section>",
        '<section id="pairs"><h2>Preference pairs</h2>', pairs_section(run, max_samples), "</section>",
        "</main>",
    ]
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">'
            f"<title>csr-bench report: {escape(run.name)}</title><style>{STYLE}</style></head>"
            f"<body>{''.join(body)}</body></html>\n")


def write_report(run: RunData | str | Path, output: str | Path | None = None,
                 max_samples: int = MAX_SAMPLES, images: ImageSource | None = None) -> Path:
    """Write the report of ``run`` (a RunData or a run folder) to ``output``, by default
    ``<run folder>/report.html``; returns its path. The plots are written to the run's plots/ too.
    ``images``: the documents' images (evaluation.document_images.run_images); without it, none."""
    if not isinstance(run, RunData):
        run = load_run(run)
    path = Path(output) if output is not None else run.folder / "report.html"
    atomic_write_text(path, render_report(run, max_samples, images))
    return path


__all__ = ["MAX_SAMPLES", "render_report", "write_report"]
