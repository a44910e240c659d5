"""Typed report rows in the row benchmark (`--typed`): the tap with `typed_rows` inferring
every rows stream's columns, and the check that its records really carry typed columns.

Discovery samples the served file (a Range read of its first MiB) and the catalog from
`--discover` carries the inferred columns; the sync then finds the sample in its cache (under
the benchmark's work directory) and downloads nothing more for it.
"""

from __future__ import annotations

import json
import typing as t

from benchmarks.row_runs import ROOT, record_marker, run_drained

if t.TYPE_CHECKING:
    from pathlib import Path

    from benchmarks.row_providers import ServedJob
    from benchmarks.row_runs import Run

#: The record's fields whatever the typing: the rest of a typed record are the file's columns.
ENVELOPE_FIELDS = frozenset({"row_number", "row", "file_format", "source_file"})


def typed_config(workdir: Path) -> dict:
    """`typed_rows` inferring the columns of every rows stream, its cache in `workdir`."""
    return {
        "typed_rows": {"*": {"infer": True}},
        "cache_dir": str(workdir / "typed-cache"),
    }


def typed_command(job: ServedJob, workdir: Path, source: Path = ROOT) -> list[str]:
    """The tap's command with `typed_rows`; its catalog, discovered with it, has the columns."""
    return job.tap_command(workdir, source, typed_config(workdir))


#: What the tap logs when a rows stream writes its RECORD messages itself (row_output.py),
#: rather than through the SDK's per-record path.
FAST_PATH_LOG = b"rows leave as RECORD messages written by the stream itself"


def typed_run(command: list[str], job: ServedJob, workdir: Path, source: Path) -> Run:
    return run_drained(command, job.rows_stream, workdir / "typed.err", cwd=source)


def rode_fast_path(workdir: Path) -> bool:
    """Whether the last typed run's rows left on the tap's own RECORD path."""
    return FAST_PATH_LOG in (workdir / "typed.err").read_bytes()


def typed_shape(head: bytes, job: ServedJob, width: int, fast_path: bool) -> dict:
    """How the typed run's first record came out: its typed columns (and non-null ones), the
    keys left in `row`, and `typed`: whether it has a non-null column and `row` kept fewer
    than the file's `width` keys (else typing did nothing, and the rate is not of typed rows);
    and `fast_path` as given."""
    marker = record_marker(job.rows_stream)
    line = next((x for x in head.split(b"\n") if x.startswith(marker)), None)
    if line is None:
        raise SystemExit("typed run: no RECORD in the head of its output")
    record = json.loads(line)["record"]
    columns = {k: v for k, v in record.items() if k not in ENVELOPE_FIELDS | set(job.envelope)}
    left = record["row"] or {}
    non_null = sum(v is not None for v in columns.values())
    return {
        "typed": bool(non_null) and len(left) < width,
        "columns": len(columns),
        "non_null": non_null,
        "left_in_row": len(left),
        "fast_path": fast_path,
    }
