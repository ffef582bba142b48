"""Writing several items of a run as DynamoDB transactions, and numbering its events.

A durable step is one ``TransactWriteItems`` request (checkpoint, task writes, step records,
events, a check of the run's status), so its cost on AWS is one round trip. DynamoDB takes at
most 100 items and 4 MB a transaction: what does not fit goes first, in transactions of its own
(only fan-outs of dozens of nodes in one step get there), so the last one, which holds the
checkpoint, still commits the step.

A cancelled transaction says which item's condition failed (``CancellationReasons``); each kind
of item says what that means: a task write or a TTL update that is no longer needed is dropped,
an event number taken by another writer is taken again, a run cancelled meanwhile is noted, a
writer that no longer holds the run's lease is refused (``LeaseLost``: the fence, a condition on
the run item in every transaction of a fenced write, see ``stores.fencing``).
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from agent_runtime.stores.errors import LeaseLost, StoreError
from agent_runtime.stores.records import RunEvent
from agent_runtime.stores.s3.aws import Aws, error_code
from agent_runtime.stores.s3.fencing import Fence, fence_owner
from agent_runtime.stores.s3.layout import (
    INLINE_LIMIT,
    PK,
    SK,
    TTL_ATTRIBUTE,
    event_sk,
    n,
    run_pk,
    s,
)
from agent_runtime.stores.s3.payloads import discard, object_of, pack

#: DynamoDB's limits of one transaction (items, and bytes with room for the request's framing).
MAX_ITEMS = 100
MAX_BYTES = 3_800_000
#: Rounds of a transaction that lost a race (event numbers, conflicts) before giving up.
TRIES = 50
#: Runs whose last event number this process remembers (saves a read per event).
SEQ_CACHE = 4096


class Kind(Enum):
    """What a failed condition on an item of this kind means."""

    #: Must be written; a failed condition is an error.
    PUT = "put"
    #: A run record written over the version it was read at: the caller reads it again.
    VERSIONED = "versioned"
    #: Not needed any more when its condition fails (a task write already there, a TTL update
    #: of an item deleted meanwhile): dropped.
    OPTIONAL = "optional"
    #: The check that the run is not cancelled: when it fails the run is, and the rest goes on.
    NOT_CANCELLED = "not-cancelled"
    #: The check that the writer holds the run's lease (so the run is not cancelled either):
    #: when it fails nothing is written.
    FENCE = "fence"


@dataclass(eq=False)
class Op:
    """One entry of ``TransactItems``, with the S3 objects written for it."""

    kind: Kind
    request: dict[str, Any]
    objects: list[str | None] = field(default_factory=list)

    @property
    def size(self) -> int:
        body = next(iter(self.request.values()))
        return item_size(body.get("Item") or body.get("Key") or {}) + 200


class LostRace(Exception):
    """A versioned run record changed since it was read."""


@dataclass
class Outcome:
    events: list[RunEvent]
    #: Whether the run was found cancelled (None: no status check was asked for).
    cancelled: bool | None = None
    #: The TTL the cancelled run's items have, when it was found cancelled.
    expires_at: int | None = None


def item_size(item: dict[str, Any]) -> int:
    """An upper bound of an item's size as DynamoDB counts it (names plus values)."""
    total = 0
    for name, value in item.items():
        (kind, raw), *_ = value.items()
        total += len(name) + (len(raw) if kind == "B" else len(str(raw).encode()))
    return total


def put(table: str, item: dict[str, Any], condition: str | None = None) -> dict[str, Any]:
    request: dict[str, Any] = {"TableName": table, "Item": item}
    if condition:
        request.update(ConditionExpression=condition, ExpressionAttributeNames={"#pk": PK})
    return {"Put": request}


