"""Documents kept inline in their DynamoDB item, or in S3 when they would not fit.

An item holds either ``doc`` (the bytes) or ``doc_s3`` (the key of an S3 object holding them).
Objects are written once under a new name and never overwritten, so a reader that raced a
writer finds either the old object or the new one, never half of one.
"""

from __future__ import annotations

import uuid
from typing import Any

from agent_runtime.stores.s3.aws import Aws, error_code
from agent_runtime.stores.s3.layout import INLINE_LIMIT

DOC, DOC_S3 = "doc", "doc_s3"


class ObjectGone(LookupError):
    """The S3 object an item named was deleted meanwhile (a concurrent rewrite): read again."""


def pack(aws: Aws, data: bytes, *, run_id: str, name: str) -> dict[str, Any]:
    """The item attributes holding ``data``, uploading it first when it is too large."""
    if len(data) <= INLINE_LIMIT:
        return {DOC: {"B": data}}
    key = aws.url.object_key("runs", run_id, f"{name}-{uuid.uuid4().hex}")
    aws.s3.put_object(Bucket=aws.url.bucket, Key=key, Body=data)
    return {DOC_S3: {"S": key}}


def unpack(aws: Aws, item: dict[str, Any]) -> bytes:
    if DOC in item:
        return bytes(item[DOC]["B"])
    try:
        body = aws.s3.get_object(Bucket=aws.url.bucket, Key=item[DOC_S3]["S"])["Body"]
    except Exception as exc:
        if error_code(exc) in ("NoSuchKey", "404"):
            raise ObjectGone(item[DOC_S3]["S"]) from None
        raise
    with body:
        return bytes(body.read())


def object_of(item: dict[str, Any] | None) -> str | None:
    return item[DOC_S3]["S"] if item and DOC_S3 in item else None


def discard(aws: Aws, keys: list[str | None]) -> None:
    """Delete objects (those that exist), 1000 per request."""
    found = [k for k in keys if k]
    for i in range(0, len(found), 1000):
        aws.s3.delete_objects(
            Bucket=aws.url.bucket,
            Delete={"Objects": [{"Key": k} for k in found[i : i + 1000]], "Quiet": True},
        )
