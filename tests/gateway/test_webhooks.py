"""Triggers' webhooks over real HTTP: a `configurable-agents serve` process with its keys in the
environment; GitHub's deliveries signed as GitHub signs them, Standard Webhooks' by the
`standardwebhooks` library and by hand, CloudEvents built by the `cloudevents` SDK in both
modes. Every refusal is checked to start no run."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import signal
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from cloudevents.core.bindings.http import to_binary_event, to_structured_event
from cloudevents.core.v1.event import CloudEvent
from standardwebhooks import Webhook as StandardWebhook

from tests.gateway.conftest import GatewayProcess

NS, OTHER = "team-a", "team-b"
GITHUB_KEY = "It's a Secret to Everybody"  # GitHub's documented example secret
CURRENT = "whsec_" + base64.b64encode(b"current-key-0123456789abcdef0123").decode()
PREVIOUS = "whsec_" + base64.b64encode(b"previous-key-0123456789abcdef012").decode()
WRONG = "whsec_" + base64.b64encode(b"a-guess-0123456789abcdef01234567").decode()


def workflow(namespace: str) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Workflow",
        "metadata": {"name": "review", "namespace": namespace},
        "spec": {
            "state": {
                "title": {"type": "string"},
                "number": {"type": "integer"},
                "repo": {"type": "string"},
                "draft": {"type": "string"},
            },
            "input": ["title", "number", "repo"],
            "output": ["draft"],
            "models": {"default": {"provider": "scripted", "responses": ["looks good"]}},
            "nodes": [{"name": "write", "type": "llm", "prompt": "{{ title }}", "output": "draft"}],
            "edges": [{"from": "START", "to": "write"}, {"from": "write", "to": "END"}],
        },
    }


def trigger(name: str, webhook: dict[str, Any], **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "configurable-agents.io/v1alpha1",
        "kind": "Trigger",
        "metadata": {"name": name, "namespace": NS},
        "spec": {"workflow": "review", "webhook": webhook, **spec},
    }


GITHUB = {
    "signature": "github",
    "keys": {"env": ["WEBHOOK_GITHUB"]},
    "when": "headers['x-github-event'] == 'pull_request'",
    "input": {
        "title": "body.pull_request.title",
        "number": "body.pull_request.number",
    },
}
STANDARD = {
    "keys": {"env": ["WEBHOOK_CURRENT", "WEBHOOK_PREVIOUS"]},
    "input": {"title": "body.title", "number": "body.number"},
}
EVENTS = {
    "format": "cloudevents",
    "keys": {"env": ["WEBHOOK_CURRENT"]},
    "input": {"title": "event.subject + ': ' + body.title", "number": "body.number"},
}
#: A schedule: no webhook, so answered as no trigger at all.
NIGHTLY = {
    "apiVersion": "configurable-agents.io/v1alpha1",
    "kind": "Trigger",
    "metadata": {"name": "nightly", "namespace": NS},
    "spec": {
        "workflow": "review",
        "input": {"title": "t", "number": 1, "repo": "x"},
        "schedule": {"schedule": "0 3 * * *"},
        "suspend": True,
    },
}
DOCUMENTS = [
    workflow(NS),
    workflow(OTHER),
    trigger("pull-requests", GITHUB, input={"repo": "octo/hello"}),
    trigger("standard", STANDARD, input={"repo": "octo/std"}),
    trigger("events", EVENTS, input={"repo": "octo/events"}),
    trigger("paused", STANDARD, input={"repo": "octo/paused"}, suspend=True),
    # keys this gateway cannot have: a Secret (it serves files), a variable not set
    trigger("from-secret", {**STANDARD, "keys": {"secretRef": {"name": "hook-keys"}}}),
    trigger("unset", {**STANDARD, "keys": {"env": ["WEBHOOK_NOT_SET"]}}),
    NIGHTLY,
]
KEYS = {"WEBHOOK_GITHUB": GITHUB_KEY, "WEBHOOK_CURRENT": CURRENT, "WEBHOOK_PREVIOUS": PREVIOUS}


def start(tmp: Path, store: str, env: dict[str, str]) -> GatewayProcess:
    folder = tmp / "served"
    folder.mkdir(exist_ok=True)
    (folder / "all.yaml").write_text(yaml.safe_dump_all(DOCUMENTS), encoding="utf-8")
    return GatewayProcess(store, tmp, workflows=folder, env=env)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayProcess]:
    tmp = tmp_path_factory.mktemp("webhooks")
    gateway = start(tmp, f"sqlite:///{tmp / 'runs.db'}", KEYS)
    yield gateway
    gateway.kill(signal.SIGTERM)


@pytest.fixture
def client(served: GatewayProcess) -> Iterator[httpx.Client]:
    with served.client() as c:
        yield c


def url(name: str, namespace: str = NS) -> str:
    return f"/v1/triggers/{namespace}/{name}/webhook"


def github_headers(
    body: bytes, *, key: str = GITHUB_KEY, event: str = "pull_request"
) -> dict[str, str]:
    """What GitHub sends: the HMAC-SHA256 of the body in hex, a delivery GUID, the event."""
    digest = hmac.new(key.encode(), body, hashlib.sha256).hexdigest()
    return {
        "Content-Type": "application/json",
        "User-Agent": "GitHub-Hookshot/abc123",
        "X-GitHub-Event": event,
        "X-GitHub-Delivery": str(uuid.uuid4()),
        "X-GitHub-Hook-ID": "1",
        "X-Hub-Signature-256": f"sha256={digest}",
    }


def pull_request(number: int, title: str = "Add webhooks") -> bytes:
    payload = {
        "action": "opened",
        "number": number,
        "pull_request": {"number": number, "title": title},
    }
    return json.dumps(payload).encode()


def standard_headers(
    body: bytes, *, secret: str = CURRENT, delivery: str | None = None, at: float | None = None
) -> dict[str, str]:
    """Standard Webhooks' headers, signed by its own library."""
    delivery = delivery or f"msg_{uuid.uuid4().hex}"
    moment = at if at is not None else time.time()
    signature = StandardWebhook(secret).sign(
        delivery, datetime.fromtimestamp(moment, UTC), body.decode()
    )
    return {
        "Content-Type": "application/json",
        "webhook-id": delivery,
        "webhook-timestamp": str(int(moment)),
        "webhook-signature": signature,
    }


