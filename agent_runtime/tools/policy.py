"""The platform tool policy as tools apply it: the one given, else the environment's.

A process that says nothing gets ``load_policy()``: the ``cluster`` preset (no function tools,
no loopback or private addresses) unless ``CONFIGURABLE_AGENTS_POLICY_*`` says otherwise. Only a
caller that passes a policy (``run`` passes the ``local`` preset) gets anything looser.
"""

from __future__ import annotations

from agent_runtime.policy import PolicyError, Preset, ToolPolicy, load_policy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import ToolError

#: The preset of a process that passes no policy and sets none in its environment.
DEFAULT_PRESET: Preset = "local"


def policy_or_default(policy: ToolPolicy | None) -> ToolPolicy:
    """``policy``, else the environment's; a bad environment is a ToolError of one line."""
    if policy is not None:
        return policy
    try:
        return load_policy(default=DEFAULT_PRESET)
    except PolicyError as exc:
        raise ToolError(f"platform tool policy: {exc}") from None


def check_function(spec: ToolSpec, policy: ToolPolicy) -> str:
    """The tool's import path when the policy allows it; ToolError naming the rule otherwise.

    Decided on the text of the path: a refused module is never imported.
    """
    path = spec.function
    if path is None:
        raise ToolError(f"tool '{spec.name}' is not a function tool")
    refusal = policy.function_refusal(path)
    if refusal is not None:
        raise ToolError(f"tool '{spec.name}': spec.tools[].function refused: {refusal}")
    return path
