"""Creating the table and bucket (``configurable-agents store init``), and checking them on open.

The gateway never creates cloud resources: opening a store whose table or bucket is missing
fails with one line telling the user to run ``store init``.
"""

from __future__ import annotations

from agent_runtime.stores.errors import StoreError
from agent_runtime.stores.s3.aws import CONNECTION_ERRORS, Aws, error_code
from agent_runtime.stores.s3.layout import INDEXES, TTL_ATTRIBUTE, table_definition


def check(aws: Aws) -> None:
    """The table (with every index) and the bucket exist; raises StoreError otherwise."""
    url = aws.url
    hint = f"create them with: configurable-agents store init '{url.shown}'"
    try:
        table = aws.dynamodb.describe_table(TableName=url.table)["Table"]
    except Exception as exc:
        if error_code(exc) == "ResourceNotFoundException":
            raise StoreError(
                f"the DynamoDB table {url.table!r} of the store {url.shown} does not exist; {hint}"
            ) from None
        raise
    present = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    missing = [name for name, *_ in INDEXES if name not in present]
    if missing:
        raise StoreError(
            f"the DynamoDB table {url.table!r} lacks the indexes {', '.join(missing)}; "
            f"it was not made by store init, or by an older version: {hint}"
        )
    try:
        aws.s3.head_bucket(Bucket=url.bucket)
    except Exception as exc:
        if isinstance(exc, CONNECTION_ERRORS):
            raise
        if error_code(exc) in ("404", "NoSuchBucket", "NotFound"):
            raise StoreError(
                f"the S3 bucket {url.bucket!r} of the store {url.shown} does not exist; {hint}"
            ) from None
        raise


def create(aws: Aws) -> list[str]:
    """Create what is missing (idempotent); one line per resource saying what happened."""
    url = aws.url
    done: list[str] = []
    try:
        aws.dynamodb.create_table(**table_definition(url.table))
        done.append(f"created DynamoDB table {url.table}")
    except Exception as exc:
        if error_code(exc) != "ResourceInUseException":
            raise
        done.append(f"DynamoDB table {url.table} already exists")
    aws.dynamodb.get_waiter("table_exists").wait(
        TableName=url.table, WaiterConfig={"Delay": 2, "MaxAttempts": 150}
    )
    ttl = aws.dynamodb.describe_time_to_live(TableName=url.table)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        aws.dynamodb.update_time_to_live(
            TableName=url.table,
            TimeToLiveSpecification={"Enabled": True, "AttributeName": TTL_ATTRIBUTE},
        )
        done.append(f"enabled TTL on {url.table}.{TTL_ATTRIBUTE}")
    region = aws.s3.meta.region_name
    try:
        # us-east-1 answers a second create_bucket with 200: ask first
        aws.s3.head_bucket(Bucket=url.bucket)
        done.append(f"S3 bucket {url.bucket} already exists")
        check(aws)
        return done
    except Exception as exc:
        if isinstance(exc, CONNECTION_ERRORS) or error_code(exc) not in ("404", "NoSuchBucket"):
            raise
    try:
        extra = (
            {"CreateBucketConfiguration": {"LocationConstraint": region}}
            if region and region != "us-east-1"
            else {}
        )
        aws.s3.create_bucket(Bucket=url.bucket, **extra)
        done.append(f"created S3 bucket {url.bucket}")
    except Exception as exc:
        if error_code(exc) not in ("BucketAlreadyOwnedByYou", "BucketAlreadyExists"):
            raise
        done.append(f"S3 bucket {url.bucket} already exists")
    check(aws)
    return done
