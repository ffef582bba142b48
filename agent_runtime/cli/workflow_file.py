"""The Workflow a verb works on: the one of FILE, or the one ``--workflow`` names there."""

from __future__ import annotations

from typing import Any

from agent_runtime.spec import SpecError, Workflow, load_file
from agent_runtime.spec.errors import Problem
from agent_runtime.spec.workflow import HumanNode


def pick_workflow(path: str, name: str | None) -> Workflow:
    workflows = [r for r in load_file(path) if isinstance(r, Workflow)]
    if name:
        workflows = [w for w in workflows if w.name == name]
    if len(workflows) == 1:
        return workflows[0]
    what = f"no Workflow named {name!r}" if name else "no Workflow"
    if len(workflows) > 1:
        names = ", ".join(w.name for w in workflows)
        what = f"{len(workflows)} Workflows ({names}); choose one with --workflow"
    raise SpecError([Problem("", what)], source=path)


def resume_fields(spec: dict[str, Any], interrupt: dict[str, Any] | None) -> dict[str, Any]:
    """The fields the human node an interrupted run waits at asks for (none if it waits for
    an approval), so that ``--input`` values are parsed by their declared types."""
    node = Workflow.model_validate(spec).spec.node((interrupt or {}).get("node", ""))
    return dict(node.output) if isinstance(node, HumanNode) else {}
