"""Compiling a Workflow into a LangGraph StateGraph, once per Workflow version."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from langgraph.checkpoint.base import BaseCheckpointSaver
from langgraph.graph import END as LG_END
from langgraph.graph import START as LG_START
from langgraph.graph import StateGraph
from langgraph.graph.state import CompiledStateGraph

from agent_runtime.engine.channels import public, state_schema
from agent_runtime.engine.context import RunContext
from agent_runtime.engine.errors import RunError
from agent_runtime.engine.nodes import executed_node, human_node, router_node
from agent_runtime.spec.expressions import compile_condition, evaluate
from agent_runtime.spec.templates import compile_template
from agent_runtime.spec.workflow import END, START, Edge, LlmNode, ToolNode, Workflow

_ENDS = {START: LG_START, END: LG_END}


def _end(name: str) -> str:
    return _ENDS.get(name, name)


def _chooser(index: int, edge: Edge) -> Callable[[dict[str, Any]], str]:
    assert edge.branches is not None
    branches = [(b.when, _end(b.to)) for b in edge.branches]

    def choose(state: dict[str, Any]) -> str:
        view = public(state)
        for when, to in branches:
            if when is None or evaluate(when, view):
                return to
        raise RunError(
            f"no branch of spec.edges[{index}] matched and it has no default branch",
            code="no_branch",
        )

    return choose


@dataclass
class CompiledWorkflow:
    workflow: Workflow
    builder: StateGraph[Any, RunContext, Any, Any]
    _bound: dict[int, CompiledStateGraph[Any, RunContext, Any, Any]] = field(default_factory=dict)

    def bind(
        self, checkpointer: BaseCheckpointSaver[Any]
    ) -> CompiledStateGraph[Any, RunContext, Any, Any]:
        graph = self._bound.get(id(checkpointer))
        if graph is None:
            graph = self._bound[id(checkpointer)] = self.builder.compile(
                checkpointer=checkpointer, name=self.workflow.name
            )
        return graph


def compile_workflow(workflow: Workflow) -> CompiledWorkflow:
    spec = workflow.spec
    builder: StateGraph[Any, RunContext, Any, Any] = StateGraph(
        state_schema(spec), context_schema=RunContext
    )
    for node in spec.nodes:
        if isinstance(node, LlmNode | ToolNode):
            fn = executed_node(spec, node)
            for source in (getattr(node, "system", ""), getattr(node, "prompt", "")):
                if source:
                    compile_template(source)  # warm the cache: compiled once per version
        elif node.type == "router":
            fn = router_node(node)
        else:
            fn = human_node(node)
        builder.add_node(node.name, fn)  # type: ignore[call-overload]
    for index, edge in enumerate(spec.edges):
        sources = [_end(s) for s in edge.sources]
        if edge.branches is not None:
            for branch in edge.branches:
                if branch.when:
                    compile_condition(branch.when)
            targets = {_end(b.to): _end(b.to) for b in edge.branches}
            builder.add_conditional_edges(sources[0], _chooser(index, edge), targets)  # type: ignore[arg-type]
        elif edge.to is not None:
            builder.add_edge(sources if len(sources) > 1 else sources[0], _end(edge.to))
    return CompiledWorkflow(workflow=workflow, builder=builder)
