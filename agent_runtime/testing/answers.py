"""A Workflow to test: read from a file, its llm nodes answered by scripted models.

Answers are given per node, not per model, because that is what a test asserts about (two
nodes sharing a model still get their own script). Every other llm node must already use the
``scripted`` provider unless the test allows the network, so a test never calls a vendor by
accident.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Mapping, Sequence
from typing import Any

from agent_runtime.spec import LlmNode, Problem, SpecError, Workflow, parse_workflow
from agent_runtime.spec.loader import pick_workflow

#: The name of what a kit's own argument errors are about, in front of each problem.
SOURCE = "WorkflowRunner"


def load_workflow(source: Workflow | str | os.PathLike[str], name: str | None = None) -> Workflow:
    """``source`` itself, or the one Workflow of that YAML file (the one called ``name``)."""
    if isinstance(source, Workflow):
        return source
    return pick_workflow(source, name, choose_with="name=")


def with_answers(
    workflow: Workflow, answers: Mapping[str, Sequence[Any]], *, allow_network: bool = False
) -> Workflow:
    """``workflow`` with each node of ``answers`` calling a scripted model of those answers
    (one per visit, the last repeats); SpecError naming ``answers.<node>`` for what cannot be."""
    llm = {n.name: n for n in workflow.spec.nodes if isinstance(n, LlmNode)}
    problems = [
        Problem(f"answers.{name}", f"not an llm node (llm nodes: {', '.join(llm) or 'none'})")
        for name in answers
        if name not in llm
    ]
    problems += [
        Problem(f"answers.{name}", "expected a list of answers, one per visit of the node")
        for name, given in answers.items()
        if isinstance(given, str | bytes | Mapping) or not isinstance(given, Sequence)
    ]
    if not allow_network:
        problems += [
            Problem(
                f"answers.{node.name}",
                f"required: the node calls model '{node.model}' ({called.provider}); "
                "script its answers, or pass allow_network=True",
            )
            for node in llm.values()
            if node.name not in answers
            and (called := workflow.spec.models.get(node.model)) is not None
            and called.provider != "scripted"
        ]
    if problems:
        raise SpecError(problems, source=SOURCE)
    if not answers:
        return workflow
    document = copy.deepcopy(workflow.document)
    spec = document["spec"]
    for index, node in enumerate(workflow.spec.nodes):
        if node.name in answers:
            name = _free_name(f"{node.name}-scripted", spec.setdefault("models", {}))
            spec["models"][name] = {"provider": "scripted", "responses": list(answers[node.name])}
            spec["nodes"][index]["model"] = name
    return parse_workflow(document, source=SOURCE)


def _free_name(wanted: str, taken: Mapping[str, Any]) -> str:
    name, n = wanted, 1
    while name in taken:
        n += 1
        name = f"{wanted}-{n}"
    return name
