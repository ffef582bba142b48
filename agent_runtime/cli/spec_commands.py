"""``validate``, ``graph`` and ``crds``: what the spec models say about files, with no store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from agent_runtime.cli.errors import EXIT_INVALID, EXIT_OK

if TYPE_CHECKING:
    from agent_runtime.spec.loader import Resource


@click.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(dir_okay=False))
def validate(files: tuple[str, ...]) -> int:
    """Check Workflow, AgentPool and Trigger files; one line per problem, naming the field.

    A Trigger's input is checked against its Workflow when one of the files holds it."""
    from agent_runtime.cli.policy import check_tool_policy
    from agent_runtime.spec import SpecError, Workflow, load_file
    from agent_runtime.spec.trigger import Trigger, input_problems

    failed = False
    loaded: list[tuple[str, Resource]] = []
    for path in files:
        try:
            resources = load_file(path)
        except SpecError as exc:
            failed = True
            for line in exc.lines():
                click.echo(f"error: {line}", err=True)
            continue
        for resource in resources:
            if isinstance(resource, Workflow):
                try:
                    check_tool_policy(resource, path)
                except SpecError as exc:
                    failed = True
                    for line in exc.lines():
                        click.echo(f"error: {line}", err=True)
                    continue
            loaded.append((path, resource))
        if not resources:
            click.echo(f"{path}: no Workflow, AgentPool or Trigger found", err=True)
            failed = True
    workflows = {(r.namespace, r.name): r for _, r in loaded if isinstance(r, Workflow)}
    for path, resource in loaded:
        problems = []
        if isinstance(resource, Trigger):
            workflow = workflows.get((resource.namespace, resource.spec.workflow))
            problems = input_problems(resource, workflow) if workflow else []
        for problem in problems:
            failed = True
            click.echo(f"error: {path}: {problem}", err=True)
        if not problems:
            click.echo(f"{path}: {resource.kind} {resource.metadata.name} is valid", err=True)
    return EXIT_INVALID if failed else EXIT_OK


@click.command("graph")
@click.argument("file", type=click.Path(dir_okay=False))
@click.option("--workflow", "workflow_name", help="Which Workflow of FILE to draw.")
def graph(file: str, workflow_name: str | None) -> int:
    """Print the Workflow's graph as Mermaid text."""
    from agent_runtime.spec.loader import pick_workflow
    from agent_runtime.spec.mermaid import to_mermaid

    click.echo(to_mermaid(pick_workflow(file, workflow_name).spec), nl=False)
    return EXIT_OK


@click.command("crds")
@click.option("--output-dir", type=click.Path(file_okay=False), help="Write one file per CRD here.")
def crds(output_dir: str | None) -> int:
    """Print the CustomResourceDefinitions generated from the spec models."""
    from agent_runtime.spec.crd import dump_crds, render_crds

    if output_dir:
        dump_crds(Path(output_dir))
    else:
        click.echo(render_crds(), nl=False)
    return EXIT_OK
