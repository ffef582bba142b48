"""A gateway in cluster mode with the Triggers of its namespace: one created after it started is
picked up by its watch, fired on the test's clock, and its status (lastScheduleTime, active,
lastSuccessfulTime) written to the Trigger's status subresource, as the gateway's own
ServiceAccount bound only to the gateway's Role from manifests (which proves that Role enough)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi import FastAPI

from agent_runtime.engine import LocalDispatcher
from agent_runtime.gateway.app import serving
from agent_runtime.gateway.catalog import Catalog
from agent_runtime.gateway.cluster import ClusterTriggers, ClusterWorkflows
from agent_runtime.gateway.settings import GatewaySettings
from agent_runtime.gateway.trigger_status import ClusterStatus, parse_stamp, stamp
from agent_runtime.kube import KubeClient, load_configuration
from agent_runtime.spec.schedule import Cron
from tests.gateway.gateway_account import bind_gateway
from tests.gateway.test_scheduler import TestClock
from tests.gateway.test_trigger_status import QUICK
from tests.kube_harness import token_kubeconfig

pytestmark = pytest.mark.cluster

SCHEDULE = "*/5 * * * *"


def trigger_doc(namespace: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "configurable-agents.io/v1alpha1",
            "kind": "Trigger",
            "metadata": {"name": "every-five", "namespace": namespace},
            "spec": {
                "workflow": "quick",
                "input": {"topic": "news"},
                "schedule": {"schedule": SCHEDULE, "successfulRunsHistoryLimit": 1},
            },
        }
    )


async def test_a_trigger_created_after_start_fires_and_its_status_is_written(
    control_plane: Any,
    kubectl: Any,
    namespace: str,
    tmp_path: Path,
    sqlite_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    bind_gateway(kubectl, namespace)
    workflow = {**QUICK, "metadata": {"name": "quick", "namespace": namespace}}
    kubectl("apply", "-f", "-", stdin=yaml.safe_dump(workflow))
    config = token_kubeconfig(control_plane, namespace, "gateway", tmp_path / "gw.kubeconfig")
    monkeypatch.setenv("KUBECONFIG", str(config))
    client = KubeClient(load_configuration())
    catalog = Catalog()
    parts = [
        ClusterWorkflows(client, catalog, namespaces=[namespace]),
        ClusterTriggers(client, catalog, namespaces=[namespace]),
    ]
    clock = TestClock(datetime.now(UTC))
    app = FastAPI()
    settings = GatewaySettings(store=sqlite_url, poll_interval=0.05)
    for part in parts:
        part.start()
    try:
        async with serving(
            app,
            settings,
            catalog,
            LocalDispatcher(),
            watches=[p.watches for p in parts],
            clock=clock,
            status_writer=ClusterStatus(catalog, client),
        ):
            scheduler, gateway = app.state.scheduler, app.state.gateway
            for part in parts:
                await asyncio.wait_for(part.watches.wait_synced(), 15)
            assert catalog.triggers() == []
            await asyncio.to_thread(kubectl, "apply", "-f", "-", stdin=trigger_doc(namespace))
            for _ in range(100):
                if catalog.triggers():
                    break
                await asyncio.sleep(0.1)
            [served] = catalog.triggers()
            created = parse_stamp((served.metadata.model_extra or {})["creationTimestamp"])
            assert created is not None
            tick = Cron(SCHEDULE).next_after(created)
            clock.moment = created
            assert await scheduler.fire_due() == []  # nothing due before its first tick
            clock.moment = tick
            [run] = await scheduler.fire_due()
            assert run.triggered_by is not None and run.triggered_by.tick == tick

            def status() -> dict[str, Any]:
                got = kubectl("get", "catr", "every-five", "-n", namespace, "-o", "json")
                return dict(json.loads(got.stdout).get("status") or {})

            want = stamp(tick)
            for _ in range(200):  # the run succeeds at once; the worker's refresh writes it
                now = await asyncio.to_thread(status)
                if now.get("lastSuccessfulTime") and now.get("active") == []:
                    break
                await asyncio.sleep(0.1)
            assert now["lastScheduleTime"] == want
            assert now["active"] == []  # (finished on the real clock, not the test's)
            assert parse_stamp(now["lastSuccessfulTime"]) is not None
            # the watch brings the written status back: no second write of the same values
            for _ in range(50):
                back = catalog.trigger(namespace, "every-five")
                if back and back.status and back.status.last_successful_time:
                    break
                await asyncio.sleep(0.1)
            version = json.loads(
                kubectl("get", "catr", "every-five", "-n", namespace, "-o", "json").stdout
            )["metadata"]["resourceVersion"]
            await scheduler.refresh(catalog.triggers()[0])
            again = json.loads(
                kubectl("get", "catr", "every-five", "-n", namespace, "-o", "json").stdout
            )["metadata"]["resourceVersion"]
            assert again == version
            assert [r.id for r in (await gateway.store.list_runs()).items] == [run.id]
    finally:
        for part in parts:
            await part.stop()
        await client.aclose()
