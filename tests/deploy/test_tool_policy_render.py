"""The chart's tool policy (policy.tools) as rendered (no cluster): one ConfigMap whose file the
policy loader reads back as the values say, mounted read-only into the operator and the gateway
with CONFIGURABLE_AGENTS_POLICY_FILE naming it; the schema refuses values that could not work."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from agent_runtime.policy import ToolPolicy, policy_from
from tests.deploy.tools import by_key, helm_template, kustomize, render

NAME = "ca-configurable-agents-tool-policy"
FILE = "/etc/configurable-agents/policy/policy.yaml"
DEPLOYMENTS = ("ca-configurable-agents-operator", "ca-configurable-agents-gateway")


def loaded(config_map: dict[str, Any], tmp_path: Path) -> ToolPolicy:
    """What the operator and the gateway read from the mounted file."""
    assert set(config_map["data"]) == {"policy.yaml"}
    path = tmp_path / "policy.yaml"
    path.write_text(config_map["data"]["policy.yaml"])
    return policy_from(default="local", file=path)


def container(deployment: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = deployment["spec"]["template"]["spec"]["containers"][0]
    return found


def test_default_policy_is_the_cluster_preset(tmp_path: Path) -> None:
    objects = by_key(render(tmp_path))
    config_map = objects[("ConfigMap", NAME)]
    assert config_map["metadata"]["namespace"] == "ca-system"
    assert config_map["data"]["policy.yaml"].startswith("preset: cluster\n")
    assert loaded(config_map, tmp_path) == ToolPolicy.cluster()


def test_values_reach_the_file(tmp_path: Path) -> None:
    tools = {
        "allowedFunctions": ["tests.tools.sample_tools:*", "mycorp.tools.*"],
        "egressAllow": ["https://api.example.com/v1/", "http://mcp.tools.svc:8080/"],
        "allowLoopback": True,
        "allowPrivate": True,
    }
    config_map = by_key(render(tmp_path, {"policy": {"tools": tools}}))[("ConfigMap", NAME)]
    assert loaded(config_map, tmp_path) == ToolPolicy.model_validate(tools)


def test_operator_and_gateway_mount_it_read_only_and_name_it(tmp_path: Path) -> None:
    objects = by_key(render(tmp_path))
    for name in DEPLOYMENTS:
        deployment = objects[("Deployment", name)]
        pod = deployment["spec"]["template"]["spec"]
        ours = container(deployment)
        assert {"name": "CONFIGURABLE_AGENTS_POLICY_FILE", "value": FILE} in ours["env"], name
        [mount] = [m for m in ours["volumeMounts"] if m["name"] == "tool-policy"]
        assert mount == {
            "name": "tool-policy",
            "mountPath": str(Path(FILE).parent),
            "readOnly": True,
        }
        [volume] = [v for v in pod["volumes"] if v["name"] == "tool-policy"]
        assert volume == {"name": "tool-policy", "configMap": {"name": NAME}}


def test_pods_roll_when_the_policy_changes(tmp_path: Path) -> None:
    def checksums(values: dict[str, Any]) -> list[str]:
        objects = by_key(render(tmp_path, values))
        return [
            objects[("Deployment", name)]["spec"]["template"]["metadata"]["annotations"][
                "checksum/tool-policy"
            ]
            for name in DEPLOYMENTS
        ]

    before = checksums({})
    after = checksums({"policy": {"tools": {"allowedFunctions": ["mycorp.tools:*"]}}})
    assert before[0] == before[1] and after[0] == after[1] and before != after


def test_kustomize_installs_the_same_file(tmp_path: Path) -> None:
    ours = by_key(kustomize("base"))[("ConfigMap", "configurable-agents-tool-policy")]
    assert ours["data"] == by_key(render(tmp_path))[("ConfigMap", NAME)]["data"]


def test_long_release_names_keep_the_name_valid(tmp_path: Path) -> None:
    objects = by_key(render(tmp_path, {"fullnameOverride": "x" * 63}))
    assert ("ConfigMap", "x" * 51 + "-tool-policy") in objects


@pytest.mark.parametrize(
    ("values", "names"),
    [
        ({"allowedFunctions": ["pkg*"]}, "/policy/tools/allowedFunctions/0"),
        ({"allowedFunctions": ["os.system"]}, "/policy/tools/allowedFunctions/0"),
        ({"allowedFunctions": "pkg.mod:*"}, "/policy/tools/allowedFunctions"),
        ({"egressAllow": ["ftp://files.example.com/"]}, "/policy/tools/egressAllow/0"),
        ({"egressAllow": "*"}, "/policy/tools/egressAllow"),
        ({"allowLoopback": "yes"}, "/policy/tools/allowLoopback"),
        ({"allowPrivate": 1}, "/policy/tools/allowPrivate"),
        ({"preset": "local"}, "'preset' not allowed"),
    ],
)
def test_schema_rejects_bad_tool_policy_values_naming_them(
    tmp_path: Path, values: dict[str, Any], names: str
) -> None:
    proc = helm_template(tmp_path, {"policy": {"tools": values}}, check=False)
    assert proc.returncode != 0
    assert "values don't meet the specifications of the schema" in proc.stderr
    assert names in proc.stderr, proc.stderr
    assert "panic" not in proc.stderr and "goroutine" not in proc.stderr
