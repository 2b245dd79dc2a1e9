"""The `backfill` command. Thin: parse flags, build from settings, call a service, print, exit.

Exit status: 0 when everything asked was done, 1 when a processor errored or a request is
unaccounted for, 2 for a usage error or a misconfiguration (a one-line message naming it).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import click

from backfill.domain.errors import BackfillError, ConfigurationError
from backfill.local.cli import campaigns, gaps, operate
from backfill.local.cli.common import FAILED, USAGE, common_options


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@common_options
@click.option("-v", "--verbose", count=True,
              help="Log lines on stderr: -v warnings (retries), -vv progress, -vvv debug.")
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """Find gaps between Phase 2 and Phase 3 and close them."""
    logging.basicConfig(level=logging.ERROR - 10 * min(verbose, 3), stream=sys.stderr,
                        format="%(levelname)s %(name)s: %(message)s")
    ctx.ensure_object(dict)


for command in (*gaps.COMMANDS, *operate.COMMANDS, *campaigns.COMMANDS):
    cli.add_command(command)


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
