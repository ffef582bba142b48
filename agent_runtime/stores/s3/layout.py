"""The single-table layout in DynamoDB: item keys, secondary indexes, the TTL attribute.

Every item of a run shares the partition ``run#<id>`` (also the LangGraph thread id), so one
query finds all of it:

| sort key | item |
| --- | --- |
| ``run`` | the run record; lease and index attributes beside it |
| ``step#<node>#<visit>#<attempt>`` | one step |
| ``event#<seq, 12 digits>`` | one event; written only after the previous number exists |
| ``cp#<ns>#<checkpoint id>`` | one LangGraph checkpoint (the whole state, serialized) |
| ``w#<ns>#<checkpoint id>#<task>#<idx>`` | one pending write of a checkpoint |

Idempotency keys are items of their own (``key#<ns>/<workflow>#<key>``), written in the same
transaction as the run. Listings and claims query sparse, keys-only secondary indexes whose sort
key is ``<UTC time, microseconds>#<run id>``: never a scan.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from agent_runtime.stores.records import RunRecord, RunStatus

PK, SK = "pk", "sk"
RUN_SK = "run"
#: Sort key of the run item in every listing index: creation time, then id.
CREATED = "ck"
#: (index name, partition attribute, sort attribute) of each run listing.
LIST_INDEXES = {
    (): ("runs-all", "all_pk", CREATED),
    ("workflow",): ("runs-by-workflow", "wf_pk", CREATED),
    ("namespace",): ("runs-by-ns", "ns_pk", CREATED),
    ("namespace", "workflow"): ("runs-by-ns-workflow", "nswf_pk", CREATED),
    ("namespace", "status"): ("runs-by-ns-status", "nsst_pk", CREATED),
    ("status",): ("runs-by-status", "st_pk", CREATED),
    ("status", "workflow"): ("runs-by-workflow-status", "wfst_pk", CREATED),
    ("namespace", "status", "workflow"): ("runs-by-ns-workflow-status", "nswfst_pk", CREATED),
}
#: Queued and running runs, by the time they may next be claimed (now, or when a lease expires).
CLAIM_INDEX, CLAIM_PK, CLAIM_SK = "runs-claimable", "claim_pk", "claim_sk"
#: Finished runs by finishing time, for ``runs prune``.
FINISHED_INDEX, FINISHED_PK, FINISHED_SK = "runs-finished", "fin_pk", "fin_sk"
#: Seconds since the epoch after which DynamoDB deletes the item (the table's TTL attribute).
TTL_ATTRIBUTE = "expires_at"
INDEXES = [*LIST_INDEXES.values(), (CLAIM_INDEX, CLAIM_PK, CLAIM_SK)]
INDEXES.append((FINISHED_INDEX, FINISHED_PK, FINISHED_SK))
#: A document larger than this goes to S3 (DynamoDB items hold at most 400 KB in all).
INLINE_LIMIT = 350_000


def ts(value: datetime) -> str:
    """A sortable text time: UTC, always with microseconds (naive means UTC)."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def run_pk(run_id: str) -> str:
    return f"run#{run_id}"


def esc(part: str) -> str:
    """A key part that cannot be confused with the separator."""
    return part.replace("%", "%25").replace("#", "%23")


def step_sk(node: str, visit: int, attempt: int) -> str:
    return f"step#{esc(node)}#{visit}#{attempt}"


def event_sk(seq: int) -> str:
    return f"event#{seq:012d}"


def key_pk(namespace: str, workflow: str, key: str) -> str:
    return f"key#{esc(namespace)}/{esc(workflow)}#{esc(key)}"


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def index_attributes(run: RunRecord) -> dict[str, Any]:
    """The listing, claim and prune index keys of a run (sparse: absent when not indexed)."""
    wf, ns, st = run.workflow, run.namespace, run.status.value
    attrs: dict[str, Any] = {
        CREATED: s(f"{ts(run.created_at)}#{run.id}"),
        "all_pk": s("runs"),
        "wf_pk": s(wf),
        "ns_pk": s(ns),
        "nswf_pk": s(f"{ns}/{wf}"),
        "nsst_pk": s(f"{ns}#{st}"),
        "st_pk": s(st),
        "wfst_pk": s(f"{wf}#{st}"),
        "nswfst_pk": s(f"{ns}/{wf}#{st}"),
    }
    if run.status in (RunStatus.QUEUED, RunStatus.RUNNING):
        attrs[CLAIM_PK] = s("claimable")
        attrs[CLAIM_SK] = s(claim_key(run))
    if run.status.finished and run.finished_at is not None:
        attrs[FINISHED_PK] = s("finished")
        attrs[FINISHED_SK] = s(f"{ts(run.finished_at)}#{run.id}")
    return attrs


def claim_key(run: RunRecord) -> str:
    """When the run may next be claimed: at once (its creation) or when its lease expires."""
    return f"{ts(run.lease_expires_at or run.created_at)}#{run.id}"


def table_definition(name: str) -> dict[str, Any]:
    """``create_table`` arguments: on-demand capacity, keys-only indexes."""
    attributes = {PK, SK} | {a for _, pk, sk in INDEXES for a in (pk, sk)}
    return {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "AttributeDefinitions": [
            {"AttributeName": a, "AttributeType": "S"} for a in sorted(attributes)
        ],
        "KeySchema": [
            {"AttributeName": PK, "KeyType": "HASH"},
            {"AttributeName": SK, "KeyType": "RANGE"},
        ],
        "GlobalSecondaryIndexes": [
            {
                "IndexName": index,
                "KeySchema": [
                    {"AttributeName": pk, "KeyType": "HASH"},
                    {"AttributeName": sk, "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
            for index, pk, sk in INDEXES
        ],
    }
