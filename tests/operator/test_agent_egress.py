"""Agent egress on the real control plane: each pool gets ``POOL-egress``, a NetworkPolicy letting
its pods reach DNS and what it declares (and the API server, when agents verify task tokens),
kept in step with spec.egress, put back when deleted, gone with the pool or when not enforced;
bad CIDRs and ports are refused by the API server, naming the field."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests.operator.conftest import OperatorProcess, eventually, restart_with
from tests.operator.test_agentpool import get, pool_yaml, wait_ready

pytestmark = pytest.mark.cluster

PREFIX = "CONFIGURABLE_AGENTS_OPERATOR_"
SELECTOR = {"matchLabels": {"configurable-agents.io/pool": "pool"}}
DNS = {
    "to": [
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
            "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
        }
    ],
    "ports": [{"port": 53, "protocol": "UDP"}, {"port": 53, "protocol": "TCP"}],
}
HTTPS = {
    "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
    "ports": [{"port": 443, "protocol": "TCP"}],
}
EGRESS = """  egress:
    - cidr: 203.0.113.0/24
      ports: [{port: 443}]
"""


def egress_policy(kubectl: Any, namespace: str) -> dict[str, Any]:
    return get(kubectl, namespace, "networkpolicy", "pool-egress")


def rules(kubectl: Any, namespace: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = egress_policy(kubectl, namespace)["spec"]["egress"]
    return found


def absent(kubectl: Any, namespace: str) -> bool:
    found = kubectl("get", "networkpolicy", "pool-egress", "-n", namespace, check=False)
    return bool(found.returncode != 0 and "NotFound" in found.stderr)


def test_a_pool_may_reach_dns_and_what_it_declares(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=EGRESS))
    wait_ready(kubectl, namespace, "agentpool/pool")
    uid = get(kubectl, namespace, "agentpool", "pool")["metadata"]["uid"]

    found = egress_policy(kubectl, namespace)
    [ref] = found["metadata"]["ownerReferences"]
    assert ref["uid"] == uid and ref["controller"] is True and ref["kind"] == "AgentPool"
    assert found["spec"] == {
        "podSelector": SELECTOR,
        "policyTypes": ["Egress"],
        "egress": [DNS, HTTPS],
    }

    # Edited: the policy follows, IPv6 and all ports included.
    edited = """  egress:
    - cidr: 203.0.113.0/24
      ports: [{port: 443}, {port: 8443}]
    - cidr: 2001:db8::/32
      except: [2001:db8:1::/48]
"""
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=edited))
    wanted = [
        DNS,
        {
            "to": [{"ipBlock": {"cidr": "203.0.113.0/24"}}],
            "ports": [{"port": 443, "protocol": "TCP"}, {"port": 8443, "protocol": "TCP"}],
        },
        {"to": [{"ipBlock": {"cidr": "2001:db8::/32", "except": ["2001:db8:1::/48"]}}]},
    ]
    eventually(lambda: rules(kubectl, namespace) == wanted)

    # Declared no more: DNS only, which is also what a pool without spec.egress gets.
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml())
    eventually(lambda: rules(kubectl, namespace) == [DNS])

    # Deleted by hand: put back. Loosened by hand: narrowed again.
    before = egress_policy(kubectl, namespace)["metadata"]["uid"]
    kubectl("delete", "networkpolicy", "pool-egress", "-n", namespace)
    eventually(lambda: egress_policy(kubectl, namespace)["metadata"]["uid"] != before)
    patch = [
        {
            "op": "add",
            "path": "/spec/egress/-",
            "value": {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
        }
    ]
    kubectl(
        "patch",
        "networkpolicy",
        "pool-egress",
        "-n",
        namespace,
        "--type=json",
        "-p",
        json.dumps(patch),
    )
    eventually(lambda: rules(kubectl, namespace) == [DNS])

    # The pool deleted: the garbage collector removes its policy.
    kubectl("delete", "agentpool", "pool", "-n", namespace, "--wait=true")
    eventually(lambda: absent(kubectl, namespace), timeout=60)


@pytest.mark.parametrize(
    ("egress", "where", "phrase"),
    [
        ("[{cidr: 203.0.113.7/24}]", "spec.egress[0].cidr", "host bits"),
        ("[{cidr: example.com}]", "spec.egress[0].cidr", "IPv4 or IPv6 CIDR"),
        ("[{cidr: 203.0.113.7}]", "spec.egress[0].cidr", "IPv4 or IPv6 CIDR"),
        ("[{cidr: '2001:db8::/129'}]", "spec.egress[0].cidr", "IPv4 or IPv6 CIDR"),
        ("[{cidr: 10.0.0.0/8, except: [11.0.0.0/8]}]", "spec.egress[0].except", "inside 'cidr'"),
        ("[{cidr: 10.0.0.0/8, ports: [{port: 0}]}]", "spec.egress[0].ports[0].port", "1"),
        ("[{cidr: 10.0.0.0/8, ports: [{port: 65536}]}]", "spec.egress[0].ports[0].port", "65535"),
        ("[{cidr: 10.0.0.0/8, ports: [{port: 53, protocol: ICMP}]}]", "protocol", "ICMP"),
    ],
)
def test_bad_egress_is_refused_naming_the_field(
    kubectl: Any, namespace: str, egress: str, where: str, phrase: str
) -> None:
    """The API server's own checks (the CRD's schema and CEL rules): nothing is stored."""
    refused = kubectl(
        "apply",
        "-n",
        namespace,
        "-f",
        "-",
        stdin=pool_yaml(extra=f"  egress: {egress}\n"),
        check=False,
    )
    assert refused.returncode != 0
    assert where in refused.stderr and phrase in refused.stderr, refused.stderr
    assert kubectl("get", "agentpool", "pool", "-n", namespace, check=False).returncode != 0


#: What kube-apiserver publishes about itself (this control plane runs without its endpoint
#: reconciler, so the test publishes it; the address is only data, nothing connects to it).
API_SERVER_SLICE = """
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: kubernetes
  namespace: default
  labels: {kubernetes.io/service-name: kubernetes}
