"""Tenants on the real control plane for authentication tests: namespaces, accounts bound to the
shipped run roles, real tokens from the TokenRequest API, and a gateway that checks them."""

from __future__ import annotations

import json
import signal
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from joserfc import jwt
from joserfc.jwk import RSAKey

from tests.conftest import REPO
from tests.gateway.conftest import GatewayProcess
from tests.kube_harness import run_kubectl, token_kubeconfig
from tests.processes import stop

RBAC = REPO / "manifests" / "rbac"
AUDIENCE = "configurable-agents"

#: A Workflow that stops at a human node at once: runs to read, resume and cancel.
WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: approve, namespace: {namespace}}}
spec:
  state:
    topic: {{type: string}}
    approved: {{type: boolean}}
  input: [topic]
  output: [approved]
  nodes:
    - {{name: ask, type: human, prompt: "Approve {{{{ topic }}}}?", output: {{approved: {{type: boolean}}}}}}
  edges:
    - {{from: START, to: ask}}
    - {{from: ask, to: END}}
"""


@dataclass
class Tenants:
    """Two namespaces and the accounts of the matrix, with a token each."""

    cp: Any
    a: str
    b: str
    tokens: dict[str, str] = field(default_factory=dict)
    #: Where the tenants' Workflows and the gateway's kubeconfig are written.
    workdir: Path = Path()

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return run_kubectl(self.cp, *args, stdin=stdin).stdout

    def account(self, namespace: str, name: str, role: str | None, *, cluster: bool = False) -> str:
        """A ServiceAccount bound to ``role`` (in its namespace, or cluster-wide); its token."""
        self.kubectl("create", "serviceaccount", name, "-n", namespace)
        if role and cluster:
            self.kubectl(
                "create",
                "clusterrolebinding",
                f"{namespace}-{name}",
                f"--clusterrole={role}",
                f"--serviceaccount={namespace}:{name}",
            )
        elif role:
            self.kubectl(
                "create",
                "rolebinding",
                name,
                "-n",
                namespace,
                f"--clusterrole={role}",
                f"--serviceaccount={namespace}:{name}",
            )
        return self.token(namespace, name)

    def token(self, namespace: str, name: str, audience: str = AUDIENCE) -> str:
        return self.kubectl(
            "create", "token", name, "-n", namespace, f"--audience={audience}", "--duration=1h"
        ).strip()

    def expired_token(self, namespace: str, name: str, audience: str = AUDIENCE) -> str:
        return expired_token(self.cp, namespace, name, audience)


def expired_token(cp: Any, namespace: str, name: str, audience: str) -> str:
    """A token signed with the API server's own key, like its real ones, that has expired."""
    key = RSAKey.import_key((Path(cp.workdir) / "pki" / "sa.key").read_bytes())
    uid = run_kubectl(
        cp, "get", "serviceaccount", name, "-n", namespace, "-o", "jsonpath={.metadata.uid}"
    ).stdout
    now = int(time.time())
    claims = {
        "iss": cp.server,
        "sub": f"system:serviceaccount:{namespace}:{name}",
        "aud": [audience],
        "iat": now - 7200,
        "nbf": now - 7200,
        "exp": now - 3600,
        "kubernetes.io": {"namespace": namespace, "serviceaccount": {"name": name, "uid": uid}},
    }
    return jwt.encode({"alg": "RS256", "kid": _kid(cp)}, claims, key)


def _kid(cp: Any) -> str:
    """The key id the API server puts in its tokens (read from one it issued)."""
    token = run_kubectl(cp, "create", "token", "default", "-n", "default").stdout.strip()
    header = json.loads(_b64(token.split(".")[0]))
    return str(header.get("kid", ""))


