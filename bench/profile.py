"""Sampling profiles of the stack's Python processes with py-spy, while a load phase
runs: ``python -m bench --profile``. Writes one collapsed-stack file per process
(``bench/results/<name>-<process>.txt``, the input of any flame-graph tool) and
prints where the samples fall (only threads holding the GIL: CPU, not waits): the frames that hold the CPU themselves (self) and
the frames that include the most samples (inclusive)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from pathlib import Path

from . import procs


def py_spy() -> str | None:
    return shutil.which("py-spy") or (
        str(Path(sys.executable).parent / "py-spy") if (Path(sys.executable).parent / "py-spy").exists() else None
    )


def targets(root_pid: int, functions: tuple[str, ...]) -> dict[str, int]:
    """The gateway process and one replica of each named function."""
    found = {}
    for pid in procs.tree(root_pid):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
        if "-m local up" in cmd:
            found["gateway"] = pid
        for fn in functions:
            if f"--function {fn} " in cmd and fn not in found:
                found[fn] = pid
    return found


def start(root_pid: int, functions: tuple[str, ...], out_dir: Path, name: str, seconds: float):
    exe = py_spy()
    if exe is None:
        print("py-spy is not installed (bench/requirements.lock, make bench): no profile", file=sys.stderr)
        return []
    running = []
    for label, pid in targets(root_pid, functions).items():
        path = out_dir / f"{name}-{label}.txt"
        process = subprocess.Popen(
            [
                exe,
                "record",
                "--pid",
                str(pid),
                "--duration",
                str(int(seconds)),
                "--rate",
                "200",
                "--format",
                "raw",
                "--nonblocking",
                "--gil",
                "-o",
                str(path),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        running.append((label, path, process))
    return running


_FRAME = re.compile(r"^(?P<fn>.+?) \((?P<file>[^()]*?)(?::(?P<line>\d+))?\)$")


def _short(frame: str) -> str:
    match = _FRAME.match(frame)
    if not match:
        return frame
    path = match["file"]
    for marker in ("site-packages/", "/work/main/", "python3.11/"):
        if marker in path:
            path = path.split(marker, 1)[1]
    return f"{match['fn']} ({path})"


# Where a sample's innermost frame lives, by library: the CPU each one costs.
_LIBRARIES = (
    "botocore",
    "pynamodb",
    "urllib3",
    "authlib",
    "joserfc",
    "cryptography",
    "jinja2",
    "waitress",
    "flask",
    "werkzeug",
    "shared",
    "functions",
    "local",
    "http/client",
    "email",
    "json",
    "socket",
    "threading",
    "re",
    "uuid",
)
_PLUMBING = ("threading", "waitress/", "flask/", "werkzeug/", "local/runtime", "<module>")


def _library(frame: str) -> str:
    where = frame.rsplit("(", 1)[-1]
    for name in _LIBRARIES:
        if where.startswith(name + "/") or where.startswith(name + "."):
            return name
    return "other"


def summarise(path: Path, top: int = 12) -> dict:
    own, inclusive, libraries, total = Counter(), Counter(), Counter(), 0
    for line in path.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        n = int(count)
        frames = [_short(f) for f in stack.split(";") if f]
        # Idle waits are not CPU: waitress's poll loop and threads blocked on a queue.
        if not frames or any(idle in frames[-1] for idle in ("poll (", "wait (", "select (", "accept (")):
            continue
        total += n
        own[frames[-1]] += n
        libraries[_library(frames[-1])] += n
        for frame in set(frames):
            inclusive[frame] += n
    pct = (lambda c: round(100 * c / total, 1)) if total else (lambda c: 0)
    return {
        "samples": total,
        "by_library": [(name, pct(c)) for name, c in libraries.most_common()],
        "self": [(f, pct(c)) for f, c in own.most_common(top)],
        "inclusive": [(f, pct(c)) for f, c in inclusive.most_common(top * 6) if not any(p in f for p in _PLUMBING)][
            :top
        ],
    }


def finish(running) -> dict:
    out = {}
    for label, path, process in running:
        try:
            process.wait(60)
        except subprocess.TimeoutExpired:
            process.kill()
        if path.exists():
            out[label] = summarise(path)
    return out
