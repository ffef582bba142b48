"""What a verb needs of a Workflow beyond its file (``agent_runtime.spec.loader.pick_workflow``)."""

from __future__ import annotations

from typing import Any

from agent_runtime.spec import Workflow
from agent_runtime.spec.workflow import HumanNode


def resume_fields(spec: dict[str, Any], interrupt: dict[str, Any] | None) -> dict[str, Any]:
    """The fields the human node an interrupted run waits at asks for (none if it waits for
    an approval), so that ``--input`` values are parsed by their declared types."""
    node = Workflow.model_validate(spec).spec.node((interrupt or {}).get("node", ""))
    return dict(node.output) if isinstance(node, HumanNode) else {}
