"""What every handler reaches through kopf's ``memo``: settings, the API client, reconcilers."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import kopf

from agent_runtime.spec.common import API_GROUP, API_VERSION
from agents_operator.kube import Kube
from agents_operator.settings import OperatorSettings

GROUP, VERSION = API_GROUP, API_VERSION
API = f"{GROUP}/{VERSION}"


@dataclass
class OperatorContext:
    settings: OperatorSettings
    kube: Kube
    #: One reconcile at a time per object: child events and spec changes may race.
    locks: defaultdict[tuple[str, str, str], asyncio.Lock] = field(
        default_factory=lambda: defaultdict(asyncio.Lock)
    )


def context_of(memo: kopf.Memo) -> OperatorContext:
    ctx: OperatorContext = memo["ctx"]
    return ctx


def plain(body: Any) -> dict[str, Any]:
    """A kopf body as a plain dict without status, for the spec models."""
    data = dict(body)
    return {
        "apiVersion": data.get("apiVersion"),
        "kind": data.get("kind"),
        "metadata": {
            k: v
            for k, v in dict(data.get("metadata", {})).items()
            if k in ("name", "namespace", "generation", "labels", "annotations")
        },
        "spec": dict(data.get("spec") or {}),
    }


def owner_reference(body: Any) -> dict[str, Any]:
    return {
        "apiVersion": body["apiVersion"],
        "kind": body["kind"],
        "name": body["metadata"]["name"],
        "uid": body["metadata"]["uid"],
        "controller": True,
        "blockOwnerDeletion": True,
    }


def is_owned_by(obj: Any, uid: str) -> bool:
    return any(
        ref.get("uid") == uid for ref in obj.get("metadata", {}).get("ownerReferences") or []
    )
