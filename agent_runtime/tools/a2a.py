"""Remote A2A agents as tools (``{a2a: {url, headers, timeout}}``), with the ``a2a-sdk`` client.

The model sends the agent a ``message`` (and optionally ``data``); the agent's answer comes back
as the tool's result (``tools.a2a_replies``), and the remote task's id is kept for the step's
record (``Delegated``) and set on the tool call's span. A Workflow served by a gateway here is such
an agent (``/a2a/{namespace}/{name}``), as is any A2A agent elsewhere.

Every request goes through the egress guard (``tools.egress``), as ``http_get`` and MCP tools do:
the card's URL is checked before the first connection, the interface URL the card names before
it is used, and each request, whatever its host, when it is sent. Each request carries the W3C
``traceparent`` of the current span, so the remote agent's work joins the run's trace.
Credentials (``headers``, their values from ``A2A_*`` environment variables) go only to the
origin of ``url``: a card naming another host for its interface gets no credentials from us.

A call sends one blocking ``message/send`` (non-streaming) and, when the agent answers before
its task settles, polls ``tasks/get`` until it completes, fails or needs input, within the
tool's ``timeout``; at the timeout the task is cancelled, as far as the agent allows. Each call
has its own HTTP client: a call may come from any event loop, and a connection per call is
little beside a remote agent's work.
"""

from __future__ import annotations

import asyncio
import logging
import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from a2a.client import A2ACardResolver, Client, ClientConfig, ClientFactory
from a2a.client.errors import A2AClientError, A2AClientTimeoutError
from a2a.helpers.proto_helpers import new_data_part, new_text_part
from a2a.types.a2a_pb2 import (
    AgentCard,
    CancelTaskRequest,
    GetTaskRequest,
    Message,
    Role,
    SendMessageRequest,
    Task,
)
from a2a.utils.constants import TransportProtocol
from a2a.utils.errors import A2AError
from opentelemetry import trace
from opentelemetry.propagate import inject

from agent_runtime.policy import ToolPolicy
from agent_runtime.spec.a2a import A2aHeader
from agent_runtime.spec.workflow import ToolSpec
from agent_runtime.stores.records import ChildTask
from agent_runtime.tools.a2a_replies import RUNNING, message_reply, state_name, task_reply
from agent_runtime.tools.base import Delegated, Tool, ToolError
from agent_runtime.tools.egress import EgressGuard, EgressRefused, Resolver, guarded_client
from agent_runtime.tools.policy import policy_or_default

log = logging.getLogger(__name__)

#: Span attributes of the tool call that delegated: the remote task and its context.
TASK_ID_ATTRIBUTE = "configurable_agents.a2a.task_id"
CONTEXT_ID_ATTRIBUTE = "configurable_agents.a2a.context_id"
#: Polling ``tasks/get`` while a task runs: the first wait, doubled up to the last.
POLL_FIRST, POLL_MAX = 0.05, 1.0
#: How long a cancellation at the timeout may take.
CANCEL_TIMEOUT = 5.0

PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "message": {"type": "string", "description": "What to ask or tell the agent."},
        "data": {
            "type": "object",
            "description": "Optional structured input, sent beside the message as a data part.",
        },
        "taskId": {
            "type": "string",
            "description": "Only to answer an agent that asked for input: the taskId it gave.",
        },
    },
    "required": ["message"],
    "additionalProperties": False,
}


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return (url.scheme, url.host, url.port)


def credentials(tool: str, headers: list[A2aHeader]) -> dict[str, str]:
    """The headers' values from the environment; ToolError naming the variable if one is unset."""
    found: dict[str, str] = {}
    for i, header in enumerate(headers):
        value = os.environ.get(header.env)
        if not value:
            raise ToolError(
                f"tool '{tool}': spec.tools[].a2a.headers[{i}].env: the environment variable "
                f"{header.env} is not set where this node runs (for an AgentPool, take it from "
                "a Secret in its env)"
            )
        found[header.name] = header.prefix + value
    return found


def _interface_url(tool: str, card: AgentCard, guard: EgressGuard) -> str:
    """The card's JSON-RPC endpoint, if the platform lets us reach it."""
    urls = [
        i.url for i in card.supported_interfaces if i.protocol_binding == TransportProtocol.JSONRPC
    ]
    if not urls:
        have = ", ".join(sorted({i.protocol_binding for i in card.supported_interfaces}))
        raise ToolError(f"tool '{tool}': the agent serves no JSON-RPC interface ({have or 'none'})")
    try:
        guard.admit(urls[0])
    except EgressRefused as exc:
        raise EgressRefused(f"tool '{tool}': the agent card's interface URL {exc}") from None
    return str(urls[0])


def _describe(card: AgentCard) -> str:
    skills = "; ".join(
        f"{s.name}: {s.description}" if s.description else s.name for s in card.skills
    )
    text = f"Ask the agent '{card.name}'. {card.description}".strip()
    return f"{text} Skills: {skills}." if skills else text


