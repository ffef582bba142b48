"""The chat example over the Runs API: a conversation in, the reply appended, a bad message a
422 naming it, and the messages field described as such to clients (the dashboard among them)."""

from __future__ import annotations

from tests.gateway.conftest import GatewayProcess

CHAT = "/v1/workflows/default/chat/runs"


def test_a_turn_over_the_api_and_a_bad_message_named(gateway: GatewayProcess) -> None:
    history = [
        {"type": "human", "content": "Hi", "id": "m1"},
        {"type": "ai", "content": "Hello!", "id": "m2"},
        "What is 6 times 7?",
    ]
    with gateway.client() as client:
        done = client.post(CHAT, json={"input": {"messages": history}, "wait": True})
        bad = client.post(CHAT, json={"input": {"messages": ["ok", {"role": "robot"}]}})
        listed = client.get("/v1/workflows").json()["items"]
    assert done.status_code == 200, done.text
    run = done.json()
    assert run["status"] == "succeeded"
    assert run["input"]["messages"][2]["role"] == "user" and run["input"]["messages"][2]["id"]
    messages = run["output"]["messages"]
    assert [(m["role"], m["content"]) for m in messages] == [
        ("user", "Hi"),
        ("assistant", "Hello!"),
        ("user", "What is 6 times 7?"),
        ("assistant", ""),
        ("tool", "42"),
        ("assistant", "6 times 7 is 42."),
    ]
    assert bad.status_code == 422, bad.text
    error = bad.json()["error"]
    assert error["code"] == "invalid_input"
    assert {
        "field": "input.messages[1].role",
        "message": "must be one of system, user, assistant, tool (got 'robot')",
    } in error["details"]
    [described] = [w for w in listed if w["name"] == "chat"]
    field = described["state"]["messages"]
    assert field["type"] == "array" and field["items"]["title"] == "Message"
    assert field["reducer"] == "append" and field["zero"] == []
