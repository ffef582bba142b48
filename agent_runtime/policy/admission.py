"""Checking a Workflow's tools against the platform policy before it is stored or run.

What can be decided without importing or connecting is decided here: ``function`` paths against
``allowedFunctions``, MCP and A2A URLs and ``httpGet.allow`` prefixes against ``egressAllow``
and against what their hosts are when they spell an address or a known name. Names are not
resolved (the agent does that, on every connection). The CLI (``validate``, ``run``) and the
operator call it.
"""

from __future__ import annotations

from agent_runtime.policy.egress import EgressRefusal, EgressRule
from agent_runtime.policy.model import ToolPolicy
from agent_runtime.policy.prefixes import UrlPrefix
from agent_runtime.spec.errors import Problem
from agent_runtime.spec.workflow import WorkflowSpec


def tool_policy_problems(spec: WorkflowSpec, policy: ToolPolicy) -> list[Problem]:
    """One problem per refused tool setting, at ``spec.tools[i]...``, naming the rule."""
    rule = EgressRule(policy)
    problems: list[Problem] = []
    for i, tool in enumerate(spec.tools):
        at = f"spec.tools[{i}]"
        if tool.function is not None:
            refusal = policy.function_refusal(tool.function)
            if refusal is not None:
                problems.append(Problem(f"{at}.function", refusal))
        for kind, remote in (("mcp", tool.mcp), ("a2a", tool.a2a)):
            if remote is None:
                continue
            try:
                rule.admit(remote.url)
            except EgressRefusal as exc:
                problems.append(Problem(f"{at}.{kind}.url", f"{remote.url!r} is refused: {exc}"))
        if tool.http_get is not None:
            for j, text in enumerate(tool.http_get.allow):
                refusal = _prefix_refusal(rule, text)
                if refusal is not None:
                    problems.append(Problem(f"{at}.httpGet.allow[{j}]", refusal))
    return problems


def _prefix_refusal(rule: EgressRule, text: str) -> str | None:
    try:
        prefix = UrlPrefix.parse(text)
    except ValueError as exc:
        return f"{text!r} is not a URL prefix: {exc}"
    policy = rule.policy
    if not policy.any_url and not any(p.contains(prefix) for p in policy.egress_prefixes):
        allowed = ", ".join(policy.egress_allow) or "nothing"
        return f"{text!r} is not within the platform's egress allow-list (egressAllow: {allowed})"
    try:
        rule.admit(str(prefix))
    except EgressRefusal as exc:
        return f"{text!r} is refused: {exc}"
    return None
