"""Tasks only from the gateway: ``POST /v1/tasks`` without the gateway's token is a 401.

An ASGI middleware rather than a route dependency, so that the refusal comes before anything of
the request is read: a stranger's body is never parsed, let alone run.
"""

from __future__ import annotations

import logging

from starlette.types import ASGIApp, Receive, Scope, Send

from agent_runtime.agent.errors import error
from agent_runtime.auth import AuthUnavailable, TaskTokenVerifier, Unauthenticated

log = logging.getLogger(__name__)

TASKS_PATH = "/v1/tasks"


class GatewayOnly:
    def __init__(self, app: ASGIApp, verifier: TaskTokenVerifier) -> None:
        self.app = app
        self.verifier = verifier

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"].rstrip("/") == TASKS_PATH:
            header = next(
                (v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), None
            )
            try:
                await self.verifier.verify(header)
            except Unauthenticated as exc:
                log.warning("refused a task: %s", exc)
                challenge = {"WWW-Authenticate": 'Bearer realm="configurable-agents-agent"'}
                await error(401, "unauthenticated", str(exc), headers=challenge)(
                    scope, receive, send
                )
                return
            except AuthUnavailable as exc:  # the issuer's keys cannot be fetched: not the task's
                await error(503, "auth_unavailable", str(exc))(scope, receive, send)
                return
        await self.app(scope, receive, send)
