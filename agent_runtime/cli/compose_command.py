"""``compose``: a compose.yaml running a folder's Workflows and AgentPools on one machine."""

from __future__ import annotations

import os
from pathlib import Path

import click

from agent_runtime.cli.errors import EXIT_OK


@click.command("compose")
@click.argument("folder", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--output",
    "-o",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write the compose file here (default: standard output).",
)
@click.option(
    "--env-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Also write this env file with fresh random secrets, unless it exists already.",
)
@click.option("--agent-image", help="The gateway's and agents' image (default: this version's).")
@click.option("--ui-image", help="The dashboard's image (default: this version's).")
@click.option(
    "--allow-function",
    "allowed_functions",
    multiple=True,
    metavar="PATTERN",
    help="Let `function` tools name this import path (pkg.module:fn, pkg.module:*, pkg.*; "
    "repeatable), as the chart's policy.tools.allowedFunctions does; default: none.",
)
def compose(
    folder: Path,
    output: Path | None,
    env_file: Path | None,
    agent_image: str | None,
    ui_image: str | None,
    allowed_functions: tuple[str, ...],
) -> int:
    """Write a compose.yaml for FOLDER: the gateway with its dashboard, PostgreSQL, one agent
    service per AgentPool, and under profiles an OpenTelemetry collector, Prometheus and MLflow.

    It runs what the Helm chart and the operator run, without a cluster; secrets come from an
    env file (see the file's header), never from the compose file or an image.
    """
    from pydantic import ValidationError

    from agent_runtime.compose import (
        ComposeOptions,
        build_compose,
        read_folder,
        render_compose,
        write_env_file,
    )
    from agent_runtime.policy import ToolPolicy

    try:
        policy = ToolPolicy(allowed_functions=list(allowed_functions))
    except ValidationError as exc:
        message = exc.errors()[0]["msg"].removeprefix("Value error, ")
        raise click.BadParameter(message, param_hint="--allow-function") from None
    project = read_folder(folder)
    base = (output.resolve().parent if output else Path.cwd()).resolve()
    source = os.path.relpath(folder.resolve(), base)
    options = ComposeOptions(
        workflows_source=source if source.startswith(".") else f"./{source}",
        policy=policy,
        **{k: v for k, v in {"agent_image": agent_image, "ui_image": ui_image}.items() if v},
    )
    result = build_compose(project, options)
    shown = os.path.relpath(folder.resolve(), base) if output else str(folder)
    command = f"configurable-agents compose {shown}" + (f" -o {output.name}" if output else "")
    text = render_compose(result, command=command)
    for note in result.notes:
        click.echo(f"note: {note}", err=True)
    if output is None:
        click.echo(text, nl=False)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)
    if env_file is not None:
        if write_env_file(env_file, result.variables):
            click.echo(f"wrote {env_file} (secrets: keep it out of version control)", err=True)
        else:
            click.echo(f"{env_file} exists: left as it is", err=True)
    return EXIT_OK