def runs_of(client: httpx.Client, name: str, namespace: str = NS) -> list[dict[str, Any]]:
    items = client.get("/v1/runs", params={"workflow": "review", "limit": 200}).json()["items"]
    return [
        r
        for r in items
        if r["namespace"] == namespace and (r.get("triggeredBy") or {}).get("name") == name
    ]


def settled(client: httpx.Client, run_id: str) -> dict[str, Any]:
    for _ in range(200):
        run = client.get(f"/v1/runs/{run_id}").json()
        if run["status"] in ("succeeded", "failed"):
            return run
        time.sleep(0.05)
    raise AssertionError(f"run {run_id} did not finish")


def refused(answer: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["code"] == code, error
    return error


# --- GitHub -----------------------------------------------------------------------------------


def test_a_github_delivery_starts_a_run_as_its_trigger(client: httpx.Client) -> None:
    body = pull_request(7, "Add webhooks")
    headers = github_headers(body)
    answer = client.post(url("pull-requests"), content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    run = settled(client, answer.json()["id"])
    assert run["status"] == "succeeded"
    assert run["input"] == {"title": "Add webhooks", "number": 7, "repo": "octo/hello"}
    assert run["createdBy"]["username"] == f"system:trigger:{NS}:pull-requests"
    assert run["triggeredBy"] == {
        "namespace": NS,
        "name": "pull-requests",
        "source": "webhook",
        "tick": None,
        "delivery": headers["X-GitHub-Delivery"],
        "eventId": None,
        "eventSource": None,
    }


def test_a_redelivery_is_the_same_run(client: httpx.Client) -> None:
    body = pull_request(8)
    headers = github_headers(body)
    first = client.post(url("pull-requests"), content=body, headers=headers)
    again = client.post(url("pull-requests"), content=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert first.json()["id"] == again.json()["id"]
    delivered = [
        r
        for r in runs_of(client, "pull-requests")
        if r["triggeredBy"]["delivery"] == headers["X-GitHub-Delivery"]
    ]
    assert len(delivered) == 1


def test_a_bad_signature_starts_nothing(client: httpx.Client) -> None:
    body = pull_request(9)
    before = len(runs_of(client, "pull-requests"))
    wrong_key = client.post(
        url("pull-requests"), content=body, headers=github_headers(body, key="guess")
    )
    refused(wrong_key, 401, "signature_invalid")
    tampered = client.post(
        url("pull-requests"), content=pull_request(9, "Other"), headers=github_headers(body)
    )
    refused(tampered, 401, "signature_invalid")
    unsigned = {k: v for k, v in github_headers(body).items() if k != "X-Hub-Signature-256"}
    refused(
        client.post(url("pull-requests"), content=body, headers=unsigned), 401, "signature_invalid"
    )
    assert len(runs_of(client, "pull-requests")) == before


def test_a_ping_is_answered_and_ignored(client: httpx.Client) -> None:
    body = json.dumps({"zen": "Keep it logically awesome.", "hook_id": 1}).encode()
    answer = client.post(
        url("pull-requests"), content=body, headers=github_headers(body, event="ping")
    )
    assert answer.status_code == 200 and answer.json() == {"id": None, "status": "ignored"}


def test_a_mapping_error_is_a_400_naming_the_field(client: httpx.Client) -> None:
    before = len(runs_of(client, "pull-requests"))
    no_number = json.dumps({"action": "opened", "pull_request": {"title": "x"}}).encode()
    error = refused(
        client.post(url("pull-requests"), content=no_number, headers=github_headers(no_number)),
        400,
        "mapping_failed",
    )
    assert [d["field"] for d in error["details"]] == ["input.number"], error
    assert "number" in error["details"][0]["message"]
    wrong_type = json.dumps({"pull_request": {"title": "x", "number": "seven"}}).encode()
    error = refused(
        client.post(url("pull-requests"), content=wrong_type, headers=github_headers(wrong_type)),
        400,
        "mapping_failed",
    )
    assert [d["field"] for d in error["details"]] == ["input.number"], error
    not_json = b"payload=%7B%7D"
    error = refused(
        client.post(url("pull-requests"), content=not_json, headers=github_headers(not_json)),
        400,
        "invalid_payload",
    )
    assert error["details"][0]["field"] == "body"
    assert len(runs_of(client, "pull-requests")) == before


# --- Standard Webhooks -------------------------------------------------------------------------


def test_a_standard_delivery_signed_by_its_library_starts_a_run(client: httpx.Client) -> None:
    body = json.dumps({"title": "std", "number": 1}).encode()
    headers = standard_headers(body)
    answer = client.post(url("standard"), content=body, headers=headers)
    assert answer.status_code == 202, answer.text
    run = settled(client, answer.json()["id"])
    assert run["triggeredBy"]["delivery"] == headers["webhook-id"]
    again = client.post(url("standard"), content=body, headers=headers)
    assert again.status_code == 200 and again.json()["id"] == run["id"]


def test_a_standard_signature_made_by_hand_verifies(client: httpx.Client) -> None:
    """What the README's openssl recipe computes: base64(HMAC(key, "id.timestamp.body"))."""
    body = json.dumps({"title": "by hand", "number": 2}).encode()
    key = base64.b64decode(CURRENT.removeprefix("whsec_"))
    stamp, delivery = str(int(time.time())), "delivery-by-hand"
    digest = hmac.new(key, f"{delivery}.{stamp}.".encode() + body, hashlib.sha256).digest()
    headers = {
        "webhook-id": delivery,
        "webhook-timestamp": stamp,
        "webhook-signature": "v1,AAAA v1," + base64.b64encode(digest).decode(),
    }
    assert client.post(url("standard"), content=body, headers=headers).status_code == 202


def test_an_old_timestamp_is_refused_naming_it(client: httpx.Client) -> None:
    body = json.dumps({"title": "late", "number": 3}).encode()
    for moment in (time.time() - 600, time.time() + 600):
        error = refused(
            client.post(url("standard"), content=body, headers=standard_headers(body, at=moment)),
            401,
            "signature_invalid",
        )
        assert error["details"][0]["field"] == "webhook-timestamp", error
        assert "tolerance is 300s" in error["message"]
    assert not [r for r in runs_of(client, "standard") if r["input"]["title"] == "late"]


def test_both_keys_verify_during_a_rotation_and_the_old_one_not_after(
    served: GatewayProcess, tmp_path: Path
) -> None:
    body = json.dumps({"title": "rotated", "number": 4}).encode()
    with served.client() as client:
        for secret in (CURRENT, PREVIOUS):
            answer = client.post(
                url("standard"), content=body, headers=standard_headers(body, secret=secret)
            )
            assert answer.status_code == 202, answer.text
    # the rotation ends: the previous key's variable is unset (and GitHub's is forgotten)
    store = f"sqlite:///{tmp_path / 'after.db'}"
    kept = {k: v for k, v in KEYS.items() if k not in ("WEBHOOK_PREVIOUS", "WEBHOOK_GITHUB")}
    after = start(tmp_path, store, kept)
    try:
        with after.client() as client:
            old = client.post(
                url("standard"), content=body, headers=standard_headers(body, secret=PREVIOUS)
            )
            refused(old, 401, "signature_invalid")
            new = client.post(url("standard"), content=body, headers=standard_headers(body))
            assert new.status_code == 202, new.text
            # no key at all: refused as any unverified delivery; the log says why, no key in it
            github = pull_request(1)
            keyless = client.post(
                url("pull-requests"), content=github, headers=github_headers(github)
            )
            refused(keyless, 401, "signature_invalid")
    finally:
        after.kill(signal.SIGTERM)
    log = after.log.read_text()
    assert "spec.webhook.keys.env: none of WEBHOOK_GITHUB is set" in log
    assert not any(key in log for key in (GITHUB_KEY, CURRENT, PREVIOUS))


# --- CloudEvents -------------------------------------------------------------------------------


def event(event_id: str, number: int) -> CloudEvent:
    return CloudEvent(
        attributes={
            "type": "com.example.review.requested",
            "source": "https://git.example.com/octo/events",
            "id": event_id,
            "subject": "PR",
            "datacontenttype": "application/json",
        },
        data={"title": "from an event", "number": number},
    )


@pytest.mark.parametrize("mode", ["binary", "structured"])
def test_a_cloudevent_starts_one_run_in_either_mode(client: httpx.Client, mode: str) -> None:
    event_id = f"{mode}-{uuid.uuid4()}"
    to_http = to_binary_event if mode == "binary" else to_structured_event
    message = to_http(event(event_id, 5))
    if mode == "binary":
        assert "ce-id" in message.headers
    else:
        assert message.headers["content-type"] == "application/cloudevents+json"
    runs = []
    for _ in range(2):  # the sender retries with a new signature (and webhook-id): one run
        headers = {**message.headers, **standard_headers(message.body)}
        answer = client.post(url("events"), content=message.body, headers=headers)
        assert answer.status_code in (200, 202), answer.text
        runs.append(answer.json()["id"])
    assert runs[0] == runs[1]
    run = settled(client, runs[0])
    assert run["input"] == {"title": "PR: from an event", "number": 5, "repo": "octo/events"}
    assert run["triggeredBy"]["source"] == "cloudevent"
    assert run["triggeredBy"]["eventId"] == event_id
    assert run["triggeredBy"]["eventSource"] == "https://git.example.com/octo/events"


def test_a_signed_payload_that_is_no_cloudevent_is_a_400(client: httpx.Client) -> None:
    body = json.dumps({"title": "plain", "number": 6}).encode()
    error = refused(
        client.post(url("events"), content=body, headers=standard_headers(body)),
        400,
        "invalid_payload",
    )
    assert "CloudEvent" in error["message"]


# --- what is not a delivery ---------------------------------------------------------------------


def test_an_unknown_trigger_is_answered_as_a_bad_signature(client: httpx.Client) -> None:
    """Without its key a request learns nothing of a trigger, not even that it exists."""
    body = json.dumps({"title": "x", "number": 1}).encode()
    bad = client.post(url("standard"), content=body, headers=standard_headers(body, secret=WRONG))
    answers = [
        bad,
        client.post(url("nothing"), content=body, headers=standard_headers(body)),
        client.post(url("standard", "nowhere"), content=body, headers=standard_headers(body)),
        client.post(url("nightly"), content=body, headers=standard_headers(body)),  # a schedule
    ]
    for answer in answers:
        refused(answer, 401, "signature_invalid")
    shapes = {a.json()["error"]["message"].split(" (or there is")[0] for a in answers}
    assert len(shapes) == 1
    assert {tuple(sorted(a.json()["error"])) for a in answers} == {("code", "message")}


def test_a_suspended_trigger_starts_nothing(client: httpx.Client) -> None:
    body = json.dumps({"title": "paused", "number": 1}).encode()
    refused(
        client.post(url("paused"), content=body, headers=standard_headers(body)),
        409,
        "trigger_suspended",
    )
    # and without the key, not even that it is suspended
    wrong = standard_headers(body, secret=WRONG)
    refused(client.post(url("paused"), content=body, headers=wrong), 401, "signature_invalid")
    assert runs_of(client, "paused") == []


def test_an_oversized_body_is_a_413(tmp_path: Path) -> None:
    small = start(
        tmp_path,
        f"sqlite:///{tmp_path / 'small.db'}",
        {**KEYS, "CONFIGURABLE_AGENTS_WEBHOOK_MAX_BYTES": "1024"},
    )
    try:
        with small.client() as client:
            big = json.dumps({"title": "x" * 2000, "number": 1}).encode()
            refused(
                client.post(url("standard"), content=big, headers=standard_headers(big)),
                413,
                "payload_too_large",
            )

            def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it comes
                yield big[:1000]
                yield big[1000:]

            streamed = client.post(url("standard"), content=chunks(), headers=standard_headers(big))
            refused(streamed, 413, "payload_too_large")
            fits = json.dumps({"title": "x", "number": 1}).encode()
            assert (
                client.post(
                    url("standard"), content=fits, headers=standard_headers(fits)
                ).status_code
                == 202
            )
    finally:
        small.kill(signal.SIGTERM)


def test_keys_the_gateway_cannot_have_show_before_any_delivery(client: httpx.Client) -> None:
    """A Trigger whose keys a gateway serving files cannot have is listed Stalled, naming the
    field; a delivery to it is answered as any unverified one."""
    listed = {
        t["name"]: t["status"]["conditions"] for t in client.get("/v1/triggers").json()["items"]
    }

    def verdict(name: str) -> tuple[str, str, str]:
        [true] = [c for c in listed[name] if c["status"] == "True"]
        return true["type"], true["reason"], true["message"]

    kind, reason, message = verdict("from-secret")
    assert (kind, reason) == ("Stalled", "KeysUnavailable")
    assert message.startswith("spec.webhook.keys.secretRef: a gateway serving files has no")
    assert verdict("unset") == (
        "Stalled",
        "KeysUnavailable",
        "spec.webhook.keys.env: none of WEBHOOK_NOT_SET is set",
    )
    assert verdict("standard")[:2] == ("Ready", "Listening")
    body = json.dumps({"title": "t", "number": 1}).encode()
    for name in ("from-secret", "unset"):
        answer = client.post(url(name), content=body, headers=standard_headers(body))
        refused(answer, 401, "signature_invalid")
        assert runs_of(client, name) == []


def test_a_trigger_starts_runs_only_in_its_own_namespace(client: httpx.Client) -> None:
    body = json.dumps({"title": "mine", "number": 11}).encode()
    answer = client.post(url("standard"), content=body, headers=standard_headers(body))
    run = settled(client, answer.json()["id"])
    assert run["namespace"] == NS
    # the same trigger name in the other namespace is no trigger: the same key starts nothing
    refused(
        client.post(url("standard", OTHER), content=body, headers=standard_headers(body)),
        401,
        "signature_invalid",
    )
    others = client.get("/v1/runs", params={"limit": 200}).json()["items"]
    assert not [r for r in others if r["namespace"] == OTHER]


def test_deliveries_are_counted_by_trigger_and_outcome(client: httpx.Client) -> None:
    body = json.dumps({"title": "counted", "number": 1}).encode()
    client.post(url("standard"), content=body, headers=standard_headers(body))
    client.post(url("made-up-name"), content=body, headers=standard_headers(body))
    text = client.get("/metrics").text
    lines = [
        line
        for line in text.splitlines()
        if line.startswith("configurable_agents_webhook_deliveries_total{")
    ]
    accepted = (f'namespace="{NS}"', 'trigger="standard"', 'outcome="accepted"')
    unknown = ('namespace=""', 'trigger=""', 'outcome="unknown"')
    assert any(all(part in line for part in accepted) for line in lines)
    assert any(all(part in line for part in unknown) for line in lines)
    assert not any("made-up-name" in line for line in lines)


def test_the_route_is_documented_without_a_bearer_token(client: httpx.Client) -> None:
    """Its authentication is the signature: the OpenAPI document asks for no token."""
    document = client.get("/openapi.json").json()
    operation = document["paths"]["/v1/triggers/{namespace}/{name}/webhook"]["post"]
    assert operation["operationId"] == "deliverWebhook"
    assert "security" not in operation
    assert {"200", "202", "400", "401", "409", "413", "429"} <= set(operation["responses"])
