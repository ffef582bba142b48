"""examples/gitops points at what exists: the chart, the examples, one source for all."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from tests.conftest import REPO

GITOPS = REPO / "examples" / "gitops"


def load(folder: str) -> list[dict[str, Any]]:
    return [
        doc
        for path in sorted((GITOPS / folder).glob("*.yaml"))
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    ]


def kinds_in(folder: str) -> set[str]:
    return {
        doc["kind"]
        for path in (REPO / folder).glob("*.yaml")
        for doc in yaml.safe_load_all(path.read_text())
        if doc
    }


def test_argocd_applications_deploy_the_chart_then_the_examples() -> None:
    apps = {a["metadata"]["name"]: a for a in load("argocd") if a["kind"] == "Application"}
    chart = apps["configurable-agents"]["spec"]
    assert (REPO / chart["source"]["path"] / "Chart.yaml").exists()
    assert "ServerSideApply=true" in chart["syncPolicy"]["syncOptions"]
    examples = apps["configurable-agents-examples"]
    assert (REPO / examples["spec"]["source"]["path"] / "01-linear-chain").is_dir()
    waves = [
        int(apps[n]["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for n in ("configurable-agents", "configurable-agents-examples")
    ]
    assert waves == sorted(waves) and waves[0] < waves[1]


def test_flux_release_and_kustomization_use_the_git_source() -> None:
    docs = load("flux")
    source = next(d for d in docs if d["kind"] == "GitRepository")["metadata"]["name"]
    release = next(d for d in docs if d["kind"] == "HelmRelease")["spec"]
    assert release["chart"]["spec"]["sourceRef"] == {"kind": "GitRepository", "name": source}
    assert (REPO / release["chart"]["spec"]["chart"] / "Chart.yaml").exists()
    assert release["install"]["crds"] == "CreateReplace"
    for kustomization in (d["spec"] for d in docs if d["kind"] == "Kustomization"):
        assert kustomization["sourceRef"]["name"] == source
        # wait: true makes Flux read the kstatus conditions of what it applies.
        assert kustomization["wait"] is True
        assert {"AgentPool", "Workflow"} <= kinds_in(kustomization["path"])


HEALTH_PATCH = GITOPS / "argocd-health" / "argocd-cm-patch.yaml"
HEALTH_KEY = "resource.customizations.health.configurable-agents.io_"


def argocd_health(script: str, obj: dict[str, Any]) -> dict[str, str]:
    """What Argo CD's health check makes of ``obj``: the script run as Argo CD runs it, under
    Lua 5.1 (gopher-lua) with the object as the global ``obj``."""
    from lupa import lua51

    lua = lua51.LuaRuntime()
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return {"status": result["status"], "message": result["message"]}


def status_of(health: Any, message: str, *, observed: int) -> dict[str, Any]:
    """A status exactly as the operator writes it (its own conditions builder)."""
    from agents_operator.conditions import conditions

    return {
        "observedGeneration": observed,
        "conditions": conditions(health, reason="Test", message=message, generation=observed),
    }


@pytest.mark.parametrize("kind", ["Workflow", "AgentPool"])
def test_optional_argocd_health_check_reads_the_operators_conditions(kind: str) -> None:
    from agents_operator.conditions import Health

    data = yaml.safe_load(HEALTH_PATCH.read_text())["data"]
    assert set(data) == {f"{HEALTH_KEY}Workflow", f"{HEALTH_KEY}AgentPool"}
    script = data[f"{HEALTH_KEY}{kind}"]

    def health(status: dict[str, Any] | None, generation: int = 2) -> dict[str, str]:
        meta = {"name": "x", "generation": generation}
        obj = {"kind": kind, "metadata": meta, **({"status": status} if status else {})}
        return argocd_health(script, obj)

    assert health(None)["status"] == "Progressing"
    ready = health(status_of(Health.READY, "every capability is served", observed=2))
    assert ready == {"status": "Healthy", "message": "every capability is served"}
    # Ready for an older generation: the new spec is not looked at yet.
    stale = health(status_of(Health.READY, "ok", observed=1))
    assert stale["status"] == "Progressing" and "generation 2" in stale["message"]
    waiting = health(status_of(Health.PROGRESSING, "no ready pool for llm", observed=2))
    assert waiting == {"status": "Progressing", "message": "no ready pool for llm"}
    stalled = health(status_of(Health.STALLED, "spec.nodes[1].prompt: bad", observed=2))
    assert stalled == {"status": "Degraded", "message": "spec.nodes[1].prompt: bad"}
