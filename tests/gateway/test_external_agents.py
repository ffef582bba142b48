"""Agents outside the cluster, against the real control plane, with real tokens and processes.

A gateway (``serve --kubernetes --auth kubernetes``) serves namespaces A and B. In A, one
capability is served in the cluster (a Deployment and Service whose EndpointSlice the gateway
watches; kwok's pods are mapped to an agent process on loopback, the documented test seam) and
one by external agents: a push agent and a pull-only agent, each a separate process registered
with an account RBAC lets ``create`` ``agentpools/members`` in A. Registrations are Leases.
"""

from __future__ import annotations

import json
import signal
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import yaml

from tests.agent.harness import AgentProcess
from tests.conftest import REPO
from tests.gateway.auth_harness import AUDIENCE, Tenants, bearer, tenants_in
from tests.gateway.conftest import GatewayProcess
from tests.gateway.test_registry import pool_objects
from tests.kube_harness import run_kubectl
from tests.operator_harness import eventually
from tests.processes import free_port, stop

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

TTL = "3s"
MEMBER_ROLE = "configurable-agents-agent-member"

INSIDE = pool_objects("inside", "inside")

POOLS = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: remote}
spec:
  capabilities: [outside]
  replicas: 0
  external: {enabled: true, maxMembers: 3}
---
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: closed}
spec:
  capabilities: [outside]
  replicas: 0
