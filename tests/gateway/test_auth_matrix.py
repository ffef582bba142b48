"""Every Runs API route, for every kind of caller, against runs in two tenants' namespaces:
the answer is the one RBAC implies, generated from the grants below, never written by hand.

Real parts only: the test control plane's TokenRequest API issues the tokens, its RBAC holds the
shipped ClusterRoles bound per namespace, and a `serve --auth kubernetes` process asks it
(TokenReview, SubjectAccessReview) with the least-privilege gateway account.
"""

from __future__ import annotations

import signal
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.gateway.auth_harness import (
    AUDIENCE,
    Tenants,
    auth_gateway,
    bearer,
    make_tenants,
    start_run,
)
from tests.gateway.conftest import GatewayProcess
from tests.processes import stop

pytestmark = [pytest.mark.cluster, pytest.mark.slow]

ALL = frozenset({"create", "get", "list", "update"})
#: caller -> "a"/"b" -> verbs on workflows/runs there (what the bindings in make_tenants grant).
GRANTS: dict[str, dict[str, frozenset[str]]] = {
    "viewer-a": {"a": frozenset({"get", "list"})},
    "runner-a": {"a": ALL},
    "runner-b": {"b": ALL},
    "admin": {"a": ALL, "b": ALL},
}
UNAUTHENTICATED = ["no-token", "bad-token", "expired-token", "wrong-audience"]
CALLERS = UNAUTHENTICATED + list(GRANTS)
ROUTES = ["create", "list", "get", "events", "resume", "cancel"]
#: Routes that change a run: a cell that should succeed gets a run of its own.
CHANGES = {"resume", "cancel"}


def expected(caller: str, route: str, where: str) -> int:
    """The status RBAC implies; for ``list``, 200 (what it lists is checked separately)."""
    if caller in UNAUTHENTICATED:
        return 401
    verbs = GRANTS[caller].get(where, frozenset())
    if route == "create":
        return 202 if "create" in verbs else 403 if "get" in verbs else 404
    if route == "list":
        return 200
    if "get" not in verbs:
        return 404  # the same as a run that does not exist
    if route in ("get", "events"):
        return 200
    if "update" not in verbs:
        return 403
    return 202 if route == "resume" else 200


@pytest.fixture(scope="module")
def tenants(control_plane: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Tenants]:
    workdir = tmp_path_factory.mktemp("auth")
    t = make_tenants(control_plane, workdir)
    t.tokens["no-token"] = None  # type: ignore[assignment]
    t.tokens["bad-token"] = "not-a-token-of-anyone"
    t.tokens["expired-token"] = t.expired_token(t.a, "runner-a")
    t.tokens["wrong-audience"] = t.token(t.a, "runner-a", audience="another-service")
    yield t
    for ns in (t.a, t.b):
        t.kubectl("delete", "namespace", ns, "--wait=false")


@pytest.fixture(scope="module")
def gateway(tenants: Tenants) -> Iterator[GatewayProcess]:
    started = auth_gateway(
        tenants.workdir,
        "--auth",
        "kubernetes",
        "--auth-audience",
        AUDIENCE,
    )
    yield started
    stop(started.proc, signal.SIGTERM)


@pytest.fixture(scope="module")
def shared_runs(tenants: Tenants, gateway: GatewayProcess) -> dict[str, dict[str, Any]]:
    """One interrupted run in each namespace, started by the admin, for the reading cells."""
    with gateway.client() as client:
        return {
            "a": start_run(client, tenants.tokens["admin"], tenants.a),
            "b": start_run(client, tenants.tokens["admin"], tenants.b),
        }


@pytest.mark.parametrize("where", ["a", "b"])
@pytest.mark.parametrize("caller", CALLERS)
@pytest.mark.parametrize("route", ROUTES)
def test_each_route_answers_what_rbac_implies(
    route: str,
    caller: str,
    where: str,
    tenants: Tenants,
    gateway: GatewayProcess,
    shared_runs: dict[str, dict[str, Any]],
) -> None:
    namespace = tenants.a if where == "a" else tenants.b
    want = expected(caller, route, where)
    headers = bearer(tenants.tokens[caller])
    with gateway.client() as client:
        run = shared_runs[where]
        if route in CHANGES and want < 300:
            run = start_run(client, tenants.tokens["admin"], namespace)
        before = client.get(f"/v1/runs/{run['id']}", headers=bearer(tenants.tokens["admin"])).json()
        answer = call(client, route, namespace, run["id"], headers)
        assert answer.status_code == want, f"{route} as {caller} in {where}: {answer.text}"
        if want == 401:
            assert answer.headers["WWW-Authenticate"].startswith("Bearer")
        if want in (403, 404, 401):
            after = client.get(f"/v1/runs/{run['id']}", headers=bearer(tenants.tokens["admin"]))
            assert after.json()["status"] == before["status"], "a refused call changed the run"
        if want == 404 and route != "create":
            assert answer.json()["error"]["code"] == "run_not_found"
            assert answer.json()["error"]["message"] == f"run {run['id']!r} not found"
        if route == "get" and want == 200:
            may_update = "update" in GRANTS[caller].get(where, frozenset())
            assert answer.json()["permissions"] == {"get": True, "update": may_update}
        if route == "list" and want == 200:
            listed = {item["id"] for item in answer.json()["items"]}
            readable = "list" in GRANTS[caller].get(where, frozenset())
            assert (run["id"] in listed) == readable, f"list as {caller}: {listed}"


