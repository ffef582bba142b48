"""Mermaid text of a Workflow's graph, for ``configurable-agents graph`` and ``status.graph``."""

from __future__ import annotations

from agent_runtime.spec.workflow import END, START, WorkflowSpec

_SHAPES = {
    "llm": ('["', '"]'),
    "tool": ('[["', '"]]'),
    "router": ('{"', '"}'),
    "human": ('[/"', '"/]'),
}


def _id(name: str) -> str:
    return {START: "__start__", END: "__end__"}.get(name, name.replace("-", "_"))


def _label(text: str) -> str:
    for char, code in (('"', "#quot;"), ("|", "#124;"), ("<", "#lt;"), (">", "#gt;")):
        text = text.replace(char, code)
    return text


def to_mermaid(spec: WorkflowSpec) -> str:
    lines = ["flowchart TD", "    __start__([START])", "    __end__([END])"]
    for node in spec.nodes:
        left, right = _SHAPES[node.type]
        lines.append(f"    {_id(node.name)}{left}{_label(node.name)} · {node.type}{right}")
    for edge in spec.edges:
        for source in edge.sources:
            if edge.branches is not None:
                for branch in edge.branches:
                    label = _label(branch.when) if branch.when else "otherwise"
                    lines.append(f"    {_id(source)} -->|{label}| {_id(branch.to)}")
            elif edge.to is not None:
                arrow = "-->" if len(edge.sources) == 1 else "-.->|join|"
                lines.append(f"    {_id(source)} {arrow} {_id(edge.to)}")
    return "\n".join(lines) + "\n"
