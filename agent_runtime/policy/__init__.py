"""The platform's tool policy: which ``function`` tools and which addresses Workflows may use.

Set by whoever installs the platform (environment, a file, Helm values), never by a Workflow.
The same rules are checked at admission (CLI ``validate``/``run``, the operator) and again by
whatever executes tools (agents, in-process gateways), so a Workflow that slipped past admission
is still refused before anything is imported or connected to. The operator may import this
package; it imports nothing of ours but the spec models.
"""

from agent_runtime.policy.addresses import AddressClass, classify, parse_host
from agent_runtime.policy.admission import tool_policy_problems
from agent_runtime.policy.budgets import BudgetPolicy, NamespaceBudget, load_budget_policy
from agent_runtime.policy.egress import EgressRefusal, EgressRule
from agent_runtime.policy.functions import FunctionPattern
from agent_runtime.policy.loading import POLICY_ENV_PREFIX, load_policy, policy_from
from agent_runtime.policy.model import PolicyError, Preset, ToolPolicy
from agent_runtime.policy.prefixes import UrlPrefix, url_shape_problem

__all__ = [
    "POLICY_ENV_PREFIX",
    "AddressClass",
    "BudgetPolicy",
    "EgressRefusal",
    "EgressRule",
    "FunctionPattern",
    "NamespaceBudget",
    "PolicyError",
    "Preset",
    "ToolPolicy",
    "UrlPrefix",
    "classify",
    "load_budget_policy",
    "load_policy",
    "parse_host",
    "policy_from",
    "tool_policy_problems",
    "url_shape_problem",
]
