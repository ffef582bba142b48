"""Kinds as lightkube resources, all read and written as plain dicts.

Built-in kinds take their plural and scope from lightkube's models, ours from the CRDs we render,
so no table of plural names is kept by hand. Everything is handled as a lightkube generic
resource (a dict): builders make dicts, caches keep them, and a watch's BOOKMARK event, which
carries only metadata, decodes as one where a typed model would refuse it.
"""

from __future__ import annotations

import functools

from lightkube.core.resource import NamespacedResource, api_info
from lightkube.core.resource_registry import resource_registry
from lightkube.generic_resource import GenericNamespacedResource, create_namespaced_resource

from agent_runtime.spec.crd import build_crds

Resource = type[GenericNamespacedResource]


@functools.cache
def resource(api_version: str, kind: str) -> Resource:
    """The resource of a namespaced kind; ours also carry their ``Status`` subresource.

    ``LoadResourceError`` for a kind neither lightkube nor our CRDs know; ``ValueError`` for a
    cluster-scoped one (nothing here reads or writes those as dicts).
    """
    ours = _custom_resources().get((api_version, kind))
    if ours is not None:
        return ours
    model = resource_registry.load(api_version, kind)
    if not issubclass(model, NamespacedResource):
        raise ValueError(f"{kind} is not namespaced")
    twin: Resource = type(kind, (GenericNamespacedResource,), {"_api_info": api_info(model)})
    return twin


#: Other projects' kinds the operator writes when their API server serves them:
#: (group, version, kind, plural).
FOREIGN = [("keda.sh", "v1alpha1", "ScaledObject", "scaledobjects")]


@functools.cache
def _custom_resources() -> dict[tuple[str, str], Resource]:
    found: dict[tuple[str, str], Resource] = {}
    for group, version, kind, plural in FOREIGN:
        found[(f"{group}/{version}", kind)] = create_namespaced_resource(
            group, version, kind, plural
        )
    for crd in build_crds():
        spec, names = crd["spec"], crd["spec"]["names"]
        assert spec["scope"] == "Namespaced", crd["metadata"]["name"]
        for version in spec["versions"]:
            api_version = f"{spec['group']}/{version['name']}"
            found[(api_version, names["kind"])] = create_namespaced_resource(
                spec["group"], version["name"], names["kind"], names["plural"]
            )
    return found


def path_of(kind: Resource, namespace: str | None = None) -> str:
    """The collection's URL path, to name a watch in logs and readiness reports."""
    info = api_info(kind).resource
    base = f"/apis/{info.group}/{info.version}" if info.group else f"/api/{info.version}"
    where = f"/namespaces/{namespace}" if namespace else ""
    return f"{base}{where}/{api_info(kind).plural}"
