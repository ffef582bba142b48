"""The S3 + DynamoDB run store: ``s3://bucket/prefix?table=name&region=...``.

Run records, steps, events, leases and LangGraph checkpoints in one DynamoDB table; documents
too large for an item in S3. Needs the ``s3`` extra (boto3).
"""

from agent_runtime.stores.s3.store import S3Store

__all__ = ["S3Store"]
