"""The Runs API's threads against a real ``serve`` process: a conversation of runs on a thread,
its state, history, search, metadata, copy and delete, and the answers to bad requests."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from agent_runtime.gateway import GatewaySettings, create_app
from tests.conftest import EXAMPLES
from tests.gateway.conftest import GatewayProcess

THREADS_API = {
    ("post", "/v1/threads"): "createThread",
    ("get", "/v1/threads"): "searchThreads",
    ("get", "/v1/threads/{thread_id}"): "getThread",
    ("patch", "/v1/threads/{thread_id}"): "updateThread",
    ("delete", "/v1/threads/{thread_id}"): "deleteThread",
    ("post", "/v1/threads/{thread_id}/copy"): "copyThread",
    ("get", "/v1/threads/{thread_id}/history"): "getThreadHistory",
    ("get", "/v1/threads/{thread_id}/runs"): "listThreadRuns",
}

WORKFLOW = """
apiVersion: configurable-agents.io/v1alpha1
kind: Workflow
metadata: {name: diary}
spec:
  state:
    topic: {type: string}
    log: {type: array, items: {type: string}, reducer: append}
    pause: {type: number}
  input: [topic, pause]
  output: [log]
  tools:
    - {name: record, function: "tests.counting_tools:slow_record"}
  nodes:
    - {name: keep, type: tool, tool: record, args: {label: "{{ topic }}", seconds: "{{ pause }}"}, output: log}
  edges:
    - {from: START, to: keep}
    - {from: keep, to: END}
