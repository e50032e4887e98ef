"""A table as data (cells with intervals, best-value and † marks, footnotes) and its four renderings:
markdown, LaTeX, CSV and HTML, so the paper, iteration and λ tables are built once. How each format
shows intervals and marks: docs/reporting.md, "Implementation notes".
"""

from __future__ import annotations

import csv
import html
import io
from dataclasses import dataclass, field

FORMATS = ("markdown", "latex", "csv", "html")
MISSING = "–"
MARK = "†"  # the cell's paired difference from the base row excludes 0
_SUPERSCRIPT = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


@dataclass
class Cell:
    value: float | int | str | None
    decimals: int = 2
    best: bool = False
    note: int | None = None  # footnote number (1-based) into Table.notes
    suffix: str = ""  # shown after the value (not in CSV), e.g. the column count of an average
    interval: tuple[float, float] | None = None  # the value's confidence interval (low, high)
    significant: bool | None = None  # its paired difference from the base row excludes 0; None: not compared
    signed: bool = False  # a difference: +/- shown, and the interval at the value's decimals

    def text(self) -> str:
        if self.value is None:
            return MISSING
        if isinstance(self.value, float):
            return f"{self.value:{'+' if self.signed else ''}.{self.decimals}f}{self.suffix}"
        return f"{self.value}{self.suffix}"

    @property
    def mark(self) -> str:
        return MARK if self.significant else ""

    def interval_text(self) -> str:
        """' [low, high]', one decimal fewer than the value (the interval's ends are not known finer),
        or '' without an interval."""
        if self.interval is None or self.value is None:
            return ""
        decimals = self.decimals if self.signed else max(self.decimals - 1, 0)
        sign = "+" if self.signed else ""
        low, high = self.interval
        return f" [{low:{sign}.{decimals}f}, {high:{sign}.{decimals}f}]"


@dataclass
class Table:
    title: str
    headers: list[str]
    rows: list[list[Cell]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    interval_legend: str | None = None  # what the [low, high] after a value is (shown with the intervals)
    mark_legend: str | None = None  # what the mark means (the test, the base row)
    method_legend: str | None = None  # the bootstrap's units and resamples, told with the mark without intervals

    def legend(self, ci: bool = True) -> list[str]:
        """The unnumbered lines after the footnotes: the intervals' method (when shown) and the mark's test."""
        intervals = ci and self.interval_legend is not None and any(
            cell.interval is not None for row in self.rows for cell in row)
        lines = [self.interval_legend] if intervals else []
        if self.mark_legend and any(cell.significant is not None for row in self.rows for cell in row):
            lines.append(self.mark_legend + (f"; {self.method_legend}" if self.method_legend and not intervals else ""))
        return lines

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
                    "λ": r"$\lambda$", "Δ": r"$\Delta$", MARK: r"$^{\dagger}$", MISSING: "--"}
    return "".join(replacements.get(char, char) for char in text)


def _render_cell(cell: Cell, fmt: str, ci: bool = True) -> str:
    text, interval = cell.text(), cell.interval_text() if ci else ""
    if fmt == "markdown":
        text = f"**{text}**" if cell.best else text
        return text + cell.mark + interval + (str(cell.note).translate(_SUPERSCRIPT) if cell.note else "")
    if fmt == "latex":
        text = _latex_escape(text)
        text = rf"\textbf{{{text}}}" if cell.best else text
        text += r"$^{\dagger}$" if cell.mark else ""
        text += rf" {{\scriptsize{_latex_escape(interval)}}}" if interval else ""
        return text + (rf"$^{{{cell.note}}}$" if cell.note else "")
    text = html.escape(text)
    text = f"<strong>{text}</strong>" if cell.best else text
    text += cell.mark + (f' <span class="ci">{html.escape(interval.strip())}</span>' if interval else "")
    return text + (f"<sup>{cell.note}</sup>" if cell.note else "")


