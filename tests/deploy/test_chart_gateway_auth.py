"""The chart wires the gateway and dashboard secrets, signing keys and sign-in modes (no cluster)."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from tests.deploy.chart_values import kinds
from tests.deploy.tools import (
    by_key,
    helm_template,
    pod_specs,
    render,
)


def test_store_url_is_kept_in_a_secret(tmp_path: Path) -> None:
    url = "s3://runs/prod?table=runs&region=eu-west-1"
    docs = render(tmp_path, {"store": {"url": url}})
    objects = by_key(docs)
    assert (
        base64.b64decode(
            objects[("Secret", "ca-configurable-agents-store")]["data"]["url"]
        ).decode()
        == url
    )
    assert "StatefulSet" not in kinds(docs), "an explicit store URL replaces the trial Postgres"
    assert url not in json.dumps([d for d in docs if d["kind"] != "Secret"])


@pytest.mark.parametrize("mode", ["sidecar", "deployment"])
def test_gateway_and_dashboard_sign_forms_with_one_key(tmp_path: Path, mode: str) -> None:
    """Replicas of the gateway (which embeds the dashboard) and of the UI must accept each
    other's forms: one key from one Secret, made by the chart unless the user names theirs."""
    docs = render(tmp_path, {"ui": {"enabled": True, "mode": mode}})
    objects = by_key(docs)
    secret = objects[("Secret", "ca-configurable-agents-ui-secret")]
    assert len(base64.b64decode(secret["data"]["secret"])) >= 32
    refs = [
        env["valueFrom"]["secretKeyRef"]
        for doc in docs
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
        if c["name"] in ("gateway", "ui")
        for env in c.get("env", [])
        if env["name"] == "CONFIGURABLE_AGENTS_UI_SECRET"
    ]
    assert refs == [{"name": "ca-configurable-agents-ui-secret", "key": "secret"}] * 2
    own = render(tmp_path, {"ui": {"secret": {"existingSecret": "mine", "key": "k"}}})
    assert not any(
        d["kind"] == "Secret" and d["metadata"]["name"].endswith("ui-secret") for d in own
    )
    gateway = by_key(own)[("Deployment", "ca-configurable-agents-gateway")]
    env = gateway["spec"]["template"]["spec"]["containers"][0]["env"]
    ref = next(e for e in env if e["name"] == "CONFIGURABLE_AGENTS_UI_SECRET")
    assert ref["valueFrom"]["secretKeyRef"] == {"name": "mine", "key": "k"}


def test_oidc_and_insecure_modes_render_the_gateway_flags(tmp_path: Path) -> None:
    oidc = {
        "mode": "kubernetes,oidc",
        "audiences": ["configurable-agents"],
        "oidc": {
            "issuerUrl": "https://dex.example.com",
            "audience": "gateway",
            "usernameClaim": "email",
            "groupsPrefix": "oidc:",
            "caConfigMap": "dex-ca",
        },
    }
    objects = by_key(render(tmp_path, {"gateway": {"auth": oidc}}))
    pod = objects[("Deployment", "ca-configurable-agents-gateway")]["spec"]["template"]["spec"]
    args = pod["containers"][0]["args"]
    assert {
        "--auth=kubernetes,oidc",
        "--auth-audience=configurable-agents",
        "--oidc-issuer-url=https://dex.example.com",
        "--oidc-audience=gateway",
        "--oidc-username-claim=email",
        "--oidc-groups-prefix=oidc:",
        "--oidc-ca-file=/etc/configurable-agents/oidc/ca.crt",
    } <= set(args)
    assert {"name": "oidc-ca", "configMap": {"name": "dex-ca"}} in pod["volumes"]

    insecure = by_key(render(tmp_path, {"gateway": {"auth": {"insecureNoAuth": True}}}))
    pod = insecure[("Deployment", "ca-configurable-agents-gateway")]["spec"]["template"]["spec"]
    assert "--insecure-no-auth" in pod["containers"][0]["args"]
    assert not any(a.startswith("--auth") for a in pod["containers"][0]["args"])
    assert ("ClusterRole", "ca-configurable-agents-gateway-auth") not in insecure


def test_dashboard_sign_in_settings_reach_every_pod_serving_it(tmp_path: Path) -> None:
    signin = {
        "issuerUrl": "https://dex.example.com",
        "clientId": "dashboard",
        "externalUrl": "https://agents.example.com",
        "clientSecret": {"existingSecret": "dashboard-oidc"},
    }
    for mode in ("sidecar", "deployment"):
        docs = render(tmp_path, {"ui": {"enabled": True, "mode": mode, "signin": signin}})
        serving = [
            c
            for _, spec in pod_specs(docs)
            for c in spec["containers"]
            if c["name"] in ("gateway", "ui")
        ]
        assert {c["name"] for c in serving} == {"gateway", "ui"}, mode
        for container in serving:
            env = {e["name"]: e for e in container.get("env", [])}
            assert env["CONFIGURABLE_AGENTS_UI_OIDC_ISSUER_URL"]["value"] == signin["issuerUrl"]
            assert env["CONFIGURABLE_AGENTS_UI_EXTERNAL_URL"]["value"] == signin["externalUrl"]
            secret = env["CONFIGURABLE_AGENTS_UI_OIDC_CLIENT_SECRET"]["valueFrom"]
            assert secret == {"secretKeyRef": {"name": "dashboard-oidc", "key": "client-secret"}}
    half = helm_template(
        tmp_path, {"ui": {"signin": {"issuerUrl": "https://dex.example.com"}}}, check=False
    )
    assert half.returncode != 0 and "ui.signin: issuerUrl needs clientId" in half.stderr
    plain = helm_template(
        tmp_path, {"ui": {"signin": {"issuerUrl": "http://dex.example.com"}}}, check=False
    )
    assert plain.returncode != 0 and "/ui/signin/issuerUrl" in plain.stderr
