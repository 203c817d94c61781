"""The DynamoDB table, described once: from the pynamodb model ``shared.store.Item``.

``description()`` reads the keys and the three GSIs from the model's own schema
(``Item._get_schema()``, what pynamodb's ``create_table`` sends, and so what
``make up`` creates on DynamoDB Local), its billing mode from ``Item.Meta``, and the
TTL attribute from ``Item.ttl``. The CloudFormation template and ``--create`` are
both written from that description, adding what only AWS has: point-in-time
recovery, encryption with a KMS key, deletion protection.

The template also holds the IAM policies (least privilege). ``FunctionsPolicy``, for
the functions that serve requests: item reads and writes on the table and its
indexes, no ``Scan`` (docs/architecture.md §4: no Scan on a request path), the journal
append-only (``UpdateItem`` and ``DeleteItem`` denied on every item whose partition
key starts with ``JOURNAL#``, ``dynamodb:LeadingKeys``), and no write at all to the
seals of the journal (``JOURNAL#SEALS``). ``JournalSealPolicy``, for the
``journal-seal`` function alone: reads, and ``PutItem`` on ``JOURNAL#SEALS`` only. A
transaction is authorised item by item with these same actions, so it cannot bypass
a deny.

IAM cannot forbid a ``PutItem`` that overwrites an existing journal entry: no
condition key sees the request's ``ConditionExpression`` or whether the item exists,
and the functions must put entries (inside their transactions). The seals cover
that: an entry overwritten after its seal no longer has the hash its seal lists
(``python -m deploy journal verify``), and the request functions cannot touch seals.
"""

from __future__ import annotations

import json

from shared.store.journal import JOURNAL_PREFIX, SEALS_PARTITION

# Actions the functions need: pynamodb's get/batch_get/query/conditional writes and
# TransactWriteItems (authorised per item as Put/Update/Delete/ConditionCheck).
FUNCTION_ACTIONS = [
    "dynamodb:GetItem",
    "dynamodb:BatchGetItem",
    "dynamodb:Query",
    "dynamodb:PutItem",
    "dynamodb:UpdateItem",
    "dynamodb:DeleteItem",
    "dynamodb:ConditionCheckItem",
    "dynamodb:DescribeTable",
]
JOURNAL_LEADING_KEY = JOURNAL_PREFIX + "*"
APPEND_ONLY_DENIED = ["dynamodb:UpdateItem", "dynamodb:DeleteItem"]
SEALS_LEADING_KEY = SEALS_PARTITION
# journal-seal reads the journal by key and appends seals; nothing else.
SEAL_READS = ["dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable"]


def _model():
    from shared.store import Item  # registers every model

    return Item


def description(table_name: str | None = None) -> dict:
    """The table as DynamoDB's CreateTable sees it, plus TTL and backups."""
    item = _model()
    schema = item._get_schema()
    return {
        "TableName": table_name or item.Meta.table_name,
        "AttributeDefinitions": schema["attribute_definitions"],
        "KeySchema": schema["key_schema"],
        "GlobalSecondaryIndexes": [
            {"IndexName": index["index_name"], "KeySchema": index["key_schema"], "Projection": index["projection"]}
            for index in schema["global_secondary_indexes"]
        ],
        "BillingMode": item.Meta.billing_mode,
        "TimeToLive": {"AttributeName": item.ttl.attr_name, "Enabled": True},
        "PointInTimeRecovery": True,
    }


