"""Node tasks to agent pods over HTTP: ``HttpDispatcher``, the cluster's ``Dispatcher``.

Each dispatch picks the agents serving the task's capability from an ``EndpointSource`` (static
here; Kubernetes EndpointSlices later), in client-side round-robin order, and posts the task to
``{endpoint}/v1/tasks`` over one shared keep-alive pool. An agent that cannot take the task (429
at its limit, 503 ``draining``, unreachable) passes it to the next; each is asked at most once per
dispatch, and when none took it the dispatch raises a retryable ``TaskError``, so the node's retry
policy and backoff decide what comes next. What the agents answer maps back to the executors'
errors: ``task_failed`` (503, ``X-Retryable: true``) and other 5xx to ``TaskError``;
``task_permanent`` (422) and other 4xx to ``PermanentTaskError``.

A failure after the task was sent (the agent died mid-task) is not passed on within the dispatch:
the task may have run, so it is the node's retry policy that decides whether to run it again.
"""

from __future__ import annotations

import itertools
import logging
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextvars import ContextVar
from typing import Any, Protocol

import httpx
from opentelemetry.propagate import inject
from pydantic import ValidationError

from agent_runtime.engine.task_stream import is_stream, refusal, relay
from agent_runtime.executors import (
    TASK_STREAM_MEDIA_TYPE,
    AgentLost,
    NoAgents,
    NodeTask,
    OnDelta,
    TaskError,
    TaskResult,
)

log = logging.getLogger(__name__)

TASKS_PATH = "/v1/tasks"

#: A W3C ``traceparent`` to send when no OpenTelemetry span is current (callers that trace
#: by other means); the current span, when there is one, wins.
TRACEPARENT: ContextVar[str | None] = ContextVar("traceparent", default=None)


def current_trace_headers() -> dict[str, str]:
    """The trace context headers to send: the current span's (W3C ``traceparent``), if any.

    The agent's task span becomes a child of the engine's node-attempt span this way.
    """
    headers: dict[str, str] = {}
    inject(headers)
    if "traceparent" not in headers:
        traceparent = TRACEPARENT.get()
        if traceparent:
            headers["traceparent"] = traceparent
    return headers


class EndpointSource(Protocol):
    """Where the agents serving a capability are: their base URLs (``http://host:port``)."""

    def endpoints(self, capability: str, namespace: str | None = None) -> list[str]: ...


class StaticEndpoints:
    """A fixed capability -> base URLs mapping (the gateway's ``agents`` setting, tests)."""

    def __init__(self, mapping: Mapping[str, Sequence[str]]) -> None:
        self.mapping = {capability: list(urls) for capability, urls in mapping.items()}

    def endpoints(self, capability: str, namespace: str | None = None) -> list[str]:
        return list(self.mapping.get(capability, ()))


class PassOver(Exception):
    """An agent reached by other means than HTTP (an external agent that pulls its tasks)
    cannot take the task now; nothing was handed to it, so the next agent may."""


#: Hands a task to an agent that pulls its tasks (``pull://`` endpoints): its result, or
#: ``PassOver`` when it cannot take it now, or ``AgentLost`` when it went away holding it.
Handoff = Callable[[str, NodeTask], Awaitable[TaskResult]]
PULL_SCHEME = "pull://"
#: Marks the address of an agent outside the cluster that is sent its tasks (a push member):
#: it is posted to like a pod, without the credentials meant for the cluster's agents.
EXTERNAL_PREFIX = "external+"


class NoEndpoints(NoAgents):
    """No agent serves the capability at all: the run should wait for one, not fail."""

    def __init__(self, capability: str) -> None:
        super().__init__(f"no agent serves capability {capability!r}")
        self.capability = capability


class AgentsUnavailable(NoAgents):
    """Every agent serving the capability was busy, draining or unreachable.

    No agent took the task, so nothing failed: the run waits queued and tries again (after the
    soonest ``Retry-After`` the busy agents gave, if any), and the node's retry budget is kept
    for tasks that agents ran and failed.
    """

    def __init__(
        self, capability: str, reasons: list[str], retry_after: float | None = None
    ) -> None:
        super().__init__(
            f"no agent for capability {capability!r} could take the task: " + "; ".join(reasons)
        )
        self.capability = capability
        self.reasons = reasons
        self.retry_after = retry_after


def retry_after(response: httpx.Response) -> float | None:
    """Seconds of a ``Retry-After`` header given in seconds (HTTP dates are not worth it here)."""
    try:
        value = float(response.headers.get("retry-after", ""))
    except ValueError:
        return None
    return value if value >= 0 else None


def _error_of(response: httpx.Response) -> tuple[str, str]:
    """(code, message) of an agent's JSON error, or of whatever else answered."""
    try:
        body: Any = response.json()
        error = body["error"]
        return str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, KeyError, TypeError, AttributeError):
        text = " ".join(response.text.split())[:200]
        return "", text or response.reason_phrase