def not_cancelled_check(table: str, run_id: str) -> Op:
    """A condition on the run item, so a step's commit also tells whether the run is cancelled.

    A ``ConditionCheck`` in the step's transaction answers it at no extra round trip (it costs
    write capacity by the size of the run item, where a read would cost a round trip); a thread
    with no run (LangGraph used on its own) passes it. When it fails, the item as it was comes
    back, with the TTL the cancel gave the run.
    """
    return Op(
        Kind.NOT_CANCELLED,
        {
            "ConditionCheck": {
                "TableName": table,
                "Key": {PK: s(run_pk(run_id)), SK: s("run")},
                "ConditionExpression": "attribute_not_exists(#st) OR #st <> :cancelled",
                "ExpressionAttributeNames": {"#st": "st_pk"},
                "ExpressionAttributeValues": {":cancelled": s("cancelled")},
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    )


class EventNumbers:
    """The last event number of each run this process wrote, so appending needs no read.

    Numbers are gapless because event ``n`` is written only if absent: a writer whose number was
    taken reads the last one again and retries.
    """

    def __init__(self) -> None:
        self._seqs: OrderedDict[str, int] = OrderedDict()
        self._lock = threading.Lock()

    def last(self, aws: Aws, run_id: str, *, refresh: bool = False) -> int:
        with self._lock:
            known = self._seqs.get(run_id)
        if known is not None and not refresh:
            return known
        page = aws.dynamodb.query(
            TableName=aws.url.table,
            KeyConditionExpression="#pk = :pk AND begins_with(#sk, :prefix)",
            ExpressionAttributeNames={"#pk": PK, "#sk": SK},
            ExpressionAttributeValues={":pk": s(run_pk(run_id)), ":prefix": s("event#")},
            ScanIndexForward=False,
            Limit=1,
            ConsistentRead=True,
            ProjectionExpression="#sk",
        )
        items = page.get("Items", [])
        return int(items[0][SK]["S"].removeprefix("event#")) if items else 0

    def remember(self, run_id: str, seq: int) -> None:
        with self._lock:
            self._seqs[run_id] = seq
            self._seqs.move_to_end(run_id)
            while len(self._seqs) > SEQ_CACHE:
                self._seqs.popitem(last=False)

    def remember_at_least(self, run_id: str, ops: list[Op]) -> None:
        """Take note of the events among the items of ``ops`` (a listing of the run's items)."""
        seqs = [
            int(key[SK]["S"].removeprefix("event#"))
            for op in ops
            if (key := next(iter(op.request.values())).get("Key"))
            and key[SK]["S"].startswith("event#")
        ]
        if not seqs:
            return
        with self._lock:
            known = self._seqs.get(run_id, 0)
        if max(seqs) > known:
            self.remember(run_id, max(seqs))

    def forget(self, run_id: str) -> None:
        with self._lock:
            self._seqs.pop(run_id, None)


def event_op(aws: Aws, event: RunEvent, expires_at: int | None) -> Op:
    """An event's Put, written only if its number is still free."""
    doc = event.model_dump_json().encode()
    item = {
        PK: s(run_pk(event.run_id)),
        SK: s(event_sk(event.seq)),
        **pack(aws, doc, run_id=event.run_id, name=f"event-{event.seq}"),
    }
    if expires_at is not None:
        item[TTL_ATTRIBUTE] = n(expires_at)
    return Op(
        Kind.PUT,
        put(aws.url.table, item, "attribute_not_exists(#pk)"),
        [object_of(item)],
    )


def event_size(event: RunEvent) -> int:
    """What an event's item counts for in a transaction (a large one holds only an S3 key)."""
    size = len(event.model_dump_json()) + 300
    return size if size <= INLINE_LIMIT else 600


Slot = tuple[Op | None, int]


def chunks(slots: list[Slot], reserved: Op | None = None) -> list[tuple[list[Op], int]]:
    """Ops and events (``None``), with their sizes, in order, cut where a transaction would go
    over DynamoDB's limits (leaving room for ``reserved``, which each one gets): each chunk as
    its ops and the number of events it holds."""
    cut: list[tuple[list[Op], int]] = []
    current: list[Op] = []
    count = size = 0
    items, room = (MAX_ITEMS, MAX_BYTES) if reserved is None else (MAX_ITEMS - 1, MAX_BYTES - 400)
    for op, weight in slots:
        if len(current) + count >= items or (size and size + weight > room):
            cut.append((current, count))
            current, count, size = [], 0, 0
        if op is None:
            count += 1
        else:
            current.append(op)
        size += weight
    cut.append((current, count))
    return cut


def write(
    aws: Aws,
    ops: list[Op],
    *,
    events: Sequence[RunEvent] = (),
    run_id: str = "",
    numbers: EventNumbers | None = None,
    expires_at: int | None = None,
    events_after: int | None = None,
    fence: Fence | None = None,
) -> Outcome:
    """Commit ``ops`` and ``events`` (numbered now, in order) in as few transactions as the
    limits allow, usually one: events go after the first ``events_after`` ops (default: last).

    Only the transaction holding the first op of all is sure to be atomic with it; what does not
    fit with it goes in transactions after it (before it when events come last). With
    ``expires_at`` every item put gets that TTL; with ``fence`` (``s3.fencing``) every
    transaction checks the writer's lease.
    """
    if expires_at is not None:
        ops = [with_ttl(op, expires_at) for op in ops]
    slots: list[Slot] = [(op, op.size) for op in ops]
    where = len(ops) if events_after is None else events_after
    slots[where:where] = [(None, event_size(e)) for e in events]
    outcome = Outcome(events=[])
    remaining = list(events)
    check = None if fence is None else Op(Kind.FENCE, fence)
    for chunk, count in chunks(slots, check):
        mine, remaining = remaining[:count], remaining[count:]
        if check is not None and (chunk or count):
            chunk = [*chunk, check]
        outcome.events.extend(_commit(aws, chunk, mine, run_id, numbers, expires_at, outcome))
    return outcome


def _commit(
    aws: Aws,
    ops: list[Op],
    events: list[RunEvent],
    run_id: str,
    numbers: EventNumbers | None,
    expires_at: int | None,
    outcome: Outcome,
) -> list[RunEvent]:
    ops = list(ops)
    refresh = False
    for attempt in range(TRIES):
        numbered: list[RunEvent] = []
        event_ops: list[Op] = []
        if events:
            assert numbers is not None
            base = numbers.last(aws, run_id, refresh=refresh)
            numbered = [e.model_copy(update={"seq": base + i}) for i, e in enumerate(events, 1)]
            event_ops = [event_op(aws, e, expires_at) for e in numbered]
        sent = [*ops, *event_ops]
        if not sent:
            return []
        try:
            if len(sent) == 1 and "Put" in sent[0].request:
                aws.dynamodb.put_item(**sent[0].request["Put"])
            else:
                aws.dynamodb.transact_write_items(TransactItems=[op.request for op in sent])
        except Exception as exc:
            discard(aws, [obj for op in event_ops for obj in op.objects])
            failed = _failed(exc, len(sent))
            if failed is None:
                discard(aws, [obj for op in ops for obj in op.objects])
                raise
            retry_events, dropped = False, set()
            for index, old in failed:
                op = sent[index]
                if op in event_ops:
                    retry_events = True
                elif op.kind in (Kind.OPTIONAL, Kind.NOT_CANCELLED):
                    dropped.add(index)
                    discard(aws, op.objects)
                    if op.kind is Kind.NOT_CANCELLED:
                        outcome.cancelled = True
                        # Cancelled runs finish: if the cancel gave the run's items a TTL
                        # already, these get it too, or they would outlive it.
                        if old and TTL_ATTRIBUTE in old:
                            expires_at = outcome.expires_at = int(old[TTL_ATTRIBUTE]["N"])
                            ops = [with_ttl(o, expires_at) for o in ops]
                elif op.kind is Kind.VERSIONED:
                    discard(aws, [obj for op in ops for obj in op.objects])
                    raise LostRace() from None
                elif op.kind is Kind.FENCE:
                    discard(aws, [obj for op in ops for obj in op.objects])
                    raise LeaseLost(run_id, fence_owner(op.request)) from None
                else:
                    discard(aws, [obj for op in ops for obj in op.objects])
                    raise StoreError(
                        f"a conditional write of run {run_id!r} failed unexpectedly"
                    ) from None
            ops = [op for i, op in enumerate(ops) if i not in dropped]
            refresh = retry_events
            if not failed:  # a conflict with another transaction: wait a little
                time.sleep(min(0.01 * 2**attempt, 0.5))
            continue
        checked = (Kind.NOT_CANCELLED, Kind.FENCE)
        if any(op.kind in checked for op in ops) and outcome.cancelled is None:
            outcome.cancelled = False
        if numbered:
            assert numbers is not None
            numbers.remember(run_id, numbered[-1].seq)
        return numbered
    raise StoreError(f"cannot write run {run_id!r}: too many concurrent writers")


def with_ttl(op: Op, expires_at: int) -> Op:
    """A Put with the TTL attribute set (other kinds of entry as they are)."""
    if "Put" not in op.request:
        return op
    body = op.request["Put"]
    item = {**body["Item"], TTL_ATTRIBUTE: n(expires_at)}
    return Op(op.kind, {"Put": {**body, "Item": item}}, op.objects)


def _failed(exc: BaseException, count: int) -> list[tuple[int, dict[str, Any] | None]] | None:
    """The items whose condition failed, by position, with the item as it was when asked for;
    [] for a conflict worth retrying; None when the error is not a lost race at all."""
    code = error_code(exc)
    if code == "ConditionalCheckFailedException":  # a single put_item
        return [(0, None)]
    if code == "TransactionConflictException":
        return []
    if code != "TransactionCanceledException":
        return None
    reasons = (getattr(exc, "response", {}).get("CancellationReasons") or [])[:count]
    codes = [str(r.get("Code", "None")) for r in reasons]
    if any(c not in ("None", "ConditionalCheckFailed", "TransactionConflict") for c in codes):
        return None
    return [
        (i, r.get("Item"))
        for i, r in enumerate(reasons)
        if r.get("Code") == "ConditionalCheckFailed"
    ]
