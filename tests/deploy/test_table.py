"""The table is described once (the pynamodb models) and created from that
description everywhere: `make up` (shared.store.create_table), CloudFormation, and
`python -m deploy table --create`. Also the documented secrets commands."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

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
        "indexes": {
            i["IndexName"]: (_key_schema(i["KeySchema"]), i["Projection"]["ProjectionType"])
            for i in described["GlobalSecondaryIndexes"]
        },
        "billing": described.get("BillingMode") or described["BillingModeSummary"]["BillingMode"],
    }


def test_cloudformation_template_describes_the_table():
    template = json.loads(
        subprocess.run(
            [sys.executable, "-m", "deploy", "table", "--cloudformation"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
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
    journal, seals = sorted(deny, key=lambda s: s["Sid"])
    assert set(journal["Action"]) == {"dynamodb:UpdateItem", "dynamodb:DeleteItem"}
    assert journal["Condition"] == {"ForAnyValue:StringLike": {"dynamodb:LeadingKeys": ["JOURNAL#*"]}}
    # The request functions cannot write a seal at all: only journal-seal's own role can.
    assert seals["Action"] == ["dynamodb:PutItem"]
    assert seals["Condition"] == {"ForAnyValue:StringEquals": {"dynamodb:LeadingKeys": ["JOURNAL#SEALS"]}}
    from shared import journal
    from shared.store import JournalSeal

    assert journal.entry("mandate_created").pk.startswith("JOURNAL#"), "the key the deny is written for"
    assert JournalSeal.key(1)[0] == "JOURNAL#SEALS"


def test_the_sealer_policy_reads_and_appends_seals_and_nothing_else():
    resources = table.cloudformation()["Resources"]
    statements = resources["JournalSealPolicy"]["Properties"]["PolicyDocument"]["Statement"]
    assert all(s["Effect"] == "Allow" for s in statements)
    granted = {a for s in statements for a in s["Action"]}
    assert granted == {"dynamodb:GetItem", "dynamodb:Query", "dynamodb:DescribeTable", "dynamodb:PutItem"}
    (put,) = [s for s in statements if "dynamodb:PutItem" in s["Action"]]
    assert put["Action"] == ["dynamodb:PutItem"]
    assert put["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": ["JOURNAL#SEALS"]}}
    template = table.cloudformation()
    assert template["Outputs"]["JournalSealPolicyArn"]["Value"] == {"Ref": "JournalSealPolicy"}


@pytest.fixture
def aws(monkeypatch):
    from moto import mock_aws

    for name, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_REGION": "eu-west-3",
        "AWS_DEFAULT_REGION": "eu-west-3",
    }.items():
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
    assert table.create(table_name="made-by-deploy") == [
        "table made-by-deploy already exists",
        "enabled point-in-time recovery",
    ]
    config.reset_caches()
    store.configure()


def test_generated_secret_values_are_what_the_code_reads():
    for name in ("token-hmac-key", "totp-seal-key"):
        value = subprocess.run(
            [sys.executable, "-m", "deploy", "secrets", "--generate", name],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert len(base64.b64decode(value, validate=True)) == 32
    from shared.oidc import keys

    signing = keys.from_jwks(json.loads(secrets.generate("oidc-signing-keys")))
    assert "RS256" in signing.algorithms
    refused = subprocess.run(
        [sys.executable, "-m", "deploy", "secrets", "--generate", "smtp-password"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    assert refused.returncode == 2 and "mail provider" in refused.stderr


def test_secrets_commands_fill_a_folder_once_then_create_from_files(tmp_path):
    """Run the printed commands with faas-cli replaced by a recorder: each secret is
    written once, never on a command line, and an existing value is never replaced."""
    printed = subprocess.run(
        [sys.executable, "-m", "deploy", "secrets", "--gateway", "http://gw"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    commands = [line for line in printed.splitlines() if line.startswith("faas-cli secret create")]
    assert len(commands) == len(secrets.declared())
    assert all("--from-literal" not in line and "--from-file" in line for line in commands)
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "faas-cli").write_text('#!/bin/sh\necho "$@" >> "$RECORD"\n')
    (bin_dir / "faas-cli").chmod(0o755)
    folder = tmp_path / "secrets"
    env = {
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SECRETS_DIR": str(folder),
        "RECORD": str(tmp_path / "record"),
        "PYTHONPATH": str(ROOT),
    }
    third_party = [n for n in secrets.declared() if not (secrets.KNOWN.get(n) and secrets.KNOWN[n].generate)]
    typed = "".join(f"value-of-{n}\n" for n in sorted(secrets.declared()) if n in third_party)
    for _ in range(2):  # the second run must leave every value as it is
        subprocess.run(["bash", "-e", "-c", printed], cwd=ROOT, env=env, input=typed, text=True, check=True)
        if _ == 0:
            first = {p.name: p.read_text() for p in folder.iterdir()}
    assert {p.name: p.read_text() for p in folder.iterdir()} == first
    assert set(first) == set(secrets.declared())
    assert oct(folder.stat().st_mode & 0o777) == "0o700"
    for name in third_party:
        assert first[name] == f"value-of-{name}"
    recorded = (tmp_path / "record").read_text().splitlines()
    assert len(recorded) == 2 * len(commands) and all(line.endswith("--gateway http://gw") for line in recorded)


def test_franceconnect_is_registered_with_a_secret_shown_once(aws, monkeypatch, tmp_path):
    from shared import config, store

    (tmp_path / "token-hmac-key").write_text(secrets.generate("token-hmac-key"))
    monkeypatch.setenv("SECRETS_DIR", str(tmp_path))
    config.reset_caches()
    store.create_table()
    from deploy import clients

    done = clients.register("franceconnect", "FranceConnect", ["https://fc.example/callback"], id_token_alg="RS256")
    from shared.oidc import clients as oidc_clients

    oidc_clients.forget_cache()
    found = oidc_clients.find("franceconnect")
    assert found.check_client_secret(done.client_secret) and not found.check_client_secret("guess")
    assert found.check_redirect_uri("https://fc.example/callback") and found.id_token_signed_response_alg == "RS256"
    assert done.client_secret not in str(store.Item.get(*store.OidcClient.key("franceconnect")).attribute_values)
    with pytest.raises(ValueError):
        clients.register("x", "X", ["http://insecure.example/cb"])
    config.reset_caches()
    store.configure()


def test_signing_keys_rotate_without_a_gap(tmp_path):
    """add (published, not signing) -> promote (signs) -> retire the old one; the
    functions' own loader accepts the set at every step."""
    from deploy import keys as rotation
    from shared.oidc import keys

    path = tmp_path / keys.SECRET_NAME
    path.write_text(secrets.generate(keys.SECRET_NAME))
    before = {e["alg"]: e["kid"] for e in rotation.describe(path) if e["signs"]}
    new = rotation.add(path, "ES256")
    after_add = {e["kid"]: e for e in rotation.describe(path)}
    assert new in after_add and not after_add[new]["signs"] and after_add[before["ES256"]]["signs"]
    with pytest.raises(ValueError):
        rotation.retire(path, before["ES256"])  # still the signer
    rotation.promote(path, new)
    loaded = keys.from_jwks(json.loads(path.read_text()))
    assert loaded.signing_key("ES256").kid == new and loaded.default_alg == "ES256"
    assert before["ES256"] in {k["kid"] for k in loaded.public_jwks()["keys"]}  # still published
    rotation.retire(path, before["ES256"])
    assert {e["kid"] for e in rotation.describe(path)} == {new, before["RS256"]}
    with pytest.raises(ValueError):
        rotation.retire(path, before["RS256"])  # signs, and OpenID Connect requires an RS256 key
    assert oct(path.stat().st_mode & 0o777) == "0o600"


def test_deploy_journal_verify_checks_a_deployed_table_read_only(aws, monkeypatch, capsys):
    """`python -m deploy journal verify` on a table made by `deploy table --create`:
    intact, then one entry deleted behind the application's back."""
    from deploy.__main__ import main
    from shared import config, journal, seals, store

    monkeypatch.setenv("TABLE_NAME", "deployed-journal")
    config.reset_caches()
    table.create(table_name="deployed-journal")
    store.configure()
    entries = [journal.record(journal.LOGIN_SUCCEEDED, aidant_id="a1") for _ in range(3)]
    seals.seal_now()
    assert main(["journal", "verify", "--table-name", "deployed-journal"]) == 0
    assert capsys.readouterr().out.startswith("journal intact: 1 seal(s) from ")
    aws.delete_item(TableName="deployed-journal", Key={"pk": {"S": entries[1].pk}, "sk": {"S": entries[1].sk}})
    assert main(["journal", "verify", "--table-name", "deployed-journal"]) == 1
    assert capsys.readouterr().out.startswith(f"journal NOT intact: entry {entries[1].id} ")
    assert main(["journal", "verify", "--anchor", "1:not-a-hash"]) == 2
    config.reset_caches()
    store.configure()