"""


@pytest.fixture
def client(
    tmp_path: Path, sqlite_url: str, start_gateway: Callable[..., GatewayProcess]
) -> Iterator[httpx.Client]:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "diary.yaml").write_text(WORKFLOW)
    with start_gateway(sqlite_url, workflows=folder).client() as opened:
        yield opened


def say(client: httpx.Client, thread_id: str, topic: str, **body: Any) -> httpx.Response:
    return client.post(
        "/v1/workflows/default/diary/runs",
        json={"input": {"topic": topic, "pause": 0}, "threadId": thread_id, **body},
    )


def settled(client: httpx.Client, run_id: str) -> dict[str, Any]:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        run: dict[str, Any] = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] not in ("queued", "running"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not settle")


def test_a_conversation_on_a_thread(client: httpx.Client) -> None:
    made = client.post("/v1/threads", json={"metadata": {"user": "ann", "n": 1}})
    assert made.status_code == 201, made.text
    thread = made.json()
    assert (thread["namespace"], thread["status"], thread["workflow"]) == ("default", "idle", None)
    assert thread["createdBy"]["username"] == "system:anonymous"
    tid = thread["id"]
    outputs, run_ids = [], []
    for topic in ("one", "two", "three"):
        answer = say(client, tid, topic, wait=True)
        assert answer.status_code == 200, answer.text
        assert answer.json()["threadId"] == tid
        outputs.append(answer.json()["output"]["log"])
        run_ids.append(answer.json()["id"])
    assert outputs == [["one"], ["one", "two"], ["one", "two", "three"]]
    shown = client.get(f"/v1/threads/{tid}").json()
    assert shown["values"]["log"] == ["one", "two", "three"]
    assert (shown["status"], shown["workflow"]) == ("idle", "diary")
    assert shown["permissions"] == {"get": True, "update": True}
    runs = client.get(f"/v1/threads/{tid}/runs").json()["items"]
    assert [r["id"] for r in runs] == run_ids[::-1]  # newest first
    assert shown["lastRunId"] == run_ids[-1]

    first = client.get(f"/v1/threads/{tid}/history", params={"limit": 2}).json()
    assert [s["runId"] for s in first["items"]] == [shown["lastRunId"]] * 2
    assert first["items"][0]["values"]["log"] == ["one", "two", "three"]
    rest = client.get(
        f"/v1/threads/{tid}/history", params={"limit": 100, "before": first["nextCursor"]}
    ).json()
    assert rest["nextCursor"] is None
    whole = client.get(f"/v1/threads/{tid}/history", params={"limit": 100}).json()["items"]
    assert whole == first["items"] + rest["items"]
    assert [s["runId"] for s in whole] == sorted(
        (s["runId"] for s in whole), key=lambda r: -run_ids.index(r)
    )  # run by run, newest first
    assert {s["runId"] for s in whole} == set(run_ids)

    patched = client.patch(f"/v1/threads/{tid}", json={"metadata": {"n": 2, "topic": "x"}})
    assert patched.json()["metadata"] == {"user": "ann", "n": 2, "topic": "x"}
    found = client.get("/v1/threads", params={"metadata": '{"user": "ann", "n": 2}'}).json()
    assert [t["id"] for t in found["items"]] == [tid]
    none = client.get("/v1/threads", params={"metadata": '{"user": "bob"}'}).json()
    assert none["items"] == []

    copied = client.post(f"/v1/threads/{tid}/copy", json={"id": "copy-1"})
    assert copied.status_code == 201, copied.text
    assert copied.json()["values"] == shown["values"]
    assert client.delete(f"/v1/threads/{tid}").status_code == 204
    assert client.get(f"/v1/threads/{tid}").status_code == 404
    assert client.get(f"/v1/runs/{runs[0]['id']}").status_code == 404  # its runs went with it
    again = say(client, "copy-1", "four", wait=True)  # the copy goes on from the same state
    assert again.json()["output"]["log"] == ["one", "two", "three", "four"]
    copy_history = client.get("/v1/threads/copy-1/history", params={"limit": 100}).json()
    assert len(copy_history["items"]) == len(whole) + 3  # its own run: input, start, keep


def test_one_run_at_a_time_on_a_thread(client: httpx.Client) -> None:
    tid = client.post("/v1/threads", json={"id": "busy-1"}).json()["id"]
    slow = client.post(
        "/v1/workflows/default/diary/runs",
        json={"input": {"topic": "slow", "pause": 1.5}, "threadId": tid},
    )
    assert slow.status_code == 202, slow.text
    refused = say(client, tid, "second")
    assert refused.status_code == 409, refused.text
    body = refused.json()["error"]
    assert body["code"] == "conflict" and "busy-1" in body["message"]
    assert body["details"] == {"thread": tid, "activeRun": slow.json()["id"]}
    assert client.delete(f"/v1/threads/{tid}").status_code == 409
    assert client.get(f"/v1/threads/{tid}").json()["status"] == "busy"
    settled(client, slow.json()["id"])
    assert say(client, tid, "after", wait=True).json()["output"]["log"] == ["slow", "after"]


def test_bad_requests_name_the_field(client: httpx.Client) -> None:
    missing = say(client, "no-such-thread", "x")
    assert missing.status_code == 404
    assert missing.json()["error"]["code"] == "thread_not_found"
    for body, field in (
        ({"id": "has space"}, "id"),
        ({"id": "a/b"}, "id"),
        ({"namespace": "Not_A_Label"}, "namespace"),
        ({"metadata": []}, "metadata"),
        ({"unknown": 1}, "unknown"),
    ):
        answer = client.post("/v1/threads", json=body)
        assert answer.status_code == 422, (body, answer.text)
        assert [d["field"] for d in answer.json()["error"]["details"]] == [field], answer.text
    assert client.post("/v1/threads", json={"id": "dup"}).status_code == 201
    taken = client.post("/v1/threads", json={"id": "dup"})
    assert taken.status_code == 409 and taken.json()["error"]["code"] == "conflict"
    for text in ("[1]", "{", "[" * 4000 + "]" * 4000, '{"a": "\\u0000"}', '{"\\ud800": 1}'):
        bad_json = client.get("/v1/threads", params={"metadata": text})
        assert bad_json.status_code == 422, (text[:10], bad_json.text)
        assert bad_json.json()["error"]["details"][0]["field"] == "metadata"
    bad_cursor = client.get("/v1/threads/dup/history", params={"before": "nonsense"})
    assert bad_cursor.status_code == 400
    assert bad_cursor.json()["error"]["details"][0]["field"] == "before"
    foreign = client.get("/v1/threads/dup/history", params={"before": "run-x/1ef"})
    assert foreign.status_code == 400  # a run of another thread is no cursor of this one
    assert client.patch("/v1/threads/dup", json={}).status_code == 422
    assert client.patch("/v1/threads/nope", json={"metadata": {}}).status_code == 404
    assert client.post("/v1/threads/nope/copy").status_code == 404
    assert client.delete("/v1/threads/nope").status_code == 404


def test_the_openapi_document_names_links_and_errors_of_threads() -> None:
    document = create_app(GatewaySettings(workflows=EXAMPLES)).openapi()
    operations = {}
    for (method, path), name in THREADS_API.items():
        operation = document["paths"][path][method]
        assert operation["operationId"] == name
        operations[name] = operation
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                schema = response["content"]["application/json"]["schema"]
                assert schema == {"$ref": "#/components/schemas/ErrorBody"}, (name, status)
    for made in ("createThread", "copyThread"):
        links = operations[made]["responses"]["201"]["links"]
        assert {link["operationId"] for link in links.values()} == set(THREADS_API.values()) - {
            "createThread",
            "searchThreads",
        }
        for link in links.values():
            target = operations[link["operationId"]]
            names = {p["name"] for p in target["parameters"] if p["in"] == "path"}
            assert set(link["parameters"]) == names == {"thread_id"}
    assert "400" in operations["getThreadHistory"]["responses"]
    assert "409" in operations["deleteThread"]["responses"]
    create_run = document["paths"]["/v1/workflows/{namespace}/{name}/runs"]["post"]
    body = create_run["requestBody"]["content"]["application/json"]["schema"]["$ref"]
    assert "threadId" in document["components"]["schemas"][body.rsplit("/", 1)[1]]["properties"]
