"""What every command shares: the console, the option types, settings, windows, exit codes."""

from __future__ import annotations

import getpass
import re
import socket
from collections.abc import Callable, Sequence
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console

from backfill.bootstrap import Backfill, bootstrap, ensure_topology
from backfill.domain.errors import ConfigurationError
from backfill.domain.window import Window, today_in
from backfill.processors.registry import Registry
from backfill.settings import Settings, description

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

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_duration(text: str) -> timedelta:
    """'90s', '30m', '12h', '7d', '2w' as a timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"invalid duration {text!r}: use a number and s, m, h, d or w (e.g. 7d)")
    return timedelta(**{_UNITS[match[2]]: int(match[1])})


class DurationParam(click.ParamType):
    name = "DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> timedelta:
        try:
            return value if isinstance(value, timedelta) else parse_duration(str(value))
        except ValueError as exc:
            self.fail(str(exc), param, ctx)


class SinceParam(click.ParamType):
    """A date (YYYY-MM-DD, midnight in the pipeline's time zone) or a duration back from now."""

    name = "DATE|DURATION"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        zone = ZoneInfo(settings_from(ctx).timezone) if ctx else ZoneInfo("UTC")
        try:
            return datetime.combine(date.fromisoformat(str(value)), time(), zone)
        except ValueError:
            pass
        try:
            return datetime.now(zone) - parse_duration(str(value))
        except ValueError:
            self.fail(f"{value!r} is neither a date (YYYY-MM-DD) nor a duration (7d, 12h, 30m)",
                      param, ctx)


def _remember(ctx: click.Context, param: click.Parameter, value: Any) -> None:
    """Given before or after the command's name, a common option lands in the same settings."""
    if value is not None and param.name:
        ctx.ensure_object(dict)[param.name] = value


def common_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """--warehouse and --processors-file, accepted by the group and by every command."""
    for name in ("processors_file", "warehouse"):
        command = click.option(f"--{name.replace('_', '-')}", expose_value=False,
                               callback=_remember, help=description(name))(command)
    return command


def window_options(command: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed([
        click.option("--start-date", type=DATE, help="First game date (with --end-date)."),
        click.option("--end-date", type=DATE, help="Last game date (with --start-date)."),
        click.option("--lookback-days", type=click.IntRange(min=0), default=None,
                     help=f"{description('lookback_days')} Today included "
                          "[default: BACKFILL_LOOKBACK_DAYS, 30]."),
        click.option("--processor", "processors", multiple=True,
                     help="Only this processor (repeatable)."),
    ]):
        command = option(command)
    return command


def settings_from(ctx: click.Context, **flags: Any) -> Settings:
    return Settings.load({**ctx.find_root().ensure_object(dict), **flags})


def app_from(ctx: click.Context, *, publishing: bool = False) -> Backfill:
    """The application on the command's settings. The emulator starts empty, and a message
    published to a topic with no subscription is dropped, so there the topology is made first."""
    settings = settings_from(ctx)
    if publishing and settings.pubsub_emulator_host:
        ensure_topology(settings)
    return bootstrap(settings)


def check_processors(registry: Registry, names: Sequence[str]) -> None:
    """Unknown --processor names are a usage error, before any query runs."""
    try:
        registry.ordered(names)
    except ConfigurationError as exc:
        raise click.BadParameter(str(exc), param_hint="'--processor'") from None


def resolve_window(settings: Settings, start: date | None, end: date | None,
                   lookback_days: int | None, default_lookback: int | None = None) -> Window:
    if (start is None) != (end is None):
        raise click.UsageError("--start-date and --end-date go together")
    if start is not None and lookback_days is not None:
        raise click.UsageError("give either --start-date/--end-date or --lookback-days")
    if start is not None and end is not None:
        if start > end:
            raise click.BadParameter(f"start date {start} is after end date {end}",
                                     param_hint="'--start-date'")
        return Window(start, end)
    days = lookback_days if lookback_days is not None else (
        settings.lookback_days if default_lookback is None else default_lookback)
    return Window.lookback(days, today_in(settings.timezone))


def operator() -> str:
    """Who runs this command, for the runs table and the quarantine."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()}"
