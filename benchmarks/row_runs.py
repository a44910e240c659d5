"""One Singer-writing subprocess, timed as a pipe reader sees it, and its own peak memory.

The process writes to a pipe (as under `meltano run`) that is drained in large reads; RECORD
messages of one stream are counted with `bytes.count` on each read, so the reader costs
little next to the writer even on 2 cores. Peak RSS is the process's own: `os.wait4` on it,
from the small launcher in peak_rss.py (RUSAGE_CHILDREN would mix in every other child, and
a child of this large process would inherit its high-water mark).
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LAUNCHER = Path(__file__).resolve().parent / "peak_rss.py"
READ_BYTES = 1 << 20
#: Bytes of the start of the output kept, to compare the first messages of two runs.
HEAD_BYTES = 256 * 1024


@dataclass
class Run:
    """What the reader saw of one process."""

    records: int
    #: Seconds from start to exit.
    seconds: float
    #: Seconds between the read holding the first RECORD and the read holding the last one,
    #: and the records that arrived in that span (those of the first read came before it).
    row_seconds: float
    row_span_records: int
    peak_rss_mib: float
    returncode: int
    head: bytes
    stderr_tail: str

    @property
    def rows_per_second(self) -> float:
        """Records over the whole run: startup, listing and download included."""
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def row_phase_rows_per_second(self) -> float:
        """Records while records flowed: from the first to the last one the reader saw."""
        return self.row_span_records / self.row_seconds if self.row_seconds > 0 else 0.0


def record_marker(stream: str) -> bytes:
    """How each RECORD message of `stream` starts, as the SDK's msgspec writer spells it."""
    return b'{"type":"RECORD","stream":"%s"' % stream.encode()


def run_drained(command: list[str], stream: str, stderr_path: Path, cwd: Path = ROOT) -> Run:
    """Runs `command` from `cwd` (the project root) with stdout to a pipe, counting
    `stream`'s RECORD messages as they arrive."""
    marker = record_marker(stream)
    overlap = len(marker) - 1
    began = time.perf_counter()
    # Python's -u (PYTHONUNBUFFERED) would change how writes reach the pipe: run as Meltano
    # usually does, without it, whatever the caller's shell has.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    rusage = stderr_path.with_suffix(".rusage.json")
    launched = [sys.executable, "-I", "-S", str(LAUNCHER), str(rusage), *command]
    with open(stderr_path, "wb") as stderr:
        process = subprocess.Popen(
            launched, stdout=subprocess.PIPE, stderr=stderr, cwd=cwd, env=env
        )
    assert process.stdout is not None
    fd = process.stdout.fileno()
    with contextlib.suppress(OSError):  # a larger pipe: fewer, larger reads
        fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, READ_BYTES)
    records = first_read_records = 0
    first_at = last_at = 0.0
    head = bytearray()
    tail = b""
    while chunk := os.read(fd, READ_BYTES):
        # A marker split between two reads is counted on the seam, once.
        found = chunk.count(marker) + (tail + chunk[:overlap]).count(marker)
        tail = chunk[-overlap:]
        if found:
            last_at = time.perf_counter()
            if not records:
                first_at, first_read_records = last_at, found
            records += found
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
    process.stdout.close()
    process.wait()
    seconds = time.perf_counter() - began
    peak_kib = json.loads(rusage.read_text())["peak_rss_kib"] if rusage.exists() else 0
    return Run(
        records=records,
        seconds=seconds,
        row_seconds=last_at - first_at,
        row_span_records=records - first_read_records,
        peak_rss_mib=peak_kib / 1024,
        returncode=process.returncode,
        head=bytes(head),
        stderr_tail=stderr_path.read_bytes()[-3000:].decode(errors="replace"),
    )


def first_records(head: bytes, stream: str, count: int = 50) -> list[bytes]:
    """The first complete RECORD lines of `stream` in `head`, without `time_extracted`
    (each writer takes its own clock)."""
    marker = record_marker(stream)
    lines = [line for line in head.split(b"\n")[:-1] if line.startswith(marker)]
    return [line.rsplit(b',"time_extracted":', 1)[0] for line in lines[:count]]
