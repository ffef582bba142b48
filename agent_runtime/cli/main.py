"""The ``configurable-agents`` command: run Workflows locally and inspect their runs.

Each group of verbs lives in its own module; this one only puts them under one command. Verbs
import what they need when they run, so ``--help`` or ``validate`` loads no engine or server.
"""

from __future__ import annotations

import sys

import click

from agent_runtime.cli.errors import run_cli
from agent_runtime.cli.run_command import run
from agent_runtime.cli.runs_commands import runs, store
from agent_runtime.cli.server_commands import agent, operator_command, serve, ui
from agent_runtime.cli.spec_commands import crds, graph, validate


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show tracebacks and debug logs.")
@click.version_option(package_name="configurable-agents")
def cli(debug: bool) -> None:
    """Declarative LLM-agent workflows: run them here, or on Kubernetes."""


for verb in (run, validate, graph, crds, serve, agent, ui, operator_command, runs, store):
    cli.add_command(verb)


def main() -> None:
    sys.exit(run_cli(cli))


if __name__ == "__main__":
    main()
