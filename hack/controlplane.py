#!/usr/bin/env python3
"""A real Kubernetes control plane for tests, run from local binaries (no Docker, no images).

``ControlPlane`` starts etcd, kube-apiserver (secure serving, RBAC, service accounts), the
kube-controller-manager (every default controller: garbage collector, Deployment/ReplicaSet,
EndpointSlice, HPA, namespace, service account ...), kube-scheduler and kwok on free loopback ports
in a throw-away folder, creates one fake Node that kwok keeps Ready, and writes an admin kubeconfig.
Pods scheduled on that node are made Running and Ready by kwok's stages (``hack/kwok/*.yaml``).

The binaries come from ``KUBEBUILDER_ASSETS`` when it holds them all, else from the pinned build of
``hack/build-control-plane.sh`` (run on demand).

Command line (for humans, e.g. ``make cluster-up``)::

    python3 hack/controlplane.py build        # build (or find) the binaries; prints their folder
    python3 hack/controlplane.py up           # start; prints `export KUBECONFIG=...`; Ctrl-C stops

Standard library only; the ``openssl`` command makes the certificates and keys.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

HACK_DIR = Path(__file__).resolve().parent
REPO_ROOT = HACK_DIR.parent
BUILD_SCRIPT = HACK_DIR / "build-control-plane.sh"
VERSIONS_FILE = HACK_DIR / "versions.env"
KWOK_STAGES_DIR = HACK_DIR / "kwok"

CONTROL_PLANE_BINARIES = (
    "etcd",
    "kube-apiserver",
    "kube-controller-manager",
    "kube-scheduler",
    "kwok",
)
SERVICE_CIDR = "10.96.0.0/16"
KUBERNETES_SERVICE_IP = "10.96.0.1"
POD_CIDR = "10.244.0.0/16"
NODE_IP = "10.244.0.1"
NODE_NAME = "kwok-node-0"
SA_ISSUER = "https://kubernetes.default.svc.cluster.local"


class ControlPlaneError(RuntimeError):
    """The control plane could not be built, found or started."""


def read_versions(path: Path = VERSIONS_FILE) -> dict[str, str]:
    """The KEY=VALUE pairs of hack/versions.env."""
    versions: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#") and "=" in line:
            key, _, value = line.partition("=")
            versions[key.strip()] = value.strip().strip("\"'")
    return versions


def _has_all(folder: str | os.PathLike | None, names=CONTROL_PLANE_BINARIES) -> bool:
    return bool(folder) and all(os.access(Path(folder) / n, os.X_OK) for n in names)


def find_binaries() -> Path | None:
    """The folder of already built (or provided) binaries, without building anything."""
    assets = os.environ.get("KUBEBUILDER_ASSETS")
    if _has_all(assets):
        return Path(assets)
    try:
        out = subprocess.run(
            ["bash", str(BUILD_SCRIPT), "--check", "--no-helm"],
            capture_output=True,
            text=True,
            check=False,
        )
    except OSError:
        return None
    folder = (
        out.stdout.strip().splitlines()[-1] if out.returncode == 0 and out.stdout.strip() else ""
    )
    return Path(folder) if _has_all(folder) else None


def build_binaries(log_file: str | os.PathLike | None = None, with_helm: bool = True) -> Path:
    """Run hack/build-control-plane.sh (a no-op when built) and return the folder of binaries.

    Progress goes to ``log_file`` when given, else to this process's stderr.
    """
    cmd = ["bash", str(BUILD_SCRIPT)] + ([] if with_helm else ["--no-helm"])
    log = open(log_file, "ab") if log_file else None
    try:
        proc = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=log or None, check=False)
    finally:
        if log:
            log.close()
    folder = proc.stdout.decode().strip().splitlines()[-1] if proc.stdout.strip() else ""
    if proc.returncode != 0 or not _has_all(folder):
        where = f"; see {log_file}" if log_file else ""
        raise ControlPlaneError(f"{BUILD_SCRIPT.name} failed (exit {proc.returncode}){where}")
    return Path(folder)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _die_with_parent() -> None:
    """Child-side: get SIGKILL when our parent dies (Linux), so nothing is left orphaned.

    SIGKILL, not SIGTERM: an API server told to stop while its etcd goes too waits for etcd forever.
    """
    try:
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except Exception:
        pass


def _openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise ControlPlaneError(f"openssl {' '.join(args[:2])} failed: {proc.stderr.strip()}")


class ControlPlane:
    """etcd + kube-apiserver + kube-controller-manager + kube-scheduler + kwok on loopback.

    Use as a context manager, or call ``start()`` and ``stop()``. After ``start()``:
    ``kubeconfig`` (admin, system:masters), ``server`` (https URL), ``bin_dir``, ``version``.
    """

    def __init__(
        self,
        bin_dir: str | os.PathLike | None = None,
        workdir: str | os.PathLike | None = None,
        keep_workdir: bool = False,
        start_timeout: float = 90.0,
    ) -> None:
        self.bin_dir = Path(bin_dir) if bin_dir else None
        self._own_workdir = workdir is None
        self.workdir = Path(workdir) if workdir else None
        self.keep_workdir = keep_workdir
        self.start_timeout = start_timeout
        self.procs: dict[str, subprocess.Popen] = {}
        self._logs: dict[str, object] = {}
        self.kubeconfig: Path | None = None
        self.server: str | None = None
        self.version: str | None = None
        self.node_name = NODE_NAME
        self._ssl: ssl.SSLContext | None = None
        self._lock = threading.Lock()

    # ---- public API -------------------------------------------------------------------------
    def __enter__(self) -> ControlPlane:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> ControlPlane:
        if self.bin_dir is None:
            self.bin_dir = find_binaries() or build_binaries(with_helm=False)
        missing = [n for n in CONTROL_PLANE_BINARIES if not os.access(self.bin_dir / n, os.X_OK)]
        if missing:
            raise ControlPlaneError(f"{self.bin_dir} lacks {', '.join(missing)}")
        if self.workdir is None:
            self.workdir = Path(tempfile.mkdtemp(prefix="ca-controlplane-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        (self.workdir / "logs").mkdir(exist_ok=True)
        try:
            self._start()
        except BaseException:
            self.stop(remove_workdir=False)
            raise
        return self

    def stop(self, remove_workdir: bool | None = None) -> None:
        """Stop every process (reverse start order), then remove the folder unless kept."""
        with self._lock:
            # Clients first (together), then the API server, then etcd: an API server whose etcd is
            # gone takes many seconds to drain.
            servers = ("kube-apiserver", "etcd")
            clients = [n for n in self.procs if n not in servers]
            for group in (clients, ["kube-apiserver"], ["etcd"]):
                procs = [self.procs[n] for n in group if n in self.procs]
                for proc in procs:
                    if proc.poll() is None:
                        proc.terminate()
                deadline = time.monotonic() + 10
                for proc in procs:
                    try:
                        proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                    except subprocess.TimeoutExpired:
                        proc.kill()
                        proc.wait()
            self.procs.clear()
            for f in self._logs.values():
                f.close()
            self._logs.clear()
            remove = (
                (not self.keep_workdir and self._own_workdir)
                if remove_workdir is None
                else remove_workdir
            )
            if remove and self.workdir and self.workdir.exists():
                shutil.rmtree(self.workdir, ignore_errors=True)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.workdir / "logs" / f"{name}.log" if self.workdir else None
        if not path or not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def api(self, method: str, path: str, body: dict | None = None, ok=(200, 201, 202)) -> dict:
        """One request to the API server as admin; returns the decoded JSON answer."""
        data = json.dumps(body).encode() if body is not None else None
        req = urllib.request.Request(
            self.server + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(req, context=self._ssl, timeout=10) as resp:
                return json.loads(resp.read() or b"{}")
        except urllib.error.HTTPError as e:
            if e.code in ok:
                return json.loads(e.read() or b"{}")
            raise ControlPlaneError(f"{method} {path}: HTTP {e.code}: {e.read()[:500]!r}") from None

    def env(self) -> dict[str, str]:
        """Environment for subprocesses using this cluster: KUBECONFIG, PATH with the bins."""
        env = dict(os.environ)
        env["KUBECONFIG"] = str(self.kubeconfig)
        env["PATH"] = f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}"
        return env

    @property
    def kubectl(self) -> str:
        """A kubectl: the one built with the control plane when present, else the one on PATH."""
        own = self.bin_dir / "kubectl" if self.bin_dir else None
        if own and os.access(own, os.X_OK):
            return str(own)
        found = shutil.which("kubectl")
        if not found:
            raise ControlPlaneError("no kubectl: neither in the binaries folder nor on PATH")
        return found

    # ---- start-up ----------------------------------------------------------------------------
    def _start(self) -> None:
        w = self.workdir
        t0 = time.monotonic()
        self._make_pki()
        self.version = self._binary_version()

        etcd_port, etcd_peer = free_port(), free_port()
        api_port = free_port()
        self.server = f"https://127.0.0.1:{api_port}"
        self._ssl = ssl.create_default_context(cafile=str(w / "pki/ca.crt"))
        self._ssl.load_cert_chain(str(w / "pki/admin.crt"), str(w / "pki/admin.key"))

        self._write_kubeconfig(w / "admin.kubeconfig", "admin")
        self._write_kubeconfig(w / "controller-manager.kubeconfig", "controller-manager")
        self._write_kubeconfig(w / "scheduler.kubeconfig", "scheduler")
        self.kubeconfig = w / "admin.kubeconfig"

        etcd_url = f"http://127.0.0.1:{etcd_port}"
        self._spawn(
            "etcd",
            [
                "--name=default",
                f"--data-dir={w / 'etcd'}",
                f"--listen-client-urls={etcd_url}",
                f"--advertise-client-urls={etcd_url}",
                f"--listen-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-advertise-peer-urls=http://127.0.0.1:{etcd_peer}",
                f"--initial-cluster=default=http://127.0.0.1:{etcd_peer}",
                "--unsafe-no-fsync=true",
                "--log-level=warn",
                "--quota-backend-bytes=8589934592",
            ],
        )
        self._wait_http("etcd", f"{etcd_url}/health", None, t0)

        pki = w / "pki"
        self._spawn(
            "kube-apiserver",
            [
                f"--etcd-servers={etcd_url}",
                "--bind-address=127.0.0.1",
                "--advertise-address=127.0.0.1",
                f"--secure-port={api_port}",
                f"--cert-dir={w / 'apiserver-certs'}",
                f"--tls-cert-file={pki / 'apiserver.crt'}",
                f"--tls-private-key-file={pki / 'apiserver.key'}",
                f"--client-ca-file={pki / 'ca.crt'}",
                # Front proxy (aggregated API servers, e.g. metrics-server), trusted by the same CA.
                f"--requestheader-client-ca-file={pki / 'ca.crt'}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={pki / 'front-proxy-client.crt'}",
                f"--proxy-client-key-file={pki / 'front-proxy-client.key'}",
                "--authorization-mode=Node,RBAC",
                # The first issuer signs: the API server's own loopback URL, so that tests can
                # verify its tokens as OpenID Connect ones (discovery and JWKS served by it).
                # The in-cluster name is still accepted.
                f"--service-account-issuer={self.server}",
                f"--service-account-issuer={SA_ISSUER}",
                f"--service-account-jwks-uri={self.server}/openid/v1/jwks",
                f"--service-account-key-file={pki / 'sa.pub'}",
                f"--service-account-signing-key-file={pki / 'sa.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # loopback can't be an endpoint of the kubernetes Service
                "--endpoint-reconciler-type=none",
                "--allow-privileged=true",
                "--profiling=false",
            ],
        )
        self._wait_http("kube-apiserver", f"{self.server}/readyz", self._ssl, t0)

        cm_port, sched_port, kwok_port = free_port(), free_port(), free_port()
        cm_kubeconfig = w / "controller-manager.kubeconfig"
        self._spawn(
            "kube-controller-manager",
            [
                f"--kubeconfig={cm_kubeconfig}",
                f"--authentication-kubeconfig={cm_kubeconfig}",
                f"--authorization-kubeconfig={cm_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={cm_port}",
                f"--cert-dir={w / 'controller-manager-certs'}",
                "--controllers=*",
                "--use-service-account-credentials=true",
                f"--service-account-private-key-file={pki / 'sa.key'}",
                f"--root-ca-file={pki / 'ca.crt'}",
                f"--cluster-signing-cert-file={pki / 'ca.crt'}",
                f"--cluster-signing-key-file={pki / 'ca.key'}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--node-monitor-period=1s",  # lift the new node's not-ready taint within a second
                "--kube-api-qps=200",
                "--kube-api-burst=400",  # start-up creates a token per controller
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        sched_kubeconfig = w / "scheduler.kubeconfig"
        self._spawn(
            "kube-scheduler",
            [
                f"--kubeconfig={sched_kubeconfig}",
                f"--authentication-kubeconfig={sched_kubeconfig}",
                f"--authorization-kubeconfig={sched_kubeconfig}",
                "--bind-address=127.0.0.1",
                f"--secure-port={sched_port}",
                f"--cert-dir={w / 'scheduler-certs'}",
                "--leader-elect=false",
                "--profiling=false",
            ],
        )
        stages = sorted(KWOK_STAGES_DIR.glob("*.yaml"))
        if not stages:
            raise ControlPlaneError(f"no kwok stage files in {KWOK_STAGES_DIR}")
        kwok_home = w / "kwok-home"  # kwok also reads ~/.kwok/kwok.yaml: give it an empty home
        kwok_home.mkdir(exist_ok=True)
        self._spawn(
            "kwok",
            [
                f"--kubeconfig={self.kubeconfig}",
                *[f"--config={s}" for s in stages],
                "--manage-all-nodes=false",
                "--manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake",
                f"--cidr={POD_CIDR}",
                f"--node-ip={NODE_IP}",
                f"--server-address=127.0.0.1:{kwok_port}",
                "--node-lease-duration-seconds=40",
            ],
            env={"HOME": str(kwok_home)},
        )

        insecure = ssl.create_default_context()
        insecure.check_hostname = False
        insecure.verify_mode = ssl.CERT_NONE
        self._wait_http(
            "kube-controller-manager", f"https://127.0.0.1:{cm_port}/healthz", insecure, t0
        )
        self._wait_http("kube-scheduler", f"https://127.0.0.1:{sched_port}/healthz", insecure, t0)

        self._create_node()
        self._wait_for("the kwok node to be Ready", self._node_ready, t0, "kwok")
        self._wait_for(
            "the default ServiceAccount",
            lambda: self._exists("/api/v1/namespaces/default/serviceaccounts/default"),
            t0,
            "kube-controller-manager",
        )
        self.started_in = time.monotonic() - t0

    def _binary_version(self) -> str:
        out = subprocess.run(
            [str(self.bin_dir / "kube-apiserver"), "--version"],
            capture_output=True,
            text=True,
            check=False,
        ).stdout.strip()
        return out.split()[-1] if out else ""

    def _spawn(self, name: str, args: list[str], env: dict[str, str] | None = None) -> None:
        log = open(self.workdir / "logs" / f"{name}.log", "ab")
        self._logs[name] = log
        full_env = dict(os.environ)
        for k in ("KUBECONFIG", "ETCDCTL_API"):
            full_env.pop(k, None)
        full_env.update(env or {})
        self.procs[name] = subprocess.Popen(
            [str(self.bin_dir / name), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.workdir,
            env=full_env,
            start_new_session=True,
            preexec_fn=_die_with_parent,
        )

    def _check_alive(self, *names: str) -> None:
        for name in names or tuple(self.procs):
            proc = self.procs.get(name)
            if proc is not None and proc.poll() is not None:
                raise ControlPlaneError(
                    f"{name} exited with status {proc.returncode}; last lines of its log:\n"
                    f"{self.log_tail(name)}"
                )

    def _wait_for(self, what: str, check, t0: float, component: str) -> None:
        while True:
            self._check_alive()
            try:
                if check():
                    return
            except (OSError, ControlPlaneError, ValueError):
                pass
            if time.monotonic() - t0 > self.start_timeout:
                raise ControlPlaneError(
                    f"timed out after {self.start_timeout:.0f}s waiting for {what}; "
                    f"last lines of the {component} log:\n{self.log_tail(component)}"
                )
            time.sleep(0.1)

    def _wait_http(self, name: str, url: str, context: ssl.SSLContext | None, t0: float) -> None:
        def ok() -> bool:
            try:
                with urllib.request.urlopen(url, context=context, timeout=2) as resp:
                    return resp.status == 200
            except urllib.error.HTTPError:
                return False

        self._wait_for(f"{name} at {url}", ok, t0, name)

    def _exists(self, path: str) -> bool:
        try:
            self.api("GET", path)
            return True
        except ControlPlaneError:
            return False

    def _create_node(self) -> None:
        self.api(
            "POST",
            "/api/v1/nodes",
            {
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": NODE_NAME,
                    "annotations": {
                        "kwok.x-k8s.io/node": "fake",
                        "node.alpha.kubernetes.io/ttl": "0",
                    },
                    "labels": {
                        "kubernetes.io/arch": "amd64",
                        "kubernetes.io/os": "linux",
                        "kubernetes.io/hostname": NODE_NAME,
                        "type": "kwok",
                        "node-role.kubernetes.io/agent": "",
                    },
                },
                "spec": {},  # no kwok taint: every pod of the tests is meant to land here
            },
        )

    def _node_ready(self) -> bool:
        node = self.api("GET", f"/api/v1/nodes/{NODE_NAME}")
        conds = node.get("status", {}).get("conditions", [])
        taints = node.get("spec", {}).get("taints") or []
        ready = any(c.get("type") == "Ready" and c.get("status") == "True" for c in conds)
        return ready and not any(t.get("key") == "node.kubernetes.io/not-ready" for t in taints)

    # ---- certificates and kubeconfigs --------------------------------------------------------
    def _make_pki(self) -> None:
        pki = self.workdir / "pki"
        pki.mkdir(exist_ok=True)
        ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
        _openssl(
            "req",
            "-x509",
            *ec,
            "-keyout",
            "ca.key",
            "-out",
            "ca.crt",
            "-days",
            "3650",
            "-subj",
            "/CN=configurable-agents-test-ca",
            "-addext",
            "basicConstraints=critical,CA:TRUE",
            "-addext",
            "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            cwd=pki,
        )
        sans = ",".join(
            [
                "IP:127.0.0.1",
                f"IP:{KUBERNETES_SERVICE_IP}",
                "DNS:localhost",
                "DNS:kubernetes",
                "DNS:kubernetes.default",
                "DNS:kubernetes.default.svc",
                "DNS:kubernetes.default.svc.cluster.local",
            ]
        )
        certs = {
            "apiserver": ("/CN=kube-apiserver", "serverAuth", sans),
            "admin": ("/O=system:masters/CN=kubernetes-admin", "clientAuth", None),
            "controller-manager": ("/CN=system:kube-controller-manager", "clientAuth", None),
            "scheduler": ("/CN=system:kube-scheduler", "clientAuth", None),
            "front-proxy-client": ("/CN=front-proxy-client", "clientAuth", None),
        }
        for name, (subj, usage, san) in certs.items():
            extra = ["-addext", f"subjectAltName={san}"] if san else []
            _openssl(
                "req",
                "-x509",
                *ec,
                "-keyout",
                f"{name}.key",
                "-out",
                f"{name}.crt",
                "-days",
                "365",
                "-CA",
                "ca.crt",
                "-CAkey",
                "ca.key",
                "-subj",
                subj,
                "-addext",
                "basicConstraints=critical,CA:FALSE",
                "-addext",
                "keyUsage=critical,digitalSignature,keyEncipherment",
                "-addext",
                f"extendedKeyUsage={usage}",
                *extra,
                cwd=pki,
            )
        # The service-account signing key pair.
        _openssl(
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "sa.key",
            cwd=pki,
        )
        _openssl("pkey", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=pki)
        for key in pki.glob("*.key"):
            key.chmod(0o600)

    def _write_kubeconfig(self, path: Path, user: str) -> None:
        pki = self.workdir / "pki"
        b64 = lambda p: base64.b64encode((pki / p).read_bytes()).decode()  # noqa: E731
        cfg = {
            "apiVersion": "v1",
            "kind": "Config",
            "preferences": {},
            "clusters": [
                {
                    "name": "configurable-agents-test",
                    "cluster": {"server": self.server, "certificate-authority-data": b64("ca.crt")},
                }
            ],
            "users": [
                {
                    "name": user,
                    "user": {
                        "client-certificate-data": b64(f"{user}.crt"),
                        "client-key-data": b64(f"{user}.key"),
                    },
                }
            ],
            "contexts": [
                {
                    "name": "configurable-agents-test",
                    "context": {
                        "cluster": "configurable-agents-test",
                        "user": user,
                        "namespace": "default",
                    },
                }
            ],
            "current-context": "configurable-agents-test",
        }
        path.write_text(json.dumps(cfg, indent=2))  # JSON is YAML: every kubeconfig reader takes it
        path.chmod(0o600)


# ---- command line ------------------------------------------------------------------------------
def _cmd_build(args: argparse.Namespace) -> int:
    try:
        print(build_binaries(with_helm=not args.no_helm))
    except ControlPlaneError as e:
        print(f"controlplane: {e}", file=sys.stderr)
        return 1
    return 0


def _cmd_up(args: argparse.Namespace) -> int:
    stop = threading.Event()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda *_: stop.set())
    t0 = time.monotonic()
    try:
        bin_dir = find_binaries()
        if bin_dir is None:
            print(
                "controlplane: building the binaries (the first time takes a while) ...",
                file=sys.stderr,
            )
            bin_dir = build_binaries(with_helm=False)
        cp = ControlPlane(bin_dir=bin_dir, workdir=args.dir, keep_workdir=args.keep).start()
    except ControlPlaneError as e:
        print(f"controlplane: {e}", file=sys.stderr)
        return 1
    try:
        print(
            f"# Kubernetes {cp.version} is up at {cp.server} "
            f"(started in {time.monotonic() - t0:.1f}s;"
            f" logs in {cp.workdir / 'logs'}). Ctrl-C stops it.",
            flush=True,
        )
        print(f"export KUBECONFIG={cp.kubeconfig}", flush=True)
        if args.kubeconfig_out:
            shutil.copyfile(cp.kubeconfig, args.kubeconfig_out)
            print(f"# (also written to {args.kubeconfig_out})", flush=True)
        while not stop.wait(1.0):
            cp._check_alive()
    except ControlPlaneError as e:
        print(f"controlplane: {e}", file=sys.stderr)
        return 1
    finally:
        print("# stopping ...", file=sys.stderr, flush=True)
        cp.stop()
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="controlplane.py", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    b = sub.add_parser("build", help="build (or find) the binaries and print their folder")
    b.add_argument("--no-helm", action="store_true", help="only the control plane, not helm")
    b.set_defaults(func=_cmd_build)
    u = sub.add_parser(
        "up", help="start a control plane and keep it running until Ctrl-C or SIGTERM"
    )
    u.add_argument(
        "--dir", help="working folder (certs, etcd data, logs); default: a new temporary one"
    )
    u.add_argument("--keep", action="store_true", help="keep the working folder after stopping")
    u.add_argument("--kubeconfig-out", help="also copy the admin kubeconfig to this path")
    u.set_defaults(func=_cmd_up)
    args = parser.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
