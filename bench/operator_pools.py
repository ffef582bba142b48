"""Apply N AgentPools at once to the test control plane; print how fast the operator gets them Ready.

    python bench/operator_pools.py --pools 500

Prints the time until every pool is Ready with its children, the operator's peak memory (VmHWM),
and the Kubernetes API requests the operator made per reconcile and per pool. Uses the control
plane built by hack/ (or the cluster of $CONFIGURABLE_AGENTS_KUBECONFIG).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def load_controlplane():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("controlplane", REPO / "hack" / "controlplane.py")
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules["controlplane"] = module
    spec.loader.exec_module(module)
    return module


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def kubectl(kubectl_bin: str, env: dict[str, str], *args: str, stdin: str | None = None) -> str:
    return subprocess.run(
        [kubectl_bin, *args], env=env, input=stdin, capture_output=True, text=True, check=True
    ).stdout


def pools_yaml(n: int, namespace: str) -> str:
    docs = [
        f"""apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {{name: pool-{i:04d}, namespace: {namespace}}}
spec: {{capabilities: [cap-{i % 10}], replicas: 1}}
"""
        for i in range(n)
    ]
    return "---\n".join(docs)


def metric_sum(text: str, name: str) -> float:
    return sum(
        float(m.group(1)) for m in re.finditer(rf"^{name}(?:{{[^}}]*}})? ([0-9.e+]+)$", text, re.M)
    )


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", type=int, default=500)
    parser.add_argument("--timeout", type=float, default=300)
    args = parser.parse_args()

    cp_module = load_controlplane()
    external = os.environ.get("CONFIGURABLE_AGENTS_KUBECONFIG")
    cp = None
    if external:
        env = dict(os.environ, KUBECONFIG=external)
        kubectl_bin = "kubectl"
    else:
        bin_dir = cp_module.find_binaries() or cp_module.build_binaries()
        cp = cp_module.ControlPlane(bin_dir=bin_dir).start()
        env = cp.env()
        kubectl_bin = cp.kubectl
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    operator = None
    try:
        kubectl(kubectl_bin, env, "apply", "-f", str(REPO / "crds"))
        kubectl(
            kubectl_bin, env, "wait", "--for=condition=Established", "crd", "--all", "--timeout=60s"
        )
        namespace = "bench"
        kubectl(kubectl_bin, env, "create", "namespace", namespace)
        metrics_port, health_port = free_port(), free_port()
        log = (workdir / "operator.log").open("wb")
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "agent_runtime",
                "operator",
                "--metrics-port",
                str(metrics_port),
                "--health-port",
                str(health_port),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        for _ in range(150):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{health_port}/healthz", timeout=1).close()
                break
            except OSError:
                time.sleep(0.2)
        manifest = workdir / "pools.yaml"
        manifest.write_text(pools_yaml(args.pools, namespace))
        started = time.monotonic()
        kubectl(kubectl_bin, env, "create", "-f", str(manifest))
        applied = time.monotonic() - started
        ready = 0
        while time.monotonic() - started < args.timeout:
            items = json.loads(
                kubectl(kubectl_bin, env, "get", "agentpools", "-n", namespace, "-o", "json")
            )["items"]
            ready = sum(
                1
                for item in items
                for c in item.get("status", {}).get("conditions", [])
                if c["type"] == "Ready" and c["status"] == "True"
            )
            if ready == args.pools:
                break
            time.sleep(1)
        elapsed = time.monotonic() - started
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        requests = metric_sum(text, "configurable_agents_operator_api_requests_total")
        reconciles = metric_sum(text, "configurable_agents_operator_reconciles_total")
        deployments = len(
            json.loads(
                kubectl(kubectl_bin, env, "get", "deployments", "-n", namespace, "-o", "json")
            )["items"]
        )
        print(
            f"AgentPools applied:              {args.pools} (kubectl create took {applied:.1f} s)"
        )
        print(f"Ready with their children:       {ready}/{args.pools} ({deployments} Deployments)")
        print(f"time until all Ready:            {elapsed:.1f} s   (aim: under 60 s)")
        print(
            f"operator peak memory (VmHWM):    {peak_rss_mb(operator.pid):.0f} MB   (aim: under 150 MB)"
        )
        print(f"operator CPU time:               {cpu_seconds(operator.pid):.1f} s")
        if cp is not None:
            others = sum(cpu_seconds(p.pid) for p in cp.procs.values())
            print(
                f"control plane CPU time:          {others:.1f} s (etcd, apiserver, controllers, kwok)"
            )
        print(f"operator API requests (writes+gets): {requests:.0f}")
        print(f"reconciles (spec and repair):    {reconciles:.0f}")
        print(f"API requests per reconcile:      {requests / max(reconciles, 1):.2f}")
        print(f"API requests per pool:           {requests / args.pools:.2f}")
        return 0 if ready == args.pools else 1
    finally:
        if operator is not None:
            operator.send_signal(signal.SIGTERM)
            try:
                operator.wait(timeout=30)
            except subprocess.TimeoutExpired:
                operator.kill()
        if cp is not None:
            cp.stop()


if __name__ == "__main__":
    sys.exit(main())
