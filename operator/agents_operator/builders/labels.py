"""The labels that make Kubernetes itself the registry of agents and their capabilities."""

from __future__ import annotations

from agent_runtime.spec.common import API_GROUP

POOL_LABEL = f"{API_GROUP}/pool"
CAPABILITY_PREFIX = f"capability.{API_GROUP}/"
#: On the Leases the gateway keeps for agents outside the cluster, one per registered member
#: (``agent_runtime.gateway.members``; the value is ``push`` or ``pull``).
EXTERNAL_MEMBER_LABEL = f"{API_GROUP}/external-member"
MANAGED_BY = "app.kubernetes.io/managed-by"
MANAGER = "configurable-agents"


def capability_label(capability: str) -> str:
    return f"{CAPABILITY_PREFIX}{capability}"


def pool_selector(pool: str) -> dict[str, str]:
    """The immutable selector of a pool's workload: only the pool name, never capabilities."""
    return {POOL_LABEL: pool}


def pool_labels(pool: str, capabilities: list[str]) -> dict[str, str]:
    """Labels of every child and pod: the pool, one per capability, and the usual app labels."""
    labels = {
        "app.kubernetes.io/name": "agent",
        "app.kubernetes.io/instance": pool,
        "app.kubernetes.io/component": "agent-pool",
        MANAGED_BY: MANAGER,
        **pool_selector(pool),
    }
    labels.update({capability_label(c): "true" for c in capabilities})
    return labels