def cloudformation(table_name: str | None = None) -> dict:
    desc = description(table_name)
    table = {
        "Type": "AWS::DynamoDB::Table",
        # A stack deletion or a replacing update must never drop the data.
        "DeletionPolicy": "Retain",
        "UpdateReplacePolicy": "Retain",
        "Properties": {
            "TableName": {"Ref": "TableName"},
            "AttributeDefinitions": desc["AttributeDefinitions"],
            "KeySchema": desc["KeySchema"],
            "GlobalSecondaryIndexes": desc["GlobalSecondaryIndexes"],
            "BillingMode": desc["BillingMode"],
            "TimeToLiveSpecification": desc["TimeToLive"],
            "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": desc["PointInTimeRecovery"]},
            "SSESpecification": {"SSEEnabled": True, "SSEType": "KMS"},
            "DeletionProtectionEnabled": True,
            "Tags": [{"Key": "project", "Value": "aidants-connect"}],
        },
    }
    table_arn = {"Fn::GetAtt": ["Table", "Arn"]}
    policy = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": "Aidants Connect functions: items of the one table, journal append-only, no Scan.",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "Items",
                        "Effect": "Allow",
                        "Action": FUNCTION_ACTIONS,
                        "Resource": [table_arn, {"Fn::Sub": "${Table.Arn}/index/*"}],
                    },
                    {
                        "Sid": "JournalIsAppendOnly",
                        "Effect": "Deny",
                        "Action": APPEND_ONLY_DENIED,
                        "Resource": table_arn,
                        "Condition": {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": [JOURNAL_LEADING_KEY]}},
                    },
                    {
                        "Sid": "OnlyTheSealerWritesSeals",
                        "Effect": "Deny",
                        "Action": ["dynamodb:PutItem"],
                        "Resource": table_arn,
                        "Condition": {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": [SEALS_LEADING_KEY]}},
                    },
                ],
            },
        },
    }
    seal_policy = {
        "Type": "AWS::IAM::ManagedPolicy",
        "Properties": {
            "Description": "Aidants Connect journal-seal function only: reads the journal, appends seals.",
            "PolicyDocument": {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Sid": "ReadTheJournal",
                        "Effect": "Allow",
                        "Action": SEAL_READS,
                        "Resource": [table_arn, {"Fn::Sub": "${Table.Arn}/index/*"}],
                    },
                    {
                        "Sid": "AppendSeals",
                        "Effect": "Allow",
                        "Action": ["dynamodb:PutItem"],
                        "Resource": table_arn,
                        "Condition": {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [SEALS_LEADING_KEY]}},
                    },
                ],
            },
        },
    }
    return {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Description": "Aidants Connect: the one DynamoDB table (generated by `python -m deploy table "
        "--cloudformation` from shared/store; do not edit).",
        "Parameters": {"TableName": {"Type": "String", "Default": desc["TableName"]}},
        "Resources": {"Table": table, "FunctionsPolicy": policy, "JournalSealPolicy": seal_policy},
        "Outputs": {
            "TableArn": {"Value": table_arn},
            "FunctionsPolicyArn": {
                "Value": {"Ref": "FunctionsPolicy"},
                "Description": "Attach to the role or user the functions run as.",
            },
            "JournalSealPolicyArn": {
                "Value": {"Ref": "JournalSealPolicy"},
                "Description": "Attach to the journal-seal function's own role, only.",
            },
        },
    }


def cloudformation_json(table_name: str | None = None) -> str:
    return json.dumps(cloudformation(table_name), indent=2)


def create(endpoint: str | None = None, table_name: str | None = None, region: str | None = None) -> list[str]:
    """Create the table from :func:`description` with boto3, and what goes with it.

    On AWS (no endpoint) the table also gets KMS encryption, deletion protection and
    point-in-time recovery; DynamoDB Local and moto get keys, indexes and TTL. Safe
    to run again: an existing table is left as it is, its TTL and backups enabled.
    Returns what it did, one line each."""
    import boto3

    from shared.config import settings

    desc = description(table_name or settings().table_name)
    endpoint = endpoint or settings().dynamodb_host
    client = boto3.client("dynamodb", region_name=region or settings().aws_region, endpoint_url=endpoint)
    name = desc["TableName"]
    done = []
    try:
        client.describe_table(TableName=name)
        done.append(f"table {name} already exists")
    except client.exceptions.ResourceNotFoundException:
        kwargs = {
            k: desc[k]
            for k in ("TableName", "AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
        }
        if endpoint is None:
            kwargs["SSESpecification"] = {"Enabled": True, "SSEType": "KMS"}
            kwargs["DeletionProtectionEnabled"] = True
        client.create_table(**kwargs)
        client.get_waiter("table_exists").wait(TableName=name)
        done.append(f"created table {name}")
    ttl = client.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
    if ttl.get("TimeToLiveStatus") not in ("ENABLED", "ENABLING"):
        client.update_time_to_live(TableName=name, TimeToLiveSpecification=desc["TimeToLive"])
        done.append(f"enabled TTL on {desc['TimeToLive']['AttributeName']}")
    if endpoint is None:
        client.update_continuous_backups(
            TableName=name, PointInTimeRecoverySpecification={"PointInTimeRecoveryEnabled": True}
        )
        done.append("enabled point-in-time recovery")
    return done
