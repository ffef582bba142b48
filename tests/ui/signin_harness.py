"""The whole sign-in stack on loopback, once for tests/ui: Dex, the control plane's RBAC for its
users, and a ``serve --auth oidc`` gateway trusting Dex whose embedded dashboard signs users in
with Dex (``--ui-oidc-*``). Helpers sign in over plain HTTP and read or forge session cookies.

Users (``dex_harness.USERS``) and what RoleBindings give them:
alice runs workflows in namespace A, bob in namespace B, carol may only read A's runs.
"""

from __future__ import annotations

import base64
import html
import json
import os
import re
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import itsdangerous
import pytest

from agent_runtime.ui.session import COOKIE, session_key
from tests.conftest import REPO
from tests.gateway.auth_harness import WORKFLOW, install_run_roles
from tests.kube_harness import run_kubectl, token_kubeconfig
from tests.processes import free_port, stop, wait_healthy
from tests.ui.dex_harness import USERS, Client, Dex, dex_binary

UI_SECRET = "sign-in-tests-ui-secret-0123456789"
CLIENT = "dashboard"
CLIENT_SECRET = "dashboard-client-secret-for-tests"

#: A run to watch: two scripted steps of about a second.
CHAIN = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: chain, namespace: {namespace}}}
spec:
  description: Two slow steps in {namespace}
  state:
    topic: {{type: string}}
    notes: {{type: array, items: {{type: string}}, reducer: append}}
    answer: {{type: string}}
  input: [topic]
  output: [answer]
  models:
    default: {{provider: scripted, delay: 1s}}
  nodes:
    - {{name: think, type: llm, prompt: "notes on {{{{ topic }}}}", output: notes}}
    - {{name: answer, type: llm, prompt: "answer on {{{{ topic }}}} in {namespace}", output: answer}}
  edges:
    - {{from: START, to: think}}
    - {{from: think, to: answer}}
    - {{from: answer, to: END}}
"""

#: A run that waits at a human node: something to cancel or resume.
APPROVE = WORKFLOW


#: A run that waits for a person to approve its model's tool call (namespace A only).
PAY = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {{name: pay, namespace: {namespace}}}
spec:
  state: {{out: {{type: string}}}}
  output: [out]
  models:
    m: {{provider: scripted, responses: [{{toolCalls: [{{name: charge, args: {{label: paid}}}}]}}]}}
  tools: [{{name: charge, function: "tests.counting_tools:record", requireApproval: true}}]
  nodes:
    - {{name: pay, type: llm, model: m, prompt: go, tools: [charge], output: out}}
  edges: [{{from: START, to: pay}}, {{from: pay, to: END}}]
"""


@dataclass
class Tenancy:
    a: str
    b: str
    kubeconfig: Path
    workflows: Path


def make_tenancy(cp: Any, workdir: Path) -> Tenancy:
    """Namespaces A and B, the shipped run roles (renamed for this test) bound to Dex's users,
    and the gateway's least-privilege account."""
    suffix = uuid.uuid4().hex[:6]
    a, b = f"signin-a-{suffix}", f"signin-b-{suffix}"

    def kubectl(*args: str, stdin: str | None = None) -> str:
        return run_kubectl(cp, *args, stdin=stdin).stdout

    for ns in (a, b):
        kubectl("create", "namespace", ns)
    install_run_roles(cp, suffix)
    for name, ns, role in (
        ("alice", a, "runner"),
        ("bob", b, "runner"),
        ("carol", a, "run-viewer"),
    ):
        kubectl(
            "create",
            "rolebinding",
            f"{name}-{role}",
            "-n",
            ns,
            f"--clusterrole=configurable-agents-{role}-{suffix}",
            f"--user={name}@example.com",
        )
    kubectl("create", "serviceaccount", "gateway", "-n", a)
    kubectl(
        "create",
        "clusterrolebinding",
        f"signin-gateway-{suffix}",
        f"--clusterrole=configurable-agents-gateway-auth-{suffix}",
        f"--serviceaccount={a}:gateway",
    )
    workflows = workdir / "workflows"
    workflows.mkdir()
    for ns in (a, b):
        (workflows / f"{ns}-chain.yaml").write_text(CHAIN.format(namespace=ns))
        (workflows / f"{ns}-approve.yaml").write_text(APPROVE.format(namespace=ns))
    (workflows / f"{a}-pay.yaml").write_text(PAY.format(namespace=a))
    kubeconfig = token_kubeconfig(cp, a, "gateway", workdir / "gateway.kubeconfig")
    return Tenancy(a, b, kubeconfig, workflows)


def signin_flags(dex: Dex, url: str) -> list[str]:
    return [
        "--ui-oidc-issuer-url",
        dex.issuer,
        "--ui-oidc-client-id",
        CLIENT,
        "--ui-external-url",
        url,
    ]


def signin_env(workdir: Path, kubeconfig: Path | None = None) -> dict[str, str]:
    env = dict(
        os.environ,
        PYTHONPATH=str(REPO),
        CONFIGURABLE_AGENTS_UI_SECRET=UI_SECRET,
        CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET=CLIENT_SECRET,
        COUNTER_DIR=str(workdir / "counts"),
    )
    if kubeconfig:
        env["KUBECONFIG"] = str(kubeconfig)
    return env


