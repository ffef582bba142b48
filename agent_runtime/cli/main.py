"""The ``configurable-agents`` command: run Workflows locally and inspect their runs.

Each group of verbs lives in its own module; this one only puts them under one command. A verb's
module is imported when that verb runs (or ``--help`` lists it), and each imports the engine,
store or server it needs inside its function, so ``--help`` and ``validate`` load none of them:
pre-commit hooks and CI call ``validate`` once per file.
"""

from __future__ import annotations

import importlib
import sys

import click

from agent_runtime.cli.errors import run_cli

#: Each verb: the module and attribute of its click command, in the order ``--help`` lists them.
VERBS = {
    "run": "run_command:run",
    "validate": "spec_commands:validate",
    "graph": "spec_commands:graph",
    "crds": "spec_commands:crds",
    "serve": "server_commands:serve",
    "agent": "server_commands:agent",
    "ui": "server_commands:ui",
    "operator": "server_commands:operator_command",
    "runs": "runs_commands:runs",
    "store": "runs_commands:store",
    "compose": "compose_command:compose",
}


class Verbs(click.Group):
    """A group whose verbs are imported by name, when asked for (click's lazy-loading recipe)."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return list(VERBS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = VERBS.get(cmd_name)
        if target is None:
            return None
        module, _, attribute = target.partition(":")
        command = getattr(importlib.import_module(f"agent_runtime.cli.{module}"), attribute)
        assert isinstance(command, click.Command)
        return command


@click.group(cls=Verbs, context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="configurable-agents")
def cli(debug: bool) -> None:
    """Declarative LLM-agent workflows: run them here, or on Kubernetes."""


def main() -> None:
    sys.exit(run_cli(cli))


if __name__ == "__main__":
    main()
