"""Operator settings, from the environment (``CONFIGURABLE_AGENTS_OPERATOR_*``) or flags."""

from __future__ import annotations

import json
import re
from typing import Annotated, Any, Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from agent_runtime.spec.agentpool import EgressRule

#: Where pods resolve names unless told otherwise: CoreDNS (or kube-dns) in kube-system.
KUBE_DNS: dict[str, Any] = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
#: One EGRESS_ALLOW entry: CIDR[:PORT[/PROTOCOL]], e.g. 10.0.0.0/8:4317 or 2001:db8::/32:53/UDP.
_ALLOW_ENTRY = re.compile(
    r"^(?P<cidr>[^/]+/\d{1,3})(?::(?P<port>\d+)(?:/(?P<protocol>[A-Za-z]+))?)?$"
)


class OperatorSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="CONFIGURABLE_AGENTS_OPERATOR_", frozen=True)

    #: Image for AgentPools that name none.
    agent_image: str = "ghcr.io/configurable-agents/agent:0.1.0"
    image_pull_policy: str = "IfNotPresent"
    #: Namespaces to watch; empty means the whole cluster.
    namespaces: list[str] = Field(default_factory=list)
    metrics_port: int = 9090
    health_port: int = 8081
    agent_port: int = 8080
    field_manager: str = "configurable-agents-operator"
    #: kopf peering object (ClusterKopfPeering, or KopfPeering per watched namespace): replicas
    #: sharing it let only the highest priority work, so several can run for fail-over. Empty runs
    #: standalone, which is safe only for one replica.
    peering: str = ""
    #: This replica's peering priority. Replicas of equal priority all pause, so by default each
    #: picks a random one.
    peering_priority: int | None = Field(default=None, ge=0)

    #: Accounts (``system:serviceaccount:NS:NAME``, comma-separated) whose tokens agent pods
    #: accept tasks from: the gateway's. Empty leaves agents open to anyone who reaches them.
    task_callers: Annotated[list[str], NoDecode] = Field(default_factory=list)
    #: The cluster's ServiceAccount issuer, which agents verify those tokens against (EKS, GKE
    #: and others have their own: ``kubectl get --raw /.well-known/openid-configuration``).
    task_issuer: str = "https://kubernetes.default.svc.cluster.local"
    #: Where the gateway runs: set, each pool gets a NetworkPolicy letting only pods with
    #: ``gateway_pod_labels`` there (and ``agents_from``) reach its agents.
    gateway_namespace: str = ""
    gateway_pod_labels: dict[str, str] = Field(default_factory=dict)
    #: More NetworkPolicyPeers that may reach agent pods (e.g. Prometheus), as a JSON list.
    agents_from: list[dict[str, Any]] = Field(default_factory=list)

    #: Give each pool a NetworkPolicy ``POOL-egress``: its pods reach only DNS (``egress_dns``),
    #: the API server when they verify task tokens, ``egress_allow``, ``egress_rules`` and the
    #: pool's ``spec.egress``. False writes none (for CNIs without NetworkPolicy).
    egress_enforce: bool = True
    #: NetworkPolicyPeers pods resolve names at, as a JSON list; empty: port 53 anywhere.
    egress_dns: Annotated[list[dict[str, Any]], NoDecode] = Field(
        default_factory=lambda: [dict(KUBE_DNS)]
    )
    #: Networks every pool may reach (an OTLP collector, a proxy): comma-separated
    #: ``CIDR[:PORT[/PROTOCOL]]`` (no port: all), or a JSON list of those or of ``{cidr, ports}``.
    egress_allow: Annotated[list[EgressRule], NoDecode] = Field(default_factory=list)
    #: NetworkPolicyEgressRules every pool gets as they are, as a JSON list (in-cluster peers
    #: chosen by namespace and pod labels, which a CIDR cannot name).
    egress_rules: Annotated[list[dict[str, Any]], NoDecode] = Field(default_factory=list)

    #: What renders pools with ``autoscaling.metric: queue``: ``keda`` a KEDA ScaledObject (scales
    #: to zero), ``hpa`` an HPA on the External metric ``configurable_agents_capability_runs``
    #: (needs an external metrics adapter; at least one replica), ``auto`` KEDA when the API
    #: server serves ``keda.sh/v1alpha1`` ScaledObjects at start, else the HPA.
    queue_scaler: Literal["auto", "keda", "hpa"] = "auto"
    #: The gateway's base URL as KEDA reaches it (in-cluster, e.g.
    #: ``http://configurable-agents-gateway.ca-system.svc:8080``): its ``metrics-api`` trigger
    #: reads ``/v1/namespaces/NS/queue`` there. Required for ScaledObjects.
    queue_gateway_url: str = ""
    #: The ClusterTriggerAuthentication giving KEDA a bearer token that may ``get``
    #: ``agentpools/queue`` (the chart installs one); empty: the gateway takes no credentials.
    queue_authentication: str = "configurable-agents-queue-reader"
    #: How often KEDA asks the gateway (its ``pollingInterval``), seconds.
    queue_polling_seconds: int = Field(default=15, ge=1, le=3600)

    @field_validator("queue_gateway_url")
    @classmethod
    def _gateway_url(cls, value: str) -> str:
        if value and not re.match(r"^https?://[^/\s?#]+(/[^\s?#]*)?$", value):
            raise ValueError(f"{value!r}: expected http(s)://HOST[:PORT][/PATH]")
        return value.rstrip("/")

    @field_validator("egress_dns", "egress_rules", mode="before")
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        """Parsed here, so that bad JSON is a validation error naming the setting."""
        return json.loads(value) if isinstance(value, str) else value

    @field_validator("egress_allow", mode="before")
    @classmethod
    def _allow_entries(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            value = json.loads(text) if text.startswith("[") else text.split(",")
        if not isinstance(value, list):
            return value
        given = [v for v in value if not (isinstance(v, str) and not v.strip())]  # "a,,b" is fine
        return [_allow_entry(v) if isinstance(v, str) else v for v in given]

    @field_validator("task_callers", mode="before")
    @classmethod
    def _comma_separated(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value


def _allow_entry(entry: str) -> dict[str, Any]:
    """``CIDR[:PORT[/PROTOCOL]]`` as an EgressRule's fields (the CIDR is checked by the model)."""
    found = _ALLOW_ENTRY.match(entry.strip())
    if found is None:
        raise ValueError(f"{entry.strip()!r}: expected CIDR[:PORT[/PROTOCOL]], e.g. 10.0.0.0/8:443")
    rule: dict[str, Any] = {"cidr": found["cidr"]}
    if found["port"]:
        port = {"port": int(found["port"]), "protocol": (found["protocol"] or "TCP").upper()}
        rule["ports"] = [port]
    return rule