class Server:
    """A ``configurable-agents`` server process on a port chosen before Dex is configured."""

    def __init__(
        self, port: int, workdir: Path, args: list[str], env: dict[str, str], ready: str
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}"
        self.log = workdir / f"server-{port}.log"
        with self.log.open("wb") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "agent_runtime", *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        wait_healthy(self.proc, f"{self.url}{ready}", self.log, what=args[0], timeout=60)

    def stop(self) -> None:
        stop(self.proc, signal.SIGTERM)


@dataclass
class SignInStack:
    dex: Dex
    gateway: Server
    tenancy: Tenancy
    workdir: Path
    #: A port registered with Dex for a standalone ``ui`` process.
    ui_port: int

    def api(self, user: str) -> httpx.Client:
        """The Runs API as ``user`` (an ID token from Dex's password grant)."""
        token = self.dex.id_token(user, CLIENT)
        return httpx.Client(
            base_url=self.gateway.url, headers={"Authorization": f"Bearer {token}"}, timeout=30
        )


@pytest.fixture(scope="session")
def dex_bin(request: pytest.FixtureRequest) -> Path:
    """Dex's binary; asked for before ``control_plane``, so a missing one skips before a
    control plane is started for nothing."""
    return dex_binary(request.config)


@pytest.fixture(scope="package")
def signin_stack(
    dex_bin: Path, control_plane: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SignInStack]:
    binary = dex_bin
    workdir = tmp_path_factory.mktemp("signin")
    tenancy = make_tenancy(control_plane, workdir)
    gateway_port, ui_port = free_port(), free_port()
    callbacks = [f"http://127.0.0.1:{p}/ui/signin/callback" for p in (gateway_port, ui_port)]
    dex = Dex(binary, workdir, [Client(CLIENT, CLIENT_SECRET, callbacks)])
    gateway_url = f"http://127.0.0.1:{gateway_port}"
    args = [
        "serve",
        "--port",
        str(gateway_port),
        "--store",
        f"sqlite:///{workdir / 'runs.db'}",
        "--workflows",
        str(tenancy.workflows),
        "--auth",
        "oidc",
        "--oidc-issuer-url",
        dex.issuer,
        "--oidc-audience",
        CLIENT,
        "--oidc-username-claim",
        "email",
        "--oidc-username-prefix",
        "-",
        *signin_flags(dex, gateway_url),
    ]
    try:
        gateway = Server(
            gateway_port, workdir, args, signin_env(workdir, tenancy.kubeconfig), "/readyz"
        )
    except BaseException:
        dex.stop()
        raise
    yield SignInStack(dex, gateway, tenancy, workdir, ui_port)
    gateway.stop()
    dex.stop()
    for ns in (tenancy.a, tenancy.b):
        run_kubectl(control_plane, "delete", "namespace", ns, "--wait=false", check=False)


FORM_ACTION = re.compile(r'<form[^>]*action="([^"]+)"')


@contextmanager
def http_sign_in(
    url: str, dex: Dex, user: str, *, path: str = "/ui/", back: str | None = None
) -> Iterator[httpx.Client]:
    """A client that signed in as ``user`` through Dex's login form, without a browser, asking
    to come back to ``path``; it must be sent to ``back`` (default: ``path``). Its
    ``last_callback`` is the redirect URI Dex sent it to."""
    with httpx.Client(timeout=30, follow_redirects=False) as client:
        answer = client.get(f"{url}/ui/signin", params={"next": path})
        assert answer.status_code == 302, answer.text
        where = answer.headers["location"]
        for _ in range(10):  # Dex: /auth -> /auth/local -> /auth/local/login (the form)
            answer = client.get(httpx.URL(dex.issuer).join(where))
            if answer.status_code not in (302, 303):
                break
            where = answer.headers["location"]
        action = FORM_ACTION.search(answer.text)
        assert action, answer.text[:2000]
        answer = client.post(
            httpx.URL(dex.issuer).join(html.unescape(action.group(1))),
            data={"login": USERS[user].email, "password": USERS[user].password},
        )
        assert answer.status_code in (302, 303), answer.text[:2000]
        callback = answer.headers["location"]
        assert callback.startswith(f"{url}/ui/signin/callback?"), callback
        client.base_url = httpx.URL(url)
        answer = client.get(callback)
        assert answer.status_code == 303, answer.text[:2000]
        assert answer.headers["location"] == (back or path)
        # A new form-signing (CSRF) session after signing in: the old one is dropped.
        assert any(
            c.startswith('ca_ui_session="";') for c in answer.headers.get_list("set-cookie")
        ), answer.headers.get_list("set-cookie")
        client.last_callback = callback  # type: ignore[attr-defined]
        yield client


def _signer(secret: str = UI_SECRET) -> itsdangerous.TimestampSigner:
    return itsdangerous.TimestampSigner(session_key(secret.encode()))


def read_session(cookie: str, secret: str = UI_SECRET) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(base64.b64decode(_signer(secret).unsign(cookie.encode())))
    return data


def write_session(data: dict[str, Any], secret: str = UI_SECRET) -> str:
    return _signer(secret).sign(base64.b64encode(json.dumps(data).encode())).decode()


def session_of(client: httpx.Client) -> dict[str, Any]:
    return read_session(client.cookies[COOKIE])
