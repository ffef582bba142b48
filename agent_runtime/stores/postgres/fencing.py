"""Postgres fencing (``stores.fencing``): every fenced write runs ``ca_fence`` in its statement,
which locks the run's row (``FOR SHARE``) and aborts the transaction unless the writer holds the
lease, unexpired by the server's clock. The row lock keeps a claim or a renewal from changing
the lease until the write commits; shared, it lets a run's parallel branches commit at once."""

from __future__ import annotations

import psycopg

from agent_runtime.stores.errors import LeaseLost

#: The SQLSTATE ``ca_fence`` raises: a class of its own, so no other error is taken for it.
LEASE_LOST = "CA409"

#: A schema version: the function (its error's message is the run's id, its detail the owner).
SCHEMA = f"""
CREATE FUNCTION ca_fence(run TEXT, owner TEXT) RETURNS void LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM ca_runs WHERE id = run AND lease_owner = owner
        AND (lease_expires_at IS NULL OR lease_expires_at > clock_timestamp()) FOR SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION USING ERRCODE = '{LEASE_LOST}', MESSAGE = run, DETAIL = owner;
    END IF;
END $$;
"""

#: The fence as a CTE of a write's one statement, which must select ``FROM fence`` so that it
#: runs (a volatile function's CTE is evaluated when read). Its abort undoes the whole statement
#: and its row lock holds to the commit, as at the head of a transaction; one statement costs
#: the client less than a pipeline of two.
FENCE_CTE = "fence AS (SELECT ca_fence(%(fence_run)s, %(fence_owner)s))"


def lease_lost(exc: BaseException) -> LeaseLost | None:
    """The ``LeaseLost`` a driver error stands for, if ``ca_fence`` raised it."""
    if not isinstance(exc, psycopg.Error) or exc.sqlstate != LEASE_LOST:
        return None
    return LeaseLost(exc.diag.message_primary or "", exc.diag.message_detail or "")
