"""Namespace spend in DynamoDB: one item a namespace and UTC day, a month the sum of its days.

Items ``spend#<namespace>`` / ``day#<YYYY-MM-DD>`` hold ``tokens`` and ``cost``. An add is one
``UpdateItem`` with ``ADD`` (atomic on the server, so replicas adding at once lose nothing) that
also sets the table's TTL attribute to ``SPEND_KEPT`` after the day; a read is one query of the
month's days. Cost is sent as a plain decimal (DynamoDB numbers are exact decimals).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from agent_runtime.stores.counters import SPEND_KEPT, spend_day
from agent_runtime.stores.records import Amount, Spend
from agent_runtime.stores.s3.aws import Aws
from agent_runtime.stores.s3.layout import PK, SK, TTL_ATTRIBUTE, esc, n, s
from agent_runtime.stores.s3.tableops import partition

DAY_PREFIX = "day#"


def spend_pk(namespace: str) -> str:
    return f"spend#{esc(namespace)}"


def _decimal(value: float) -> str:
    """A float as DynamoDB takes it: positional digits, no exponent."""
    return f"{Decimal(repr(float(value))):f}"


def add(aws: Aws, namespace: str, *, tokens: int, cost: float, at: datetime) -> None:
    day = spend_day(at)
    # kept SPEND_KEPT after the day's end, like the SQL stores' rows
    expires = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=UTC) + timedelta(days=1)
    expires += SPEND_KEPT
    aws.dynamodb.update_item(
        TableName=aws.url.table,
        Key={PK: s(spend_pk(namespace)), SK: s(f"{DAY_PREFIX}{day}")},
        UpdateExpression="ADD #tokens :tokens, #cost :cost SET #ttl = :ttl",
        ExpressionAttributeNames={"#tokens": "tokens", "#cost": "cost", "#ttl": TTL_ATTRIBUTE},
        ExpressionAttributeValues={
            ":tokens": n(int(tokens)),
            ":cost": {"N": _decimal(cost)},
            ":ttl": n(int(expires.timestamp())),
        },
    )


def get(aws: Aws, namespace: str, *, at: datetime) -> Spend:
    day = spend_day(at)
    today, month = Amount(), Amount()
    for item in partition(aws, spend_pk(namespace), f"{DAY_PREFIX}{day[:7]}-"):
        amount = Amount(tokens=int(item["tokens"]["N"]), cost=float(item["cost"]["N"]))
        month = Amount(tokens=month.tokens + amount.tokens, cost=month.cost + amount.cost)
        if item[SK]["S"] == f"{DAY_PREFIX}{day}":
            today = amount
    return Spend(day=today, month=month)
