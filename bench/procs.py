"""CPU time of every process of a local stack (gateway, functions, DynamoDB Local,
SMTP sink): read from /proc, so "CPU per flow" sums all of them, as docs/performance.md's targets count it."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    kids = []
    task = Path(f"/proc/{pid}/task")
    if not task.exists():
        return kids
    for thread in task.iterdir():
        try:
            kids += [int(p) for p in (thread / "children").read_text().split()]
        except OSError:
            continue
    return kids


def tree(pid: int) -> list[int]:
    found, todo = [], [pid]
    while todo:
        current = todo.pop()
        found.append(current)
        todo.extend(_children(current))
    return found


def cpu_seconds(pid: int) -> float:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / _TICKS  # utime + stime


def rss_mb(pid: int) -> float:
    """Resident memory of one process, in MiB (VmRSS)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def process_name(pid: int) -> str | None:
    try:
        cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except OSError:
        return None
    if "DynamoDBLocal" in cmd:
        return "dynamodb-local"
    if "--function" in cmd:
        return "fn:" + cmd.split("--function", 1)[1].split()[0] + f":{pid}"
    if "smtp_sink" in cmd:
        return "smtp-sink"
    return "gateway"


def stack_rss(root_pid: int) -> dict[str, float]:
    """Resident MiB per process of the stack, keyed as :func:`stack_cpu`."""
    out = {}
    for pid in tree(root_pid):
        name = process_name(pid)
        if name is not None:
            out[name] = rss_mb(pid)
    return out


def stack_cpu(root_pid: int) -> dict[str, float]:
    """CPU seconds so far per process of the stack, keyed by a readable name."""
    out = {}
    for pid in tree(root_pid):
        name = process_name(pid)
        if name is not None:
            out[name] = cpu_seconds(pid)
    return out
