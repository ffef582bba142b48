"""KEDA on the test control plane: its operator and metrics API server, built from the pinned Go
module by ``hack/build-keda.sh``, run as local processes against the API server.

- KEDA's CRDs (from the same module) are applied server-side.
- The operator (``keda``) reconciles ScaledObjects: it polls triggers, scales 0 <-> 1 itself and
  makes the HPA that scales 1 <-> N; its gRPC metrics service listens on loopback.
- The metrics API server (``keda-adapter``) serves ``external.metrics.k8s.io`` through API
  aggregation: an APIService names a Service of type ExternalName ``localhost`` (the aggregator
  resolves ExternalName services to that host), so the API server reaches the adapter on
  loopback; the controller-manager's HPA controller reads the metric there.
- One CA (made here with openssl) signs the certificate both KEDA processes use for their mTLS
  gRPC link and the adapter serves with; the APIService skips verifying it (loopback).

A session fixture (``keda``) for the tests that ask for it: built when missing (minutes, cold;
see README "Scaling on the queue"; ``make test`` builds it first), unless
CONFIGURABLE_AGENTS_NO_BUILD is set: then skipped, or failed under CONFIGURABLE_AGENTS_REQUIRE_KEDA
(CI sets it).
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.kube_harness import run_kubectl
from tests.processes import REPO, SERVER_LOGS, free_port, stop, wait_healthy

BUILD = REPO / "hack" / "build-keda.sh"
NAMESPACE = "keda"
APISERVICE = """
apiVersion: v1
kind: Service
metadata: {{name: keda-metrics-apiserver, namespace: keda}}
spec: {{type: ExternalName, externalName: localhost, ports: [{{name: https, port: {port}}}]}}
---
apiVersion: apiregistration.k8s.io/v1
kind: APIService
metadata: {{name: v1beta1.external.metrics.k8s.io}}
spec:
  group: external.metrics.k8s.io
  version: v1beta1
  groupPriorityMinimum: 100
  versionPriority: 100
  insecureSkipTLSVerify: true
  service: {{name: keda-metrics-apiserver, namespace: keda, port: {port}}}
"""


def _truthy(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def built_keda() -> Path | str:
    """The folder of KEDA's binaries and CRDs, built when missing; or why there is none."""
    check = subprocess.run(
        ["bash", str(BUILD), "--check"], capture_output=True, text=True, check=False
    )
    if check.returncode == 0:
        return Path(check.stdout.strip())
    if _truthy("CONFIGURABLE_AGENTS_NO_BUILD"):
        return "KEDA is not built and CONFIGURABLE_AGENTS_NO_BUILD is set (hack/build-keda.sh)"
    built = subprocess.run(["bash", str(BUILD)], capture_output=True, text=True, check=False)
    if built.returncode != 0:
        return f"hack/build-keda.sh failed:\n{built.stderr[-3000:]}"
    return Path(built.stdout.strip())


def make_certificates(folder: Path) -> None:
    """ca.crt, tls.crt and tls.key (for localhost and 127.0.0.1, server and client use)."""
    folder.mkdir(parents=True, exist_ok=True)

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=folder, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=keda-test-ca",
            "-keyout", "ca.key", "-out", "ca.crt")  # fmt: skip
    (folder / "ext.cnf").write_text(
        "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
        "extendedKeyUsage=serverAuth,clientAuth\nkeyUsage=digitalSignature,keyEncipherment\n"
    )
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=localhost",
            "-keyout", "tls.key", "-out", "tls.csr")  # fmt: skip
    openssl("x509", "-req", "-in", "tls.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-extfile", "ext.cnf", "-out", "tls.crt")  # fmt: skip


@dataclass
class Keda:
    cp: Any
    folder: Path
    operator: subprocess.Popen[bytes]
    adapter: subprocess.Popen[bytes]
    logs: tuple[Path, Path]

    def stop(self) -> None:
        for proc in (self.operator, self.adapter):
            stop(proc, signal.SIGTERM)


def _spawn(args: list[str], log: Path, env: dict[str, str]) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(args, env=env, stdout=out, stderr=subprocess.STDOUT)