class HttpDispatcher:
    """Sends node tasks to agents over HTTP/1.1 keep-alive; see the module docstring."""

    def __init__(
        self,
        endpoints: EndpointSource,
        *,
        client: httpx.AsyncClient | None = None,
        connect_timeout: float = 2.0,
        max_connections: int | None = 1000,
        trace_headers: Callable[[], Mapping[str, str]] = current_trace_headers,
        credentials: Callable[[], Mapping[str, str]] | None = None,
        handoff: Handoff | None = None,
    ) -> None:
        """``credentials``: headers that prove to agents the task is the gateway's (a token),
        never sent to ``external+`` endpoints (agents outside the cluster: one holding them
        could pass for the gateway to the cluster's agents); ``handoff``: where tasks for
        ``pull://`` endpoints go (external agents that pull)."""
        self.endpoints = endpoints
        self.handoff = handoff
        self.trace_headers = trace_headers
        self.credentials = credentials
        self._owns_client = client is None
        # No read timeout: a task takes as long as its node allows, and the engine's
        # ``asyncio.timeout(node.timeout)`` around the dispatch bounds it.
        self.client = client or httpx.AsyncClient(
            timeout=httpx.Timeout(None, connect=connect_timeout),
            limits=httpx.Limits(
                max_connections=max_connections,
                max_keepalive_connections=max_connections,
                # below the agent's keep-alive (75s), so the agent never closes a reused one first
                keepalive_expiry=30,
            ),
        )
        self._turns: dict[str, Iterator[int]] = {}

    def _in_turn(self, capability: str, urls: list[str]) -> list[str]:
        """The endpoints, each once, starting one further along with every dispatch."""
        urls = list(dict.fromkeys(urls))
        turn = self._turns.setdefault(capability, itertools.count())
        start = next(turn) % len(urls)
        return urls[start:] + urls[:start]

    async def dispatch(self, task: NodeTask, *, on_delta: OnDelta | None = None) -> TaskResult:
        """The task's result from the first agent that takes it; with ``on_delta``, the task is
        asked for as a stream (``agent.streaming``) and its model's text told as it comes."""
        namespace = task.workflow.partition("/")[0] if "/" in task.workflow else None
        urls = self.endpoints.endpoints(task.capability, namespace)
        if not urls:
            raise NoEndpoints(task.capability)
        body = task.model_dump_json(by_alias=True)
        plain = {"content-type": "application/json", **self.trace_headers()}
        if on_delta is not None:
            plain["accept"] = f"{TASK_STREAM_MEDIA_TYPE}, application/json"
        signed = dict(plain)
        if self.credentials is not None:
            signed.update(self.credentials())
        passed: list[str] = []
        waits: list[float] = []
        for url in self._in_turn(task.capability, urls):
            if url.startswith(PULL_SCHEME):
                if self.handoff is None:
                    passed.append(f"{url} pulls, and this gateway hands no task to pullers")
                    continue
                try:
                    return await self.handoff(url, task)
                except PassOver as exc:
                    passed.append(str(exc))
                    continue
            outside = url.startswith(EXTERNAL_PREFIX)
            target = url.removeprefix(EXTERNAL_PREFIX).rstrip("/") + TASKS_PATH
            try:
                async with self.client.stream(
                    "POST", target, content=body, headers=plain if outside else signed
                ) as response:
                    if response.status_code == 200 and is_stream(response):
                        return await relay(url, response, on_delta)
                    await response.aread()  # the whole answer: its connection is reused
                    if response.status_code == 429:
                        passed.append(f"{url} busy")
                        if (wait := retry_after(response)) is not None:
                            waits.append(wait)
                        continue
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                # Nothing was sent: the next agent may take it.
                passed.append(f"{url} unreachable ({type(exc).__name__})")
                continue
            except httpx.HTTPError as exc:
                raise AgentLost(
                    f"agent {url} went away during the task: {type(exc).__name__}: {exc}"
                ) from exc
            code, message = ("", "") if response.is_success else _error_of(response)
            if response.status_code == 503 and code == "draining":
                passed.append(f"{url} draining")
                continue
            return self._result(url, response, code, message)
        log.debug("task %s passed over: %s", task.idempotency_key, passed)
        raise AgentsUnavailable(task.capability, passed, min(waits) if waits else None)

    @staticmethod
    def _result(url: str, response: httpx.Response, code: str, message: str) -> TaskResult:
        status = response.status_code
        if status == 200:
            try:
                return TaskResult.model_validate_json(response.content)
            except ValidationError:
                raise TaskError(f"agent {url} answered a malformed result") from None
        raise refusal(url, status, code, message, response.headers.get("x-retryable"))

    async def aclose(self) -> None:
        if self._owns_client:
            await self.client.aclose()
