"""The AgentPools serving each capability, from the Workflow's status, on the dashboard's pages.

``pool-status.yaml`` carries a status as the operator writes it: one capability served, one with
a pool but no ready endpoint, one with no pool at all.
"""

from __future__ import annotations

import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import Locator, expect

from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess
from tests.operator_harness import eventually
from tests.processes import start_cluster_gateway, stop
from tests.ui.conftest import Watched

#: Real browser and server processes.
pytestmark = pytest.mark.slow


def check_capabilities(where: Locator) -> None:
    served = where.locator('li[data-capability="web-research"]')
    expect(served).to_have_attribute("data-state", "served")
    expect(served).to_contain_text("researchers, spare-researchers")
    expect(served.locator(".badge")).to_have_text("3 ready endpoints")
    unready = where.locator('li[data-capability="summarize"]')
    expect(unready).to_have_attribute("data-state", "unready")
    expect(unready).to_contain_text("writers")
    expect(unready.locator(".badge")).to_have_text("0 ready endpoints")
    nobody = where.locator('li[data-capability="translate"]')
    expect(nobody).to_have_attribute("data-state", "no-pool")
    expect(nobody.locator(".badge")).to_have_text("no pool")


def test_workflows_page_shows_pools_and_ready_endpoints(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/")
    check_capabilities(page.locator('tr[data-workflow="default/pool-status"]'))
    # A workflow without a status lists what its nodes need, and no pools.
    plain = page.locator('tr[data-workflow="default/linear-chain"] li[data-capability="llm"]')
    expect(plain).to_have_attribute("data-state", "unknown")
    expect(plain.locator(".badge")).to_have_count(0)
    page.locator('tr[data-workflow="default/pool-status"]').screenshot(
        path=str(artifacts / "workflows-pools.png")
    )


def test_workflow_page_shows_pools_and_the_status_generation(
    watched: Watched, gateway: GatewayProcess, artifacts: Path
) -> None:
    page = watched.page
    page.goto(f"{gateway.url}/ui/workflows/default/pool-status")
    capabilities = page.locator("#capabilities")
    check_capabilities(capabilities)
    expect(capabilities).to_contain_text("as the operator last saw them (generation 3)")
    expect(page.get_by_role("button", name="Start run")).to_be_enabled()
    page.screenshot(path=str(artifacts / "workflow-pools.png"), full_page=True)


POOL = """
apiVersion: configurable-agents.io/v1alpha1
kind: AgentPool
metadata: {name: researchers}
spec: {capabilities: [web-research], replicas: 1}
"""


@pytest.mark.cluster
def test_pools_resolved_by_the_operator_reach_the_api_and_the_page(
    operator: Any,
    kubectl: Any,
    kubeconfig: str,
    namespace: str,
    tmp_path: Path,
    watched: Watched,
    artifacts: Path,
) -> None:
    """The real operator resolves the pools; ``serve --kubernetes`` passes its status through."""
    kubectl("apply", "-n", namespace, "-f", str(EXAMPLES / "01-linear-chain" / "workflow.yaml"))
    kubectl("apply", "-n", namespace, "-f", "-", stdin=POOL)
    proc, url, _ = start_cluster_gateway(tmp_path, kubeconfig, "--namespace", namespace)
    want = {
        "llm": {"pools": [], "readyEndpoints": 0},
        "web-research": {"pools": ["researchers"], "readyEndpoints": 1},
    }

    def item() -> dict[str, Any]:
        items = httpx.get(f"{url}/v1/workflows", timeout=5).json()["items"]
        found = next(i for i in items if i["namespace"] == namespace)
        assert found["status"]["capabilities"] == want, found.get("status")
        return dict(found)

    try:
        listed = eventually(item, timeout=60)
        ready = next(c for c in listed["conditions"] if c["type"] == "Ready")
        assert (ready["status"], ready["reason"]) == ("False", "CapabilitiesUnavailable")
        assert ready["message"] == "no AgentPool serves llm"
        page = watched.page
        page.goto(f"{url}/ui/workflows/{namespace}/linear-chain")
        capabilities = page.locator("#capabilities")
        served = capabilities.locator('li[data-capability="web-research"]')
        expect(served).to_have_attribute("data-state", "served")
        expect(served).to_contain_text("researchers")
        expect(served.locator(".badge")).to_have_text("1 ready endpoint")
        expect(capabilities.locator('li[data-capability="llm"] .badge')).to_have_text("no pool")
        expect(page.locator("dl.facts")).to_contain_text(
            "CapabilitiesUnavailable: no AgentPool serves llm"
        )
        expect(page.locator("#queued-note")).to_be_visible()  # valid: runs may wait queued
        expect(page.get_by_role("button", name="Start run")).to_be_enabled()
        page.screenshot(path=str(artifacts / "workflow-cluster-pools.png"), full_page=True)
    finally:
        stop(proc, signal.SIGTERM)