"""


def workflow(name: str, *, inside: bool, delay: str = "0s") -> str:
    nodes: list[dict[str, Any]] = []
    if inside:
        nodes.append(
            {
                "name": "research",
                "type": "llm",
                "capability": "inside",
                "model": "quick",
                "prompt": "facts on {{ topic }}",
                "output": "notes",
            }
        )
    nodes.append(
        {
            "name": "write",
            "type": "llm",
            "capability": "outside",
            "model": "slow",
            "prompt": "brief on {{ topic }}",
            "output": "draft",
            "retry": {"maxAttempts": 3, "initialDelay": "0.1s"},
        }
    )
    edges = [{"from": "START", "to": nodes[0]["name"]}]
    if inside:
        edges.append({"from": "research", "to": "write"})
    edges.append({"from": "write", "to": "END"})
    return yaml.safe_dump(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Workflow",
            "metadata": {"name": name},
            "spec": {
                "state": {
                    "topic": {"type": "string"},
                    "notes": {"type": "string"},
                    "draft": {"type": "string"},
                },
                "input": ["topic"],
                "output": ["draft"],
                "models": {
                    "quick": {"provider": "scripted", "responses": ["some notes"]},
                    "slow": {"provider": "scripted", "responses": ["a brief"], "delay": delay},
                },
                "nodes": nodes,
                "edges": edges,
            },
        }
    )


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    with tenants_in(control_plane, tmp_path_factory.mktemp("external")) as made:
        made.kubectl("apply", "-f", str(REPO / "manifests" / "rbac" / "agent-member.yaml"))
        made.tokens["agent-a"] = made.account(made.a, "agent-a", MEMBER_ROLE)
        made.tokens["agent-a2"] = made.account(made.a, "agent-a2", MEMBER_ROLE)
        made.tokens["agent-b"] = made.account(made.b, "agent-b", MEMBER_ROLE)
        for ns in (made.a, made.b):
            made.kubectl("apply", "-n", ns, "-f", "-", stdin=POOLS)
        made.kubectl("apply", "-n", made.a, "-f", "-", stdin=INSIDE)
        made.kubectl("apply", "-n", made.a, "-f", "-", stdin=workflow("mixed", inside=True))
        made.kubectl(
            "apply", "-n", made.a, "-f", "-", stdin=workflow("slow", inside=False, delay="5s")
        )
        made.kubectl("apply", "-n", made.b, "-f", "-", stdin=workflow("solo", inside=False))
        yield made


@pytest.fixture(scope="module")
def inside_agent(tenants: Tenants) -> Iterator[AgentProcess]:
    agent = AgentProcess(tenants.workdir, name="inside", capabilities=("inside",))
    agent.wait_ready()
    yield agent
    agent.stop()


@pytest.fixture(scope="module")
def gateway(
    tenants: Tenants, inside_agent: AgentProcess, kubeconfig_path: str
) -> Iterator[GatewayProcess]:
    empty = tenants.workdir / "no-files"
    empty.mkdir(exist_ok=True)
    started = GatewayProcess(
        f"sqlite:///{tenants.workdir / 'runs.db'}",
        tenants.workdir,
        "--kubernetes",
        "--namespace",
        tenants.a,
        "--namespace",
        tenants.b,
        "--auth",
        "kubernetes",
        "--auth-audience",
        AUDIENCE,
        workflows=empty,
        env={
            "KUBECONFIG": kubeconfig_path,
            "CONFIGURABLE_AGENTS_ENDPOINT_MAP": f"*:8080={inside_agent.url.removeprefix('http://')}",
            "CONFIGURABLE_AGENTS_WAIT_BACKOFF": "0.2",
        },
    )
    try:
        yield started
    finally:
        stop(started.proc, signal.SIGTERM)


@pytest.fixture(scope="module")
def kubeconfig_path(control_plane: Any) -> str:
    return str(control_plane.kubeconfig)


def external(
    tenants: Tenants,
    gateway: GatewayProcess,
    name: str,
    *,
    pull: bool,
    token: str = "agent-a",
    namespace: str | None = None,
) -> AgentProcess:
    """An external agent process, the pull one through the CLI flags, the push one through
    the environment (both ways are supported); its credential is in the environment."""
    port = free_port()
    env = {
        "CONFIGURABLE_AGENTS_GATEWAY_TOKEN": tenants.tokens[token],
        "CONFIGURABLE_AGENTS_MEMBER_TTL": TTL,
    }
    ns = namespace or tenants.a
    if pull:  # the credential from a file (read at each call), not the environment
        token_file = tenants.workdir / f"{name}.token"
        token_file.write_text(env.pop("CONFIGURABLE_AGENTS_GATEWAY_TOKEN"))
        args = ["--gateway", gateway.url, "--pool", "remote", "--namespace", ns]
        args += ["--pull", "--name", name, "--capability", "outside"]
        args += ["--token-file", str(token_file)]
        agent = AgentProcess(
            tenants.workdir,
            name=name,
            port=port,
            extra_env=env,
            cli_args=args,
            capabilities=("outside",),
        )
    else:
        env |= {
            "CONFIGURABLE_AGENTS_GATEWAY": gateway.url,
            "CONFIGURABLE_AGENTS_NAMESPACE": ns,
            "CONFIGURABLE_AGENTS_POOL": "remote",
            "CONFIGURABLE_AGENTS_MEMBER_NAME": name,
            "CONFIGURABLE_AGENTS_ADVERTISE": f"http://127.0.0.1:{port}",
        }
        agent = AgentProcess(
            tenants.workdir, name=name, port=port, extra_env=env, capabilities=("outside",)
        )
    agent.wait_ready()
    return agent


def members(tenants: Tenants, namespace: str) -> dict[str, dict[str, Any]]:
    leases = json.loads(
        run_kubectl(
            tenants.cp,
            "get",
            "leases",
            "-n",
            namespace,
            "-l",
            "configurable-agents.io/external-member",
            "-o",
            "json",
        ).stdout
    )["items"]
    return {lease["metadata"]["name"]: lease for lease in leases}


def run(client: httpx.Client, token: str, namespace: str, name: str, **body: Any) -> Any:
    answer = client.post(
        f"/v1/workflows/{namespace}/{name}/runs",
        json={"input": {"topic": "leases"}, "wait": True, **body},
        headers=bearer(token),
        timeout=90,
    )
    assert answer.status_code in (200, 202), answer.text
    return answer.json()


def wait_run(client: httpx.Client, token: str, run_id: str, status: str, limit: float = 60) -> Any:
    found: dict[str, Any] = {}

    def reached() -> bool:
        found.update(client.get(f"/v1/runs/{run_id}", headers=bearer(token)).json())
        return found.get("status") == status

    eventually(reached, timeout=limit)
    return found


def tasks(agent: AgentProcess) -> float:
    return agent.tasks_done()


def test_mixed_runs_kill_lapse_and_return(
    tenants: Tenants, gateway: GatewayProcess, inside_agent: AgentProcess
) -> None:
    a = tenants.a
    runner = tenants.tokens["runner-a"]
    push = external(tenants, gateway, "push-1", pull=False)
    puller = external(tenants, gateway, "pull-1", pull=True)
    try:
        leases = members(tenants, a)
        assert set(leases) == {"external.remote.push-1", "external.remote.pull-1"}
        pushed = leases["external.remote.push-1"]
        assert pushed["spec"]["holderIdentity"] == f"system:serviceaccount:{a}:agent-a"
        assert pushed["spec"]["leaseDurationSeconds"] == 3
        assert pushed["metadata"]["labels"]["configurable-agents.io/external-member"] == "push"
        assert pushed["metadata"]["labels"]["capability.configurable-agents.io/outside"] == "true"
        assert members(tenants, tenants.b) == {}

        with gateway.client() as client:
            # in-cluster and external capabilities in one run, the external ones balanced
            for _ in range(6):
                done = run(client, runner, a, "mixed")
                assert done["status"] == "succeeded", done
                assert done["output"] == {"draft": "a brief"}
            assert tasks(inside_agent) == 6
            assert tasks(push) >= 1 and tasks(puller) >= 1, (tasks(push), tasks(puller))
            assert tasks(push) + tasks(puller) == 6

            # killed: its tasks move on at once (unreachable), it lapses and is swept
            push.proc.send_signal(signal.SIGKILL)
            push.wait_stopped()
            before = tasks(puller)
            for _ in range(3):
                assert run(client, runner, a, "mixed")["status"] == "succeeded"
            assert tasks(puller) == before + 3
            eventually(lambda: "external.remote.push-1" not in members(tenants, a), timeout=20)

            # back: it registers again and takes tasks again
            push = external(tenants, gateway, "push-1", pull=False)
            assert "external.remote.push-1" in members(tenants, a)
            for _ in range(4):
                assert run(client, runner, a, "mixed")["status"] == "succeeded"
            assert tasks(push) >= 1

            # the pull agent killed holding a task: its lease lapses, the task goes to the push one
            push.stop()
            eventually(lambda: "external.remote.push-1" not in members(tenants, a), timeout=5)
            started = run(client, runner, a, "slow", wait=False)
            eventually(lambda: httpx.get(f"{puller.url}/readyz").json()["inFlight"] == 1)
            puller.proc.send_signal(signal.SIGKILL)
            puller.wait_stopped()
            push = external(tenants, gateway, "push-1", pull=False)
            finished = wait_run(client, runner, started["id"], "succeeded", limit=60)
            steps = [s for s in finished["steps"] if s["node"] == "write"]
            assert {s["attempt"] for s in steps} == {1, 2}, steps
            lost = [s for s in steps if s["attempt"] == 1 and "went away" in (s.get("error") or "")]
            assert lost, steps
            assert [s["status"] for s in steps if s["attempt"] == 2][-1] == "succeeded", steps
            assert tasks(push) == 1
            eventually(lambda: "external.remote.pull-1" not in members(tenants, a), timeout=20)

            # and the pull agent returns
            puller = external(tenants, gateway, "pull-1", pull=True)
            push.stop()
            eventually(lambda: "external.remote.push-1" not in members(tenants, a), timeout=5)
            assert run(client, runner, a, "mixed")["status"] == "succeeded"
            assert tasks(puller) == 1
    finally:
        push.stop()
        puller.stop()


def test_a_credential_for_a_never_gets_b_tasks(tenants: Tenants, gateway: GatewayProcess) -> None:
    a, b = tenants.a, tenants.b
    agent_a, agent_b = tenants.tokens["agent-a"], tenants.tokens["agent-b"]
    base_a = f"/v1/namespaces/{a}/agentpools/remote/members"
    base_b = f"/v1/namespaces/{b}/agentpools/remote/members"
    with gateway.client() as client:
        # A's credential: a member of A, pulling
        joined = client.post(
            base_a,
            json={"name": "thief", "capabilities": ["outside"], "pull": True},
            headers=bearer(agent_a),
        )
        assert joined.status_code == 201, joined.text
        assert joined.json()["mode"] == "pull"

        # B's run waits: no member of B
        queued = run(client, tenants.tokens["runner-b"], b, "solo", wait=False)
        # A's member asks for tasks: none of B's ever comes
        empty = client.post(f"{base_a}/thief/tasks", params={"wait": 2}, headers=bearer(agent_a))
        assert empty.status_code == 204, empty.text
        # it may not register into B, pull from B or renew there
        for path, body in (
            (base_b, {"name": "thief", "capabilities": ["outside"], "pull": True}),
            (f"{base_b}/thief/tasks", None),
            (f"{base_b}/thief/heartbeat", {}),
        ):
            refused = client.post(path, json=body, headers=bearer(agent_a))
            assert refused.status_code == 403, (path, refused.text)
            assert "agentpools/members" in refused.json()["error"]["message"]
        assert client.delete(f"{base_b}/thief", headers=bearer(agent_a)).status_code == 403
        # nor act for another member of A's pool (another account of A)
        other = tenants.tokens["agent-a2"]
        for path in (f"{base_a}/thief/tasks", f"{base_a}/thief/heartbeat"):
            hidden = client.post(
                path, json={} if "heartbeat" in path else None, headers=bearer(other)
            )
            assert hidden.status_code == 404, hidden.text
            assert hidden.json()["error"]["code"] == "member_not_found"
        taken = client.post(
            base_a,
            json={"name": "thief", "capabilities": ["outside"], "pull": True},
            headers=bearer(other),
        )
        assert taken.status_code == 409 and taken.json()["error"]["code"] == "member_taken"
        # no token, no entry
        assert client.post(base_a, json={}).status_code == 401
        # runners of A are not members
        refused = client.post(
            base_a,
            json={"name": "x", "capabilities": ["outside"], "pull": True},
            headers=bearer(tenants.tokens["runner-a"]),
        )
        assert refused.status_code == 403

        # B's own member gets B's task, and only B's holder may answer it
        mine = client.post(
            base_b,
            json={"name": "honest", "capabilities": ["outside"], "pull": True},
            headers=bearer(agent_b),
        )
        assert mine.status_code == 201, mine.text
        handed = client.post(f"{base_b}/honest/tasks", params={"wait": 10}, headers=bearer(agent_b))
        assert handed.status_code == 200, handed.text
        lease = handed.json()["lease"]
        assert handed.json()["task"]["workflow"] == f"{b}/solo"
        outcome = {"result": {"output": "stolen"}}
        # A's credential posting to B's lease: refused by RBAC; under its own member: no lease
        assert (
            client.post(
                f"{base_b}/honest/tasks/{lease}/result", json=outcome, headers=bearer(agent_a)
            ).status_code
            == 403
        )
        wrong = client.post(
            f"{base_a}/thief/tasks/{lease}/result", json=outcome, headers=bearer(agent_a)
        )
        assert wrong.status_code == 404 and wrong.json()["error"]["code"] == "lease_not_found"
        answered = client.post(
            f"{base_b}/honest/tasks/{lease}/result",
            json={"result": {"output": "from b"}},
            headers=bearer(agent_b),
        )
        assert answered.status_code == 204, answered.text
        again = client.post(
            f"{base_b}/honest/tasks/{lease}/result", json=outcome, headers=bearer(agent_b)
        )
        assert again.status_code == 404  # settled and forgotten
        done = wait_run(client, tenants.tokens["runner-b"], queued["id"], "succeeded")
        assert done["output"] == {"draft": "from b"}
        for who, base, name in ((agent_a, base_a, "thief"), (agent_b, base_b, "honest")):
            assert client.delete(f"{base}/{name}", headers=bearer(who)).status_code == 204
        assert members(tenants, a) == {} or all(
            not n.endswith(".thief") for n in members(tenants, a)
        )


def test_bad_registrations_name_the_field(tenants: Tenants, gateway: GatewayProcess) -> None:
    a = tenants.a
    token = bearer(tenants.tokens["agent-a"])
    base = f"/v1/namespaces/{a}/agentpools"
    with gateway.client() as client:

        def register(pool: str, body: dict[str, Any]) -> httpx.Response:
            return client.post(f"{base}/{pool}/members", json=body, headers=token)

        good = {"name": "m1", "capabilities": ["outside"], "pull": True}
        unknown = register("remote", {**good, "capabilities": ["outside", "gpu"]})
        assert unknown.status_code == 422
        assert "capabilities[1]" in unknown.json()["error"]["message"]
        both = register("remote", {**good, "address": "http://127.0.0.1:1"})
        assert both.status_code == 422 and "address" in both.text
        neither = register("remote", {"name": "m1", "capabilities": ["outside"]})
        assert neither.status_code == 422
        scheme = register("remote", {**good, "pull": False, "address": "ftp://x"})
        assert scheme.status_code == 422 and "address" in scheme.text
        ttl = register("remote", {**good, "ttlSeconds": 1})
        assert ttl.status_code == 422 and "ttlSeconds" in ttl.text
        name = register("remote", {**good, "name": "Not_A_Label"})
        assert name.status_code == 422 and "name" in name.text
        closed = register("closed", good)
        assert closed.status_code == 403
        assert "spec.external.enabled" in closed.json()["error"]["message"]
        elsewhere = client.post(
            "/v1/namespaces/default/agentpools/remote/members", json=good, headers=token
        )
        assert elsewhere.status_code == 404, elsewhere.text
        assert "does not serve namespace default" in elsewhere.json()["error"]["message"]
        missing = register("nowhere", good)
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "pool_not_found"
        # maxMembers: 3
        for i in range(3):
            assert register("remote", {**good, "name": f"m{i}"}).status_code == 201
        full = register("remote", {**good, "name": "m3"})
        assert full.status_code == 409 and "maxMembers" in full.json()["error"]["message"]
        for i in range(3):
            assert client.delete(f"{base}/remote/members/m{i}", headers=token).status_code == 204


def test_the_agent_exits_when_its_registration_is_refused(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    """B's credential registering into A: the process stops at once, saying why in one line
    (exit 1, no traceback)."""
    agent = AgentProcess(
        tenants.workdir,
        name="refused",
        capabilities=("outside",),
        extra_env={"CONFIGURABLE_AGENTS_GATEWAY_TOKEN": tenants.tokens["agent-b"]},
        cli_args=["--gateway", gateway.url, "--pool", "remote", "--namespace", tenants.a, "--pull"],
    )
    assert agent.proc.wait(30) == 1
    agent.wait_stopped()
    log = agent.log()
    assert "refused to register" in log and "403" in log
    assert "Traceback" not in log
    assert tenants.tokens["agent-b"] not in log


def test_every_gateway_replica_sees_the_registrations(
    tenants: Tenants, gateway: GatewayProcess, inside_agent: AgentProcess
) -> None:
    """Registrations are Leases: a second replica (its own store here) dispatches to a member
    registered with the first, takes its heartbeat, and forgets it when it leaves."""
    a = tenants.a
    second = GatewayProcess(
        f"sqlite:///{tenants.workdir / 'second.db'}",
        tenants.workdir,
        "--kubernetes",
        "--namespace",
        a,
        "--auth",
        "kubernetes",
        "--auth-audience",
        AUDIENCE,
        workflows=tenants.workdir / "no-files",
        env={
            "KUBECONFIG": str(tenants.cp.kubeconfig),
            "CONFIGURABLE_AGENTS_ENDPOINT_MAP": f"*:8080={inside_agent.url.removeprefix('http://')}",
            "CONFIGURABLE_AGENTS_WAIT_BACKOFF": "0.2",
        },
    )
    push = external(tenants, gateway, "push-2", pull=False)  # registered with the first
    try:
        with second.client() as client:
            done = run(client, tenants.tokens["runner-a"], a, "mixed")
            assert done["status"] == "succeeded", done
            assert tasks(push) == 1
            renewed = client.post(
                f"/v1/namespaces/{a}/agentpools/remote/members/push-2/heartbeat",
                json={},
                headers=bearer(tenants.tokens["agent-a"]),
            )
            assert renewed.status_code == 200, renewed.text
            push.stop()  # leaves through the first replica
            eventually(
                lambda: (
                    client.post(
                        f"/v1/namespaces/{a}/agentpools/remote/members/push-2/heartbeat",
                        json={},
                        headers=bearer(tenants.tokens["agent-a"]),
                    ).status_code
                    == 404
                ),
                timeout=10,
            )
    finally:
        push.stop()
        stop(second.proc, signal.SIGTERM)
