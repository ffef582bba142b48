"""The S3 + DynamoDB store: each concern of the interface from its module.

Every write that must not race is conditional (see ``connection``); steps ride with their node's
checkpoint transaction (``checkpoints``), which also tells whether the run was cancelled.
"""

from __future__ import annotations

from agent_runtime.stores.s3.checkpoints import S3Checkpoints
from agent_runtime.stores.s3.events import S3Events
from agent_runtime.stores.s3.leases import S3Leases
from agent_runtime.stores.s3.records import S3Runs
from agent_runtime.stores.s3.retention import S3Retention
from agent_runtime.stores.s3.threads import S3Threads


class S3Store(S3Runs, S3Events, S3Leases, S3Checkpoints, S3Retention, S3Threads):
    """Run records in DynamoDB, large documents in S3; LangGraph checkpoints by DynamoSaver."""