addressType: IPv4
endpoints: [{addresses: [192.0.2.10]}]
ports: [{name: https, port: 6443, protocol: TCP}]
"""


@pytest.fixture
def platform(operator: OperatorProcess, kubectl: Any) -> Iterator[None]:
    """The operator as the chart runs it: agents verify task tokens, the platform adds a proxy."""
    kubectl("apply", "-f", "-", stdin=API_SERVER_SLICE)
    gateway = "system:serviceaccount:configurable-agents-system:configurable-agents-gateway"
    try:
        restart_with(
            operator, PREFIX, {"TASK_CALLERS": gateway, "EGRESS_ALLOW": "10.20.0.0/16:3128"}
        )
        yield
    finally:
        kubectl("delete", "endpointslice", "kubernetes", "-n", "default", check=False)
        restart_with(operator, PREFIX, {})


def test_platform_additions_and_the_api_server_for_task_tokens(
    platform: None, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=EGRESS))
    wait_ready(kubectl, namespace, "agentpool/pool")
    dns, api_server, proxy, declared = rules(kubectl, namespace)
    assert dns == DNS and declared == HTTPS
    assert proxy == {
        "to": [{"ipBlock": {"cidr": "10.20.0.0/16"}}],
        "ports": [{"port": 3128, "protocol": "TCP"}],
    }
    # The API server's endpoints (where most CNIs match, after the Service's DNAT) and the
    # kubernetes Service's cluster IP (for those matching before), on both their ports.
    cluster_ip = get(kubectl, "default", "service", "kubernetes")["spec"]["clusterIP"]
    assert api_server == {
        "to": [{"ipBlock": {"cidr": "192.0.2.10/32"}}, {"ipBlock": {"cidr": f"{cluster_ip}/32"}}],
        "ports": [{"port": 6443, "protocol": "TCP"}, {"port": 443, "protocol": "TCP"}],
    }


def test_not_enforced_the_policy_goes(
    operator: OperatorProcess, kubectl: Any, namespace: str
) -> None:
    kubectl("apply", "-n", namespace, "-f", "-", stdin=pool_yaml(extra=EGRESS))
    wait_ready(kubectl, namespace, "agentpool/pool")
    assert rules(kubectl, namespace) == [DNS, HTTPS]
    try:
        restart_with(operator, PREFIX, {"EGRESS_ENFORCE": "false"})  # a CNI without policies
        eventually(lambda: absent(kubectl, namespace))
        wait_ready(kubectl, namespace, "agentpool/pool")
    finally:
        restart_with(operator, PREFIX, {})
    eventually(lambda: rules(kubectl, namespace) == [DNS, HTTPS])
