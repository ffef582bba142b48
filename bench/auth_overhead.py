"""What authentication and authorization add to a Runs API request, side by side with auth off.

    python bench/auth_overhead.py --requests 1000

Starts the test control plane (hack/), two `serve` processes on one SQLite file each — one with
`--auth kubernetes` (TokenReview + SubjectAccessReview against that API server, cached), one
without — and reads one run through both, interleaved in rounds so that machine noise hits both
alike. Prints p50/p99 per request for each, the difference, and how many TokenReviews and
SubjectAccessReviews the authenticated gateway asked per 1,000 requests (its
configurable_agents_auth_reviews_total metric). Everything is on loopback.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from prometheus_client.parser import text_string_to_metric_families

sys.path.insert(0, str(Path(__file__).resolve().parent))
from operator_pools import REPO, free_port, kubectl, load_controlplane

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: echo, namespace: bench}
spec:
  state: {topic: {type: string}, answer: {type: string}}
  input: [topic]
  output: [answer]
  models: {default: {provider: scripted}}
  nodes:
    - {name: say, type: llm, prompt: "{{ topic }}", output: answer}
  edges:
    - {from: START, to: say}
    - {from: say, to: END}
"""


def serve(
    workdir: Path, name: str, env: dict[str, str], *args: str
) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    log = (workdir / f"{name}.log").open("wb")
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "agent_runtime",
            "serve",
            "--port",
            str(port),
            "--store",
            f"sqlite:///{workdir / name}.db",
            "--workflows",
            str(workdir / "workflows"),
            *args,
        ],
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    url = f"http://127.0.0.1:{port}"
    for _ in range(300):
        try:
            if httpx.get(f"{url}/readyz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{name} did not start: {(workdir / f'{name}.log').read_text()[-2000:]}")


def reviews(url: str) -> dict[str, float]:
    text = httpx.get(f"{url}/metrics", timeout=5).text
    return {
        s.labels["kind"]: s.value
        for f in text_string_to_metric_families(text)
        for s in f.samples
        if s.name == "configurable_agents_auth_reviews_total"
    }


def timed(client: httpx.Client, path: str, headers: dict[str, str], n: int) -> list[float]:
    out = []
    for _ in range(n):
        started = time.perf_counter()
        answer = client.get(path, headers=headers)
        out.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, answer.text
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()

    cp_module = load_controlplane()
    bin_dir = cp_module.find_binaries() or cp_module.build_binaries(with_helm=False)
    cp = cp_module.ControlPlane(bin_dir=bin_dir).start()
    workdir = Path(tempfile.mkdtemp(prefix="ca-bench-auth-"))
    procs: list[subprocess.Popen[bytes]] = []
    try:
        env = cp.env()

        def k(*a: str, stdin: str | None = None) -> str:
            return kubectl(cp.kubectl, env, *a, stdin=stdin)

        k("create", "namespace", "bench")
        k("apply", "-f", str(REPO / "manifests" / "rbac" / "run-roles.yaml"))
        k("apply", "-f", str(REPO / "manifests" / "rbac" / "gateway-auth.yaml"))
        for account, role in (("gateway", None), ("runner", "configurable-agents-runner")):
            k("create", "serviceaccount", account, "-n", "bench")
            if role:
                k(
                    "create",
                    "rolebinding",
                    account,
                    "-n",
                    "bench",
                    f"--clusterrole={role}",
                    f"--serviceaccount=bench:{account}",
                )
        k(
            "create",
            "clusterrolebinding",
            "bench-gateway-auth",
            "--clusterrole=configurable-agents-gateway-auth",
            "--serviceaccount=bench:gateway",
        )
        token = k("create", "token", "runner", "-n", "bench", "--duration=1h").strip()
        gw_token = k("create", "token", "gateway", "-n", "bench", "--duration=1h").strip()
        config = json.loads(Path(cp.kubeconfig).read_text())
        config["users"] = [{"name": "gateway", "user": {"token": gw_token}}]
        config["contexts"][0]["context"]["user"] = "gateway"
        (workdir / "gateway.kubeconfig").write_text(json.dumps(config))
        (workdir / "workflows").mkdir()
        (workdir / "workflows" / "echo.yaml").write_text(WORKFLOW)

        off_proc, off = serve(workdir, "off", {})
        on_proc, on = serve(
            workdir,
            "on",
            {"KUBECONFIG": str(workdir / "gateway.kubeconfig")},
            "--auth",
            "kubernetes",
        )
        procs += [off_proc, on_proc]
        headers = {"Authorization": f"Bearer {token}"}
        paths = {}
        for url in (off, on):
            run = httpx.post(
                f"{url}/v1/workflows/bench/echo/runs",
                json={"input": {"topic": "x"}, "wait": True},
                headers=headers,
                timeout=30,
            ).json()
            paths[url] = f"/v1/runs/{run['id']}"
        samples: dict[str, list[float]] = {off: [], on: []}
        per_round = max(1, args.requests // args.rounds)
        with (
            httpx.Client(base_url=off, timeout=10) as c_off,
            httpx.Client(base_url=on, timeout=10) as c_on,
        ):
            timed(c_off, paths[off], headers, 50)  # warm both: connections, caches
            timed(c_on, paths[on], headers, 50)
            before = reviews(on)
            for _ in range(args.rounds):
                samples[off] += timed(c_off, paths[off], headers, per_round)
                samples[on] += timed(c_on, paths[on], headers, per_round)
            after = reviews(on)
        n = len(samples[on])

        def q(values: list[float], p: float) -> float:
            return statistics.quantiles(values, n=100)[int(p) - 1]

        print(f"GET /v1/runs/{{id}}, {n} requests each, interleaved in {args.rounds} rounds")
        print(f"{'variant':<34}{'p50 ms':>9}{'p99 ms':>9}")
        for name, url in (("auth off", off), ("--auth kubernetes (warm caches)", on)):
            print(f"{name:<34}{q(samples[url], 50):>9.3f}{q(samples[url], 99):>9.3f}")
        print(
            f"{'added by auth':<34}{q(samples[on], 50) - q(samples[off], 50):>9.3f}"
            f"{q(samples[on], 99) - q(samples[off], 99):>9.3f}"
        )
        for kind in ("TokenReview", "SubjectAccessReview"):
            asked = after.get(kind, 0.0) - before.get(kind, 0.0)
            print(f"{kind}s per 1,000 requests: {asked * 1000 / n:.1f}")
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=20)
        cp.stop()


if __name__ == "__main__":
    main()
