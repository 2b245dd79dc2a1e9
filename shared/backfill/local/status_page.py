"""`backfill status --html`: one self-contained page, a calendar heat map per processor.

Each processor gets a month-by-month calendar, one cell a date, coloured by its state, with a
tooltip naming the games (and those not complete). No scripts, fonts or images are loaded:
the page opens anywhere, offline.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime
from html import escape

from backfill.domain.runs import RunProgress
from backfill.service.status import (
    COMPLETE,
    DEAD_LETTERED,
    NO_GAMES,
    QUARANTINED,
    UPSTREAM,
    WAITING,
    CoverageReport,
    Day,
    ProcessorCoverage,
)

COLOURS = {COMPLETE: "#2e9b4f", "missing": "#d73a3a", "incomplete": "#f08c2e",
           "stale": "#e8c542", "outdated": "#b8860b", "orphaned": "#9e9d24", QUARANTINED: "#c2185b",
           WAITING: "#8d6e63", DEAD_LETTERED: "#7b2fa8", UPSTREAM: "#5b5f66",
           NO_GAMES: "#e6e8eb"}
OTHER_GAP = "#3a7bd5"  # a gap reason this page does not know by name
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")

STYLE = """
body{font:14px/1.4 system-ui,-apple-system,"Segoe UI",sans-serif;margin:24px;color:#1f2328}
h1{font-size:20px;margin:0 0 4px}h2{font-size:16px;margin:28px 0 8px}
.meta{color:#59636e;margin:0 0 12px}.error{color:#b42318;font-weight:600}
.legend span{display:inline-flex;align-items:center;margin-right:14px}
.legend i,.swatch{display:inline-block;width:12px;height:12px;border-radius:2px;margin-right:5px}
.months{display:flex;flex-wrap:wrap;gap:18px}
.month table{border-collapse:separate;border-spacing:3px}
.month caption{text-align:left;font-weight:600;padding-left:3px}
.month th{font-weight:400;font-size:11px;color:#59636e}
.month td{width:26px;height:26px;border-radius:4px;text-align:center;font-size:11px;
 color:#fff;cursor:default}
.month td.no_games{color:#8c959f}.month td.pad{background:none}
.month td.outside{color:#afb8c1;box-shadow:inset 0 0 0 1px #e6e8eb}
.counts{border-collapse:collapse;margin:6px 0 10px}
.counts td,.counts th{border:1px solid #d0d7de;padding:2px 8px;text-align:right}
.runs td,.runs th{border-bottom:1px solid #d0d7de;padding:3px 8px;text-align:left}
.bar{display:inline-block;width:120px;height:10px;background:#e6e8eb;border-radius:5px}
.bar i{display:block;height:10px;border-radius:5px;background:#2e9b4f}
.stalled{color:#b42318;font-weight:600}
"""


def render(report: CoverageReport, generated_at: datetime | None = None) -> str:
    """The whole page as one string."""
    stamp = (generated_at or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    window = f"{report.window.start} .. {report.window.end}"
    parts = ["<!DOCTYPE html>", '<html lang="en"><head><meta charset="utf-8">',
             f"<title>Backfill coverage {escape(window)}</title>",
             f"<style>{STYLE}</style></head><body>",
             "<h1>Backfill coverage</h1>",
             f'<p class="meta">Game dates {escape(window)}; generated {escape(stamp)}.</p>',
             _legend(report)]
    if report.dead_letters_error:
        parts.append(f'<p class="error">Dead letters unknown: '
                     f"{escape(report.dead_letters_error)}</p>")
    parts += [_processor(p, report.states) for p in report.processors]
    if report.runs:
        parts.append(_runs(report.runs))
    parts.append("</body></html>")
    return "\n".join(parts)


def _legend(report: CoverageReport) -> str:
    items = "".join(f'<span><i style="background:{_colour(s)}"></i>{escape(_label(s))}</span>'
                    for s in [*report.states, NO_GAMES])
    return f'<p class="legend">{items}</p>'


def _processor(coverage: ProcessorCoverage, states: list[str]) -> str:
    head = f'<section class="calendar" data-processor="{escape(coverage.name)}">' \
           f"<h2>{escape(coverage.name)}</h2>"
    if coverage.error:
        return f'{head}<p class="error">{escape(coverage.error)}</p></section>'
    dates, games = coverage.dates(), coverage.games()
    counts = ("<table class='counts'><tr><th></th>"
              + "".join(f"<th>{escape(_label(s))}</th>" for s in states) + "</tr>"
              + f"<tr><th>dates</th>{''.join(f'<td>{dates[s]}</td>' for s in states)}</tr>"
              + f"<tr><th>games</th>{''.join(f'<td>{games[s]}</td>' for s in states)}</tr>"
              + "</table>")
    by_month: dict[tuple[int, int], list[Day]] = defaultdict(list)
    for day in coverage.days:
        by_month[(day.game_date.year, day.game_date.month)].append(day)
    months = "".join(_month(year, month, days) for (year, month), days in sorted(by_month.items()))
    return f'{head}{counts}<div class="months">{months}</div></section>'


def _month(year: int, month: int, days: list[Day]) -> str:
    """A Monday-first month grid; dates outside the window are outlined only."""
    by_day = {d.game_date.day: d for d in days}
    first = date(year, month, 1)
    length = (date(year + month // 12, month % 12 + 1, 1) - first).days
    cells = ['<td class="pad"></td>'] * first.weekday()
    for number in range(1, length + 1):
        day = by_day.get(number)
        cells.append(_cell(day) if day else f'<td class="outside">{number}</td>')
    cells += ['<td class="pad"></td>'] * (-len(cells) % 7)
    rows = "".join("<tr>" + "".join(cells[i:i + 7]) + "</tr>" for i in range(0, len(cells), 7))
    header = "<tr>" + "".join(f"<th>{d[:2]}</th>" for d in WEEKDAYS) + "</tr>"
    return (f'<div class="month"><table><caption>{first:%B %Y}</caption>'
            f"{header}{rows}</table></div>")


def _runs(runs: list[RunProgress]) -> str:
    """The latest runs, a progress bar each; a stalled one stands out."""
    rows = []
    for found in runs:
        share = found.ended / found.published if found.published else 1.0
        state = (f'<span class="stalled">{escape(found.state)}</span>' if found.stalled
                 else escape(found.state))
        eta = found.eta.strftime("%Y-%m-%d %H:%M UTC") if found.eta and found.outstanding else ""
        rows.append(
            f'<tr data-run="{escape(found.run.run_id)}" data-state="{escape(found.state)}">'
            f"<td>{escape(found.run.run_id)}</td><td>{escape(found.run.trigger.value)}</td>"
            f"<td>{found.run.started_at:%Y-%m-%d %H:%M}</td>"
            f'<td><span class="bar" title="{found.ended} of {found.published}">'
            f'<i style="width:{share * 100:.0f}%"></i></span> {found.ended}/{found.published}'
            f"</td><td>{found.outstanding}</td><td>{state}</td><td>{escape(eta)}</td></tr>")
    head = ("<tr><th>run</th><th>trigger</th><th>started</th><th>progress</th>"
            "<th>outstanding</th><th>state</th><th>ETA</th></tr>")
    return f'<h2>Runs</h2><table class="runs">{head}{"".join(rows)}</table>'


def _cell(day: Day) -> str:
    lines = [f"{day.game_date} {_label(day.state)}"]
    if day.not_complete:
        lines.append(f"not complete ({len(day.not_complete)}): " + ", ".join(
            f"{g} ({_label(s)})" for g, s in sorted(day.not_complete.items())))
    if day.games:
        lines.append(f"games ({len(day.games)}): " + _wrap(day.games))
    tip = escape("\n".join(lines), quote=True)
    return (f'<td class="{escape(day.state)}" style="background:{_colour(day.state)}" '
            f'data-date="{day.game_date}" data-state="{escape(day.state)}" title="{tip}">'
            f"{day.game_date.day}</td>")


def _wrap(games: tuple[str, ...], per_line: int = 4) -> str:
    return "\n  ".join(", ".join(games[i:i + per_line]) for i in range(0, len(games), per_line))


def _colour(state: str) -> str:
    return COLOURS.get(state, OTHER_GAP)


def _label(state: str) -> str:
    return state.replace("_", " ")
