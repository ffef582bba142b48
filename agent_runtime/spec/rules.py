"""The graph rules of a Workflow that a field-by-field schema cannot express.

Every problem names its field path relative to ``spec``; the loader adds the prefix.
"""

from __future__ import annotations

import re
from collections import defaultdict
from typing import TYPE_CHECKING

from agent_runtime.spec.common import IDENTIFIER
from agent_runtime.spec.errors import Problem, did_you_mean
from agent_runtime.spec.expressions import ExpressionError, referenced_fields
from agent_runtime.spec.state import REDUCER_TYPES, StateField
from agent_runtime.spec.templates import TemplateError, referenced_names

if TYPE_CHECKING:
    from agent_runtime.spec.workflow import WorkflowSpec

START, END = "START", "END"
_FIELD_NAME = re.compile(IDENTIFIER)


def check_workflow(spec: WorkflowSpec) -> list[Problem]:
    problems: list[Problem] = []
    problems += _check_state(spec)
    problems += _check_io(spec)
    problems += _check_nodes(spec)
    problems += _check_edges(spec)
    if not problems:  # reachability only means something on a well-formed graph
        problems += _check_reachability(spec)
    return problems


def _check_state(spec: WorkflowSpec) -> list[Problem]:
    problems = []
    for name, field in spec.state.items():
        if not _FIELD_NAME.match(name) or name.startswith("__") or name == "state":
            problems.append(
                Problem(
                    f"state.{name}",
                    "a state field name must be an identifier (letters, digits, _), "
                    "must not start with '__' and must not be 'state'",
                )
            )
        allowed = REDUCER_TYPES[field.reducer]
        if field.type not in allowed:
            problems.append(
                Problem(
                    f"state.{name}.reducer",
                    f"reducer '{field.reducer}' needs a field of type {' or '.join(allowed)}, "
                    f"not {field.type}",
                )
            )
        if field.default is not None:
            why = field.check(field.default)
            if why:
                problems.append(Problem(f"state.{name}.default", why))
    return problems


def _check_io(spec: WorkflowSpec) -> list[Problem]:
    problems = []
    for key in ("input", "output"):
        for i, name in enumerate(getattr(spec, key)):
            if name not in spec.state:
                problems.append(Problem(f"{key}[{i}]", _unknown_field(name, spec.state)))
    return problems


def _unknown_field(name: str, state: dict[str, StateField]) -> str:
    return f"'{name}' is not a declared state field{did_you_mean(name, state)}"


def _check_template(path: str, source: str, spec: WorkflowSpec) -> list[Problem]:
    try:
        names = referenced_names(source)
    except TemplateError as exc:
        return [Problem(path, str(exc))]
    unknown = sorted(names - set(spec.state) - {"state"})
    return [Problem(path, f"template names {_unknown_field(n, spec.state)}") for n in unknown]


def _check_conversation(
    at: str, messages: str | None, prompt: str, spec: WorkflowSpec
) -> list[Problem]:
    """An llm node's ``messages`` names a messages field; without it the node needs a prompt."""
    if messages is None:
        return [] if prompt else [Problem(f"{at}.prompt", "an llm node needs a prompt or messages")]
    field = spec.state.get(messages)
    if field is None:
        return [Problem(f"{at}.messages", _unknown_field(messages, spec.state))]
    if field.type != "messages":
        return [
            Problem(
                f"{at}.messages",
                f"state field '{messages}' is of type {field.type}, not messages",
            )
        ]
    return []


def _check_output(path: str, output: object, spec: WorkflowSpec) -> list[Problem]:
    if output is None:
        return []
    if isinstance(output, str):
        field = spec.state.get(output)
        if field is None:
            return [Problem(path, _unknown_field(output, spec.state))]
        return []
    problems = []
    assert isinstance(output, dict)
    for name, declared in output.items():
        target = spec.state.get(name)
        if target is None:
            problems.append(Problem(f"{path}.{name}", _unknown_field(name, spec.state)))
        elif not declared.compatible_with(target):
            problems.append(
                Problem(
                    f"{path}.{name}.type",
                    f"'{declared.type}' does not fit state field '{name}' of type {target.type}",
                )
            )
    return problems


def _check_nodes(spec: WorkflowSpec) -> list[Problem]:
    problems: list[Problem] = []
    seen: dict[str, int] = {}
    tool_names = {t.name for t in spec.tools} | {"http_get"}
    tools_seen: dict[str, int] = {}
    for i, tool in enumerate(spec.tools):
        if tool.name in tools_seen:
            problems.append(Problem(f"tools[{i}].name", f"duplicate tool name '{tool.name}'"))
        tools_seen[tool.name] = i
    for i, node in enumerate(spec.nodes):
        at = f"nodes[{i}]"
        if node.name in (START, END):
            problems.append(
                Problem(f"{at}.name", f"'{node.name}' is reserved for the graph's ends")
            )
        elif node.name in seen:
            problems.append(
                Problem(
                    f"{at}.name",
                    f"duplicate node name '{node.name}' (also nodes[{seen[node.name]}])",
                )
            )
        seen.setdefault(node.name, i)
        if node.type == "llm":
            if node.model not in spec.models:
                problems.append(
                    Problem(
                        f"{at}.model",
                        f"unknown model '{node.model}'{did_you_mean(node.model, spec.models)}"
                        + ("" if spec.models else "; declare it under spec.models"),
                    )
                )
            problems += _check_template(f"{at}.system", node.system, spec)
            problems += _check_template(f"{at}.prompt", node.prompt, spec)
            problems += _check_conversation(at, node.messages, node.prompt, spec)
            for j, name in enumerate(node.tools):
                if name not in tool_names:
                    problems.append(
                        Problem(
                            f"{at}.tools[{j}]",
                            f"unknown tool '{name}'{did_you_mean(name, tool_names)}",
                        )
                    )
            for j, name in enumerate(node.require_approval):
                if name not in node.tools:
                    problems.append(
                        Problem(
                            f"{at}.requireApproval[{j}]",
                            f"'{name}' is not one of this node's tools "
                            f"({', '.join(node.tools) or 'it has none'})",
                        )
                    )
            problems += _check_output(f"{at}.output", node.output, spec)
            if isinstance(node.output, dict):
                problems += [
                    Problem(
                        f"{at}.output.{name}.type",
                        "a structured answer cannot hold messages: name the messages field "
                        "as the node's output (output: FIELD) to append the model's reply",
                    )
                    for name, declared in node.output.items()
                    if declared.type == "messages"
                ]
        elif node.type == "tool":
            if node.tool not in tool_names:
                problems.append(
                    Problem(
                        f"{at}.tool",
                        f"unknown tool '{node.tool}'{did_you_mean(node.tool, tool_names)}",
                    )
                )
            for key, value in node.args.items():
                for source in _strings(value):
                    problems += _check_template(f"{at}.args.{key}", source, spec)
            problems += _check_output(f"{at}.output", node.output, spec)
        elif node.type == "human":
            problems += _check_template(f"{at}.prompt", node.prompt, spec)
            problems += _check_output(f"{at}.output", node.output, spec)
    return problems


def _strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    return []


