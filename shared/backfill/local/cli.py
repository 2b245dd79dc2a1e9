"""The `backfill` command. Thin: parse flags, build from settings, call a service, print, exit.

Exit status: 0 when everything asked was done, 1 when a processor errored or a request is
unaccounted for, 2 for a usage error (a one-line message naming the bad argument).
"""

from __future__ import annotations

import functools
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import date, timedelta
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from backfill.bootstrap import (
    queue_from_settings,
    registry_from_file,
    warehouse_from_url,
)
from backfill.domain.errors import BackfillError, ConfigurationError
from backfill.domain.request import MAX_DAYS_AHEAD, Reason, Request
from backfill.domain.window import Window, today_in
from backfill.local.progress import Reporter
from backfill.local.worker_command import worker_command
from backfill.ports import RequestQueue
from backfill.processors.registry import Registry
from backfill.service.detect import DetectionReport, detect
from backfill.settings import Settings

console = Console()
USAGE, FAILED = 2, 1


class DateParam(click.ParamType):
    name = "YYYY-MM-DD"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> date:
        if isinstance(value, date):
            return value
        try:
            return date.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not a date (YYYY-MM-DD)", param, ctx)


DATE = DateParam()


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    return Settings.load({**ctx.obj, **flags})


def window_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--start-date", type=DATE, help="First game date (with --end-date)."),
        click.option("--end-date", type=DATE, help="Last game date (with --start-date)."),
        click.option("--lookback-days", type=click.IntRange(min=0), default=None,
                     help="Dates before today to check, today included [default: 30]."),
        click.option("--processor", "processors", multiple=True,
                     help="Only this processor (repeatable)."),
    ]):
        command = option(command)
    return command


def publishing_queue(settings: Settings) -> RequestQueue:
    """The requests queue to publish to. The emulator starts empty, and a message published to a
    topic with no subscription is dropped, so there the topics and subscriptions are made first
    (Terraform owns them in production)."""
    if os.environ.get("PUBSUB_EMULATOR_HOST"):
        from backfill.adapters.pubsub_queue import ensure_topology
        from backfill.local.cycle import topology

        ensure_topology(topology(settings))
    return queue_from_settings(settings)


def check_processors(registry: Registry, names: Sequence[str]) -> None:
    """Unknown --processor names are a usage error, before any query runs."""
    try:
        registry.ordered(names)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="'--processor'") from None


def resolve_window(settings: Settings, start: date | None, end: date | None,
                   lookback_days: int | None) -> Window:
    if (start is None) != (end is None):
        raise click.UsageError("--start-date and --end-date go together")
    if start is not None and lookback_days is not None:
        raise click.UsageError("give either --start-date/--end-date or --lookback-days")
    if start is not None and end is not None:
        if start > end:
            raise click.BadParameter(f"start date {start} is after end date {end}",
                                     param_hint="'--start-date'")
        return Window(start, end)
    return Window.lookback(30 if lookback_days is None else lookback_days,
                           today_in(settings.timezone))


WAREHOUSE_HELP = "duckdb:///path/file.duckdb or bigquery://PROJECT_ID [env BACKFILL_WAREHOUSE]."
PROCESSORS_FILE_HELP = "TOML file of extra [[processor]] tables [env BACKFILL_PROCESSORS_FILE]."


class BackfillGroup(click.Group):
    """A group whose every command also takes --warehouse and --processors-file, so both
    `backfill --warehouse URL detect` and `backfill detect --warehouse URL` work."""

    group_class = type  # subgroups (dlq) are BackfillGroups too

    def add_command(self, cmd: click.Command, name: str | None = None) -> None:
        if not isinstance(cmd, click.Group) and cmd.name != "demo":
            _take_common_options(cmd)
        super().add_command(cmd, name)


def _take_common_options(command: click.Command) -> None:
    if any(param.name == "warehouse" for param in command.params):
        return  # already given them (`python -m` builds the group twice around shared commands)
    command.params += [click.Option(["--warehouse"], help=WAREHOUSE_HELP),
                       click.Option(["--processors-file"], help=PROCESSORS_FILE_HELP)]
    callback = command.callback
    assert callback is not None

    @functools.wraps(callback)
    def with_common_options(*args: Any, **kwargs: Any) -> Any:
        settings = click.get_current_context().ensure_object(dict)
        for key in ("warehouse", "processors_file"):
            value = kwargs.pop(key)
            if value is not None:  # given after the command: wins over one given before it
                settings[key] = value
        return callback(*args, **kwargs)

    command.callback = with_common_options


