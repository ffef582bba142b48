"""Turning every failure into one clear line per problem and an exit status."""

from __future__ import annotations

import logging
import sys
import traceback
from typing import Any

import click

from agent_runtime.errors import AgentRuntimeError, http_status

EXIT_OK, EXIT_FAILED, EXIT_INVALID, EXIT_INTERRUPTED = 0, 1, 2, 3
#: Statuses of codes that are the caller's mistake (exit 2): the request, a document or what it
#: names is wrong. Any other code is a failure (exit 1), signing in and rate limits included.
CALLER_STATUSES = frozenset({400, 404, 409, 422})


def exit_status(code: str) -> int:
    """The exit status of a failure with this code: 2 for the caller's mistakes, else 1."""
    return EXIT_INVALID if http_status(code) in CALLER_STATUSES else EXIT_FAILED


def _lines(exc: BaseException) -> tuple[list[str], int]:
    if isinstance(exc, AgentRuntimeError):
        status = exit_status(exc.code)
        if status == EXIT_INVALID:
            return exc.lines(), status
        # the store's own failures say where they come from; the caller's mistakes need not
        from agent_runtime.stores import StoreError  # loaded only when something failed

        return [f"store: {exc}"] if isinstance(exc, StoreError) else exc.lines(), status
    return [
        f"internal error: {exc.__class__.__name__}: {exc} (run with --debug for details)"
    ], EXIT_FAILED


def run_cli(group: click.Group, argv: list[str] | None = None) -> int:
    """Invoke the click group; no traceback reaches the user unless they pass --debug."""
    args = list(sys.argv[1:] if argv is None else argv)
    debug = "--debug" in args
    logging.basicConfig(
        level=logging.DEBUG if debug else logging.WARNING,
        format="%(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        result: Any = group.main(args=args, prog_name="configurable-agents", standalone_mode=False)
    except click.exceptions.Exit as exc:
        return int(exc.exit_code)
    except click.UsageError as exc:
        exc.show()
        return EXIT_INVALID
    except click.ClickException as exc:
        click.echo(f"error: {exc.format_message()}", err=True)
        return int(exc.exit_code)
    except click.Abort:
        click.echo("aborted", err=True)
        return 130
    except KeyboardInterrupt:
        click.echo("interrupted", err=True)
        return 130
    except Exception as exc:
        if debug:
            traceback.print_exc()
        lines, code = _lines(exc)
        for line in lines:
            click.echo(f"error: {line}", err=True)
        return code
    return int(result or 0)


class Failure(AgentRuntimeError, click.ClickException):
    """A command that cannot start (no credentials, say): one line and exit status 1."""

    code = "command_failed"
    exit_code = EXIT_FAILED
