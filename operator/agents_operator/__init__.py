"""The configurable-agents operator: reconciles AgentPool and Workflow resources with kopf.

Layers, highest first: ``handlers`` (kopf entry points, API writes) > ``builders`` (pure functions
from a spec to child objects) > ``agent_runtime.spec`` (the shared models). The operator never
imports the engine: it never executes workflow steps.
"""

from agents_operator.settings import OperatorSettings

__all__ = ["OperatorSettings"]