def _csv_value(value: float | int | str | None) -> float | int | str:
    return "" if value is None else round(value, 4) if isinstance(value, float) else value


def _csv(table: Table, ci: bool = True) -> str:
    """Raw numbers; after each column with intervals its ``low`` and ``high`` columns (with ``ci``), after
    each compared column its ``significant`` column (yes / no; empty where not compared)."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    buffer.write(f"# {table.title}\n")
    columns = range(len(table.headers))
    with_interval = {i for i in columns if ci and any(row[i].interval is not None for row in table.rows)}
    compared = {i for i in columns if any(row[i].significant is not None for row in table.rows)}
    headers = []
    for i, header in enumerate(table.headers):
        headers += [header] + ([f"{header} low", f"{header} high"] if i in with_interval else []) \
            + ([f"{header} significant"] if i in compared else [])
    writer.writerow(headers)
    for row in table.rows:
        values = []
        for i, cell in enumerate(row):
            values.append(_csv_value(cell.value))
            if i in with_interval:
                values += ["", ""] if cell.interval is None else [_csv_value(float(v)) for v in cell.interval]
            if i in compared:
                values.append("" if cell.significant is None else "yes" if cell.significant else "no")
        writer.writerow(values)
    for number, note in enumerate(table.notes, 1):
        buffer.write(f"# [{number}] {note}\n")
    for line in table.legend(ci):
        buffer.write(f"# {line}\n")
    return buffer.getvalue()


def render(table: Table, fmt: str = "markdown", ci: bool = True) -> str:
    """The table in ``fmt`` (one of FORMATS), with its title and footnotes; ``ci``: the cells' intervals."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown table format {fmt!r}; choose from {', '.join(FORMATS)}")
    if fmt == "csv":
        return _csv(table, ci)
    from tabulate import tabulate

    body = [[_render_cell(cell, fmt, ci) for cell in row] for row in table.rows]
    align = ["left"] + ["right"] * (len(table.headers) - 1)
    legend = table.legend(ci)
    if fmt == "markdown":
        grid = tabulate(body, headers=table.headers, tablefmt="github", disable_numparse=True, colalign=align)
        notes = "".join(f"\n{str(n).translate(_SUPERSCRIPT)} {note}" for n, note in enumerate(table.notes, 1))
        notes += "".join(f"\n{line}" for line in legend)
        return f"**{table.title}**\n\n{grid}\n{notes}".rstrip() + "\n"
    if fmt == "latex":
        headers = [_latex_escape(h) for h in table.headers]
        grid = tabulate(body, headers=headers, tablefmt="latex_raw", disable_numparse=True, colalign=align)
        notes = "\\\\[2pt]\n".join([f"\\footnotesize $^{{{n}}}$ {_latex_escape(note)}"
                                    for n, note in enumerate(table.notes, 1)]
                                   + [f"\\footnotesize {_latex_escape(line)}" for line in legend])
        return ("% needs \\usepackage{graphicx} (\\resizebox)\n"
                f"\\begin{{table}}[t]\n\\centering\n\\caption{{{_latex_escape(table.title)}}}\n"
                f"\\resizebox{{\\linewidth}}{{!}}{{%\n{grid}}}\n"
                + (f"\\begin{{flushleft}}\n{notes}\n\\end{{flushleft}}\n" if notes else "")
                + "\\end{table}\n")
    grid = tabulate(body, headers=[html.escape(h) for h in table.headers], tablefmt="unsafehtml",
                    disable_numparse=True, colalign=align)
    notes = "".join(f'<p class="table-note"><sup>{n}</sup> {html.escape(note)}</p>\n'
                    for n, note in enumerate(table.notes, 1))
    notes += "".join(f'<p class="table-note">{html.escape(line)}</p>\n' for line in legend)
    return f'<h3>{html.escape(table.title)}</h3>\n{grid.replace("<table>", "<table class=csr-table>", 1)}\n{notes}'


__all__ = ["FORMATS", "MARK", "MISSING", "Cell", "Table", "render"]
