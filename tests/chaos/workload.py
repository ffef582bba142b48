"""The chaos suites' workload: a multi-node Workflow, started N times through any live gateway,
its human steps answered as a person would, until every run is finished.

The Workflow fans out to two slow model nodes, retries a tool that fails 30% of the time, charges
once through a non-idempotent counting tool (``tests.counting_tools``: the side effects are
counted) and waits for a person's approval.
"""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import Callable
from typing import Any

import httpx

from tests.counting_tools import counts

#: Runs started at a time, and the least time the starting takes (so every kind of fault
#: meets runs in flight even at CI's size).
BATCH = 10
MIN_SECONDS = 45.0

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: order}
spec:
  state:
    topic: {type: string}
    plan: {type: string}
    findings: {type: array, items: {type: string}, reducer: append}
    checked: {type: string}
    receipt: {type: string}
    approved: {type: boolean}
    done: {type: string}
  input: [topic]
  output: [findings, receipt, approved, done]
  models:
    planner: {provider: scripted, responses: ["plan it"], delay: 300ms}
    a: {provider: scripted, responses: [{findings: ["a"]}], delay: 1s}
    b: {provider: scripted, responses: [{findings: ["b"]}], delay: 1s}
    closer: {provider: scripted, responses: ["closed"], delay: 300ms}
  tools:
    - {name: check, function: "tests.counting_tools:sometimes"}
    - {name: charge, function: "tests.counting_tools:record", idempotent: false}
  nodes:
    - {name: plan, type: llm, model: planner, prompt: "{{ topic }}", output: plan}
    - name: search_a
      type: llm
      model: a
      prompt: "{{ topic }}"
      output: {findings: {type: array, items: {type: string}}}
    - name: search_b
      type: llm
      model: b
      prompt: "{{ topic }}"
      output: {findings: {type: array, items: {type: string}}}
    - name: check
      type: tool
      tool: check
      args: {label: "check-{{ topic }}", rate: 0.3}
      output: checked
      retry: {maxAttempts: 20, initialDelay: 50ms, maxDelay: 500ms}
    - {name: charge, type: tool, tool: charge, args: {label: "charge-{{ topic }}"}, output: receipt}
    - {name: review, type: human, prompt: "ship {{ topic }}?", output: {approved: {type: boolean}}}
    - {name: close, type: llm, model: closer, prompt: "close {{ topic }}", output: done}
  edges:
    - {from: START, to: plan}
    - {from: plan, to: search_a}
    - {from: plan, to: search_b}
    - {from: [search_a, search_b], to: check}
    - {from: check, to: charge}
    - {from: charge, to: review}
    - {from: review, to: close}
    - {from: close, to: END}
"""

FINISHED = {"succeeded", "failed", "cancelled"}


class Client:
    """Any live gateway, taking turns (so each gateway holds runs when a fault meets it); a
    request that meets a dead, paused or cut-off one tries another."""

    def __init__(self, urls: Callable[[], list[str]]) -> None:
        self.urls = urls
        self.http = httpx.AsyncClient(timeout=5)
        self._turn = itertools.count()

    async def call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        while True:
            urls = self.urls()
            first = next(self._turn) % max(1, len(urls))
            for url in urls[first:] + urls[:first]:
                try:
                    response = await self.http.request(method, url + path, **kwargs)
                except httpx.HTTPError:
                    continue
                if response.status_code < 500:
                    return response
            await asyncio.sleep(0.2)


async def submit(
    client: Client, count: int, ids: list[str], min_seconds: float, batch: int
) -> None:
    """Start ``count`` runs, ``batch`` at a time, over at least ``min_seconds``, adding their ids
    to ``ids``; a run counts as acknowledged once a gateway answered 202 for it (an idempotency
    key makes a retried request the same run)."""

    async def one(i: int) -> str:
        while True:
            response = await client.call(
                "POST",
                "/v1/workflows/default/order/runs",
                json={"input": {"topic": f"t{i}"}, "idempotencyKey": f"order-{i}"},
            )
            if response.status_code == 202:
                return str(response.json()["id"])
            await asyncio.sleep(0.2)  # 429: the gateway's admission says later

    batches = range(0, count, batch)
    pace = max(1.0, min_seconds / len(batches))  # spread over time, so faults meet work
    for start in batches:
        began = time.monotonic()
        ids += await asyncio.gather(*(one(i) for i in range(start, min(start + batch, count))))
        await asyncio.sleep(max(0.0, pace - (time.monotonic() - began)))


async def answer(client: Client, run: dict[str, Any], charged: dict[str, int]) -> None:
    """What a person does: approve the review; for a charge whose outcome is unknown, look at
    the payment system (the counter) and go on with its result, or charge again if none."""
    waiting = run.get("interrupt") or {}
    if waiting.get("kind") == "approval":
        label = f"charge-{run['input']['topic']}"
        body: dict[str, Any] = {"approved": True, "reason": "checked the ledger"}
        if charged.get(label):
            body["result"] = label
        await client.call("POST", f"/v1/runs/{run['id']}/approve", json=body)
    else:
        await client.call(
            "POST", f"/v1/runs/{run['id']}/resume", json={"input": {"approved": True}}
        )


async def listed(client: Client, status: str) -> list[dict[str, Any]]:
    """Every run of ``status``, page by page (the listing's item includes the interrupt)."""
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        params = {"status": status, "limit": "1000", **({"cursor": cursor} if cursor else {})}
        page = (await client.call("GET", "/v1/runs", params=params)).json()
        items += page["items"]
        cursor = page.get("nextCursor")
        if not cursor:
            return items


async def answer_waiting(client: Client, wanted: set[str]) -> None:
    """Answer every interrupted run of ``wanted``."""
    for run in await listed(client, "interrupted"):
        if run["id"] in wanted:
            await answer(client, run, counts())


async def drive(client: Client, ids: list[str], *, deadline: float) -> int:
    """Answer interrupted runs until every run is finished or the deadline passes; the number
    of runs still unfinished."""
    wanted = set(ids)
    unfinished = len(wanted)
    while time.monotonic() < deadline:
        await answer_waiting(client, wanted)
        finished = set()
        for status in FINISHED:
            finished |= {r["id"] for r in await listed(client, status)}
        unfinished = len(wanted - finished)
        if not unfinished:
            break
        await asyncio.sleep(1.0)
    return unfinished


async def run_workload(
    urls: Callable[[], list[str]],
    runs: int,
    *,
    stop_faults: Callable[[], None],
    min_seconds: float = MIN_SECONDS,
    batch: int = BATCH,
) -> list[str]:
    """Start ``runs`` runs (``batch`` at a time, over at least ``min_seconds``), answering
    their human steps meanwhile (so every part of a run meets faults), and drive them while the
    faults go on (about 1.5 s a run), then stop the faults (``stop_faults`` may wait for a whole
    cycle of them) and give the survivors two minutes to settle what is left; the runs' ids."""
    client = Client(urls)
    try:
        ids: list[str] = []
        submitting = asyncio.ensure_future(submit(client, runs, ids, min_seconds, batch))
        while not submitting.done():
            await answer_waiting(client, set(ids))
            await asyncio.wait({submitting}, timeout=1.0)
        await submitting
        await drive(client, ids, deadline=time.monotonic() + 60 + runs * 1.5)
        await asyncio.to_thread(stop_faults)
        await drive(client, ids, deadline=time.monotonic() + 120)
        return ids
    finally:
        await client.http.aclose()
