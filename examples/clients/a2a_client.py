"""The human-approval example (examples/04-human-approval) as an A2A agent, through `a2a-sdk`.

    configurable-agents serve --workflows examples/   # in another terminal
    python examples/clients/a2a_client.py

GATEWAY (default http://127.0.0.1:8000) and TOKEN (a bearer token; none on a loopback serve) say
where and as whom. Each Workflow is an agent at /a2a/{namespace}/{name}; a task is a run, and its
human node the `input-required` state that the next message on the task answers.
"""

from __future__ import annotations

import asyncio
import os

import httpx
from a2a.client import A2ACardResolver, ClientConfig, ClientFactory
from a2a.types import Message, Part, Role, SendMessageRequest, StreamResponse, TaskState
from google.protobuf import json_format

GATEWAY = os.environ.get("GATEWAY", "http://127.0.0.1:8000")
TOKEN = os.environ.get("TOKEN")


def show(event: StreamResponse) -> str | None:
    """Print what a streamed event says; the task's id when it waits for input."""
    if event.HasField("task"):
        status = event.task.status
        print(f"  task {event.task.id}: {TaskState.Name(status.state)}")
        return event.task.id if status.state == TaskState.TASK_STATE_INPUT_REQUIRED else None
    if event.HasField("status_update"):
        update = event.status_update
        what = " ".join(str(update.metadata[k]) for k in ("event", "node") if k in update.metadata)
        print(f"  {TaskState.Name(update.status.state)} {what}".rstrip())
        if update.status.state == TaskState.TASK_STATE_INPUT_REQUIRED:
            return update.task_id
    elif event.HasField("artifact_update"):
        for part in event.artifact_update.artifact.parts:
            if part.HasField("data"):
                print("  output:", json_format.MessageToDict(part.data))
    return None


async def main() -> None:
    headers = {"Authorization": f"Bearer {TOKEN}"} if TOKEN else {}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        card = await A2ACardResolver(http, GATEWAY + "/a2a/default/human-approval").get_agent_card()
        print("agent:", card.name, "|", card.description)
        client = ClientFactory(ClientConfig(httpx_client=http)).create(card)

        asked = Message(message_id="m1", role=Role.ROLE_USER, parts=[Part(text="leases")])
        waiting = None
        async for event in client.send_message(SendMessageRequest(message=asked)):
            waiting = show(event) or waiting
        print("waiting for input on task", waiting)

        answer = Part()
        answer.data.struct_value.update({"approved": True, "feedback": "ok"})
        reply = Message(message_id="m2", role=Role.ROLE_USER, parts=[answer], task_id=waiting)
        async for event in client.send_message(SendMessageRequest(message=reply)):
            show(event)


asyncio.run(main())
