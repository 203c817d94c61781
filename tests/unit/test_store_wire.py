"""shared.store.wire: the item operations signed and sent without botocore's
per-call machinery, checked against botocore itself."""
from datetime import datetime, timezone

import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from shared.store import wire

AT = datetime(2026, 3, 1, 12, 30, 45, tzinfo=timezone.utc)
BODY = b'{"TableName":"aidants-connect","Key":{"pk":{"S":"STRUCTURE#s"},"sk":{"S":"STRUCTURE"}}}'


@pytest.mark.parametrize("url, host, token", [
    ("http://127.0.0.1:8000/", "127.0.0.1:8000", None),
    ("https://dynamodb.eu-west-3.amazonaws.com/", "dynamodb.eu-west-3.amazonaws.com", "session-token"),
])
def test_the_signature_is_botocores(monkeypatch, url, host, token):
    headers = {"Content-Type": "application/x-amz-json-1.0", "X-Amz-Target": "DynamoDB_20120810.GetItem"}
    ours = dict(headers)
    wire.sign(ours, BODY, host, "eu-west-3", "AKID", "secret/key", token, AT)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: AT.replace(tzinfo=None))
    request = AWSRequest(method="POST", url=url, data=BODY, headers=dict(headers))
    SigV4Auth(Credentials("AKID", "secret/key", token), "dynamodb", "eu-west-3").add_auth(request)
    assert ours["Authorization"] == request.headers["Authorization"]
    assert ours["X-Amz-Date"] == request.headers["X-Amz-Date"] == "20260301T123045Z"


def test_a_client_with_another_hook_before_sending_keeps_botocores_path(moto_store):
    """moto answers from a before-send hook: the unit tests' store goes botocore's way."""
    from shared.store import Item
    client = Item._get_connection().connection.client
    assert not wire.plain(client) and not isinstance(client._make_api_call, wire.Caller)
