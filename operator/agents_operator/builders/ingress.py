"""Who may send agents tasks: a token check inside each pod, and a NetworkPolicy around them.

Both come from the operator's settings (the installer's choice), never from the AgentPool: a pool
cannot open its agents to more callers than the platform allows.
"""

from __future__ import annotations

from typing import Any

from agents_operator.builders.labels import pool_selector
from agents_operator.settings import OperatorSettings

Obj = dict[str, Any]

#: Agent pods mount no ServiceAccount token of their own (automountServiceAccountToken: false);
#: this volume gives them just what verifying task tokens needs: the cluster's CA, and a token
#: for the API server's audience to read the issuer's discovery document and keys with.
API_ACCESS_VOLUME = "api-access"
API_ACCESS_PATH = "/var/run/secrets/configurable-agents/api"
#: The label the API server puts on every namespace, naming it.
NAMESPACE_NAME_LABEL = "kubernetes.io/metadata.name"


def task_auth_env(settings: OperatorSettings) -> list[Obj]:
    """The agent's ``CONFIGURABLE_AGENTS_TASK_*`` settings: only the gateway's tokens pass."""
    if not settings.task_callers:
        return []
    values = {
        "AUTH": "kubernetes",
        "ISSUER": settings.task_issuer,
        "CALLERS": ",".join(settings.task_callers),
        "CA_FILE": f"{API_ACCESS_PATH}/ca.crt",
        "DISCOVERY_TOKEN_FILE": f"{API_ACCESS_PATH}/token",
    }
    return [{"name": f"CONFIGURABLE_AGENTS_TASK_{k}", "value": v} for k, v in values.items()]


def task_auth_volumes(settings: OperatorSettings) -> tuple[list[Obj], list[Obj]]:
    """(pod volumes, container mounts) for verifying task tokens; none without task callers."""
    if not settings.task_callers:
        return [], []
    volume = {
        "name": API_ACCESS_VOLUME,
        "projected": {
            "sources": [
                # No audience: the API server's own, which its discovery endpoints accept.
                {"serviceAccountToken": {"path": "token", "expirationSeconds": 3600}},
                {
                    "configMap": {
                        "name": "kube-root-ca.crt",
                        "items": [{"key": "ca.crt", "path": "ca.crt"}],
                    }
                },
            ]
        },
    }
    mount = {"name": API_ACCESS_VOLUME, "mountPath": API_ACCESS_PATH, "readOnly": True}
    return [volume], [mount]


def agent_ingress(pool: str, settings: OperatorSettings) -> Obj | None:
    """The spec of a NetworkPolicy: the pool's agent port, reachable only from the gateway pods
    (and ``agents_from``); None when the operator is not told where the gateway runs."""
    if not settings.gateway_namespace:
        return None
    labels = settings.gateway_pod_labels
    gateway = {
        "namespaceSelector": {"matchLabels": {NAMESPACE_NAME_LABEL: settings.gateway_namespace}},
        # No labels: every pod there (and {} as the API server gives it back, so no false drift).
        "podSelector": {"matchLabels": dict(labels)} if labels else {},
    }
    return {
        "podSelector": {"matchLabels": pool_selector(pool)},
        "policyTypes": ["Ingress"],
        "ingress": [
            {
                "from": [gateway, *settings.agents_from],
                "ports": [{"port": settings.agent_port, "protocol": "TCP"}],
            }
        ],
    }
