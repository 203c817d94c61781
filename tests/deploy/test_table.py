"""The table is described once (the pynamodb models) and created from that
description everywhere: `make up` (shared.store.create_table), CloudFormation, and
`python -m deploy table --create`. Also the documented secrets commands."""
from __future__ import annotations

import base64
import json
import subprocess
import sys

import boto3
import pytest

from deploy import secrets, table
from local import stack

ROOT = stack.ROOT


def _key_schema(keys: list[dict]) -> dict[str, str]:
    return {k["AttributeName"]: k["KeyType"] for k in keys}


def _shape(described: dict) -> dict:
    """What must agree between two tables: keys, indexes, billing."""
    return {
        "keys": _key_schema(described["KeySchema"]),
        "attributes": {a["AttributeName"]: a["AttributeType"] for a in described["AttributeDefinitions"]},
        "indexes": {i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
                    for i in described["GlobalSecondaryIndexes"]},
        "billing": described.get("BillingMode") or described["BillingModeSummary"]["BillingMode"],
    }


def test_cloudformation_template_describes_the_table():
    template = json.loads(subprocess.run([sys.executable, "-m", "deploy", "table", "--cloudformation"],
                                         cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    resource = template["Resources"]["Table"]
    props = resource["Properties"]
    assert resource["Type"] == "AWS::DynamoDB::Table"
    assert resource["DeletionPolicy"] == resource["UpdateReplacePolicy"] == "Retain"
    assert _key_schema(props["KeySchema"]) == {"pk": "HASH", "sk": "RANGE"}
    indexes = {i["IndexName"]: i for i in props["GlobalSecondaryIndexes"]}
    assert set(indexes) == {"gsi1", "gsi2", "gsi3"}
    for name, index in indexes.items():
        assert _key_schema(index["KeySchema"]) == {f"{name}pk": "HASH", f"{name}sk": "RANGE"}
        assert index["Projection"] == {"ProjectionType": "ALL"}
        assert "ProvisionedThroughput" not in index
    defined = {a["AttributeName"]: a["AttributeType"] for a in props["AttributeDefinitions"]}
    assert defined == {k: "S" for k in ("pk", "sk", "gsi1pk", "gsi1sk", "gsi2pk", "gsi2sk", "gsi3pk", "gsi3sk")}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["TimeToLiveSpecification"] == {"AttributeName": "ttl", "Enabled": True}
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"]["SSEEnabled"] is True
    assert props["DeletionProtectionEnabled"] is True
    assert props["TableName"] == {"Ref": "TableName"}
    assert template["Parameters"]["TableName"]["Default"] == "aidants-connect"


def test_the_functions_policy_keeps_the_journal_append_only_and_grants_no_scan():
    statements = table.cloudformation()["Resources"]["FunctionsPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    allow = [s for s in statements if s["Effect"] == "Allow"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    granted = {a for s in allow for a in s["Action"]}
    assert not {a for a in granted if a.endswith(("Scan", "*"))}
    assert "dynamodb:BatchWriteItem" not in granted  # cannot carry a condition per item kind
    assert {"dynamodb:PutItem", "dynamodb:UpdateItem", "dynamodb:DeleteItem", "dynamodb:Query"} <= granted
    (journal,) = deny
    assert set(journal["Action"]) == {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert journal["Condition"] == {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["JOURNAL#*"]}}
    from shared import journal
    assert journal.entry("mandate_created").pk.startswith("JOURNAL#"), "the key the deny is written for"


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws
    for name, value in {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing",
                        "AWS_REGION": "eu-west-3", "AWS_DEFAULT_REGION": "eu-west-3"}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("DYNAMODB_HOST", raising=False)
    from shared import config
    config.reset_caches()
    with mock_aws():
        yield boto3.client("dynamodb", region_name="eu-west-3")
    config.reset_caches()


def test_make_up_and_deploy_create_the_same_table(aws, monkeypatch):
    from shared import store
    monkeypatch.setenv("TABLE_NAME", "made-by-make-up")
    from shared import config
    config.reset_caches()
    assert store.create_table() is True  # what `make up` runs against DynamoDB Local
    done = table.create(table_name="made-by-deploy")
    assert done[0] == "created table made-by-deploy"
    assert "enabled point-in-time recovery" in done
    local = aws.describe_table(TableName="made-by-make-up")["Table"]
    deployed = aws.describe_table(TableName="made-by-deploy")["Table"]
    assert _shape(local) == _shape(deployed) == _shape(table.description())
    for name in ("made-by-make-up", "made-by-deploy"):
        ttl = aws.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        assert ttl == {"TimeToLiveStatus": "ENABLED", "AttributeName": "ttl"}
    backups = aws.describe_continuous_backups(TableName="made-by-deploy")["ContinuousBackupsDescription"]
    assert backups["PointInTimeRecoveryDescription"]["PointInTimeRecoveryStatus"] == "ENABLED"
    assert deployed.get("SSEDescription", {}).get("Status") == "ENABLED"
    assert table.create(table_name="made-by-deploy") == ["table made-by-deploy already exists",
                                                          "enabled point-in-time recovery"]
    config.reset_caches()
    store.configure()


def test_generated_secret_values_are_what_the_code_reads():
    for name in ("token-hmac-key", "totp-seal-key"):
        value = subprocess.run([sys.executable, "-m", "deploy", "secrets", "--generate", name], cwd=ROOT,
                               capture_output=True, text=True, check=True).stdout
        assert len(base64.b64decode(value, validate=True)) == 32
    from shared.oidc import keys
    signing = keys.from_jwks(json.loads(secrets.generate("oidc-signing-keys")))
    assert "RS256" in signing.algorithms
    refused = subprocess.run([sys.executable, "-m", "deploy", "secrets", "--generate", "smtp-password"],
                             cwd=ROOT, capture_output=True, text=True)
    assert refused.returncode == 2 and "mail provider" in refused.stderr


def test_secrets_command_never_puts_a_value_on_the_command_line():
    printed = subprocess.run([sys.executable, "-m", "deploy", "secrets"], cwd=ROOT,
                             capture_output=True, text=True).stdout
    commands = [line for line in printed.splitlines() if "faas-cli secret create" in line]
    assert len(commands) == len(secrets.declared())
    assert all("--from-literal" not in line for line in commands)
    assert all("| faas-cli secret create" in line for line in commands)
