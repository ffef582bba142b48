"""The operator's Workflow status (who serves each capability) reaches GET /v1/workflows."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.cluster import entry_of
from agent_runtime.gateway.routes.workflows import described
from tests.conftest import EXAMPLES

READY = {
    "type": "Ready",
    "status": "False",
    "reason": "CapabilitiesUnavailable",
    "message": "no AgentPool serves summarize",
}


def from_cluster(status: Any) -> dict[str, Any]:
    """A Workflow object as the gateway's watch receives it, with ``status``."""
    obj: dict[str, Any] = yaml.safe_load(
        (EXAMPLES / "01-linear-chain" / "workflow.yaml").read_text()
    )
    obj["metadata"] = {"name": "linear-chain", "namespace": "demo", "generation": 4}
    obj["status"] = status
    return obj


def test_cluster_status_capabilities_and_ready_reason_are_passed_through() -> None:
    status = {
        "observedGeneration": 4,
        "conditions": [READY],
        "capabilities": {
            "web-research": {"pools": ["researchers"], "readyEndpoints": 2},
            "llm": {"pools": [], "readyEndpoints": 0},
        },
        "graph": "flowchart TD",
    }
    item = described(entry_of(from_cluster(status)))
    assert item["conditions"] == [READY]
    assert item["status"] == {
        "observedGeneration": 4,
        "capabilities": {
            "llm": {"pools": [], "readyEndpoints": 0},
            "web-research": {"pools": ["researchers"], "readyEndpoints": 2},
        },
    }
    assert item["capabilities"] == ["llm", "web-research"]  # what the nodes need, as before


def test_a_workflow_without_status_has_no_status_key() -> None:
    item = described(entry_of(from_cluster(None)))
    assert "status" not in item
    assert item["conditions"][0]["reason"] == "Valid"


def test_an_unreadable_status_is_left_out_and_the_spec_stays_valid() -> None:
    item = described(entry_of(from_cluster({"conditions": "not a list", "capabilities": 7})))
    assert "status" not in item
    assert item["input"] == {"topic": {"type": "string"}}
    # Odd entries inside a readable status are read leniently, never fatal.
    odd = {"capabilities": {"llm": "nobody", "web-research": {"pools": "x", "readyEndpoints": -1}}}
    item = described(entry_of(from_cluster(odd)))
    assert item["status"]["capabilities"] == {
        "llm": {"pools": [], "readyEndpoints": 0},
        "web-research": {"pools": [], "readyEndpoints": 0},
    }


def test_a_file_carrying_a_status_passes_its_capabilities(tmp_path: Path) -> None:
    source = Path(__file__).parent.parent / "ui" / "workflows" / "pool-status.yaml"
    (tmp_path / "pool-status.yaml").write_text(source.read_text())
    catalog = Catalog()
    catalog.load_folder(tmp_path)
    entry = catalog.get("default", "pool-status")
    assert entry is not None
    item = described(entry)
    assert item["status"]["observedGeneration"] == 3
    assert item["status"]["capabilities"]["translate"] == {"pools": [], "readyEndpoints": 0}
    assert item["status"]["capabilities"]["web-research"] == {
        "pools": ["researchers", "spare-researchers"],
        "readyEndpoints": 3,
    }
    # For files the gateway judges Ready itself (it runs them on its own agents).
    assert item["conditions"][0]["status"] == "True"


def test_external_members_serving_a_capability_are_shown() -> None:
    """Agents outside the cluster count for a capability in the operator's status; the gateway
    shows them, and the dashboard counts a capability they alone serve as served."""
    from agent_runtime.gateway.routes.workflows import _serving
    from agent_runtime.ui.views import serving

    found = {"pools": ["remote"], "readyEndpoints": 0, "externalMembers": 2}
    assert _serving(found) == found
    assert _serving({**found, "externalMembers": -1}) == {"pools": ["remote"], "readyEndpoints": 0}
    status = {"observedGeneration": 1, "capabilities": {"outside": found}}
    [row] = serving({"capabilities": ["outside"], "status": status})
    assert row["state"] == "served" and row["ready"] == 2
