"""A table as data (cells with best-value marks and footnotes) and its four renderings: markdown,
LaTeX, CSV and HTML. The paper, iteration and λ tables are built once and rendered in any of them.

tabulate lays out markdown, LaTeX and HTML; CSV goes through the csv module with raw numbers
(no marks), one ``# title`` line before each table and ``# note`` lines after it.
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field
from typing import Any

FORMATS = ("markdown", "latex", "csv", "html")
MISSING = "–"
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass
class Cell:
    value: float | int | str | None
    decimals: int = 2
    best: bool = False
    note: int | None = None  # footnote number (1-based) into Table.notes
    suffix: str = ""  # shown after the value (not in CSV), e.g. the column count of an average

    def text(self) -> str:
        if self.value is None:
            return MISSING
        if isinstance(self.value, float):
            return f"{self.value:.{self.decimals}f}{self.suffix}"
        return f"{self.value}{self.suffix}"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def note(self, text: str) -> int:
        """The footnote number of ``text``, adding it once."""
        if text not in self.notes:
            self.notes.append(text)
        return self.notes.index(text) + 1

    def mark_best(self, column: int, lower_is_better: bool, among: list[int] | None = None) -> None:
        """Mark the best numeric value of ``column`` (every tie) among the rows ``among`` (default all);
        nothing when all are equal (no row stands out)."""
        candidates = [i for i in (among if among is not None else range(len(self.rows)))
                      if isinstance(self.rows[i][column].value, (int, float))]
        values = [round(float(self.rows[i][column].value), self.rows[i][column].decimals) for i in candidates]
        if len(set(values)) < 2:
            return
        best = min(values) if lower_is_better else max(values)
        for i, value in zip(candidates, values):
            self.rows[i][column].best = value == best


def _latex_escape(text: str) -> str:
    replacements = {"\\": r"\textbackslash{}", "&": r"\&", "%": r"\%", "$": r"\$", "#": r"\#", "_": r"\_",
                    "{": r"\{", "}": r"\}", "~": r"\textasciitilde{}", "^": r"\^{}", "↓": r"$\downarrow$",
                    "λ": r"$\lambda$", MISSING: "--"}
    return "".join(replacements.get(char, char) for char in text)


def _render_cell(cell: Cell, fmt: str) -> str:
    text = cell.text()
    if fmt == "markdown":
        text = f"**{text}**" if cell.best else text
        return text + (str(cell.note).translate(_SUPERSCRIPT) if cell.note else "")
    if fmt == "latex":
        text = _latex_escape(text)
        text = rf"\textbf{{{text}}}" if cell.best else text
        return text + (rf"$^{{{cell.note}}}$" if cell.note else "")
    text = html.escape(text)
    text = f"<strong>{text}</strong>" if cell.best else text
    return text + (f"<sup>{cell.note}</sup>" if cell.note else "")


def _csv(table: Table) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write(f"# {table.title}\n")
    writer.writerow(table.headers)
    for row in table.rows:
        writer.writerow(["" if c.value is None else round(c.value, 4) if isinstance(c.value, float) else c.value
                         for c in row])
    for number, note in enumerate(table.notes, 1):
        buffer.write(f"# [{number}] {note}\n")
    return buffer.getvalue()


def render(table: Table, fmt: str = "markdown") -> str:
    """The table in ``fmt`` (one of FORMATS), with its title and footnotes."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(table)
    from tabulate import tabulate

    body = [[_render_cell(cell, fmt) for cell in row] for row in table.rows]
    align = ["left"] + ["right"] * (len(table.headers) - 1)
    if fmt == "markdown":
        grid = tabulate(body, headers=table.headers, tablefmt="github", disable_numparse=True, colalign=align)
        notes = "".join(f"\n{str(n).translate(_SUPERSCRIPT)} {note}" for n, note in enumerate(table.notes, 1))
        return f"**{table.title}**\n\n{grid}\n{notes}".rstrip() + "\n"
    if fmt == "latex":
        headers = [_latex_escape(h) for h in table.headers]
        grid = tabulate(body, headers=headers, tablefmt="latex_raw", disable_numparse=True, colalign=align)
        notes = "\\\\[2pt]\n".join(f"\\footnotesize $^{{{n}}}$ {_latex_escape(note)}"
                                   for n, note in enumerate(table.notes, 1))
        return ("% needs \\usepackage{graphicx} (\\resizebox)\n"
                f"\\begin{{table}}[t]\n\\centering\n\\caption{{{_latex_escape(table.title)}}}\n"
                f"\\resizebox{{\\linewidth}}{{!}}{{%\n{grid}}}\n"
                + (f"\\begin{{flushleft}}\n{notes}\n\\end{{flushleft}}\n" if notes else "")
                + "\\end{table}\n")
    grid = tabulate(body, headers=[html.escape(h) for h in table.headers], tablefmt="unsafehtml",
                    disable_numparse=True, colalign=align)
    notes = "".join(f'<p class="table-note"><sup>{n}</sup> {html.escape(note)}</p>\n'
                    for n, note in enumerate(table.notes, 1))
    return f'<h3>{html.escape(table.title)}</h3>\n{grid.replace("<table>", "<table class=csr-table>", 1)}\n{notes}'


__all__ = ["FORMATS", "MISSING", "Cell", "Table", "render"]
