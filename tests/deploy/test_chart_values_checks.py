"""The chart keeps pods restricted and rejects values that cannot work, naming them (no cluster)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.deploy.chart_values import FULL
from tests.deploy.tools import (
    helm_template,
    pod_specs,
    render,
)


@pytest.mark.parametrize("values", [{}, FULL], ids=["default", "full"])
def test_every_pod_meets_the_restricted_profile(tmp_path: Path, values: dict[str, Any]) -> None:
    specs = pod_specs(render(tmp_path, values))
    assert specs
    for where, spec in specs:
        pod = spec["securityContext"]
        assert pod["runAsNonRoot"] is True and pod["runAsUser"] == 10001, where
        assert pod["seccompProfile"] == {"type": "RuntimeDefault"}, where
        tmp_volumes = {v["name"] for v in spec["volumes"] if "emptyDir" in v}
        for container in spec["containers"]:
            sc = container["securityContext"]
            assert sc["allowPrivilegeEscalation"] is False, where
            assert sc["readOnlyRootFilesystem"] is True, where
            assert sc["capabilities"] == {"drop": ["ALL"]}, where
            mounts = {m["mountPath"]: m["name"] for m in container["volumeMounts"]}
            assert mounts.get("/tmp") in tmp_volumes, f"{where}/{container['name']}: no /tmp"


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"rbac": {"scope": "everywhere"}}, "/rbac/scope"),
        ({"rbac": {"scope": "namespaces"}}, "/rbac/namespaces"),
        ({"rbac": {"namespaces": ["Not_A_Name"]}}, "/rbac/namespaces/0"),
        ({"gateway": {"replicas": -1}}, "/gateway/replicas"),
        ({"gateway": {"concurrency": "lots"}}, "/gateway/concurrency"),
        ({"operator": {"image": {"pullPolicy": "Sometimes"}}}, "/operator/image/pullPolicy"),
        ({"ui": {"mode": "popup"}}, "/ui/mode"),
        ({"postgres": {"password": "p@ss:word"}}, "/postgres/password"),
        ({"store": {"url": "mysql://db/runs"}}, "/store/url"),
        ({"serviceMonitor": {"interval": "30 seconds"}}, "/serviceMonitor/interval"),
        ({"httpRoute": {"enabled": True}}, "/httpRoute/parentRefs"),
        ({"gatway": {"replicas": 3}}, "'gatway' not allowed"),
        ({"operator": {"replicas": 2, "peering": {"enabled": False}}}, "/operator/replicas"),
        ({"gateway": {"auth": {"mode": "ldap"}}}, "/gateway/auth/mode"),
        (
            {"gateway": {"auth": {"oidc": {"issuerUrl": "http://idp.example"}}}},
            "/gateway/auth/oidc/issuerUrl",
        ),
        ({"agents": {"taskAuth": {"enabled": "yes"}}}, "/agents/taskAuth/enabled"),
        (
            {"agents": {"taskAuth": {"issuer": "kubernetes.default.svc"}}},
            "/agents/taskAuth/issuer",
        ),
        ({"agents": {"taskAuth": {"issuers": ["x"]}}}, "'issuers' not allowed"),
        ({"networkPolicy": {"agentsFrom": ["prometheus"]}}, "/networkPolicy/agentsFrom/0"),
    ],
)
def test_schema_rejects_bad_values_naming_them(
    tmp_path: Path, values: dict[str, Any], names: str
) -> None:
    proc = helm_template(tmp_path, values, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert names in proc.stderr, proc.stderr
    assert "panic" not in proc.stderr and "goroutine" not in proc.stderr


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"postgres": {"enabled": False}}, "store: set store.url or store.existingSecret"),
        ({"gateway": {"auth": {"mode": "oidc"}}}, "gateway.auth.oidc: mode oidc needs issuerUrl"),
    ],
)
def test_settings_that_cannot_work_fail_with_a_clear_message(
    tmp_path: Path, values: dict[str, Any], message: str
) -> None:
    proc = helm_template(tmp_path, values, check=False)
    assert proc.returncode != 0
    assert message in proc.stderr, proc.stderr
