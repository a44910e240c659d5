"""Run the tap in-process or as a subprocess and read back its Singer messages."""

from __future__ import annotations

import decimal
import io
import json
import os
import subprocess
import sys
import typing as t
from contextlib import redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from tap_exportjobs.tap import TapExportJobs

ROOT = Path(__file__).resolve().parent.parent


@dataclass
class SyncResult:
    messages: list[dict]
    stderr: str = ""
    returncode: int = 0
    #: What the sync raised at its end, for runs expected to fail (`run_tap(..., fails=True)`).
    error: BaseException | None = None

    def records(self, stream: str) -> list[dict]:
        return [
            m["record"] for m in self.messages if m["type"] == "RECORD" and m["stream"] == stream
        ]

    @property
    def states(self) -> list[dict]:
        return [m["value"] for m in self.messages if m["type"] == "STATE"]

    @property
    def state(self) -> dict | None:
        states = self.states
        return states[-1] if states else None

    def row_keys(self, stream: str) -> list[tuple[str, int]]:
        return [(r["job_id"], r["row_number"]) for r in self.records(stream)]


def run_tap(
    config: dict,
    state: dict | None = None,
    deselect: t.Iterable[str] = (),
    *,
    fails: bool = False,
    catalog: dict | None = None,
    exact_numbers: bool = False,
) -> SyncResult:
    """Sync in this process, capturing stdout as the SDK's writer produces it. With `fails`,
    the sync must raise, and the messages written before it did are returned with the error.
    With `exact_numbers`, JSON numbers with a fraction or exponent are read as Decimals."""
    tap = TapExportJobs(config=config, state=state, catalog=catalog, validate_config=True)
    for name in deselect:
        tap.streams[name].selected = False
    buffer = io.BytesIO()
    out = io.TextIOWrapper(buffer, encoding="utf-8")
    error = None
    with redirect_stdout(out):
        try:
            tap.sync_all()
        except Exception as raised:
            if not fails:
                raise
            error = raised
        out.flush()
    if fails and error is None:
        raise AssertionError("the sync was expected to fail but succeeded")
    lines = buffer.getvalue().decode().splitlines()
    parse_float = decimal.Decimal if exact_numbers else float
    messages = [json.loads(line, parse_float=parse_float) for line in lines if line.strip()]
    return SyncResult(messages, error=error)


def write_json(path: Path, value: t.Any) -> Path:
    path.write_text(json.dumps(value))
    return path


def tap_command(config_path: Path, state_path: Path | None = None) -> list[str]:
    command = [sys.executable, "-m", "tap_exportjobs.tap", "--config", str(config_path)]
    if state_path is not None:
        command += ["--state", str(state_path)]
    return command


def run_tap_process(
    config_path: Path, state_path: Path | None = None, timeout: float = 120
) -> SyncResult:
    """The tap as Meltano runs it: a subprocess writing Singer messages to stdout."""
    return run_singer_process(tap_command(config_path, state_path), timeout)


def run_singer_process(command: list[str], timeout: float = 120) -> SyncResult:
    """A subprocess that writes Singer messages to stdout, run from the project's root."""
    completed = subprocess.run(
        command,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        check=False,
    )
    messages = [json.loads(line) for line in completed.stdout.splitlines() if line.strip()]
    return SyncResult(messages, completed.stderr, completed.returncode)
