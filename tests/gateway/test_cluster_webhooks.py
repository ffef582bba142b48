"""A webhook Trigger in a cluster: its keys read from the Secret it names in its own namespace, by
the gateway's own ServiceAccount bound only to the gateway's Role from manifests (which proves
that Role enough), both keys accepted during a rotation and the old one refused once the Secret
drops it; and a webhook configuration that cannot work in a cluster refused at admission."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from subprocess import CompletedProcess
from typing import Any

import httpx
import pytest
import yaml
from fastapi import FastAPI

from agent_runtime.engine import LocalDispatcher
from agent_runtime.gateway import errors
from agent_runtime.gateway.app import serving
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.cluster import ClusterTriggers, ClusterWorkflows
from agent_runtime.gateway.routes import webhooks
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.gateway.webhooks import WebhookKeySource
from agent_runtime.kube import KubeClient, load_configuration
from tests.conftest import REPO
from tests.gateway.gateway_account import bind_gateway
from tests.gateway.test_trigger_status import QUICK
from tests.kube_harness import token_kubeconfig
from tests.processes import free_port, stop

pytestmark = pytest.mark.cluster

Kubectl = Callable[..., CompletedProcess[str]]
NEW, OLD = "the-new-key-0123456789", "the-old-key-9876543210"


def secret(namespace: str, **keys: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "v1",
            "kind": "Secret",
            "metadata": {"name": "hook-keys", "namespace": namespace},
            "stringData": keys,
        }
    )


def trigger(namespace: str, **keys: Any) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": "on-push", "namespace": namespace},
        "spec": {
            "workflow": "quick",
            "webhook": {
                "signature": "github",
                "keys": keys
                or {"secretRef": {"name": "hook-keys", "keys": ["current", "previous"]}},
                "input": {"topic": "body.ref"},
            },
        },
    }


def signed(key: str, body: bytes, delivery: str) -> dict[str, str]:
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {"X-Hub-Signature-256": f"sha256={digest}", "X-GitHub-Delivery": delivery}


async def test_keys_come_from_the_named_secret_and_rotate(
    control_plane: Any,
    kubectl: Kubectl,
    namespace: str,
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bind_gateway(kubectl, namespace)
    kubectl("apply", "-f", "-", stdin=secret(namespace, current=NEW, previous=OLD))
    workflow = {**QUICK, "metadata": {"name": "quick", "namespace": namespace}}
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([workflow, trigger(namespace)]))
    config = token_kubeconfig(control_plane, namespace, "gateway", tmp_path / "gw.kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(config))
    client = KubeClient(load_configuration())
    catalog = Catalog()
    parts = [
        ClusterWorkflows(client, catalog, namespaces=[namespace]),
        ClusterTriggers(client, catalog, namespaces=[namespace]),
    ]
    app = FastAPI()
    errors.install(app)
    app.include_router(webhooks.router)
    app.state.webhook_keys = WebhookKeySource(client, ttl=0.2)
    settings = GatewaySettings(store=sqlite_url, poll_interval=0.05)
    for part in parts:
        part.start()
    path = f"/v1/triggers/{namespace}/on-push/webhook"
    try:
        async with (
            serving(app, settings, catalog, LocalDispatcher(), watches=[p.watches for p in parts]),
            httpx.AsyncClient(transport=httpx.ASGITransport(app), base_url="http://gw") as http,
        ):
            for part in parts:
                await asyncio.wait_for(part.watches.wait_synced(), 15)
            body = json.dumps({"ref": "refs/heads/main"}).encode()
            for key in (NEW, OLD):  # rotating: both verify
                answer = await http.post(path, content=body, headers=signed(key, body, key))
                assert answer.status_code == 202, answer.text
            run = await app.state.gateway.store.get_run(answer.json()["id"])
            assert run.namespace == namespace and run.input == {"topic": "refs/heads/main"}
            wrong = await http.post(path, content=body, headers=signed("guess", body, "d3"))
            assert wrong.status_code == 401 and wrong.json()["error"]["code"] == "signature_invalid"
            assert NEW not in wrong.text and OLD not in wrong.text
            # the rotation ends: the Secret keeps only the new key
            kubectl("delete", "secret", "hook-keys", "-n", namespace)
            kubectl("apply", "-f", "-", stdin=secret(namespace, current=NEW))
            await asyncio.sleep(0.3)  # the gateway's read of the Secret is kept 0.2 s
            old = await http.post(path, content=body, headers=signed(OLD, body, "d4"))
            assert old.status_code == 401, old.text
            new = await http.post(path, content=body, headers=signed(NEW, body, "d5"))
            assert new.status_code == 202, new.text
            # no Secret at all: every delivery is refused as unverified, the log says why
            kubectl("delete", "secret", "hook-keys", "-n", namespace)
            await asyncio.sleep(0.3)
            gone = await http.post(path, content=body, headers=signed(NEW, body, "d6"))
            assert gone.status_code == 401
    finally:
        for part in parts:
            await part.stop()
        await client.aclose()


def test_the_gateway_may_get_only_secrets_by_name(kubectl: Kubectl, namespace: str) -> None:
    """The Role lets it read a Secret it is told of, never list or watch them."""
    bind_gateway(kubectl, namespace)
    who = f"system:serviceaccount:{namespace}:gateway"
    for verb, allowed in (("get", "yes"), ("list", "no"), ("watch", "no")):
        done = kubectl("auth", "can-i", verb, "secrets", "-n", namespace, "--as", who, check=False)
        assert done.stdout.strip() == allowed, (verb, done.stdout, done.stderr)


def test_a_webhook_that_cannot_work_in_a_cluster_is_refused_at_admission(
    kubectl: Kubectl, namespace: str
) -> None:
    doc = trigger(namespace, env=["WEBHOOK_KEY"])
    done = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert done.returncode != 0
    assert "spec.webhook.keys.secretRef" in done.stderr and "Secret" in done.stderr, done.stderr
    doc = trigger(namespace)
    doc["spec"]["webhook"]["tolerance"] = "5m"
    done = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert done.returncode != 0
    assert "spec.webhook.tolerance" in done.stderr and "GitHub" in done.stderr, done.stderr
    doc = trigger(namespace)
    doc["spec"]["schedule"] = {"schedule": "0 7 * * *"}
    done = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(doc), check=False)
    assert done.returncode != 0 and "exactly one of: schedule, webhook" in done.stderr
    good = kubectl("apply", "-f", "-", stdin=yaml.safe_dump(trigger(namespace)), check=False)
    assert good.returncode == 0, good.stderr
    header, row = kubectl("get", "catr", "on-push", "-n", namespace).stdout.splitlines()
    assert "WEBHOOK" in header.split() and "github" in row.split()


def test_serve_in_a_cluster_verifies_with_the_secret(
    control_plane: Any, kubectl: Kubectl, namespace: str, tmp_path: Path, sqlite_url: str
) -> None:
    """`serve --kubernetes` as the gateway's ServiceAccount: its webhook route reads the keys
    from the cluster (the app's wiring), and refuses the same delivery signed with another key."""
    bind_gateway(kubectl, namespace)
    kubectl("apply", "-f", "-", stdin=secret(namespace, current=NEW))
    workflow = {**QUICK, "metadata": {"name": "quick", "namespace": namespace}}
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump_all([workflow, trigger(namespace)]))
    config = token_kubeconfig(control_plane, namespace, "gateway", tmp_path / "gw.kubeconfig")
    port = free_port()
    env = dict(os.environ, KUBECONFIG=str(config), PYTHONPATH=str(REPO))
    env.pop("WEBHOOK_CURRENT", None)
    with (tmp_path / "gateway.log").open("wb") as log:
        gateway = subprocess.Popen(
            [
                *(sys.executable, "-m", "agent_runtime", "serve", "--kubernetes"),
                *("--insecure-no-auth", "--namespace", namespace, "--port", str(port)),
                *("--store", sqlite_url),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        url = f"http://127.0.0.1:{port}/v1/triggers/{namespace}/on-push/webhook"
        body = json.dumps({"ref": "refs/tags/v1"}).encode()
        answer = None
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline and gateway.poll() is None:
            try:
                answer = httpx.post(url, content=body, headers=signed(NEW, body, "d1"), timeout=5)
            except httpx.HTTPError:
                answer = None
            if answer is not None and answer.status_code in (200, 202):
                break
            time.sleep(0.3)
        assert answer is not None and answer.status_code in (200, 202), (
            answer.text if answer is not None else (tmp_path / "gateway.log").read_text()[-2000:]
        )
        wrong = httpx.post(url, content=body, headers=signed(OLD, body, "d2"), timeout=5)
        assert wrong.status_code == 401, wrong.text
    finally:
        stop(gateway, signal.SIGTERM)
    assert NEW not in (tmp_path / "gateway.log").read_text()
