"""DynamoDB fencing (``stores.fencing``): a fenced write's every transaction holds a condition on
the run item that the writer holds the run's lease; a transition, which writes the run item
itself, adds the condition to its own (a transaction touches an item once)."""

from __future__ import annotations

from typing import Any

from agent_runtime.stores.fencing import holder
from agent_runtime.stores.records import utcnow
from agent_runtime.stores.s3.layout import PK, SK, run_pk, s, ts

Fence = dict[str, Any]


def held(owner: str) -> tuple[str, dict[str, str], dict[str, Any]]:
    """A condition on a run item that ``owner`` holds its lease, unexpired now (the process's
    clock: DynamoDB's conditions have none), with its names and values."""
    return (
        "#owner = :owner AND (attribute_not_exists(#until) OR #until > :now)",
        {"#owner": "lease_owner", "#until": "lease_until"},
        {":owner": s(owner), ":now": s(ts(utcnow()))},
    )


def fence_for(table: str, run_id: str) -> Fence | None:
    """The ``ConditionCheck`` of a write on ``run_id`` made here (``held``), if the run is fenced:
    to be called where the fence is set (the writer's task; the store's threads do not see it).
    It stands in for the not-cancelled check: a run whose lease is held is not cancelled."""
    owner = holder(run_id)
    if owner is None:
        return None
    condition, names, values = held(owner)
    return {
        "ConditionCheck": {
            "TableName": table,
            "Key": {PK: s(run_pk(run_id)), SK: s("run")},
            "ConditionExpression": condition,
            "ExpressionAttributeNames": names,
            "ExpressionAttributeValues": values,
        }
    }


def fence_owner(fence: Fence) -> str:
    """The owner a fence checks for."""
    return str(fence["ConditionCheck"]["ExpressionAttributeValues"][":owner"]["S"])
