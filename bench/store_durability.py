"""Does DynamoDB Local, data on disk, keep the transactions it acknowledged when it
is stopped (SIGTERM) or killed (SIGKILL)? The figures of docs/reliability.md
("The local stack's own crashes"):

    .venv/bin/python -m bench.store_durability --trials 20

Each trial: a fresh data folder, threads writing two-item ``TransactWriteItems`` as
fast as they can, the signal after ``--seconds``, DynamoDB Local started again on the
same folder, then a Scan: how many acknowledged transactions are missing, and
whether any is there by half. A property of the local store, not of the service.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import boto3
import botocore.config

from local import dynamodb
from local.launcher import free_port

TABLE = "durability"


def _client(port: int):
    return boto3.client(
        "dynamodb",
        endpoint_url=f"http://127.0.0.1:{port}",
        region_name="eu-west-3",
        aws_access_key_id="local",
        aws_secret_access_key="local",
        config=botocore.config.Config(
            retries={"max_attempts": 0}, read_timeout=5, connect_timeout=1, max_pool_connections=20
        ),
    )


def trial(sig: int, seconds: float, threads: int, log: Path) -> tuple[int, int, int]:
    """(acknowledged, acknowledged but missing, present by half)."""
    folder = Path(tempfile.mkdtemp(prefix="ac-durability-"))
    port = free_port()
    process = dynamodb.start("dynamodb-local", port, log, data_dir=folder)
    try:
        client = _client(port)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        acknowledged: list[str] = []
        stop = threading.Event()

        def write(n: int) -> None:
            i = 0
            while not stop.is_set():
                i += 1
                key = f"{n}-{i}"
                try:
                    client.transact_write_items(
                        TransactItems=[
                            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": key + "/a"}}}},
                            {"Put": {"TableName": TABLE, "Item": {"pk": {"S": key + "/b"}}}},
                        ]
                    )
                except Exception:  # the store is gone: this one was not acknowledged
                    return
                acknowledged.append(key)

        workers = [threading.Thread(target=write, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        time.sleep(seconds)
        os.kill(process.pid, sig)
        process.wait(30)
        stop.set()
        for worker in workers:
            worker.join(30)
        process = dynamodb.start("dynamodb-local", port, log, data_dir=folder)
        client = _client(port)
        keys, kwargs = set(), {}
        while True:
            page = client.scan(TableName=TABLE, **kwargs)
            keys |= {item["pk"]["S"] for item in page["Items"]}
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        missing = [k for k in acknowledged if k + "/a" not in keys or k + "/b" not in keys]
        halves = {k.rsplit("/", 1)[0] for k in keys}
        half = [k for k in halves if (k + "/a" in keys) != (k + "/b" in keys)]
        return len(acknowledged), len(missing), len(half)
    finally:
        if process.poll() is None:
            process.terminate()
            process.wait(30)
        shutil.rmtree(folder, ignore_errors=True)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.store_durability")
    parser.add_argument("--trials", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--threads", type=int, default=8)
    args = parser.parse_args(argv)
    log = Path(tempfile.gettempdir()) / "ac-durability-dynamodb.log"
    for sig in (signal.SIGTERM, signal.SIGKILL):
        totals = [0, 0, 0]
        with_loss = 0
        for _ in range(args.trials):
            result = trial(sig, args.seconds, args.threads, log)
            totals = [a + b for a, b in zip(totals, result)]
            with_loss += result[1] > 0
        print(
            f"{sig.name}: {args.trials} trials, {totals[0]} transactions acknowledged, {totals[1]} of them "
            f"missing after the restart ({with_loss} trials with a loss), {totals[2]} present by half",
            flush=True,
        )


if __name__ == "__main__":
    main()
