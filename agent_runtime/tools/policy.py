"""The platform tool policy as tools apply it: the one given, else the environment's.

Entry points pass their own: ``run`` the ``local`` preset (``cli.policy.local_policy``), agents
``AgentSettings.tool_policy()`` (``cluster``), gateways ``GatewaySettings.tool_policy()``
(``local`` only for a ``serve`` on a loopback address without ``--kubernetes`` or authentication,
else ``cluster``).
Anything else (a ``TaskExecutor`` or ``ToolBox`` built without a policy) gets
``load_policy(default=DEFAULT_PRESET)``, whatever ``CONFIGURABLE_AGENTS_POLICY_*`` says over it.
"""

from __future__ import annotations

from agent_runtime.policy import PolicyError, Preset, ToolPolicy, load_policy
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.tools.base import ToolError

#: The preset of a process that passes no policy and sets none in its environment: ``cluster``
#: (no functions; loopback, private, metadata and link-local addresses refused). Whoever forgot to
#: choose gets the strict one; ``local`` is only ever chosen on purpose.
DEFAULT_PRESET: Preset = "cluster"


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
