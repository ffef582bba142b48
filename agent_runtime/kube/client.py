"""The API client shared by the operator (its writes) and the gateway (its watches and reviews).

lightkube does the talking; this speaks plain dicts (what builders make and caches keep) and turns
lightkube's errors into ``KubeError`` with the status code callers decide on.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

import httpx2
from lightkube import ALL_NS, ApiError, AsyncClient, SingleConfig
from lightkube.core.client import LabelSelector
from lightkube.core.resource import GlobalResource
from lightkube.types import CascadeType, PatchType

from agent_runtime.errors import AgentRuntimeError
from agent_runtime.kube.config import load_configuration
from agent_runtime.kube.resources import resource
from agent_runtime.kube.transport import ApiTransport

#: A label selector: a value to equal, or None for "has the label".
Labels = LabelSelector
Global = TypeVar("Global", bound=GlobalResource)
Answer = TypeVar("Answer")


class KubeError(AgentRuntimeError, RuntimeError):
    """The API server refused a request: its HTTP status and message.

    Worth sending again unless the request itself is malformed (400, 422): the API server may be
    back, the object's version current, the account's permissions granted.
    """

    code = "kube_api_error"

    def __init__(self, status: int, message: str) -> None:
        super().__init__(f"HTTP {status}: {message}")
        self.status = status
        self.retryable = status not in (400, 422)
        self.details = {"status": status}


def kube_error(exc: httpx2.HTTPStatusError) -> KubeError:
    """The API server's status and message; lightkube leaves the body of a watch refused at
    its opening (and of an answer that is not JSON) undecoded: the reason phrase then."""
    if isinstance(exc, ApiError):
        return KubeError(int(exc.status.code or 500), str(exc.status.message))
    return KubeError(exc.response.status_code, exc.response.reason_phrase)


def scope(namespace: str | None) -> str:
    """lightkube's name for a namespace, or for all of them (None)."""
    return namespace or ALL_NS


@contextmanager
def _translated() -> Iterator[None]:
    try:
        yield
    except httpx2.HTTPStatusError as exc:
        raise kube_error(exc) from None


async def _or_none(call: Awaitable[Answer]) -> Answer | None:
    """The answer, or None when the object is not there (404)."""
    try:
        with _translated():
            return await call
    except KubeError as exc:
        if exc.status == 404:
            return None
        raise


class KubeClient:
    """A connection pool to the API server, shared by everything a process asks it.

    ``field_manager``: who server-side applies are made as. ``on_request``: told the verb of every
    HTTP request, e.g. to count them for metrics.
    """

    def __init__(
        self,
        config: SingleConfig | None = None,
        *,
        field_manager: str | None = None,
        on_request: Callable[[str], None] | None = None,
    ) -> None:
        config = config or load_configuration()
        self.api = AsyncClient(
            config,
            # No bound on waiting for a free connection: under load (500 pools reconciled at
            # once on 2 busy cores) a bound failed requests that were only queued, and kopf
            # retried them 60 s later (38 PoolTimeouts in a 200-pool run). Once a request has
            # its connection, 30 s bounds it.
            timeout=httpx2.Timeout(30.0, pool=None),
            field_manager=field_manager,
            transport=ApiTransport(config, on_request=on_request),
        )

    async def get(
        self, api_version: str, kind: str, namespace: str | None, name: str
    ) -> dict[str, Any] | None:
        """The object, or None when there is none."""
        found = await _or_none(self.api.get(resource(api_version, kind), name, namespace=namespace))
        return None if found is None else dict(found)

    async def list(
        self, api_version: str, kind: str, namespace: str | None, *, labels: Labels | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        """The objects (of every namespace when ``namespace`` is None) and the collection's
        resourceVersion, to watch from."""
        listed = self.api.list(
            resource(api_version, kind), namespace=scope(namespace), labels=labels
        )
        with _translated():
            items = [dict(item) async for item in listed]
        return items, listed.resourceVersion

    async def apply(
        self, obj: dict[str, Any], *, field_manager: str | None = None
    ) -> dict[str, Any]:
        """Server-side apply: we own exactly the fields we send, and take them back on drift
        (``field_manager``: as whom, when not the client's own)."""
        meta = obj["metadata"]
        with _translated():
            applied = await self.api.patch(
                resource(obj["apiVersion"], obj["kind"]),
                meta["name"],
                obj,
                namespace=meta.get("namespace"),
                patch_type=PatchType.APPLY,
                field_manager=field_manager,
                force=True,
            )
        return dict(applied)

    async def delete(self, api_version: str, kind: str, namespace: str | None, name: str) -> bool:
        """Deleted, its dependents in the background; False when it was not there."""

        async def deleted() -> bool:
            await self.api.delete(
                resource(api_version, kind),
                name,
                namespace=namespace,
                cascade=CascadeType.BACKGROUND,
            )
            return True

        return await _or_none(deleted()) is not None

    async def patch_status(
        self, api_version: str, kind: str, namespace: str | None, name: str, status: dict[str, Any]
    ) -> dict[str, Any] | None:
        """Merge ``status`` into the object's status subresource; None when the object is gone."""
        patched = await _or_none(
            self.api.patch(
                resource(api_version, kind).Status,
                name,
                {"status": status},
                namespace=namespace,
                patch_type=PatchType.MERGE,
            )
        )
        return None if patched is None else dict(patched)

    async def create(self, obj: Global) -> Global:
        """Create a typed cluster-wide object (a TokenReview, say); the API server's answer."""
        with _translated():
            created: Global = await self.api.create(obj)
        return created

    async def serves(self, group_version: str, plural: str) -> bool:
        """Whether the API server serves ``plural`` in ``group_version`` (discovery), e.g. a
        CRD another project installs; a refusal other than 404 is raised."""
        path = f"/apis/{group_version}" if "/" in group_version else f"/api/{group_version}"
        # lightkube has no discovery call: its own HTTP client (credentials, transport) asks.
        http = self.api._client._client
        response = await http.get(path)
        if response.status_code == 404:
            return False
        if response.is_error:
            raise KubeError(response.status_code, response.reason_phrase)
        return any(r.get("name") == plural for r in response.json().get("resources", []))

    async def aclose(self) -> None:
        await self.api.close()
