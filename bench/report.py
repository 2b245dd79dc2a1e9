"""The table, printed with rich and kept in bench/RESULTS.md between two markers."""

from __future__ import annotations

import os
import platform
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from rich.table import Table

RESULTS = Path(__file__).with_name("RESULTS.md")
BEGIN, END = "<!-- bench:begin -->", "<!-- bench:end -->"
PROFILES_BEGIN, PROFILES_END = "<!-- bench:profiles:begin -->", "<!-- bench:profiles:end -->"
COLUMNS = ("row", "what", "Backfill", "reference", "ratio", "goal", "met")


@dataclass(frozen=True)
class Line:
    row: str
    what: str
    measured: str
    reference: str
    ratio: str
    goal: str
    met: bool | None

    def cells(self) -> tuple[str, ...]:
        met = "" if self.met is None else ("yes" if self.met else "NO")
        return (self.row, self.what, self.measured, self.reference, self.ratio, self.goal, met)


def render(lines: list[Line], runs: int) -> Table:
    table = Table(title=f"Backfill benchmarks (median of {runs})")
    for column in COLUMNS:
        table.add_column(column)
    for line in lines:
        table.add_row(*line.cells())
    return table


def markdown(lines: list[Line], runs: int) -> str:
    head = (f"Last `make bench`: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores, "
            f"Python {platform.python_version()}, median of {runs} runs.\n\n")
    rows = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    rows += ["| " + " | ".join(line.cells()) + " |" for line in lines]
    return head + "\n".join(rows) + "\n"


def _between(text: str, begin: str, end: str, body: str) -> str:
    """`text` with what lies between the two markers replaced (both added at the end if
    missing); everything around them is kept."""
    if begin not in text:
        text = f"{text.rstrip()}\n\n{begin}\n{end}\n"
    before, _, rest = text.partition(begin)
    _, _, after = rest.partition(end)
    return f"{before}{begin}\n{body}{end}{after}"


def write_results(lines: list[Line], runs: int, profiles: list[str] | None = None) -> None:
    """Replace the generated table (and profiles) in RESULTS.md; the notes around them are
    kept."""
    text = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else ""
    text = _between(text, BEGIN, END, markdown(lines, runs))
    if profiles is not None:
        text = _between(text, PROFILES_BEGIN, PROFILES_END, "\n".join(profiles))
    RESULTS.write_text(text, encoding="utf-8")