def _check_edges(spec: WorkflowSpec) -> list[Problem]:
    problems: list[Problem] = []
    names = [n.name for n in spec.nodes]
    known = set(names)
    entries = []
    for i, edge in enumerate(spec.edges):
        at = f"edges[{i}]"
        if (edge.to is None) == (edge.branches is None):
            problems.append(Problem(at, "an edge needs exactly one of 'to' or 'branches'"))
            continue
        sources = edge.sources
        if not sources:
            problems.append(Problem(f"{at}.from", "'from' names no node"))
        for k, source in enumerate(sources):
            spath = f"{at}.from" if isinstance(edge.from_, str) else f"{at}.from[{k}]"
            if source == START:
                entries.append(i)
                if len(sources) > 1:
                    problems.append(Problem(spath, "START cannot be joined with other nodes"))
            elif source == END:
                problems.append(Problem(spath, "no edge can leave END"))
            elif source not in known:
                problems.append(
                    Problem(spath, f"unknown node '{source}'{did_you_mean(source, names)}")
                )
        if edge.branches is not None:
            if not edge.branches:
                problems.append(Problem(f"{at}.branches", "needs at least one branch"))
            if len(sources) > 1:
                problems.append(Problem(f"{at}.from", "branches leave a single node, not a join"))
            defaults = [j for j, b in enumerate(edge.branches) if b.when is None]
            if len(defaults) > 1:
                problems.append(
                    Problem(f"{at}.branches[{defaults[1]}]", "only one branch may omit 'when'")
                )
            elif defaults and defaults[0] != len(edge.branches) - 1:
                problems.append(
                    Problem(
                        f"{at}.branches[{defaults[0]}]",
                        "the default branch (no 'when') must be last",
                    )
                )
            for j, branch in enumerate(edge.branches):
                problems += _check_target(f"{at}.branches[{j}].to", branch.to, names)
                if branch.when is not None:
                    problems += _check_condition(f"{at}.branches[{j}].when", branch.when, spec)
        else:
            assert edge.to is not None
            problems += _check_target(f"{at}.to", edge.to, names)
    if not entries:
        problems.append(Problem("edges", "no entry: one edge must start at START"))
    elif len(entries) > 1:
        problems.append(
            Problem(
                f"edges[{entries[1]}].from",
                f"a second entry: edges[{entries[0]}] already starts at START",
            )
        )
    for i, node in enumerate(spec.nodes):
        if node.type == "router" and not any(
            e.branches is not None and node.name in e.sources for e in spec.edges
        ):
            problems.append(
                Problem(f"nodes[{i}]", f"router '{node.name}' has no edge with branches")
            )
    return problems


def _check_target(path: str, target: str, names: list[str]) -> list[Problem]:
    if target == START:
        return [Problem(path, "no edge can lead back to START")]
    if target != END and target not in names:
        return [Problem(path, f"unknown node '{target}'{did_you_mean(target, names)}")]
    return []


def _check_condition(path: str, source: str, spec: WorkflowSpec) -> list[Problem]:
    try:
        fields, others = referenced_fields(source)
    except ExpressionError as exc:
        return [Problem(path, str(exc))]
    problems = [
        Problem(path, f"condition reads state.{f}, but {_unknown_field(f, spec.state)}")
        for f in sorted(fields - set(spec.state))
    ]
    for name in sorted(others):
        hint = f"; did you mean state.{name}?" if name in spec.state else ""
        problems.append(
            Problem(path, f"unknown variable '{name}': conditions read state.<field>{hint}")
        )
    return problems


def _check_reachability(spec: WorkflowSpec) -> list[Problem]:
    forward: dict[str, set[str]] = defaultdict(set)
    for edge in spec.edges:
        for source in edge.sources:
            forward[source].update(edge.targets)
    reached = _walk(START, forward)
    backward: dict[str, set[str]] = defaultdict(set)
    for source, targets in forward.items():
        for target in targets:
            backward[target].add(source)
    humans = [n.name for n in spec.nodes if n.type == "human"]
    finishing = set().union(*(_walk(end, backward) for end in [END, *humans]))
    problems = []
    for i, node in enumerate(spec.nodes):
        if node.name not in reached:
            problems.append(
                Problem(f"nodes[{i}]", f"node '{node.name}' cannot be reached from START")
            )
        elif node.name not in finishing:
            problems.append(
                Problem(
                    f"nodes[{i}]", f"node '{node.name}' has no path to END (or to a human node)"
                )
            )
    return problems


def _walk(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen = {start}
    stack = [start]
    while stack:
        for nxt in graph.get(stack.pop(), ()):
            if nxt not in seen:
                seen.add(nxt)
                stack.append(nxt)
    return seen