@click.group(cls=BackfillGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--warehouse", help=WAREHOUSE_HELP)
@click.option("--processors-file", help=PROCESSORS_FILE_HELP)
@click.option("-v", "--verbose", count=True,
              help="Log lines on stderr: -v warnings (retries), -vv progress, -vvv debug.")
@click.pass_context
def cli(ctx: click.Context, warehouse: str | None, processors_file: str | None,
        verbose: int) -> None:
    """Find gaps between Phase 2 and Phase 3 and close them."""
    logging.basicConfig(level=logging.ERROR - 10 * min(verbose, 3), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.obj = {"warehouse": warehouse, "processors_file": processors_file}


@cli.command()
@click.option("--start-date", type=DATE, required=True)
@click.option("--end-date", type=DATE, required=True)
@click.option("--plant", "cases", multiple=True,
              type=click.Choice(["missing", "incomplete", "stale", "upstream", "decoys"]),
              help="Then plant one gap of this reason, or the decoys (repeatable).")
@click.pass_context
def seed(ctx: click.Context, start_date: date, end_date: date, cases: tuple[str, ...]) -> None:
    """Write the synthetic league (Phase 2) and its Phase 3, a gap-free warehouse."""
    from backfill.local.plant import Case, covering, plant
    from backfill.local.seeding import seed as seed_league

    settings = settings_from(ctx)
    window = resolve_window(settings, start_date, end_date, None)
    warehouse = warehouse_from_url(settings.warehouse)
    registry = registry_from_file(settings.processors_file)
    with Reporter("seed") as progress:
        report = seed_league(warehouse, registry, window, progress=progress)
    console.print(f"seeded {report.games} games on {report.dates} dates into {settings.warehouse}")
    planted = plant(warehouse, registry, window, [Case(c) for c in cases])
    for p in planted:
        console.print(f"  planted {p.case} {p.game_date}: {p.what}", highlight=False)
    if planted:
        whole = covering(window, planted)
        console.print(f"detect with --start-date {whole.start} --end-date {whole.end}",
                      highlight=False)


@cli.command(name="detect")
@window_options
@click.option("--dry-run", is_flag=True, help="Report gaps, publish nothing.")
@click.option("--max-messages", type=click.IntRange(min=0), help="Publish at most N requests.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@click.pass_context
def detect_command(ctx: click.Context, start_date: date | None, end_date: date | None,
                   lookback_days: int | None, processors: tuple[str, ...], dry_run: bool,
                   max_messages: int | None, as_json: bool) -> None:
    """Compare Phase 2 with Phase 3 and publish one request per (processor, game_date)."""
    settings = settings_from(ctx)
    window = resolve_window(settings, start_date, end_date, lookback_days)
    registry = registry_from_file(settings.processors_file)
    check_processors(registry, processors)
    report = detect(warehouse_from_url(settings.warehouse), registry,
                    None if dry_run else publishing_queue(settings), window,
                    processors=processors, max_messages=max_messages)
    if as_json:
        click.echo(json.dumps(report.as_dict()))
    else:
        print_detection(report, dry_run)
    ctx.exit(FAILED if report.failed else 0)


def print_detection(report: DetectionReport, dry_run: bool) -> None:
    from backfill.local.cycle import print_gaps

    print_gaps(console, report)
    if dry_run:
        console.print(f"dry run: {len(report.candidates)} requests would be published")
    else:
        console.print(f"published {len(report.published)} requests, deferred {report.deferred}")
    if report.publish_error:
        console.print(f"[red]publishing failed: {report.publish_error}[/]", highlight=False)


@cli.command(name="run")
@window_options
@click.option("--concurrency", type=click.IntRange(1, 64), default=4, show_default=True)
@click.option("--max-messages", type=click.IntRange(min=0), help="Publish at most N requests.")
@click.option("--timeout", "timeout_seconds", type=click.FloatRange(min=1), default=900,
              show_default=True, help="Give up waiting for the queue to drain after this long.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object of counts.")
@click.pass_context
def run_command(ctx: click.Context, start_date: date | None, end_date: date | None,
                lookback_days: int | None, processors: tuple[str, ...], concurrency: int,
                max_messages: int | None, timeout_seconds: float, as_json: bool) -> None:
    """Detect, publish and work the queue on the local stack until it is drained."""
    from backfill.local.cycle import run_cycle

    settings = settings_from(ctx)
    window = resolve_window(settings, start_date, end_date, lookback_days)
    check_processors(registry_from_file(settings.processors_file), processors)
    with Reporter("run") as progress:
        outcome = run_cycle(settings, window, processors=processors, concurrency=concurrency,
                            max_messages=max_messages, timeout_seconds=timeout_seconds,
                            progress=progress)
    if as_json:
        click.echo(json.dumps(outcome.as_dict()))
    else:
        outcome.print(console)
    ctx.exit(FAILED if outcome.failed else 0)


@cli.command()
@click.option("--processor", required=True, help="The processor to rerun.")
@click.option("--date", "dates", type=DATE, multiple=True, help="A game date (repeatable).")
@click.option("--start-date", type=DATE)
@click.option("--end-date", type=DATE)
@click.option("--force", is_flag=True, help="Reprocess even if the date looks complete.")
@click.option("--dry-run", is_flag=True, help="Print what would be published.")
@click.pass_context
def publish(ctx: click.Context, processor: str, dates: tuple[date, ...], start_date: date | None,
            end_date: date | None, force: bool, dry_run: bool) -> None:
    """Publish requests by hand to rerun dates of one processor."""
    settings = settings_from(ctx)
    registry = registry_from_file(settings.processors_file)
    if processor not in registry:
        raise click.BadParameter(f"unknown processor {processor!r}; known: "
                                 f"{', '.join(registry.names)}", param_hint="'--processor'")
    if dates and (start_date or end_date):
        raise click.UsageError("give either --date or --start-date/--end-date")
    if not dates and not (start_date or end_date):
        raise click.UsageError("give --date or --start-date/--end-date")
    chosen = list(dates) if dates else list(resolve_window(settings, start_date, end_date,
                                                           None).dates())
    latest = today_in(settings.timezone) + timedelta(days=MAX_DAYS_AHEAD)
    if max(chosen) > latest:
        # The worker would dead-letter it as a game not yet played: refuse it here instead.
        raise click.BadParameter(f"{max(chosen)} is in the future (latest allowed {latest})",
                                 param_hint="'--date'" if dates else "'--end-date'")
    requests = [Request(processor=processor, game_date=d, reason=Reason.MANUAL, force=force)
                for d in sorted(set(chosen))]
    published = {} if dry_run else publishing_queue(settings).publish(requests).message_ids
    verb = "would publish" if dry_run else "published"
    noun = "request" if len(requests) == 1 else "requests"
    console.print(f"{verb} {len(requests)} {noun} for {processor}", highlight=False)
    for request in requests:
        click.echo(" ".join(filter(None, (request.request_id, request.processor,
                                          str(request.game_date),
                                          published.get(request.request_id) and
                                          f"message {published[request.request_id]}"))))


@cli.command(name="processors")
@click.pass_context
def list_processors(ctx: click.Context) -> None:
    """List the processors in run order."""
    settings = settings_from(ctx)
    table = Table()
    for column in ("processor", "source (Phase 2)", "target (Phase 3)", "depends on", "priority"):
        table.add_column(column)
    for p in registry_from_file(settings.processors_file).ordered():
        table.add_row(p.name, str(p.source), str(p.target), ", ".join(p.depends_on) or "-",
                      str(p.priority))
    console.print(table)


@cli.command()
@click.option("--dir", "directory", default="demo-out", show_default=True,
              help="Where the demo warehouse is written (replaced each time).")
@click.pass_context
def demo(ctx: click.Context, directory: str) -> None:
    """The demo: a warehouse with gaps of every kind, the full cycle twice, a report."""
    from backfill.local.demo import run_demo

    ctx.exit(0 if run_demo(directory, console) else FAILED)


cli.add_command(worker_command)


@cli.command()
@click.option("--worker-port", type=click.IntRange(1, 65535), default=8080, show_default=True)
@click.option("--detector-port", type=click.IntRange(1, 65535), default=8081, show_default=True)
@click.pass_context
def stack(ctx: click.Context, worker_port: int, detector_port: int) -> None:
    """Run the local topology until Ctrl-C: emulator, both functions, push subscription."""
    from backfill.local.stack import serve_stack

    serve_stack(settings_from(ctx), worker_port, detector_port,
                lambda line: console.print(line, highlight=False, soft_wrap=True))


def main(argv: Sequence[str] | None = None) -> None:
    """Run the CLI with one-line errors: usage errors exit 2, failures exit 1."""
    try:
        code = cli.main(args=argv, prog_name="backfill", standalone_mode=False)
    except click.exceptions.Exit as exc:
        code = exc.exit_code
    except click.exceptions.NoArgsIsHelpError as exc:
        # `backfill` or `backfill dlq` alone: the help is what was wanted; one line says so.
        click.echo(exc.ctx.get_help() if exc.ctx else "")
        click.echo(f"{exc.ctx.command_path if exc.ctx else 'backfill'}: error: missing command",
                   err=True)
        code = USAGE
    except click.UsageError as exc:
        command = exc.ctx.command_path if exc.ctx else "backfill"
        click.echo(f"{command}: error: {exc.format_message()}", err=True)
        code = USAGE
    except click.Abort:
        click.echo("backfill: aborted", err=True)
        code = FAILED
    except ConfigurationError as exc:
        click.echo(f"backfill: error: {exc}", err=True)
        code = USAGE
    except BackfillError as exc:
        click.echo(f"backfill: {type(exc).__name__}: {exc}", err=True)
        code = FAILED
    except Exception as exc:  # noqa: BLE001 - one line for the user; the trace with -v
        logging.getLogger("backfill").debug("unexpected error", exc_info=True)
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        click.echo(f"backfill: unexpected {type(exc).__name__}: {first}", err=True)
        code = FAILED
    sys.exit(code or 0)


# The operator commands (dlq, history, status) register themselves on `cli`.
from backfill.local import cli_ops  # noqa: E402,F401

if __name__ == "__main__":
    # Run as `python -m`, this file is `__main__`, a second copy of the module; the commands
    # above registered on the importable copy's group, so run that one.
    from backfill.local.cli import main as importable_main

    importable_main()
