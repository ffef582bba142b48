"""An agent outside the cluster: registered with the gateway, alive by heartbeat, maybe pulling.

``agent --gateway URL --pool NAME --namespace NS`` registers this agent as an external member of
the AgentPool (``POST /v1/namespaces/NS/agentpools/NAME/members``) with its capabilities and either
the address the gateway posts tasks to (``--advertise``) or ``pull``; renews the registration three
times per TTL (re-registering when the gateway forgot it, after a partition say); and leaves at
shutdown. With ``--pull`` it also keeps one long poll per task slot open and runs each task it is
handed through the same ``TaskRunner`` as a pushed one (the same idempotency cache, limits and
timeouts), then posts its result or error under the task's lease. The heartbeat renews the leases
of the tasks in hand; the gateway gives a task whose lease lapsed to another member.

The credential (``CONFIGURABLE_AGENTS_GATEWAY_TOKEN``, or a file named by
``CONFIGURABLE_AGENTS_GATEWAY_TOKEN_FILE``, read at each call so a rotated token is picked up) is
never a flag, so it never shows in ``ps``, and never logged.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from pathlib import Path
from typing import Any

import httpx

from agent_runtime.agent.errors import AgentError
from agent_runtime.agent.runner import TaskRunner
from agent_runtime.agent.settings import AgentSettings
from agent_runtime.errors import AgentRuntimeError
from agent_runtime.executors import NodeTask, TaskError

log = logging.getLogger(__name__)

#: Seconds a pull waits at the gateway for a task before asking again.
PULL_WAIT = 20.0
#: Back-off after a failed call to the gateway, doubling up to the last.
BACKOFF = (0.5, 1.0, 2.0, 5.0)


class RegistrationRefused(AgentRuntimeError):
    """The gateway refused the registration for good (credential, pool, capabilities)."""

    code = "registration_refused"


def member_name(settings: AgentSettings) -> str:
    if settings.member_name:
        return settings.member_name
    host = "".join(c if c.isalnum() else "-" for c in socket.gethostname().lower()).strip("-")
    return f"{host[:50] or 'agent'}-{settings.port}"


class Membership:
    def __init__(
        self, settings: AgentSettings, runner: TaskRunner, client: httpx.AsyncClient | None = None
    ) -> None:
        assert settings.gateway is not None
        self.settings = settings
        self.runner = runner
        self.name = member_name(settings)
        base = settings.gateway.rstrip("/")
        self.url = f"{base}/v1/namespaces/{settings.namespace}/agentpools/{settings.pool}/members"
        self.client = client or httpx.AsyncClient(timeout=httpx.Timeout(10.0, read=PULL_WAIT + 15))
        #: Leases of pulled tasks in hand, renewed with each heartbeat.
        self.leases: set[str] = set()
        self._tasks: list[asyncio.Task[None]] = []
        self.registered = asyncio.Event()

    def _headers(self) -> dict[str, str]:
        token = None
        if self.settings.gateway_token is not None:
            token = self.settings.gateway_token.get_secret_value()
        elif self.settings.gateway_token_file:
            path = Path(self.settings.gateway_token_file)
            try:
                token = path.read_text().strip()
            except OSError as exc:
                raise RegistrationRefused(
                    f"gateway_token_file: cannot read {path}: {exc.strerror or exc}"
                ) from None
        return {"Authorization": f"Bearer {token}"} if token else {}

    def _body(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": self.name,
            "capabilities": self.settings.capabilities,
            "ttlSeconds": self.settings.member_ttl,
        }
        if self.settings.pull:
            body["pull"] = True
        else:
            body["address"] = self.settings.advertise
        return body

    async def register(self) -> None:
        """Register once; RegistrationRefused on a 4xx (a bad credential, pool or body)."""
        response = await self.client.post(self.url, json=self._body(), headers=self._headers())
        if 400 <= response.status_code < 500:
            raise RegistrationRefused(
                f"the gateway refused to register {self.name} in "
                f"{self.settings.namespace}/{self.settings.pool}: {response.status_code} "
                f"{_message(response)}"
            )
        response.raise_for_status()
        self.registered.set()
        log.info(
            "registered with %s as %s of %s/%s (%s)",
            self.settings.gateway,
            self.name,
            self.settings.namespace,
            self.settings.pool,
            "pull" if self.settings.pull else f"push to {self.settings.advertise}",
        )

    async def start(self) -> None:
        """Register (raising RegistrationRefused; a gateway not reachable yet is tried again
        with back-off), then heartbeat and, with pull, poll."""
        if not self.settings.capabilities:
            raise RegistrationRefused("capabilities: an external agent names what it serves")
        failures = 0
        # a gateway not up yet (or failing) is waited for, until the agent is told to stop; a
        # refusal is final
        while not self.runner.draining:
            try:
                await self.register()
                break
            except httpx.HTTPError as exc:
                wait = BACKOFF[min(failures, len(BACKOFF) - 1)]
                failures += 1
                log.warning(
                    "cannot register with %s (%d in a row): %s; trying again in %g s",
                    self.settings.gateway,
                    failures,
                    _why(exc),
                    wait,
                )
                await asyncio.sleep(wait)
        if not self.registered.is_set():
            return
        self._tasks.append(asyncio.create_task(self._heartbeats(), name="heartbeat"))
        if self.settings.pull:
            for slot in range(self.settings.max_concurrent_tasks):
                self._tasks.append(asyncio.create_task(self._pulls(), name=f"pull {slot}"))

    async def stop(self) -> None:
        """Stop polling and leave the pool (tasks in hand were drained before)."""
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.registered.is_set():
            with contextlib.suppress(httpx.HTTPError, RegistrationRefused):
                await self.client.delete(f"{self.url}/{self.name}", headers=self._headers())
        await self.client.aclose()

    async def _heartbeats(self) -> None:
        failures = 0
        while True:
            await asyncio.sleep(self.settings.member_ttl / 3)
            try:
                response = await self.client.post(
                    f"{self.url}/{self.name}/heartbeat",
                    json={"leases": sorted(self.leases)},
                    headers=self._headers(),
                )
                if response.status_code == 404:
                    log.warning("the gateway forgot this agent's registration: registering again")
                    await self.register()
                elif response.is_success:
                    for lease in response.json().get("lost", []):
                        self.leases.discard(lease)
                else:
                    log.warning(
                        "heartbeat refused: %d %s", response.status_code, _message(response)
                    )
                failures = 0
            except (httpx.HTTPError, RegistrationRefused) as exc:
                failures += 1
                log.warning("heartbeat failed (%d in a row): %s", failures, _why(exc))

    async def _pulls(self) -> None:
        failures = 0
        while True:
            try:
                if self.runner.draining:
                    return
                response = await self.client.post(
                    f"{self.url}/{self.name}/tasks",
                    params={"wait": PULL_WAIT},
                    headers=self._headers(),
                )
                if response.status_code == 200:
                    await self._run(response.json())
                elif response.status_code != 204:
                    raise httpx.HTTPStatusError(
                        f"{response.status_code} {_message(response)}",
                        request=response.request,
                        response=response,
                    )
                failures = 0
            except httpx.HTTPError as exc:
                failures += 1
                log.warning("pull failed (%d in a row): %s", failures, _why(exc))
                await asyncio.sleep(BACKOFF[min(failures, len(BACKOFF)) - 1])

    async def _run(self, handed: dict[str, Any]) -> None:
        lease = str(handed["lease"])
        self.leases.add(lease)
        outcome: dict[str, Any]
        try:
            task = NodeTask.model_validate(handed["task"])
            result = await self.runner.start(task)
            outcome = {"result": result.model_dump(mode="json", by_alias=True)}
        except AgentError as exc:  # busy, draining, a capability not served: not run
            outcome = {"error": {"code": exc.code, "message": str(exc), "retryable": True}}
        except TaskError as exc:
            outcome = {"error": {"code": exc.code, "message": str(exc), "retryable": exc.retryable}}
        except ValueError as exc:  # a task this version cannot read
            outcome = {
                "error": {"code": "task_permanent", "message": str(exc)[:500], "retryable": False}
            }
        try:
            for delay in (*BACKOFF, None):
                try:
                    response = await self.client.post(
                        f"{self.url}/{self.name}/tasks/{lease}/result",
                        json=outcome,
                        headers=self._headers(),
                    )
                except httpx.HTTPError as exc:
                    if delay is None:
                        raise
                    log.warning("posting a result failed, trying again: %s", _why(exc))
                    await asyncio.sleep(delay)
                    continue
                if response.status_code in (404, 409):  # lapsed, moved on, or answered already
                    log.warning("the gateway did not take the result: %s", _message(response))
                break
        finally:
            self.leases.discard(lease)


def _message(response: httpx.Response) -> str:
    try:
        return str(response.json()["error"]["message"])
    except (ValueError, KeyError, TypeError):
        return response.reason_phrase


def _why(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:300]
