"""The test control plane (tests/kube_harness.py) is a working Kubernetes: version, scheduling,
kwok-run pods, EndpointSlices and garbage collection."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest

from tests.kube_harness import controlplane

pytestmark = pytest.mark.cluster

APP_YAML = """
apiVersion: apps/v1
kind: Deployment
metadata: {{name: {name}, labels: {{app: {name}}}}}
spec:
  replicas: 2
  selector: {{matchLabels: {{app: {name}}}}}
  template:
    metadata: {{labels: {{app: {name}}}}}
    spec:
      containers:
        - name: app
          image: example.invalid/app:1
          ports: [{{containerPort: 8080, name: http}}]
          readinessProbe: {{httpGet: {{path: /readyz, port: http}}}}
---
apiVersion: v1
kind: Service
metadata: {{name: {name}}}
spec:
  selector: {{app: {name}}}
  ports: [{{port: 80, targetPort: http, name: http}}]
"""


def wait_until(what: str, check, timeout: float = 60.0, interval: float = 0.25):
    """Poll ``check()`` until it returns something truthy; fail naming ``what`` on timeout."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = check()
        if last:
            return last
        time.sleep(interval)
    pytest.fail(f"timed out after {timeout:.0f}s waiting for {what} (last: {last!r})")


def get_json(kubectl, *args: str) -> dict:
    return json.loads(kubectl(*args, "-o", "json").stdout)


def test_api_server_reports_pinned_version(control_plane, kubectl):
    pinned = controlplane.read_versions()["KUBERNETES_VERSION"]
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    from_assets = (
        bool(assets) and control_plane.bin_dir and Path(assets) == Path(control_plane.bin_dir)
    )
    server = get_json(kubectl, "version")["serverVersion"]
    if not from_assets:  # binaries provided through KUBEBUILDER_ASSETS report their own version
        assert server["gitVersion"] == pinned
        major, minor = pinned.lstrip("v").split(".")[:2]
        assert (server["major"], server["minor"]) == (major, minor)
    if control_plane.version:
        assert server["gitVersion"] == control_plane.version


def test_deployment_pods_run_ready_and_have_ready_endpoints(control_plane, kubectl, namespace):
    kubectl("apply", "-n", namespace, "-f", "-", stdin=APP_YAML.format(name="web"))
    kubectl("rollout", "status", "-n", namespace, "deployment/web", "--timeout=90s", timeout=120)

    pods = get_json(kubectl, "get", "pods", "-n", namespace, "-l", "app=web")["items"]
    assert len(pods) == 2
    for pod in pods:
        assert pod["spec"]["nodeName"] == control_plane.node_name
        assert pod["status"]["phase"] == "Running"
        conditions = {c["type"]: c["status"] for c in pod["status"]["conditions"]}
        assert conditions.get("Ready") == "True", conditions
        assert pod["status"].get("podIP")

    pod_ips = sorted(p["status"]["podIP"] for p in pods)

    def ready_endpoints():
        slices = get_json(
            kubectl,
            "get",
            "endpointslices",
            "-n",
            namespace,
            "-l",
            "kubernetes.io/service-name=web",
        )["items"]
        ready = sorted(
            addr
            for s in slices
            for ep in (s.get("endpoints") or [])
            if (ep.get("conditions") or {}).get("ready")
            for addr in ep["addresses"]
        )
        return ready if len(ready) == 2 else None

    assert (
        wait_until("2 ready endpoints in the Service's EndpointSlices", ready_endpoints) == pod_ips
    )


def test_deleting_deployment_garbage_collects_replicaset_and_pods(
    control_plane, kubectl, namespace
):
    kubectl("apply", "-n", namespace, "-f", "-", stdin=APP_YAML.format(name="gc"))
    kubectl("rollout", "status", "-n", namespace, "deployment/gc", "--timeout=90s", timeout=120)

    deployment = get_json(kubectl, "get", "deployment", "gc", "-n", namespace)
    replicasets = get_json(kubectl, "get", "replicasets", "-n", namespace, "-l", "app=gc")["items"]
    assert len(replicasets) == 1
    assert replicasets[0]["metadata"]["ownerReferences"][0]["uid"] == deployment["metadata"]["uid"]
    pods = get_json(kubectl, "get", "pods", "-n", namespace, "-l", "app=gc")["items"]
    assert len(pods) == 2
    assert {p["metadata"]["ownerReferences"][0]["uid"] for p in pods} == {
        replicasets[0]["metadata"]["uid"]
    }

    kubectl("delete", "deployment", "gc", "-n", namespace, "--wait=false")

    def collected():
        rs = get_json(kubectl, "get", "replicasets", "-n", namespace, "-l", "app=gc")["items"]
        po = get_json(kubectl, "get", "pods", "-n", namespace, "-l", "app=gc")["items"]
        return not rs and not po

    wait_until("the ReplicaSet and pods to be garbage-collected", collected)
