"""Commands for backfills as campaigns: runs (progress, ETA, cancel) and the quarantine."""

from __future__ import annotations

import json
import time
from datetime import UTC, date, datetime, timedelta

import click

from backfill.local.cli import common
from backfill.local.cli.common import common_options, console
from backfill.service import quarantine
from backfill.service.runs import cancel, find_run, latest_progress, run_progress

# `quarantine list` looks this far back by default: a held game stays held for months.
QUARANTINE_LOOKBACK_DAYS = 365
WATCH_SECONDS = 2.0


@click.group(invoke_without_command=True)
@common_options
@click.option("--since", type=common.SinceParam(), help="Runs started since a date or for a duration "
              "(7d, 12h) [default: 7d].")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def runs(ctx: click.Context, since: datetime | None, as_json: bool) -> None:
    """Recent runs (passes that published requests) with their progress; `show`, `cancel`."""
    if ctx.invoked_subcommand is not None:
        return
    from backfill.local.render import print_runs

    app = common.app_from(ctx)
    now = datetime.now(UTC)
    stall = timedelta(minutes=app.settings.run_stall_minutes)
    found = latest_progress(app.warehouse, app.ops, since=since or now - timedelta(days=7),
                            now=now, stall_after=stall)
    if as_json:
        click.echo(json.dumps([p.as_dict() for p in found]))
    else:
        print_runs(console, found)


@runs.command(name="show")
@common_options
@click.argument("run_id")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.option("--watch", is_flag=True, help="Refresh until nothing is outstanding.")
@click.pass_context
def runs_show(ctx: click.Context, run_id: str, as_json: bool, watch: bool) -> None:
    """One run per processor: published, how each request ended, outstanding, pace and ETA."""
    from backfill.local.render import print_progress

    app = common.app_from(ctx)
    stall = timedelta(minutes=app.settings.run_stall_minutes)
    run = find_run(app.warehouse, app.ops, run_id, now=datetime.now(UTC))
    while True:
        found = run_progress(app.warehouse, app.ops, run, now=datetime.now(UTC),
                             stall_after=stall)
        if as_json:
            click.echo(json.dumps(found.as_dict()))
        else:
            if watch and console.is_terminal:
                console.clear()
            print_progress(console, found)
        if not watch or not found.outstanding:
            return
        time.sleep(WATCH_SECONDS)
        run = find_run(app.warehouse, app.ops, run_id, now=datetime.now(UTC))


@runs.command(name="cancel")
@common_options
@click.argument("run_id")
@click.pass_context
def runs_cancel(ctx: click.Context, run_id: str) -> None:
    """Stop a run: workers acknowledge its remaining requests without processing them; rows
    already written stay, and a later detection publishes what is still missing."""
    app = common.app_from(ctx)
    run = cancel(app.warehouse, app.ops, run_id, by=common.operator(), now=datetime.now(UTC))
    console.print(f"cancelled run {run.run_id} ({run.total_published} requests published); "
                  "its outstanding requests end as cancelled", highlight=False)


@click.group(name="quarantine")
@common_options
def quarantine_group() -> None:
    """Games a processor refused (bad Phase 2 rows), held until their rows change."""


@quarantine_group.command(name="list")
@common_options
@click.option("--processor", help="Only this processor's games.")
@click.option("--start-date", type=common.DATE, help="First game date (with --end-date).")
@click.option("--end-date", type=common.DATE, help="Last game date (with --start-date).")
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.pass_context
def quarantine_list(ctx: click.Context, processor: str | None, start_date: date | None,
                    end_date: date | None, as_json: bool) -> None:
    """What is held and why, oldest date first [default: the last 365 days]."""
    from backfill.local.render import print_quarantine

    app = common.app_from(ctx)
    if processor:
        common.check_processors(app.registry, [processor])
    window = common.resolve_window(app.settings, start_date, end_date, None,
                            default_lookback=QUARANTINE_LOOKBACK_DAYS)
    held = quarantine.held(app.warehouse, app.ops, window, processor)
    if as_json:
        click.echo(json.dumps([e.as_dict() for e in held]))
    else:
        print_quarantine(console, held)


@quarantine_group.command(name="release")
@common_options
@click.option("--processor", required=True)
@click.option("--date", "game_date", type=common.DATE, required=True)
@click.option("--game", "game_id", help="Only this game (its id as listed).")
@click.pass_context
def quarantine_release(ctx: click.Context, processor: str, game_date: date,
                       game_id: str | None) -> None:
    """Let held games go and publish their date again now (after a fix)."""
    app = common.app_from(ctx, publishing=True)
    common.check_processors(app.registry, [processor])
    released = quarantine.release(app.warehouse, app.queue, app.ops, processor, game_date,
                                  game_id, by=common.operator())
    console.print(f"released {len(released.games)} games of {processor} {game_date}; "
                  f"published request {released.request.request_id} "
                  f"(run {released.request.run_id})", highlight=False)


COMMANDS = (runs, quarantine_group)
