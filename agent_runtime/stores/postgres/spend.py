"""Namespace spend in the Postgres store: one row a namespace and UTC day, a month their sum.

An add is one upsert (``tokens = tokens + ...`` under the row's lock), so replicas adding at once
lose nothing; a read is one index range over the month's days. Rows older than ``SPEND_KEPT`` go
with the first add of each day a store object makes (a range delete on the primary key).
"""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import DictRow

from agent_runtime.stores.counters import spend_cutoff, spend_day
from agent_runtime.stores.records import Amount, Spend

Conn = psycopg.AsyncConnection[DictRow]

SCHEMA = """
CREATE TABLE ca_spend (
    namespace TEXT COLLATE "C" NOT NULL,
    day TEXT COLLATE "C" NOT NULL,
    tokens BIGINT NOT NULL,
    cost DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (namespace, day)
);
"""

ADD = (
    "INSERT INTO ca_spend AS s (namespace, day, tokens, cost)"
    " VALUES (%(ns)s, %(day)s, %(tokens)s, %(cost)s)"
    " ON CONFLICT (namespace, day) DO UPDATE"
    " SET tokens = s.tokens + excluded.tokens, cost = s.cost + excluded.cost"
)
PRUNE = "DELETE FROM ca_spend WHERE namespace = %(ns)s AND day < %(cutoff)s"
READ = (
    "SELECT day, tokens, cost FROM ca_spend"
    " WHERE namespace = %(ns)s AND day >= %(first)s AND day <= %(last)s"
)


async def add_spend(
    conn: Conn, namespace: str, *, tokens: int, cost: float, at: datetime, prune: bool
) -> None:
    """Add to the day's row; with ``prune``, also drop the namespace's rows past keeping."""
    args = {"ns": namespace, "day": spend_day(at), "tokens": tokens, "cost": cost}
    if prune:
        args["cutoff"] = spend_cutoff(at)
        await conn.execute(f"WITH pruned AS ({PRUNE}) {ADD}", args)
    else:
        await conn.execute(ADD, args)


async def get_spend(conn: Conn, namespace: str, *, at: datetime) -> Spend:
    day = spend_day(at)
    cur = await conn.execute(
        READ, {"ns": namespace, "first": f"{day[:7]}-01", "last": f"{day[:7]}-31"}
    )
    rows = await cur.fetchall()
    today = next((r for r in rows if r["day"] == day), None)
    return Spend(
        day=Amount(tokens=today["tokens"], cost=today["cost"]) if today else Amount(),
        month=Amount(
            tokens=sum(int(r["tokens"]) for r in rows), cost=sum(float(r["cost"]) for r in rows)
        ),
    )
