"""Apply N AgentPools at once to the test control plane; print how fast the operator gets them Ready.

    python bench/operator_pools.py --pools 1000
    python bench/operator_pools.py --pools 1000 --source /tmp/op-before   # another checkout's operator

Prints the time until every pool is Ready with its children, the operator's peak memory (VmHWM),
its CPU time against the control plane's, and the writes it made per pool: those of its own client
(its metric) and every PATCH the API server served on pools and their children (kopf's own
annotation patches included), with the load average, since the machine may be shared. Uses the
control plane built by hack/ (or the cluster of $CONFIGURABLE_AGENTS_KUBECONFIG). ``--source``
runs the operator from another checkout (its ``agent_runtime`` and ``operator/``), to compare
before and after on the same machine in the same conditions.
"""

from __future__ import annotations

import argparse
import collections
import importlib.util
import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
#: What pools are made of, as the API server names them (pools' own and their children).
RESOURCES = (
    "agentpools",
    "deployments",
    "statefulsets",
    "services",
    "serviceaccounts",
    "poddisruptionbudgets",
    "horizontalpodautoscalers",
    "networkpolicies",
)


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


def server_requests(
    text: str, resources: tuple[str, ...] | None = RESOURCES
) -> collections.Counter[tuple[str, str, str]]:
    """apiserver_request_total by (verb, resource, subresource), for ``resources`` (None: all)."""
    counts: collections.Counter[tuple[str, str, str]] = collections.Counter()
    for m in re.finditer(r"^apiserver_request_total\{([^}]*)\} ([0-9.e+]+)$", text, re.M):
        labels = dict(re.findall(r'(\w+)="([^"]*)"', m.group(1)))
        if resources is None or labels.get("resource") in resources:
            key = (labels.get("verb", ""), labels["resource"], labels.get("subresource", ""))
            counts[key] += int(float(m.group(2)))
    return counts


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    """The process's peak (VmHWM) or current (VmRSS) resident memory."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class ReadyWatch:
    """Pools Ready, from one ``kubectl get -w`` (a watch: polling a list of 1,000 pools each
    second costs the API server and kubectl more than the changes do)."""

    def __init__(self, kubectl_bin: str, env: dict[str, str], namespace: str) -> None:
        command = [kubectl_bin, "get", "agentpools", "-n", namespace, "-w"]
        self.proc = subprocess.Popen(
            [*command, "--output-watch-events", "-o", "json"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        self.ready: set[str] = set()
        self.changed = threading.Condition()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:  # with --output-watch-events: an event a line
            if line.strip():
                self._note(json.loads(line))

    def _note(self, event: dict[str, Any]) -> None:
        pool = event.get("object") or {}
        name = pool.get("metadata", {}).get("name")
        ready = event.get("type") != "DELETED" and any(
            c.get("type") == "Ready" and c.get("status") == "True"
            for c in (pool.get("status") or {}).get("conditions") or []
        )
        with self.changed:
            if ready:
                self.ready.add(name)
            else:
                self.ready.discard(name)
            self.changed.notify_all()

    def wait(self, count: int, deadline: float) -> int:
        with self.changed:
            while len(self.ready) < count and time.monotonic() < deadline:
                self.changed.wait(timeout=max(0.0, min(1.0, deadline - time.monotonic())))
            return len(self.ready)

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(timeout=10)


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--pools", type=int, default=1000)
    parser.add_argument("--timeout", type=float, default=300)
    parser.add_argument("--source", type=Path, help="run the operator of this checkout")
    parser.add_argument(
        "--all-requests", action="store_true", help="also list every client's requests by kind"
    )
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
    operator_env = dict(env)
    if args.source:
        source = args.source.resolve()
        operator_env["PYTHONPATH"] = os.pathsep.join([str(source), str(source / "operator")])
    workdir = Path(tempfile.mkdtemp(prefix="bench-operator-"))
    operator = None
    watch = None
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
            env=operator_env,
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
        watch = ReadyWatch(kubectl_bin, env, namespace)
        server_before = server_requests(kubectl(kubectl_bin, env, "get", "--raw", "/metrics"), None)
        operator_cpu_before = cpu_seconds(operator.pid)
        cp_cpu_before = {n: cpu_seconds(p.pid) for n, p in cp.procs.items()} if cp else {}
        load_before = os.getloadavg()
        started = time.monotonic()
        kubectl(kubectl_bin, env, "create", "-f", str(manifest))
        applied = time.monotonic() - started
        rss_applied = rss_mb(operator.pid, "VmRSS")
        ready = watch.wait(args.pools, started + args.timeout)
        elapsed = time.monotonic() - started
        load_after = os.getloadavg()
        text = (
            urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5)
            .read()
            .decode()
        )
        server = server_requests(kubectl(kubectl_bin, env, "get", "--raw", "/metrics"), None)
        server.subtract(server_before)
        everyone = +server  # every client's, the controllers' and kwok's too
        server = collections.Counter({k: v for k, v in everyone.items() if k[1] in RESOURCES})
        requests = metric_sum(text, "configurable_agents_operator_api_requests_total")
        reconciles = metric_sum(text, "configurable_agents_operator_reconciles_total")
        deployments = len(
            json.loads(
                kubectl(kubectl_bin, env, "get", "deployments", "-n", namespace, "-o", "json")
            )["items"]
        )
        patches = {k: v for k, v in server.items() if k[0] in ("PATCH", "APPLY") and v}
        print(f"operator source:                 {args.source or REPO}")
        print(
            f"load average (1 min):            {load_before[0]:.1f} before, {load_after[0]:.1f} after"
            f" ({os.cpu_count()} CPUs)"
        )
        print(
            f"AgentPools applied:              {args.pools} (kubectl create took {applied:.1f} s)"
        )
        print(f"Ready with their children:       {ready}/{args.pools} ({deployments} Deployments)")
        print(f"time until all Ready:            {elapsed:.1f} s   (aim: under 60 s)")
        print(
            f"operator peak memory (VmHWM):    {rss_mb(operator.pid):.0f} MB   (aim: under 150 MB;"
            f" {rss_applied:.0f} MB when all were created, {rss_mb(operator.pid, 'VmRSS'):.0f} MB"
            " at the end)"
        )
        print(
            f"operator CPU time:               {cpu_seconds(operator.pid) - operator_cpu_before:.1f} s"
        )
        if cp is not None:
            spent = {n: cpu_seconds(p.pid) - cp_cpu_before[n] for n, p in cp.procs.items()}
            each = ", ".join(f"{n} {s:.1f}" for n, s in spent.items())
            print(f"control plane CPU time:          {sum(spent.values()):.1f} s ({each})")
        print(f"operator API requests (its client): {requests:.0f}")
        print(f"reconciles (spec and repair):    {reconciles:.0f}")
        print(f"API requests per reconcile:      {requests / max(reconciles, 1):.2f}")
        print(f"API requests per pool:           {requests / args.pools:.2f}   (aim: at most 4)")
        total = sum(patches.values())
        print(
            f"writes (PATCH, APPLY) the API server served per pool, kopf's too: {total / args.pools:.2f}"
        )
        for (verb, resource, sub), count in sorted(patches.items()):
            what = f"{resource}/{sub}" if sub else resource
            print(f"  {verb} {what:<32} {count / args.pools:.2f}")
        if args.all_requests:
            print(f"every client's requests per pool: {sum(everyone.values()) / args.pools:.2f}")
            for (verb, resource, sub), count in everyone.most_common(25):
                what = f"{resource}/{sub}" if sub else resource
                print(f"  {verb} {what:<32} {count / args.pools:.2f}")
        return 0 if ready == args.pools else 1
    finally:
        if watch is not None:
            watch.stop()
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
