"""The Runs API as the dashboard sees it: async HTTP calls, errors as one exception type.

The dashboard has no credential of its own: each page request gets a client acting for its caller
(``acting_for``), which sends that request's own ``Authorization`` header and nothing else, so the
gateway authorizes every call as the signed-in user. Nothing is cached between calls.
"""

from __future__ import annotations

import copy
import http.cookiejar
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
from httpx_sse import aconnect_sse

from agent_runtime.errors import AgentRuntimeError, http_status


class GatewayError(AgentRuntimeError):
    """An error answer of the gateway (or no answer at all), ready to show on a page: the
    answer's own status and code, or (``because``) a code of ours and the status it has."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: Any = None,
        *,
        challenge: str | None = None,
    ) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.details = details
        #: A 401's ``WWW-Authenticate``, passed on to the browser (or its sign-in proxy).
        self.challenge = challenge
        self.retryable = status >= 500 or status == 429

    @classmethod
    def because(cls, code: str, message: str, details: Any = None) -> GatewayError:
        """The dashboard's own refusal, with the status the API gives ``code``."""
        return cls(http_status(code), code, message, details)

    def field_errors(self) -> dict[str, str]:
        """``{"input.topic": "required"}`` from a 422's details, for messages next to fields."""
        if not isinstance(self.details, list):
            return {}
        out: dict[str, str] = {}
        for item in self.details:
            if isinstance(item, dict) and "field" in item:
                out[str(item["field"])] = str(item.get("message", ""))
        return out


@dataclass
class SseEvent:
    id: str | None = None
    event: str = "message"
    data: dict[str, Any] = field(default_factory=dict)


def _error_of(response: httpx.Response) -> GatewayError:
    challenge = response.headers.get("www-authenticate") if response.status_code == 401 else None
    try:
        body = response.json()["error"]
        return GatewayError(
            response.status_code,
            str(body["code"]),
            str(body["message"]),
            body.get("details"),
            challenge=challenge,
        )
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return GatewayError(
            response.status_code,
            "http_error",
            f"HTTP {response.status_code}: {text}",
            challenge=challenge,
        )


class GatewayClient:
    """One pooled connection set to a gateway; every method raises GatewayError on failure.

    The client made from a URL sends no credential; page handlers call through the copy
    ``acting_for`` makes for each request. Only the original is closed (copies share its pool).
    """

    def __init__(self, base_url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(15.0, read=30.0),
            # A cookie the gateway sets for one user must never ride along with the next user's
            # calls: the shared connection pool keeps no cookies at all.
            cookies=http.cookiejar.CookieJar(
                http.cookiejar.DefaultCookiePolicy(allowed_domains=[])
            ),
        )
        self._headers: dict[str, str] = {}

    def acting_for(self, authorization: str | None) -> GatewayClient:
        """This client sending ``authorization`` (a page request's own header, passed on as it
        came) with every call, over the same connections; ``None`` sends none."""
        caller = copy.copy(self)
        caller._headers = {"Authorization": authorization} if authorization else {}
        return caller

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = await self._http.request(method, path, headers=self._headers, **kwargs)
        except httpx.HTTPError as exc:
            raise GatewayError.because(
                "gateway_unreachable",
                f"the gateway at {self.base_url} did not answer: {exc.__class__.__name__} {exc}",
            ) from None
        if response.status_code >= 400:
            raise _error_of(response)
        return response.json()

    async def workflows(self) -> list[dict[str, Any]]:
        return list((await self._call("GET", "/v1/workflows"))["items"])

    async def workflow(self, namespace: str, name: str) -> dict[str, Any]:
        for item in await self.workflows():
            if item["namespace"] == namespace and item["name"] == name:
                return item
        raise GatewayError.because("workflow_not_found", f"no workflow {namespace}/{name}")

    async def start_run(
        self, namespace: str, name: str, given: dict[str, Any], *, thread_id: str | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"input": given}
        if thread_id is not None:
            body["threadId"] = thread_id
        return dict(await self._call("POST", f"/v1/workflows/{namespace}/{name}/runs", json=body))

    async def create_thread(
        self, namespace: str, name: str, metadata: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        body = {"namespace": namespace, "workflow": name, "metadata": metadata or {}}
        return dict(await self._call("POST", "/v1/threads", json=body))

    async def runs(
        self,
        *,
        workflow: str | None = None,
        status: str | None = None,
        limit: int = 20,
        cursor: str | None = None,
    ) -> dict[str, Any]:
        params: dict[str, Any] = {"limit": limit}
        for key, value in (("workflow", workflow), ("status", status), ("cursor", cursor)):
            if value:
                params[key] = value
        return dict(await self._call("GET", "/v1/runs", params=params))

    async def run(self, run_id: str) -> dict[str, Any]:
        return dict(await self._call("GET", f"/v1/runs/{run_id}"))

    async def resume(self, run_id: str, given: dict[str, Any]) -> dict[str, Any]:
        return dict(await self._call("POST", f"/v1/runs/{run_id}/resume", json={"input": given}))

    async def approve(
        self,
        run_id: str,
        *,
        approved: bool,
        reason: str = "",
        calls: dict[str, bool] | None = None,
        result: Any = None,
    ) -> dict[str, Any]:
        """Approve or deny what a run waits for; ``calls`` decides some calls one by one;
        ``result`` goes on with a call whose outcome is unknown instead of calling again."""
        body: dict[str, Any] = {"approved": approved, "reason": reason}
        if calls:
            body["calls"] = calls
        if result is not None:
            body["result"] = result
        return dict(await self._call("POST", f"/v1/runs/{run_id}/approve", json=body))

    async def budgets(self) -> dict[str, Any]:
        """The namespaces' budgets and spend the caller may see (``GET /v1/budgets``)."""
        return dict(await self._call("GET", "/v1/budgets"))

    async def triggers(self) -> dict[str, Any]:
        """The Triggers whose runs the caller may read, with their status (``GET /v1/triggers``)."""
        return dict(await self._call("GET", "/v1/triggers"))

    async def cancel(self, run_id: str) -> dict[str, Any]:
        return dict(await self._call("POST", f"/v1/runs/{run_id}/cancel"))

    async def events(self, run_id: str, *, after: int = 0) -> AsyncIterator[SseEvent]:
        """The run's events until it finishes (keep-alive comments are read and dropped)."""
        headers = {**self._headers, **({"Last-Event-ID": str(after)} if after else {})}
        timeout = httpx.Timeout(15.0, read=None)  # an interrupted run may wait for hours
        path = f"/v1/runs/{run_id}/events"
        try:
            async with aconnect_sse(
                self._http, "GET", path, headers=headers, timeout=timeout
            ) as source:
                if source.response.status_code >= 400:
                    await source.response.aread()
                    raise _error_of(source.response)
                async for sse in source.aiter_sse():
                    # No data, no event (the SSE spec); httpx-sse makes one of each keep-alive
                    # after an id (florimondmanca/httpx-sse#35). The gateway's all carry data.
                    if sse.data:
                        yield SseEvent(sse.id or None, sse.event, sse.json())
        except httpx.HTTPError as exc:  # httpx_sse.SSEError (not an event stream) is one too
            raise GatewayError.because(
                "gateway_unreachable", f"the event stream of run {run_id} broke: {exc}"
            ) from None
        except ValueError as exc:
            raise GatewayError.because(
                "invalid_event", f"the event stream of run {run_id} sent no JSON: {exc}"
            ) from None