def start_keda(cp: Any, folder: Path, workdir: Path) -> Keda:
    run_kubectl(cp, "apply", "--server-side", "--force-conflicts", "-f", str(folder / "crds"))
    deadline = time.monotonic() + 60
    while run_kubectl(cp, "wait", "--for=condition=Established", "crd/scaledobjects.keda.sh",
                      "crd/clustertriggerauthentications.keda.sh", "--timeout=10s",
                      check=False).returncode:  # fmt: skip
        # (a CRD with no conditions yet fails the wait at once)
        assert time.monotonic() < deadline, "KEDA's CRDs never established"
        time.sleep(0.5)
    run_kubectl(cp, "create", "namespace", NAMESPACE, check=False)
    certs = workdir / "certs"
    make_certificates(certs)
    kubeconfig = str(cp.kubeconfig)
    env = dict(
        os.environ,
        KUBECONFIG=kubeconfig,
        KEDA_CLUSTER_OBJECT_NAMESPACE=NAMESPACE,
        POD_NAMESPACE=NAMESPACE,
        WATCH_NAMESPACE="",
    )
    grpc, health = free_port(), free_port()
    operator_log, adapter_log = workdir / "keda-operator.log", workdir / "keda-adapter.log"
    operator = _spawn(
        [
            str(folder / "keda"),
            f"--metrics-bind-address=127.0.0.1:{free_port()}",
            f"--health-probe-bind-address=127.0.0.1:{health}",
            f"--metrics-service-bind-address=127.0.0.1:{grpc}",
            f"--cert-dir={certs}",
            "--enable-cert-rotation=false",
            "--enable-webhook-patching=false",
            "--enable-apiservice-patching=false",
            f"--ca-dir={certs}",
            "--zap-log-level=info",
        ],
        operator_log,
        env,
    )
    wait_healthy(operator, f"http://127.0.0.1:{health}/healthz", operator_log, what="KEDA operator")
    port = free_port()
    adapter = _spawn(
        [
            str(folder / "keda-adapter"),
            f"--secure-port={port}",
            "--bind-address=127.0.0.1",
            f"--cert-dir={certs}",
            f"--tls-cert-file={certs / 'tls.crt'}",
            f"--tls-private-key-file={certs / 'tls.key'}",
            f"--lister-kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}",
            f"--authorization-kubeconfig={kubeconfig}",
            f"--metrics-service-address=127.0.0.1:{grpc}",
            "--metrics-service-grpc-authority=localhost",
            f"--port={free_port()}",
        ],
        adapter_log,
        env,
    )
    keda = Keda(cp, folder, operator, adapter, (operator_log, adapter_log))
    try:
        run_kubectl(cp, "apply", "-f", "-", stdin=APISERVICE.format(port=port))
        deadline = time.monotonic() + 90
        while True:
            assert adapter.poll() is None, (
                f"the KEDA adapter exited:\n{adapter_log.read_text()[-3000:]}"
            )
            served = run_kubectl(
                cp, "get", "--raw", "/apis/external.metrics.k8s.io/v1beta1", check=False
            )
            if served.returncode == 0:
                break
            assert time.monotonic() < deadline, (
                f"external.metrics.k8s.io never served: {served.stderr}\n"
                f"{adapter_log.read_text()[-3000:]}"
            )
            time.sleep(1)
    except BaseException:
        keda.stop()
        raise
    return keda


@pytest.fixture(scope="session")
def keda(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Keda]:
    """KEDA running against the session's control plane (built when missing)."""
    folder = built_keda()
    if isinstance(folder, str):
        if _truthy("CONFIGURABLE_AGENTS_REQUIRE_KEDA"):
            pytest.fail(f"KEDA required (CONFIGURABLE_AGENTS_REQUIRE_KEDA) but {folder}")
        pytest.skip(f"no KEDA: {folder}")
    started = start_keda(control_plane, folder, tmp_path_factory.mktemp("keda"))
    try:
        yield started
    finally:
        started.stop()
        run_kubectl(control_plane, "delete", "apiservice", "v1beta1.external.metrics.k8s.io",
                    "--ignore-not-found", check=False)  # fmt: skip


__all__ = ["SERVER_LOGS", "Keda", "keda"]
