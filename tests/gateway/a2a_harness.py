"""The ``a2a-sdk`` client against a gateway's agents: a client per agent URL (from its card,
or a card naming that URL for an attacker who has none), and messages to send."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from a2a.client import Client, ClientConfig, ClientFactory
from a2a.types import (
    AgentCapabilities,
    AgentCard,
    AgentInterface,
    Message,
    Part,
    Role,
    SendMessageRequest,
    StreamResponse,
    Task,
)
from google.protobuf.json_format import MessageToDict
from google.protobuf.struct_pb2 import Struct, Value

from tests.gateway.conftest import GatewayProcess


def agent_url(gateway: GatewayProcess, workflow: str, namespace: str = "default") -> str:
    return f"{gateway.url}/a2a/{namespace}/{workflow}"


def bare_card(url: str, version: str = "1.0") -> AgentCard:
    """A card naming only the agent's URL: a caller who could not read the real one."""
    return AgentCard(
        name="guessed",
        supported_interfaces=[
            AgentInterface(url=url, protocol_binding="JSONRPC", protocol_version=version)
        ],
        capabilities=AgentCapabilities(streaming=True),
    )


@asynccontextmanager
async def agent_client(
    url: str,
    *,
    token: str | None = None,
    streaming: bool = True,
    polling: bool = False,
    card: AgentCard | None = None,
) -> AsyncIterator[Client]:
    """A client of the agent at ``url``, from its card (fetched with the same token)."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with httpx.AsyncClient(headers=headers, timeout=60) as http:
        factory = ClientFactory(
            ClientConfig(httpx_client=http, streaming=streaming, polling=polling)
        )
        client = factory.create(card) if card is not None else await factory.create_from_url(url)
        async with client:
            yield client


def text(words: str, *, task_id: str = "", context_id: str = "") -> SendMessageRequest:
    return request([Part(text=words)], task_id=task_id, context_id=context_id)


def data(values: dict[str, Any], *, task_id: str = "", context_id: str = "") -> SendMessageRequest:
    fields = Struct()
    fields.update(values)
    part = Part(data=Value(struct_value=fields))  # set even when empty
    return request([part], task_id=task_id, context_id=context_id)


def request(parts: list[Part], *, task_id: str = "", context_id: str = "") -> SendMessageRequest:
    message = Message(
        message_id=str(uuid.uuid4()),
        role=Role.ROLE_USER,
        parts=parts,
        task_id=task_id,
        context_id=context_id,
    )
    return SendMessageRequest(message=message)


async def events(client: Client, sent: SendMessageRequest) -> list[StreamResponse]:
    return [e async for e in client.send_message(sent)]


async def task(client: Client, sent: SendMessageRequest) -> Task:
    """The task a message leaves, from the last event that holds one (non-streaming: the only)."""
    got = await events(client, sent)
    tasks = [e.task for e in got if e.HasField("task")]
    assert tasks, got
    return tasks[-1]


def as_json(message: Any) -> Any:
    return MessageToDict(message)


def output(done: Task) -> dict[str, Any]:
    """The run's output fields: the data part of the task's one artifact."""
    [artifact] = done.artifacts
    assert artifact.name == "output"
    found: dict[str, Any] = as_json(artifact.parts[0].data)
    return found