class A2aTool(Tool):
    """A remote A2A agent, described by its agent card."""

    parameters = PARAMETERS

    def __init__(
        self,
        *,
        name: str,
        description: str,
        url: str,
        card: AgentCard,
        headers: dict[str, str],
        timeout: float,
        guard: EgressGuard,
    ) -> None:
        self.name = name
        self.description = description
        self.url = url
        self.card = card
        self.timeout = timeout
        self._headers = headers
        self._guard = guard
        self._origin = _origin(httpx.URL(url))

    @classmethod
    async def create(
        cls, spec: ToolSpec, *, policy: ToolPolicy | None = None, resolver: Resolver | None = None
    ) -> A2aTool:
        """The agent ``spec`` names, if the platform ``policy`` (else the environment's) lets us
        reach it; its card is read now, so a wrong URL fails the node before the model runs."""
        options = spec.a2a
        if options is None:
            raise ToolError(f"tool '{spec.name}' is not an a2a tool")
        guard = EgressGuard(policy_or_default(policy), resolver=resolver)
        try:
            await guard.addresses(options.url)
        except EgressRefused as exc:
            raise EgressRefused(f"tool '{spec.name}': spec.tools[].a2a.url {exc}") from None
        tool = cls(
            name=spec.name,
            description=spec.description,
            url=options.url,
            card=AgentCard(),
            headers=credentials(spec.name, options.headers),
            timeout=float(options.timeout),
            guard=guard,
        )
        async with tool._http() as http:
            try:
                async with asyncio.timeout(tool.timeout):
                    tool.card = await A2ACardResolver(http, options.url).get_agent_card()
            except EgressRefused as exc:
                raise EgressRefused(f"tool '{spec.name}': spec.tools[].a2a.url: {exc}") from None
            except (A2AError, TimeoutError) as exc:
                raise ToolError(
                    f"tool '{spec.name}': cannot read the agent card of {options.url}: "
                    f"{exc or 'timed out'}",
                    retryable=True,
                ) from None
        _interface_url(spec.name, tool.card, guard)
        tool.description = spec.description or _describe(tool.card)
        return tool

    @asynccontextmanager
    async def _http(self) -> AsyncIterator[httpx.AsyncClient]:
        async def before(request: httpx.Request) -> None:
            inject(request.headers)  # the current span's traceparent
            if _origin(request.url) == self._origin:
                request.headers.update(self._headers)

        client: httpx.AsyncClient = guarded_client(
            self._guard,
            timeout=httpx.Timeout(self.timeout),
            event_hooks={"request": [before]},
        )
        async with client:
            yield client

    def _client(self, http: httpx.AsyncClient) -> Client:
        """An A2A client of the card's JSON-RPC interface (blocking sends, no stream)."""
        return ClientFactory(ClientConfig(streaming=False, httpx_client=http)).create(self.card)

    def _message(self, args: dict[str, Any]) -> Message:
        text, data, task_id = args.get("message"), args.get("data"), args.get("taskId")
        extra = sorted(set(args) - set(PARAMETERS["properties"]))
        if (
            not isinstance(text, str)
            or not isinstance(data, dict | None)
            or not isinstance(task_id, str | None)
            or extra
        ):
            raise ToolError(
                f"{self.name}: takes 'message' (a string), and optionally 'data' (an object) and "
                f"'taskId' (a string); got {args!r}"
            )
        parts = [new_text_part(text)]
        if data is not None:
            parts.append(new_data_part(data))
        return Message(
            role=Role.ROLE_USER, parts=parts, message_id=str(uuid.uuid4()), task_id=task_id
        )

    async def call(self, args: dict[str, Any]) -> Any:
        message = self._message(args)
        started: list[Task] = []
        try:
            async with asyncio.timeout(self.timeout), self._http() as http:
                reply = await self._exchange(self._client(http), message, started)
        except TimeoutError:
            where = f" (task {started[-1].id} cancelled)" if started else ""
            if started:
                await self._cancel(started[-1])
            raise ToolError(
                f"{self.name}: no answer from {self.url} within {self.timeout:g}s{where}",
                retryable=True,
            ) from None
        except EgressRefused as exc:
            raise EgressRefused(f"{self.name}: {exc}") from None
        except (A2AClientTimeoutError, A2AClientError) as exc:  # transport: may pass
            raise ToolError(f"{self.name}: {self.url}: {exc}", retryable=True) from None
        except A2AError as exc:  # the agent's JSON-RPC error: it will answer the same again
            raise ToolError(f"{self.name}: {self.url} answered: {exc}") from None
        return reply

    async def _exchange(self, client: Client, message: Message, started: list[Task]) -> Any:
        async for event in client.send_message(SendMessageRequest(message=message)):
            if event.HasField("message"):
                return message_reply(event.message)
            if event.HasField("task"):
                started.append(event.task)
        if not started:
            raise ToolError(f"{self.name}: {self.url} answered neither a message nor a task")
        task, wait = started[-1], POLL_FIRST
        while task.status.state in RUNNING:
            await asyncio.sleep(wait)
            wait = min(wait * 2, POLL_MAX)
            task = await client.get_task(GetTaskRequest(id=task.id))
            started.append(task)
        self._trace(task)
        child = ChildTask(
            tool=self.name,
            url=self.url,
            task_id=task.id,
            context_id=task.context_id or None,
            state=state_name(task),
        )
        return Delegated(value=task_reply(self.name, task), task=child)

    @staticmethod
    def _trace(task: Task) -> None:
        span = trace.get_current_span()
        span.set_attribute(TASK_ID_ATTRIBUTE, task.id)
        if task.context_id:
            span.set_attribute(CONTEXT_ID_ATTRIBUTE, task.context_id)

    async def _cancel(self, task: Task) -> None:
        """Ask the agent to cancel a task we stopped waiting for; its refusal is only logged."""
        try:
            async with asyncio.timeout(CANCEL_TIMEOUT), self._http() as http:
                await self._client(http).cancel_task(CancelTaskRequest(id=task.id))
        except (A2AError, ToolError, TimeoutError) as exc:
            log.warning("%s: could not cancel task %s at %s: %s", self.name, task.id, self.url, exc)