def _b64(part: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(part + "=" * (-len(part) % 4))


def make_tenants(cp: Any, workdir: Path) -> Tenants:
    """Namespaces A and B with viewer-a, runner-a, runner-b, an admin and the gateway account."""
    suffix = uuid.uuid4().hex[:6]
    t = Tenants(cp, a=f"auth-a-{suffix}", b=f"auth-b-{suffix}", workdir=workdir)
    for ns in (t.a, t.b):
        t.kubectl("create", "namespace", ns)
        _wait_default_account(t, ns)
    install_run_roles(cp, suffix)
    t.tokens["viewer-a"] = t.account(t.a, "viewer-a", f"configurable-agents-run-viewer-{suffix}")
    t.tokens["runner-a"] = t.account(t.a, "runner-a", f"configurable-agents-runner-{suffix}")
    t.tokens["runner-b"] = t.account(t.b, "runner-b", f"configurable-agents-runner-{suffix}")
    t.tokens["admin"] = t.account(t.b, "admin", "cluster-admin", cluster=True)
    t.account(t.a, "gateway", f"configurable-agents-gateway-auth-{suffix}", cluster=True)
    for ns in (t.a, t.b):
        (workdir / "workflows" / f"{ns}.yaml").parent.mkdir(exist_ok=True)
        (workdir / "workflows" / f"{ns}.yaml").write_text(WORKFLOW.format(namespace=ns))
    token_kubeconfig(cp, t.a, "gateway", workdir / "gateway.kubeconfig")
    return t


@contextmanager
def tenants_in(cp: Any, workdir: Path) -> Iterator[Tenants]:
    """``make_tenants`` for a test module, their namespaces deleted after it."""
    made = make_tenants(cp, workdir)
    try:
        yield made
    finally:
        for ns in (made.a, made.b):
            made.kubectl("delete", "namespace", ns, "--wait=false")


def install_run_roles(cp: Any, suffix: str) -> None:
    """The shipped ClusterRoles (run-viewer, runner, gateway-auth) as ``NAME-suffix``: a Helm
    release elsewhere in the session may own the real names; no aggregation into built-in roles."""
    roles = [
        d
        for f in ("run-roles.yaml", "gateway-auth.yaml")
        for d in yaml.safe_load_all((RBAC / f).read_text())
        if d["kind"] == "ClusterRole"
    ]
    for role in roles:
        role["metadata"] = {"name": f"{role['metadata']['name']}-{suffix}"}
    run_kubectl(cp, "apply", "-f", "-", stdin=yaml.safe_dump_all(roles))


def _wait_default_account(t: Tenants, ns: str) -> None:
    deadline = time.monotonic() + 30
    while run_kubectl(t.cp, "get", "serviceaccount", "default", "-n", ns, check=False).returncode:
        assert time.monotonic() < deadline, f"{ns}: no default ServiceAccount"
        time.sleep(0.1)


def bearer(token: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token is not None else {}


def start_run(client: httpx.Client, token: str, namespace: str, **body: Any) -> dict[str, Any]:
    """A run of the ``approve`` workflow, once it waits at its human node."""
    answer = client.post(
        f"/v1/workflows/{namespace}/approve/runs",
        json={"input": {"topic": "x"}, "wait": True, **body},
        headers=bearer(token),
    )
    assert answer.status_code == 200, answer.text
    run: dict[str, Any] = answer.json()
    assert run["status"] == "interrupted", run
    return run


def auth_gateway(workdir: Path, *extra: str) -> GatewayProcess:
    """``serve`` on the tenants' workflows, asking the API server as the gateway's account."""
    return GatewayProcess(
        f"sqlite:///{workdir / 'runs.db'}",
        workdir,
        *extra,
        workflows=workdir / "workflows",
        env={"KUBECONFIG": str(workdir / "gateway.kubeconfig")},
    )


@contextmanager
def kube_auth_gateway(tenants: Tenants) -> Iterator[GatewayProcess]:
    """``auth_gateway`` with Kubernetes authentication (TokenReview) and RBAC, for a module."""
    started = auth_gateway(tenants.workdir, "--auth", "kubernetes", "--auth-audience", AUDIENCE)
    try:
        yield started
    finally:
        stop(started.proc, signal.SIGTERM)
