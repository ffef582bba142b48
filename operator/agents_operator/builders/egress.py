"""Where a pool's pods may connect: a NetworkPolicy of their own, ``POOL-egress``.

By default only DNS. Added to that: the API server when agents verify task tokens (they fetch
its discovery document and keys), what the platform allows every pool (operator settings), and
what the pool declares in ``spec.egress``. A pool cannot remove the first three, and the platform
decides whether the policy exists at all (``egress_enforce``).
"""

from __future__ import annotations

import ipaddress
from typing import Any

from agent_runtime.spec.agentpool import EgressRule, parse_cidr
from agents_operator.builders.labels import pool_selector
from agents_operator.settings import OperatorSettings

Obj = dict[str, Any]

DNS_PORTS: list[Obj] = [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}]


def egress_rule(rule: EgressRule) -> Obj:
    """A NetworkPolicyEgressRule for one ``{cidr, except, ports}`` (no ports: every port)."""
    block: Obj = {"cidr": str(parse_cidr(rule.cidr))}
    if rule.except_:
        block["except"] = [str(parse_cidr(e)) for e in rule.except_]
    out: Obj = {"to": [{"ipBlock": block}]}
    if rule.ports:
        out["ports"] = [{"port": p.port, "protocol": p.protocol} for p in rule.ports]
    return out


def _host_cidr(address: str) -> str | None:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return None  # "None" for a headless Service, or an FQDN endpoint
    return f"{ip}/{ip.max_prefixlen}"


def api_server_rule(slices: list[Obj], service: Obj | None) -> Obj | None:
    """The API server as agents reach it: the ``default/kubernetes`` Service's endpoints (where
    most CNIs apply policies, after the Service's DNAT) and its cluster IP (for those that apply
    them before); None when neither names an address."""
    cidrs: list[str] = []
    ports: list[Obj] = []

    def add(cidr: str | None, port: Any, protocol: Any) -> None:
        if cidr and cidr not in cidrs:
            cidrs.append(cidr)
        entry = {"port": port, "protocol": protocol or "TCP"}
        if isinstance(port, int) and entry not in ports:
            ports.append(entry)

    for piece in slices:
        addresses = [a for e in piece.get("endpoints") or [] for a in e.get("addresses") or []]
        for port in piece.get("ports") or []:
            for address in addresses:
                add(_host_cidr(address), port.get("port"), port.get("protocol"))
    spec = (service or {}).get("spec") or {}
    for address in spec.get("clusterIPs") or [spec.get("clusterIP", "")]:
        for port in spec.get("ports") or []:
            add(_host_cidr(str(address)), port.get("port"), port.get("protocol"))
    if not cidrs or not ports:
        return None
    return {"to": [{"ipBlock": {"cidr": c}} for c in cidrs], "ports": ports}


def agent_egress(
    pool: str, declared: list[EgressRule], settings: OperatorSettings, api_server: Obj | None
) -> Obj | None:
    """The spec of the pool's egress NetworkPolicy; None when the platform enforces none."""
    if not settings.egress_enforce:
        return None
    dns: Obj = {"ports": DNS_PORTS}
    if settings.egress_dns:
        dns = {"to": [dict(p) for p in settings.egress_dns], **dns}
    rules = [dns]
    if settings.task_callers and api_server is not None:
        rules.append(api_server)
    rules += [egress_rule(r) for r in settings.egress_allow]
    rules += [dict(r) for r in settings.egress_rules]
    rules += [egress_rule(r) for r in declared]
    return {
        "podSelector": {"matchLabels": pool_selector(pool)},
        "policyTypes": ["Egress"],
        "egress": rules,
    }
