"""The spec models: the single source of truth for Workflow and AgentPool.

The CLI, the gateway and the operator validate with these models, and the CRD schemas are
generated from them.
"""

from agent_runtime.spec.agentpool import AgentPool, AgentPoolSpec
from agent_runtime.spec.errors import Problem, SpecError
from agent_runtime.spec.loader import load_documents, load_file, parse_resource, parse_workflow
from agent_runtime.spec.workflow import (
    Edge,
    HumanNode,
    LlmNode,
    ModelSpec,
    Node,
    RouterNode,
    ToolNode,
    ToolSpec,
    Workflow,
    WorkflowSpec,
)

__all__ = [
    "AgentPool",
    "AgentPoolSpec",
    "Edge",
    "HumanNode",
    "LlmNode",
    "ModelSpec",
    "Node",
    "Problem",
    "RouterNode",
    "SpecError",
    "ToolNode",
    "ToolSpec",
    "Workflow",
    "WorkflowSpec",
    "load_documents",
    "load_file",
    "parse_resource",
    "parse_workflow",
]
