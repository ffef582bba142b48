"""What the workflow pages make of a Workflow's status: pools per capability, the start button."""

from __future__ import annotations

from typing import Any

from agent_runtime.ui.views import serving, startable, templates

NOT_READY = {
    "type": "Ready",
    "status": "False",
    "reason": "CapabilitiesUnavailable",
    "message": "no AgentPool serves translate",
}


def cluster_workflow(**extra: Any) -> dict[str, Any]:
    return {
        "namespace": "demo",
        "name": "brief",
        "source": "cluster",
        "conditions": [NOT_READY],
        "input": {"topic": {"type": "string"}},
        "output": ["draft"],
        "capabilities": ["llm", "translate"],
        "status": {
            "observedGeneration": 2,
            "capabilities": {
                "llm": {"pools": ["writers"], "readyEndpoints": 1},
                "translate": {"pools": [], "readyEndpoints": 0},
                "gone": {"pools": ["old"], "readyEndpoints": 0},
            },
        },
        **extra,
    }


def render(workflow: dict[str, Any]) -> str:
    template = templates().get_template("workflow.html")
    return str(
        template.render(
            root="/ui",
            gateway="http://gw",
            csrf_token="t" * 64,
            title="x",
            workflow=workflow,
            fields=[],
            values={},
            problems={},
            error=None,
            recent=[],
        )
    )


def test_each_capability_gets_its_pools_and_a_state() -> None:
    rows = {r["name"]: (r["state"], r["pools"], r["ready"]) for r in serving(cluster_workflow())}
    assert rows == {
        "gone": ("unready", ["old"], 0),  # in the status only: still shown
        "llm": ("served", ["writers"], 1),
        "translate": ("no-pool", [], 0),
    }
    without = cluster_workflow()
    del without["status"]
    assert {r["state"] for r in serving(without)} == {"unknown"}
    unseen = cluster_workflow(status={"observedGeneration": 0})  # the CRD's default status
    assert {r["state"] for r in serving(unseen)} == {"unknown"}


def test_a_valid_workflow_without_pools_can_start_runs_that_wait_queued() -> None:
    html = render(cluster_workflow())
    assert 'id="queued-note"' in html
    assert "disabled" not in html.split('id="run-form"')[1].split("</form>")[0]
    assert "CapabilitiesUnavailable: no AgentPool serves translate" in html
    assert "(generation 2)" in html
    assert 'name="csrf-token" value="' + "t" * 64 in html


def test_an_invalid_workflow_cannot_start_runs() -> None:
    invalid = cluster_workflow()
    del invalid["input"], invalid["status"]
    assert not startable(invalid)
    html = render(invalid)
    assert 'disabled aria-disabled="true"' in html
    assert 'id="queued-note"' not in html
