"""Helpers for tests that run the real `meltano` as users do: a run that can be killed whole,
the records its loader read, and a download held half way."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import threading
import typing as t

from tests.tap_runner import ROOT
from tests.test_meltano_e2e import MELTANO

if t.TYPE_CHECKING:
    from tests.fakes import FakeFileHost

#: The SDK's count of the records a loader read, by stream (target-postgres is pinned).
LOADED = re.compile(r'target-postgres METRIC: (\{"type":"counter","metric":"record_count".*\})')


class Running:
    """`meltano run <extractor> <loader>` in its own process group (to kill it whole), its
    output into files: a pipe nobody reads while another run is awaited would stall it."""

    def __init__(self, env: dict, extractor: str, loader: str = "target-postgres") -> None:
        # Closed by `finished`.
        self.output = out, err = [tempfile.TemporaryFile("w+") for _ in range(2)]  # noqa: SIM115
        command = [str(MELTANO), "run", extractor, loader]
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=out, stderr=err, start_new_session=True
        )

    def kill(self) -> None:
        os.killpg(self.process.pid, signal.SIGKILL)

    def finished(self) -> subprocess.CompletedProcess:
        self.process.wait(timeout=300)
        texts = []
        for file in self.output:
            file.seek(0)
            texts.append(file.read())
            file.close()
        return subprocess.CompletedProcess(self.process.args, self.process.returncode, *texts)


def records_loaded(run: subprocess.CompletedProcess) -> dict[str, int]:
    """The records target-postgres read in one `meltano run`, by stream (from its metrics)."""
    counts: dict[str, int] = {}
    for metric in map(json.loads, LOADED.findall(run.stderr)):
        stream = metric["tags"]["stream"]
        counts[stream] = counts.get(stream, 0) + metric["value"]
    return counts


class HeldDownload:
    """Holds the download of one file after its first chunk until released, so that a run can
    be killed while the file is half read."""

    def __init__(self, files: FakeFileHost, key: str) -> None:
        self.reached, self.released = threading.Event(), threading.Event()
        chunks = files._chunks

        def held(name: str, start: int, end: int):
            for n, chunk in enumerate(chunks(name, start, end)):
                if name == key and n == 1:
                    self.reached.set()
                    self.released.wait(120)
                yield chunk

        files._chunks = held
