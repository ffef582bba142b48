"""Which namespaces a gateway serves: flags, the comma-separated variable, the old single one."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from agent_runtime.gateway import GatewaySettings
from tests.conftest import REPO


def test_namespaces_from_the_environment_are_comma_separated(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONFIGURABLE_AGENTS_NAMESPACES", " team-a, team-b ,,team-a")
    assert GatewaySettings().served_namespaces == ["team-a", "team-b"]
    monkeypatch.setenv("CONFIGURABLE_AGENTS_NAMESPACE", "legacy")
    assert GatewaySettings().served_namespaces == ["legacy", "team-a", "team-b"]


def test_no_namespaces_means_the_whole_cluster(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CONFIGURABLE_AGENTS_NAMESPACES", raising=False)
    monkeypatch.delenv("CONFIGURABLE_AGENTS_NAMESPACE", raising=False)
    assert GatewaySettings().served_namespaces == []
    assert GatewaySettings(namespace="one").served_namespaces == ["one"]


@pytest.mark.parametrize(
    ("args", "env", "names"),
    [
        (["--namespace", "ok", "--namespace", "Not_OK"], {}, "namespaces.1: 'Not_OK'"),
        ([], {"CONFIGURABLE_AGENTS_NAMESPACES": "ok,bad.name"}, "namespaces.1: 'bad.name'"),
        ([], {"CONFIGURABLE_AGENTS_NAMESPACE": "-x"}, "namespace: '-x'"),
    ],
)
def test_a_bad_namespace_is_one_line_naming_the_setting(
    args: list[str], env: dict[str, str], names: str
) -> None:
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "agent_runtime",
            "serve",
            "--kubernetes",
            "--insecure-no-auth",
            *args,
        ],
        env={**os.environ, "PYTHONPATH": str(REPO), **env},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 2, proc.stderr
    assert names in proc.stderr and "is not a namespace name" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr
