"""What the chart's cluster tests ask of an installed release (or applied manifests): the API
server's answers (strict dry runs, SubjectAccessReviews, what is left of a release), the objects
as installed, and the gateway started locally with an account's token and the chart's settings.
"""

from __future__ import annotations

import json
import signal
import subprocess
from pathlib import Path
from typing import Any

import httpx
import yaml

from tests.operator_harness import eventually
from tests.processes import start_cluster_gateway, stop


def dry_run(
    kubectl: Any, *source: str, stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    proc: subprocess.CompletedProcess[str] = kubectl(
        "apply", "--dry-run=server", "--validate=strict", *source, stdin=stdin
    )
    assert "would violate PodSecurity" not in proc.stderr, proc.stderr
    assert "unknown field" not in proc.stderr.lower(), proc.stderr
    return proc


def serve_and_list(
    kubeconfig: Path,
    env_vars: dict[str, str],
    workdir: Path,
    want: set[tuple[str, str]],
    *args: str,
    token: str | None = None,
) -> set[tuple[str, str]]:
    """Start ``serve --kubernetes`` as the given account with the chart's environment (and
    ``args``); ready (every namespace listed), the (namespace, name) it serves to ``token``'s
    holder once ``want`` is among them."""
    proc, url, log = start_cluster_gateway(
        workdir, kubeconfig, *args, env=env_vars, ready="/readyz"
    )
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    try:
        if token:  # authentication is on: nothing without a token
            assert httpx.get(f"{url}/v1/workflows", timeout=5).status_code == 401

        def served() -> set[tuple[str, str]]:
            items = httpx.get(f"{url}/v1/workflows", headers=headers, timeout=5).json()["items"]
            return {(w["namespace"], w["name"]) for w in items}

        found: set[tuple[str, str]] = eventually(lambda: want <= served() and served(), timeout=30)
        text = log.read_text(errors="replace")
        # (the API server's 403s always say "forbidden"; a bare "403" may be a port or a time)
        assert "forbidden" not in text.lower(), text[-3000:]
        return found
    finally:
        stop(proc, signal.SIGTERM)


def permissions_of(role_file: Path) -> set[tuple[str, str, str]]:
    role = yaml.safe_load(role_file.read_text())
    return {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }


def can_i(kubectl: Any, account: str, group: str, resource: str, verb: str, *where: str) -> bool:
    """The API server's own answer (a SubjectAccessReview) for the account, ``where`` kubectl's
    namespace options say (every namespace when none).

    Asked directly rather than through ``kubectl auth can-i``, which answers "no" for a resource
    its discovery does not know (KEDA's ScaledObjects before their CRD is installed) whatever
    RBAC grants."""
    name, _, sub = resource.partition("/")
    namespace = where[1] if len(where) == 2 and where[0] in ("-n", "--namespace") else ""
    review = {
        "apiVersion": "authorization.k8s.io/v1",
        "kind": "SubjectAccessReview",
        "spec": {
            "user": account,
            "groups": ["system:serviceaccounts", "system:authenticated"],
            "resourceAttributes": {
                "group": group,
                "resource": name,
                "subresource": sub,
                "verb": verb,
                "namespace": namespace,
            },
        },
    }
    if account.startswith("system:serviceaccount:"):
        review["spec"]["groups"].append(  # type: ignore[index]
            "system:serviceaccounts:" + account.split(":")[2]
        )
    proc = kubectl("create", "-o", "json", "-f", "-", stdin=json.dumps(review))
    return bool(json.loads(proc.stdout)["status"].get("allowed"))


def peers(kubectl: Any, namespace: str, name: str) -> list[dict[str, Any]]:
    found = json.loads(kubectl("get", "kopfpeering", name, "-n", namespace, "-o", "json").stdout)
    return list((found.get("status") or {}).values())


def released(kubectl: Any, release: str, namespaces: list[str]) -> list[str]:
    """Every object still carrying the release's instance label, cluster-scoped or in namespaces."""
    selector = f"app.kubernetes.io/instance={release}"
    found = kubectl(
        "get",
        "clusterroles,clusterrolebindings,clusterkopfpeerings,"
        "validatingadmissionpolicies,validatingadmissionpolicybindings",
        "-l",
        selector,
        "-o",
        "name",
    ).stdout.split()
    kinds = "all,secrets,configmaps,serviceaccounts,roles,rolebindings,networkpolicies,pvc,poddisruptionbudgets,kopfpeerings,horizontalpodautoscalers"
    for ns in namespaces:
        found += [
            f"{ns}/{n}"
            for n in kubectl("get", kinds, "-n", ns, "-l", selector, "-o", "name").stdout.split()
        ]
    return found


def first_container(kubectl: Any, namespace: str, name: str) -> dict[str, Any]:
    """A Deployment's first container, as installed."""
    deployed = json.loads(kubectl("get", "deployment", name, "-n", namespace, "-o", "json").stdout)
    container: dict[str, Any] = deployed["spec"]["template"]["spec"]["containers"][0]
    return container


def literal_env(container: dict[str, Any]) -> dict[str, str]:
    """A container's environment given as values (not from Secrets or fields)."""
    return {e["name"]: e["value"] for e in container["env"] if "value" in e}


def deployed_env(kubectl: Any, namespace: str, name: str) -> dict[str, str]:
    """The literal environment of a Deployment's first container, as installed."""
    return literal_env(first_container(kubectl, namespace, name))


def mounted_policy(
    kubectl: Any, namespace: str, prefix: str, env: dict[str, str], workdir: Path
) -> dict[str, str]:
    """``env`` for a local process, reading the installed tool policy ConfigMap as the pod does
    (where the pod mounts it, a local copy)."""
    assert env["CONFIGURABLE_AGENTS_POLICY_FILE"] == "/etc/configurable-agents/policy/policy.yaml"
    name = f"{prefix}-tool-policy"
    found = json.loads(kubectl("get", "configmap", name, "-n", namespace, "-o", "json").stdout)
    path = workdir / f"{name}.yaml"
    path.write_text(found["data"]["policy.yaml"])
    return {**env, "CONFIGURABLE_AGENTS_POLICY_FILE": str(path)}


def refused_pods(kubectl: Any, namespace: str) -> list[str]:
    """The messages of events saying a pod was refused by PodSecurity admission."""
    events = json.loads(kubectl("get", "events", "-n", namespace, "-o", "json").stdout)["items"]
    return [e["message"] for e in events if "PodSecurity" in e.get("message", "")]


def selected(kubectl: Any, namespace: str, labels: dict[str, str]) -> list[str]:
    selector = ",".join(f"{k}={v}" for k, v in labels.items())
    return list(
        kubectl("get", "pods", "-n", namespace, "-l", selector, "-o", "name").stdout.split()
    )


def assert_only_the_gateway_reaches_agents(
    kubectl: Any, release_ns: str, pool_ns: str, full: str
) -> None:
    """The pool's NetworkPolicy (the operator's) admits the release's gateway pods, which carry
    the task token; the gateway's own egress rule reaches the agent pods on their port."""
    found = json.loads(kubectl("get", "networkpolicy", "pool", "-n", pool_ns, "-o", "json").stdout)
    [rule] = found["spec"]["ingress"]
    [peer] = rule["from"]  # networkPolicy.agentsFrom is empty
    assert peer["namespaceSelector"]["matchLabels"] == {"kubernetes.io/metadata.name": release_ns}
    gateways = selected(kubectl, release_ns, peer["podSelector"]["matchLabels"])
    assert gateways and all("gateway" in name for name in gateways), gateways
    pod = json.loads(kubectl("get", gateways[0], "-n", release_ns, "-o", "json").stdout)
    token = next(v for v in pod["spec"]["volumes"] if v["name"] == "task-token")
    audience = token["projected"]["sources"][0]["serviceAccountToken"]["audience"]
    assert audience == "configurable-agents-agent"
    egress = json.loads(
        kubectl("get", "networkpolicy", f"{full}-gateway", "-n", release_ns, "-o", "json").stdout
    )["spec"]["egress"]
    to_agents = next(r for r in egress if r.get("to"))
    assert {"port": rule["ports"][0]["port"], "protocol": "TCP"} in to_agents["ports"]
    [expression] = to_agents["to"][0]["podSelector"]["matchExpressions"]
    assert expression["operator"] == "Exists"
    agents = selected(kubectl, pool_ns, found["spec"]["podSelector"]["matchLabels"])
    reached = kubectl("get", "pods", "-n", pool_ns, "-l", expression["key"], "-o", "name")
    assert agents and reached.stdout.split() == agents
