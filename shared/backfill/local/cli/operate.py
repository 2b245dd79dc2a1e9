"""Operator commands: the dead-letter queue, the audit trail, coverage."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import click
from rich.markup import escape
from rich.table import Table

from backfill.domain.dead_letter import DeadLetter
from backfill.domain.errors import BackfillError, PermanentError
from backfill.domain.window import today_in
from backfill.local.cli import common
from backfill.local.cli.common import common_options, console, window_options
from backfill.local.progress import Reporter
from backfill.service import dead_letters
from backfill.service.audit import read_history
from backfill.service.dead_letters import Replayed, Replaying, Selector
from backfill.service.runs import latest_progress
from backfill.service.status import coverage

# How far back `history` and `status` look for what happened, unless told otherwise.
HISTORY_SINCE = timedelta(days=30)
STATUS_RUNS = 5


@click.group()
@common_options
def dlq() -> None:
    """Inspect, replay and purge the dead-letter queue."""


@dlq.command(name="list")
@common_options
@click.option("--processor", help="Only this processor's dead letters.")
@click.option("--since", type=common.SinceParam(), help="Only those dead-lettered since a date or "
              "for a duration (7d, 12h).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def dlq_list(ctx: click.Context, processor: str | None, since: datetime | None,
             as_json: bool) -> None:
    """Show each dead letter, without consuming it (they stay in the queue)."""
    app = common.app_from(ctx)

    def select(letter: DeadLetter) -> bool:
        return ((processor is None or letter.processor == processor)
                and (since is None or letter.dead_lettered_at >= since))

    letters = dead_letters.peek(app.inbox, today_in(app.settings.timezone), select)
    if as_json:
        click.echo(json.dumps([d.as_dict() for d in letters]))
        return
    table = Table(title=f"{len(letters)} dead letters in {app.settings.dead_letter_subscription}")
    for column in ("id", "processor", "game date", "games", "reason", "why", "attempts",
                   "when"):
        table.add_column(column, overflow="fold")
    for d in letters:
        info = d.as_dict()
        table.add_row(d.message_id, d.processor or "?", d.game_date or "?",
                      _games(info["game_ids"]), info["reason"] or "-",
                      escape(d.why.error if d.request
                             else f"{d.why.error} (not replayable: {d.problem})"),
                      "-" if d.why.attempts is None else str(d.why.attempts),
                      d.dead_lettered_at.strftime("%Y-%m-%d %H:%M:%S"))
    console.print(table)


@dlq.command(name="show")
@common_options
@click.argument("message_id")
@click.pass_context
def dlq_show(ctx: click.Context, message_id: str) -> None:
    """Print one dead letter in full, attributes and body included."""
    app = common.app_from(ctx)
    found = dead_letters.peek(app.inbox, today_in(app.settings.timezone),
                              lambda d: d.message_id == message_id)
    if not found:
        raise PermanentError(f"no dead letter with id {message_id} in "
                             f"{app.settings.dead_letter_subscription}")
    click.echo(json.dumps(found[0].as_dict(full=True), indent=2))


@dlq.command(name="replay")
@common_options
@click.argument("message_ids", nargs=-1)
@click.option("--all", "replay_all", is_flag=True, help="Replay every dead letter.")
@click.option("--processor", help="Replay every dead letter of this processor.")
@click.pass_context
def dlq_replay(ctx: click.Context, message_ids: tuple[str, ...], replay_all: bool,
               processor: str | None) -> None:
    """Re-check each gap, republish it to the requests topic, then remove it from the queue
    (games it says were refused leave the quarantine first)."""
    if sum((bool(message_ids), replay_all, processor is not None)) != 1:
        raise click.UsageError("give message IDs, --all or --processor (one of them)")
    app = common.app_from(ctx, publishing=True)
    if processor is not None:
        common.check_processors(app.registry, [processor])
    select = _by_ids(message_ids) if message_ids else (
        lambda d: replay_all or d.processor == processor)
    replaying = Replaying(app.queue, app.warehouse, app.registry, app.ops, common.operator())
    with Reporter("replay") as progress:
        report = dead_letters.replay(app.inbox, replaying, today_in(app.settings.timezone),
                                     select, progress)
    for message_id, (outcome, detail) in report.outcomes.items():
        if outcome is not Replayed.REPUBLISHED:
            console.print(f"{message_id}: {outcome.value} {escape(detail)}".rstrip(),
                          highlight=False)
    missing = sorted(set(message_ids) - set(report.outcomes))
    for message_id in missing:
        console.print(f"{message_id}: not in the dead-letter queue", highlight=False)
    console.print(", ".join(f"{report.count(o)} {o.value.replace('_', ' ')}" for o in Replayed)
                  + (f" (run {report.run_id})" if report.count(Replayed.REPUBLISHED) else ""),
                  highlight=False)
    ctx.exit(common.FAILED if report.failed or missing else 0)


@dlq.command(name="purge")
@common_options
@click.argument("message_ids", nargs=-1)
@click.option("--older-than", type=common.DurationParam(),
              help="Purge those dead-lettered longer ago than this (7d, 12h).")
@click.option("--yes", is_flag=True, help="Do not ask for confirmation.")
@click.pass_context
def dlq_purge(ctx: click.Context, message_ids: tuple[str, ...], older_than: timedelta | None,
              yes: bool) -> None:
    """Remove dead letters for good."""
    if bool(message_ids) == (older_than is not None):
        raise click.UsageError("give message IDs or --older-than (one of them)")
    app = common.app_from(ctx)
    if message_ids:
        select = _by_ids(message_ids)
    else:
        cutoff = datetime.now(UTC) - (older_than or timedelta())
        select = lambda d: d.dead_lettered_at < cutoff  # noqa: E731

    def confirm(letters: list[DeadLetter]) -> bool:
        return yes or click.confirm(f"Purge {len(letters)} dead letters for good?", err=True)

    removed = dead_letters.purge(app.inbox, today_in(app.settings.timezone), select, confirm)
    console.print(f"purged {len(removed)} dead letters", highlight=False)
    for letter in removed:
        click.echo(f"{letter.message_id} {letter.processor} {letter.game_date}")


@click.command()
@common_options
@click.option("--processor", help="Only this processor.")
@click.option("--date", "game_date", type=common.DATE, help="Only this game date.")
@click.option("--run", "run_id", help="Only this run's requests.")
@click.option("--since", type=common.SinceParam(), help="Only what happened since a date or for a "
              "duration (7d, 12h) [default: 30d].")
@click.option("--limit", type=click.IntRange(min=1), default=50, show_default=True,
              help="The newest N rows.")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def history(ctx: click.Context, processor: str | None, game_date: date | None,
            run_id: str | None, since: datetime | None, limit: int, as_json: bool) -> None:
    """What the workers did, and why each date was (re)computed: the audit trail, newest first."""
    app = common.app_from(ctx)
    now = datetime.now(UTC)
    rows = read_history(app.warehouse, app.ops, since=since or now - HISTORY_SINCE,
                        until=now + timedelta(minutes=1), processor=processor,
                        game_date=game_date, run_id=run_id, limit=limit)
    if as_json:
        click.echo(json.dumps(rows, default=lambda v: v.isoformat()))
        return
    table = Table(title=f"{len(rows)} events from {app.ops.log}")
    columns = ("logged_at", "processor", "game_date", "outcome", "reason", "detail", "attempts",
               "duration_ms", "rows_written", "error", "run_id")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(escape(_cell(row.get(c))) for c in columns))
    console.print(table)


@click.command()
@common_options
@window_options
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--html", "html_file", type=click.Path(dir_okay=False, writable=True),
              help="Also write a calendar heat map per processor to this HTML file.")
@click.pass_context
def status(ctx: click.Context, start_date: date | None, end_date: date | None,
           lookback_days: int | None, processors: tuple[str, ...], as_json: bool,
           html_file: str | None) -> None:
    """Coverage per processor (complete, each gap reason, quarantined, dead-lettered) and the
    latest runs with their progress."""
    from backfill.local.render import print_coverage
    from backfill.local.status_page import render

    app = common.app_from(ctx)
    window = common.resolve_window(app.settings, start_date, end_date, lookback_days)
    common.check_processors(app.registry, processors)
    try:
        letters = dead_letters.peek(app.inbox, today_in(app.settings.timezone))
        pairs, problem = {(d.request.processor, d.request.game_date)
                          for d in letters if d.request}, None
    except BackfillError as exc:  # the warehouse's coverage stands on its own: say it is partial
        pairs, problem = set(), str(exc)
    report = coverage(app.warehouse, app.registry, app.ops, window,
                      processors=processors or None, dead_lettered=pairs)
    report.dead_letters_error = problem
    now = datetime.now(UTC)
    stall = timedelta(minutes=app.settings.run_stall_minutes)
    report.runs = latest_progress(app.warehouse, app.ops, since=now - HISTORY_SINCE, now=now,
                                  stall_after=stall, limit=STATUS_RUNS)
    if html_file:
        try:
            Path(html_file).write_text(render(report), encoding="utf-8")
        except OSError as exc:
            raise click.BadParameter(f"cannot write {html_file}: {exc.strerror}",
                                     param_hint="'--html'") from None
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        print_coverage(console, report)
        if html_file:
            console.print(f"wrote {html_file}", highlight=False)
    ctx.exit(common.FAILED if report.failed else 0)


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


COMMANDS = (dlq, history, status)
