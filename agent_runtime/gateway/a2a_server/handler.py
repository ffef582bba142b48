"""The SDK's ``RequestHandler`` over the run store: the SDK parses and answers JSON-RPC (A2A 1.0
method names and 0.3's ``message/send`` and the rest), this answers each method with runs.

No task lives in this process: send starts (or resumes) a run and waits for it or follows its
events; get, cancel and subscribe read the store, so any replica answers them, and a stream
dropped on one is taken up again on another. Push notifications are not offered (the card
says so), nor the extended card.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

from a2a.server.context import ServerCallContext
from a2a.server.events.event_queue import Event
from a2a.server.request_handlers.request_handler import RequestHandler, validate_request_params
from a2a.types import (
    AgentCard,
    CancelTaskRequest,
    DeleteTaskPushNotificationConfigRequest,
    GetExtendedAgentCardRequest,
    GetTaskPushNotificationConfigRequest,
    GetTaskRequest,
    ListTaskPushNotificationConfigsRequest,
    ListTaskPushNotificationConfigsResponse,
    ListTasksRequest,
    ListTasksResponse,
    Message,
    SendMessageRequest,
    SubscribeToTaskRequest,
    Task,
    TaskPushNotificationConfig,
)
from a2a.utils.errors import (
    ExtendedAgentCardNotConfiguredError,
    PushNotificationNotSupportedError,
)

from agent_runtime.gateway.a2a_server.calls import Call
from agent_runtime.gateway.a2a_server.errors import a2a_errors
from agent_runtime.gateway.a2a_server.listing import list_tasks
from agent_runtime.gateway.a2a_server.tasks import last_updates, step_update, task_of
from agent_runtime.gateway.components import SETTLED, Gateway
from agent_runtime.gateway.events import follow
from agent_runtime.gateway.mcp_server.waiting import last_seq
from agent_runtime.stores import RunRecord


async def updates(gateway: Gateway, run: RunRecord, after: int) -> AsyncGenerator[Event]:
    """The run's steps and model text after event ``after``, until it finishes or waits for
    input; then its output and its final status."""
    async for event in follow(gateway.store, run.id, after=after, until_interrupted=True):
        if (update := step_update(run, event)) is not None:
            yield update
    for update in last_updates(await gateway.store.get_run(run.id)):
        yield update


class Agents(RequestHandler):
    """Every Workflow's agent: the call context says which, and who calls it."""

    @validate_request_params
    async def on_message_send(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> Task | Message:
        call = Call.of(context)
        with a2a_errors():
            run, _ = await call.take(params.message)
            if params.configuration.return_immediately:
                return task_of(run)
            try:
                async with asyncio.timeout(call.gateway.settings.wait_timeout):
                    run = await call.gateway.wait_settled(run.id)
            except TimeoutError:  # still going: the task as it is, to get or subscribe to
                run = await call.gateway.store.get_run(run.id)
        return task_of(run)

    @validate_request_params
    async def on_message_send_stream(
        self, params: SendMessageRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        call = Call.of(context)
        with a2a_errors():
            run, after = await call.take(params.message)
        yield task_of(run)
        async for update in updates(call.gateway, run, after):
            yield update

    @validate_request_params
    async def on_get_task(self, params: GetTaskRequest, context: ServerCallContext) -> Task:
        with a2a_errors():
            return task_of(await Call.of(context).task(params.id))

    @validate_request_params
    async def on_cancel_task(self, params: CancelTaskRequest, context: ServerCallContext) -> Task:
        with a2a_errors():
            return task_of(await Call.of(context).cancel(params.id))

    @validate_request_params
    async def on_subscribe_to_task(
        self, params: SubscribeToTaskRequest, context: ServerCallContext
    ) -> AsyncGenerator[Event]:
        """The task as it is now, then what happens next (nothing more once it is over or
        waits for input)."""
        call = Call.of(context)
        with a2a_errors():
            found = await call.task(params.id)
            after = await last_seq(call.gateway, found.id)
            run = await call.gateway.store.get_run(found.id)
        yield task_of(run)
        if run.status not in SETTLED:
            async for update in updates(call.gateway, run, after):
                yield update

    @validate_request_params
    async def on_list_tasks(
        self, params: ListTasksRequest, context: ServerCallContext
    ) -> ListTasksResponse:
        with a2a_errors():
            return await list_tasks(Call.of(context), params)

    async def on_create_task_push_notification_config(
        self, params: TaskPushNotificationConfig, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_get_task_push_notification_config(
        self, params: GetTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> TaskPushNotificationConfig:
        raise PushNotificationNotSupportedError

    async def on_list_task_push_notification_configs(
        self, params: ListTaskPushNotificationConfigsRequest, context: ServerCallContext
    ) -> ListTaskPushNotificationConfigsResponse:
        raise PushNotificationNotSupportedError

    async def on_delete_task_push_notification_config(
        self, params: DeleteTaskPushNotificationConfigRequest, context: ServerCallContext
    ) -> None:
        raise PushNotificationNotSupportedError

    async def on_get_extended_agent_card(
        self, params: GetExtendedAgentCardRequest, context: ServerCallContext
    ) -> AgentCard:
        raise ExtendedAgentCardNotConfiguredError
