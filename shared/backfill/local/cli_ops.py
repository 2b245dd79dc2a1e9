"""Operator commands on the `backfill` group: the dead-letter queue, the audit trail, coverage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.markup import escape
from rich.table import Table

from backfill.bootstrap import (
    inbox_from_settings,
    queue_from_settings,
    registry_from_file,
    warehouse_from_url,
)
from backfill.domain.dead_letter import DeadLetter, parse_duration
from backfill.domain.errors import BackfillError, PermanentError
from backfill.domain.window import today_in
from backfill.local.cli import (
    DATE,
    FAILED,
    check_processors,
    cli,
    console,
    resolve_window,
    settings_from,
    window_options,
)
from backfill.local.progress import Reporter
from backfill.local.status_page import render
from backfill.service import dead_letters
from backfill.service.audit import audit_table, read_history
from backfill.service.dead_letters import Replayed, Selector
from backfill.service.status import CoverageReport, coverage
from backfill.settings import Settings


class SinceParam(click.ParamType):
    """A date (YYYY-MM-DD) or a duration back from now (90m, 12h, 7d)."""

    name = "DATE|DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            return datetime.combine(date.fromisoformat(str(value)), datetime.min.time(), UTC)
        except ValueError:
            pass
        try:
            return datetime.now(UTC) - parse_duration(str(value))
        except BackfillError:
            self.fail(f"{value!r} is neither a date (YYYY-MM-DD) nor a duration (7d, 12h, 30m)",
                      param, ctx)


class DurationParam(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> timedelta:
        try:
            return value if isinstance(value, timedelta) else parse_duration(str(value))
        except BackfillError as exc:
            self.fail(str(exc), param, ctx)


@cli.group()
def dlq() -> None:
    """Inspect, replay and purge the dead-letter queue."""


@dlq.command(name="list")
@click.option("--processor", help="Only this processor's dead letters.")
@click.option("--since", type=SinceParam(), help="Only those dead-lettered since a date or "
              "for a duration (7d, 12h).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def dlq_list(ctx: click.Context, processor: str | None, since: datetime | None,
             as_json: bool) -> None:
    """Show each dead letter, without consuming it (they stay in the queue)."""
    settings = settings_from(ctx)

    def select(letter: DeadLetter) -> bool:
        return ((processor is None or letter.processor == processor)
                and (since is None or letter.dead_lettered_at >= since))

    letters = dead_letters.peek(inbox_from_settings(settings), _today(settings), select)
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in letters]))
        return
    table = Table(title=f"{len(letters)} dead letters in {settings.dead_letter_subscription}")
    for column in ("id", "processor", "game date", "games", "reason", "why", "attempts",
                   "when"):
        table.add_column(column, overflow="fold")
    for d in letters:
        info = d.as_dict()
        table.add_row(d.message_id, d.processor or "?", d.game_date or "?",
                      _games(info["game_ids"]), info["reason"] or "-",
                      escape(d.error if d.request else f"{d.error} (not replayable: {d.problem})"),
                      "-" if d.attempts is None else str(d.attempts),
                      d.dead_lettered_at.strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)


@dlq.command(name="show")
@click.argument("message_id")
@click.pass_context
def dlq_show(ctx: click.Context, message_id: str) -> None:
    """Print one dead letter in full, attributes and body included."""
    settings = settings_from(ctx)
    found = dead_letters.peek(inbox_from_settings(settings), _today(settings),
                              lambda d: d.message_id == message_id)
    if not found:
        raise PermanentError(f"no dead letter with id {message_id} in "
                             f"{settings.dead_letter_subscription}")
    click.echo(json.dumps(found[0].as_dict(full=True), indent=2))


@dlq.command(name="replay")
@click.argument("message_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.option("--processor", help="Replay every dead letter of this processor.")
@click.pass_context
def dlq_replay(ctx: click.Context, message_ids: tuple[str, ...], replay_all: bool,
               processor: str | None) -> None:
    """Re-check each gap, republish it to the requests topic, then remove it from the queue."""
    if sum((bool(message_ids), replay_all, processor is not None)) != 1:
        raise click.UsageError("give message IDs, --all or --processor (one of them)")
    settings = settings_from(ctx)
    registry = registry_from_file(settings.processors_file)
    if processor is not None:
        check_processors(registry, [processor])
    select = _by_ids(message_ids) if message_ids else (
        lambda d: replay_all or d.processor == processor)
    with Reporter("replay") as progress:
        report = dead_letters.replay(inbox_from_settings(settings), queue_from_settings(settings),
                                     warehouse_from_url(settings.warehouse), registry,
                                     _today(settings), select, progress)
    for message_id, (outcome, detail) in report.outcomes.items():
        if outcome is not Replayed.REPUBLISHED:
            console.print(f"{message_id}: {outcome.value} {escape(detail)}".rstrip(),
                          highlight=False)
    missing = sorted(set(message_ids) - set(report.outcomes))
    for message_id in missing:
        console.print(f"{message_id}: not in the dead-letter queue", highlight=False)
    console.print(", ".join(f"{report.count(o)} {o.value.replace('_', ' ')}" for o in Replayed),
                  highlight=False)
    ctx.exit(FAILED if report.failed or missing else 0)


@dlq.command(name="purge")
@click.argument("message_ids", nargs=-1)
@click.option("--older-than", type=DurationParam(),
              help="Purge those dead-lettered longer ago than this (7d, 12h).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def dlq_purge(ctx: click.Context, message_ids: tuple[str, ...], older_than: timedelta | None,
              yes: bool) -> None:
    """Remove dead letters for good."""
    if bool(message_ids) == (older_than is not None):
        raise click.UsageError("give message IDs or --older-than (one of them)")
    settings = settings_from(ctx)
    if message_ids:
        select = _by_ids(message_ids)
    else:
        cutoff = datetime.now(UTC) - (older_than or timedelta())
        select = lambda d: d.dead_lettered_at < cutoff  # noqa: E731

    def confirm(letters: list[DeadLetter]) -> bool:
        return yes or click.confirm(f"Purge {len(letters)} dead letters for good?", err=True)

    removed = dead_letters.purge(inbox_from_settings(settings), _today(settings), select, confirm)
    console.print(f"purged {len(removed)} dead letters", highlight=False)
    for letter in removed:
        click.echo(f"{letter.message_id} {letter.processor} {letter.game_date}")


@cli.command()
@click.option("--processor", help="Only this processor.")
@click.option("--date", "game_date", type=DATE, help="Only this game date.")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="The newest N rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def history(ctx: click.Context, processor: str | None, game_date: date | None, limit: int,
            as_json: bool) -> None:
    """What the workers did: the audit trail (backfill_log), newest first."""
    settings = settings_from(ctx)
    table_ref = audit_table(settings.audit_dataset)
    rows = read_history(warehouse_from_url(settings.warehouse), table_ref,
                        processor=processor, game_date=game_date, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, default=lambda v: v.isoformat()))
        return
    table = Table(title=f"{len(rows)} events from {table_ref}")
    columns = ("logged_at", "processor", "game_date", "outcome", "reason", "attempts",
               "duration_ms", "rows_written", "error", "request_id")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(row[c])) for c in columns))
    console.print(table)


@cli.command()
@window_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write a calendar heat map per processor to this HTML file.")
@click.pass_context
def status(ctx: click.Context, start_date: date | None, end_date: date | None,
           lookback_days: int | None, processors: tuple[str, ...], as_json: bool,
           html_file: str | None) -> None:
    """Coverage per processor: dates and games complete, missing, incomplete, dead-lettered."""
    settings = settings_from(ctx)
    window = resolve_window(settings, start_date, end_date, lookback_days)
    registry = registry_from_file(settings.processors_file)
    check_processors(registry, processors)
    pairs, problem = _dead_lettered(settings)
    report = coverage(warehouse_from_url(settings.warehouse), registry, window,
                      processors=processors or None, dead_lettered=pairs)
    report.dead_letters_error = problem
    if html_file:
        try:
            Path(html_file).write_text(render(report), encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot write {html_file}: {exc.strerror}",
                                     param_hint="'--html'") from None
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        _print_coverage(report)
        if html_file:
            console.print(f"wrote {html_file}", highlight=False)
    ctx.exit(FAILED if report.failed else 0)


def _print_coverage(report: CoverageReport) -> None:
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


def _dead_lettered(settings: Settings) -> tuple[set[tuple[str, date]], str | None]:
    """(processor, date) pairs in the dead-letter queue; an unreadable queue is reported, not
    fatal: the warehouse's coverage stands on its own."""
    try:
        letters = dead_letters.peek(inbox_from_settings(settings), _today(settings))
    except BackfillError as exc:
        return set(), str(exc)
    return {(d.request.processor, d.request.game_date) for d in letters if d.request}, None


def _by_ids(message_ids: Sequence[str]) -> Selector:
    wanted = set(message_ids)
    return lambda d: d.message_id in wanted


def _games(game_ids: list[str], shown: int = 3) -> str:
    more = f" +{len(game_ids) - shown}" if len(game_ids) > shown else ""
    return ", ".join(game_ids[:shown]) + more if game_ids else "-"


def _cell(value: object) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M:%S")
    return "" if value is None else str(value)


def _today(settings: Settings) -> date:
    return today_in(settings.timezone)