def call(
    client: httpx.Client, route: str, namespace: str, run_id: str, headers: dict[str, str]
) -> httpx.Response:
    if route == "create":
        return client.post(
            f"/v1/workflows/{namespace}/approve/runs",
            json={"input": {"topic": "t"}},
            headers=headers,
        )
    if route == "list":
        return client.get("/v1/runs", params={"limit": 1000}, headers=headers)
    if route == "get":
        return client.get(f"/v1/runs/{run_id}", headers=headers)
    if route == "events":
        with client.stream("GET", f"/v1/runs/{run_id}/events", headers=headers) as streamed:
            if streamed.status_code != 200:
                streamed.read()
            return streamed
    if route == "resume":
        return client.post(
            f"/v1/runs/{run_id}/resume", json={"input": {"approved": True}}, headers=headers
        )
    return client.post(f"/v1/runs/{run_id}/cancel", headers=headers)


def test_a_tenant_probing_another_learns_and_changes_nothing(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    """runner-b lists, reads, streams, resumes, cancels and reuses the keys of A's runs."""
    admin, intruder = bearer(tenants.tokens["admin"]), bearer(tenants.tokens["runner-b"])
    with gateway.client() as client:
        victims = [
            start_run(client, tenants.tokens["runner-a"], tenants.a, idempotencyKey=f"key-{i}")
            for i in range(5)
        ]
        ids = {v["id"] for v in victims}
        before = {i: client.get(f"/v1/runs/{i}", headers=admin).json() for i in ids}
        leaks = changes = attempts = 0
        for round_ in range(12):
            for victim in victims:
                rid = victim["id"]
                for route in ("get", "events", "resume", "cancel"):
                    answer = call(client, route, tenants.a, rid, intruder)
                    attempts += 1
                    leaks += answer.status_code != 404 or tenants.a in answer.text
                listed = client.get("/v1/runs", params={"limit": 1000}, headers=intruder)
                filtered = client.get(
                    "/v1/runs", params={"workflow": f"{tenants.a}/approve"}, headers=intruder
                )
                attempts += 2
                leaks += bool(ids & {r["id"] for r in listed.json()["items"]})
                leaks += bool(filtered.json()["items"])
            # the same idempotency key, in A (refused) and in B (a run of B's own)
            for i in range(5):
                reuse = client.post(
                    f"/v1/workflows/{tenants.a}/approve/runs",
                    json={"input": {"topic": "x"}, "idempotencyKey": f"key-{i}"},
                    headers=intruder,
                )
                attempts += 1
                leaks += reuse.status_code != 404
            if round_ == 0:
                for i in range(5):
                    own = client.post(
                        f"/v1/workflows/{tenants.b}/approve/runs",
                        json={"input": {"topic": "x"}, "idempotencyKey": f"key-{i}"},
                        headers=intruder,
                    )
                    attempts += 1
                    leaks += own.status_code != 202 or own.json()["id"] in ids
        after = {i: client.get(f"/v1/runs/{i}", headers=admin).json() for i in ids}
        changes = sum(
            (before[i]["status"], before[i]["updatedAt"])
            != (after[i]["status"], after[i]["updatedAt"])
            for i in ids
        )
    print(f"cross-tenant probes: {attempts} attempts, {leaks} leaks, {changes} changes")
    assert attempts >= 300
    assert (leaks, changes) == (0, 0)


def test_runs_record_who_started_resumed_and_cancelled_them(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    runner = tenants.tokens["runner-a"]
    with gateway.client() as client:
        first = start_run(client, runner, tenants.a, idempotencyKey="mine")
        by = first["createdBy"]
        assert by["username"] == f"system:serviceaccount:{tenants.a}:runner-a"
        assert "system:serviceaccounts" in by["groups"]
        assert by["serviceAccountNamespace"] == tenants.a
        assert first["idempotencyKey"] == "mine"
        # the same key from the same caller is the same run; from another caller, another run
        again = client.post(
            f"/v1/workflows/{tenants.a}/approve/runs",
            json={"input": {"topic": "x"}, "idempotencyKey": "mine"},
            headers=bearer(runner),
        )
        assert again.json()["id"] == first["id"]
        other = client.post(
            f"/v1/workflows/{tenants.a}/approve/runs",
            json={"input": {"topic": "x"}, "idempotencyKey": "mine"},
            headers=bearer(tenants.tokens["admin"]),
        )
        assert other.status_code == 202 and other.json()["id"] != first["id"]

        resumed = client.post(
            f"/v1/runs/{first['id']}/resume",
            json={"input": {"approved": True}},
            headers=bearer(tenants.tokens["admin"]),
        )
        assert resumed.status_code == 202
        second = start_run(client, runner, tenants.a)
        client.post(f"/v1/runs/{second['id']}/cancel", headers=bearer(runner))
        shown = client.get(f"/v1/runs/{first['id']}", headers=bearer(runner)).json()
        assert shown["resumedBy"]["username"] == f"system:serviceaccount:{tenants.b}:admin"
        cancelled = client.get(f"/v1/runs/{second['id']}", headers=bearer(runner)).json()
        assert cancelled["status"] == "cancelled"
        assert cancelled["cancelledBy"]["username"] == by["username"]


def test_workflows_are_listed_only_to_those_who_may_run_or_read_them(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    with gateway.client() as client:

        def namespaces(caller: str) -> set[str]:
            items = client.get("/v1/workflows", headers=bearer(tenants.tokens[caller])).json()
            return {w["namespace"] for w in items["items"]}

        assert namespaces("viewer-a") == {tenants.a}
        assert namespaces("runner-b") == {tenants.b}
        assert namespaces("admin") == {tenants.a, tenants.b}
        assert client.get("/v1/workflows").status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "Bearer a b",
        "Bearer " + "x" * 100_000,
        "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJhZG1pbiJ9.",
        "Bearer tok\x00en",
        "bearer \u00e9t\u00e9",
    ],
    ids=["empty", "blank", "basic", "two-parts", "huge", "alg-none", "nul", "non-ascii"],
)
def test_malformed_credentials_are_a_clear_401_and_never_logged(
    header: str, tenants: Tenants, gateway: GatewayProcess
) -> None:
    status, text = raw_get(gateway.port, "/v1/runs", b"Authorization: " + header.encode())
    # uvicorn's HTTP parser refuses a NUL in a header itself (400); everything else is ours
    assert status == 401 or (status == 400 and "\x00" in header), text
    if status == 401:
        assert '"code":"unauthenticated"' in text
        assert 'www-authenticate: bearer realm="configurable-agents"' in text.lower()
    token = header.partition(" ")[2]
    if len(token) > 8:
        assert token not in gateway.log.read_text(errors="replace")
        assert token not in text


def raw_get(port: int, path: str, header: bytes) -> tuple[int, str]:
    """A GET with one header sent byte for byte (HTTP clients refuse to send odd ones)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as conn:
        conn.sendall(
            b"GET "
            + path.encode()
            + b" HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + header
            + b"\r\nConnection: close\r\n\r\n"
        )
        data = b""
        while chunk := conn.recv(65536):
            data += chunk
    text = data.decode("utf-8", errors="replace")
    return int(text.split(" ", 2)[1]), text


def test_the_tokens_of_the_matrix_never_reach_the_log(
    tenants: Tenants, gateway: GatewayProcess
) -> None:
    log = gateway.log.read_text(errors="replace")
    for caller, token in tenants.tokens.items():
        if token:
            assert token not in log, caller
    assert "Traceback" not in log


@pytest.mark.parametrize("mode", ["oidc", "kubernetes,oidc"])
def test_oidc_mode_verifies_the_api_servers_own_tokens_against_its_discovery_document(
    mode: str, tenants: Tenants, control_plane: Any
) -> None:
    """The test API server is an OpenID issuer (its ServiceAccount issuer): discovery and JWKS
    fetched over TLS with its CA, tokens verified without a TokenReview, RBAC still decides."""
    binding = f"public-discovery-{tenants.a}"
    tenants.kubectl(
        "apply",
        "-f",
        "-",
        stdin=tenants.kubectl(
            "create",
            "clusterrolebinding",
            binding,
            "--dry-run=client",
            "-o",
            "yaml",
            "--clusterrole=system:service-account-issuer-discovery",
            "--group=system:unauthenticated",
        ),
    )
    gateway = auth_gateway(
        tenants.workdir,
        "--auth",
        mode,
        "--oidc-issuer-url",
        control_plane.server,
        "--oidc-audience",
        AUDIENCE,
        "--oidc-username-prefix",
        "-",
        "--oidc-ca-file",
        str(Path(control_plane.workdir) / "pki" / "ca.crt"),
    )
    try:
        with gateway.client() as client:
            run = start_run(client, tenants.tokens["runner-a"], tenants.a)
            assert run["createdBy"]["username"] == f"system:serviceaccount:{tenants.a}:runner-a"
            assert (
                call(
                    client, "get", tenants.a, run["id"], bearer(tenants.tokens["runner-b"])
                ).status_code
                == 404
            )
            for caller in UNAUTHENTICATED:
                answer = call(client, "get", tenants.a, run["id"], bearer(tenants.tokens[caller]))
                assert answer.status_code == 401, caller
        log = gateway.log.read_text(errors="replace")
        assert "Traceback" not in log and tenants.tokens["runner-a"] not in log
    finally:
        stop(gateway.proc, signal.SIGTERM)
