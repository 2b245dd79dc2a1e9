"""How the CLI shows things: rich tables on a terminal, one line per event otherwise."""

from __future__ import annotations

import json
from datetime import datetime

from rich.console import Console
from rich.markup import escape
from rich.progress_bar import ProgressBar
from rich.table import Table

from backfill.domain.quarantine import QuarantineEvent
from backfill.domain.runs import RunProgress
from backfill.local.cycle import CycleOutcome
from backfill.local.runner import subject
from backfill.service.detect import DetectionReport
from backfill.service.status import CoverageReport
from backfill.service.work import WorkResult


def result_json(result: WorkResult) -> str:
    """One JSON line about a finished delivery (`backfill worker`)."""
    request = result.request
    return json.dumps({
        "outcome": result.outcome.value, "request_id": request and request.request_id,
        "run_id": request and request.run_id, "processor": request and request.processor,
        "game_date": request and request.game_date.isoformat(), "attempts": result.attempts,
        "refused": result.refused, "error": result.error})


def print_gaps(console: Console, report: DetectionReport) -> None:
    """Per processor: gap dates, games and reasons, what is set aside; then errors and details."""
    table = Table(title=f"Gaps {report.window.start} .. {report.window.end}")
    for column in ("processor", "status", "dates", "games", "reasons", "quarantined",
                   "waiting", "upstream gaps"):
        table.add_column(column)
    for result in report.processors:
        gaps = result.gaps
        reasons = sorted({c.reason.value for c in result.candidates})
        table.add_row(result.name, "[red]error[/]" if result.error else "ok",
                      str(len(result.candidates)),
                      str(sum(len(c.game_ids) for c in result.candidates)), ", ".join(reasons),
                      *(str(sum(len(g.game_ids) for g in items))
                        for items in (gaps.quarantined, gaps.waiting, gaps.upstream)))
    console.print(table)
    for result in report.processors:
        for error in (result.error, result.upstream_error):
            if error:
                console.print(f"[red]{result.name}: {escape(error)}[/]", highlight=False)
        for candidate in result.candidates:
            if candidate.stale_inputs or candidate.reason.value == "outdated":
                why = ", ".join(candidate.stale_inputs) or (
                    f"version {candidate.has_version} -> {candidate.needs_version}")
                console.print(f"{candidate.reason.value} {result.name} {candidate.game_date}: "
                              f"{len(candidate.game_ids)} games ({why})", highlight=False)
        for gap in result.gaps.upstream:
            why = escape(gap.reason) if gap.reason else "final, no Phase 2 rows"
            console.print(f"[yellow]upstream gap[/] {result.name} {gap.game_date}: "
                          f"{', '.join(gap.game_ids)} {why} (a person must load or fix them; "
                          "never published)", highlight=False)
        for held in result.gaps.quarantined:
            console.print(f"[magenta]quarantined[/] {result.name} {held.game_date}: "
                          f"{', '.join(held.game_ids)}: {escape(held.reason)}", highlight=False)
        for pending in result.pending_upstream:
            rider = pending.candidate
            console.print(f"[cyan]pending upstream[/] {result.name} {rider.game_date}: "
                          f"{len(rider.game_ids)} games {rider.reason.value}, published by "
                          f"{pending.upstream}'s worker after its write", highlight=False)


def print_cycle(console: Console, cycle: CycleOutcome) -> None:
    """The gaps found (with errors and upstream gaps), then what became of each request."""
    print_gaps(console, cycle.detection)
    counts = cycle.as_dict()
    console.print(f"run {', '.join(counts['run_ids'])} ({counts['passes']} passes): detected "
                  f"{counts['detected']}, published "
                  f"{counts['published']} ({counts['followed_up']} of them by workers, down the "
                  f"chain), deferred {counts['deferred']}: succeeded "
                  f"{counts['succeeded']}, partial {counts['partial']}, skipped "
                  f"{counts['skipped']}, dead-lettered {counts['dead_lettered']}",
                  highlight=False)
    for n in cycle.quiet_passes:
        console.print(f"pass {n}: detection found nothing new to publish", highlight=False)
    for result in cycle.results:
        if result.error and result.outcome in ("dead_lettered", "partial"):
            console.print(f"[yellow]{result.outcome.value.replace('_', ' ')}[/] "
                          f"{subject(result)}: {escape(result.error)}", highlight=False)
    if cycle.unaccounted:
        console.print(f"[red]{len(cycle.unaccounted)} requests unaccounted for[/]")
    if cycle.consumer_error:
        console.print(f"[red]the consumer stopped: {escape(cycle.consumer_error)}[/]")


def print_coverage(console: Console, report: CoverageReport) -> None:
    states = report.states
    table = Table(title=f"Coverage {report.window.start} .. {report.window.end} "
                        "(dates / games)")
    table.add_column("processor")
    for state in states:
        table.add_column(state.replace("_", " "), justify="right")
    for p in report.processors:
        if p.error:
            table.add_row(p.name, *(["[red]error[/]"] + [""] * (len(states) - 1)))
            continue
        dates, games = p.dates(), p.games()
        table.add_row(p.name, *(f"{dates[s]} / {games[s]}" for s in states))
    console.print(table)
    for p in report.processors:
        if p.error:
            console.print(f"[red]{p.name}: {escape(p.error)}[/]", highlight=False)
    if report.dead_letters_error:
        console.print(f"[yellow]dead letters unknown: {escape(report.dead_letters_error)}[/]",
                      highlight=False)
    if report.runs:
        print_runs(console, report.runs)


def print_runs(console: Console, runs: list[RunProgress]) -> None:
    table = Table(title="Runs")
    for column in ("run", "trigger", "started", "progress", "published", "ended",
                   "outstanding", "state", "eta"):
        table.add_column(column)
    for found in runs:
        share = found.ended / found.published if found.published else 1.0
        table.add_row(found.run.run_id, found.run.trigger.value, _when(found.run.started_at),
                      ProgressBar(total=1.0, completed=share, width=20), str(found.published),
                      str(found.ended), str(found.outstanding),
                      f"[red]{found.state}[/]" if found.stalled else found.state,
                      _when(found.eta) if found.outstanding and found.eta else "-")
    console.print(table)


def print_progress(console: Console, found: RunProgress) -> None:
    run = found.run
    console.print(f"run {run.run_id} ({run.trigger.value}, by {run.started_by or '?'}), "
                  f"started {_when(run.started_at)}: {found.state}", highlight=False)
    table = Table()
    columns = ("processor", "published", "succeeded", "skipped", "partial", "dead_lettered",
               "cancelled", "quarantined", "outstanding")
    for column in columns:
        table.add_column(column.replace("_", " "), justify="right")
    for row in (p.as_dict() for p in found.processors):
        table.add_row(*(str(row[c]) for c in columns))
    console.print(table)
    eta = _when(found.eta) if found.eta else "unknown (nothing ended in the last minutes)"
    console.print(f"{found.ended} of {found.published} ended, {found.outstanding} outstanding; "
                  f"{found.rate_per_minute:.1f} a minute lately; done by {eta}",
                  highlight=False)


def print_quarantine(console: Console, held: list[QuarantineEvent]) -> None:
    table = Table(title=f"{len(held)} games held in quarantine")
    for column in ("processor", "game date", "game", "why", "version", "since"):
        table.add_column(column, overflow="fold")
    for event in held:
        table.add_row(event.processor, event.game_date.isoformat(), event.game_id,
                      escape(event.reason), event.code or "-",
                      _when(event.recorded_at))
    console.print(table)


def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M:%S") if value else "-"
