"""The tap's memory stays bounded whatever a file holds: measured on the tap as Meltano runs
it, a subprocess, by its own peak resident set size."""

from __future__ import annotations

import gzip
import sys
import typing as t

from tests.conftest import days_ago, ep_config
from tests.tap_runner import SyncResult, run_singer_process, write_json

if t.TYPE_CHECKING:
    from pathlib import Path

MB = 1024 * 1024
#: Decompressed, the file is one line this long: several times any bound asserted below.
LINE_BYTES = 512 * MB
CAP = 8 * MB
#: The tap's own footprint (Python, the SDK, requests: about 65 MB) plus a few times the cap
#: is well under this; reading the line whole would take LINE_BYTES more.
PEAK_RSS_BOUND = 192 * MB
PEAK_MARK = "peak-rss-kb="
#: The tap's own entry point, reporting at exit the peak resident set size of its memory
#: (VmHWM: unlike getrusage's ru_maxrss, which carries over exec the high-water mark of the
#: process that started it, this test process).
TAP_REPORTING_PEAK_RSS = f"""
import atexit, sys
def report():
    status = open("/proc/self/status").read()
    peak = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    print("{PEAK_MARK}" + peak.split()[1], file=sys.stderr)
atexit.register(report)
from tap_exportjobs.tap import TapExportJobs
TapExportJobs.cli()
"""


def run_tap_measured(config_path: Path, timeout: float = 120) -> tuple[SyncResult, int]:
    """The tap as a subprocess writing Singer messages to stdout, and its peak RSS in bytes."""
    result = run_singer_process(
        [sys.executable, "-c", TAP_REPORTING_PEAK_RSS, "--config", str(config_path)], timeout
    )
    peak_kb = result.stderr.rpartition(PEAK_MARK)[2].strip()
    return result, int(peak_kb) * 1024


def gzip_of_one_line(path: Path, first: bytes, size: int) -> Path:
    """A gzip whose content is `first` then filler to `size` bytes, with no newline."""
    filler = b"a" * MB
    with gzip.open(path, "wb", compresslevel=1) as out:
        out.write(first)
        for _ in range(size // MB):
            out.write(filler)
    return path


def test_a_no_newline_gzip_with_invalid_utf8_fails_at_max_file_bytes_in_bounded_memory(
    ep, files, tmp_path
):
    """A small gzip that is one endless line, invalid UTF-8 from its first byte: the run fails
    naming the cap, the job and the line, and never holds the line (the error path once read
    it again whole, past the cap)."""
    job = ep.add_job(created_at=days_ago(1), csv_bytes=b"placeholder\n")
    files.publish_file(
        f"exports/{job}.csv", gzip_of_one_line(tmp_path / "bomb.gz", b"\xff", LINE_BYTES)
    )
    config = write_json(tmp_path / "config.json", ep_config(ep, max_file_bytes=CAP))

    result, peak_rss = run_tap_measured(config)

    assert peak_rss < PEAK_RSS_BOUND, f"peak RSS {peak_rss // MB} MB"
    assert result.returncode != 0
    failure = next(
        line for line in result.stderr.splitlines() if f"job {job}" in line and "line 1" in line
    )
    assert "max_file_bytes" in failure
    assert not result.records("elasticpath_export_rows")


def test_a_csv_row_of_millions_of_tiny_fields_fails_at_the_row_limit_in_bounded_memory(
    ep, files, tmp_path
):
    """A row of millions of two-letter fields, the file under max_file_bytes: held whole, its
    fields would take some twenty times its bytes. Each field counts against the row limit
    as the memory it takes, so the run fails naming the row limit and its line, having held
    only a few times the cap."""
    row = b"1," + b"ab," * ((CAP - 1024) // 3) + b"ab\n"
    job = ep.add_job(created_at=days_ago(1), csv_bytes=b"id,note\n" + row)
    config = write_json(tmp_path / "config.json", ep_config(ep, max_file_bytes=CAP))

    result, peak_rss = run_tap_measured(config)

    assert peak_rss < PEAK_RSS_BOUND, f"peak RSS {peak_rss // MB} MB"
    assert result.returncode != 0
    failure = next(
        line for line in result.stderr.splitlines() if f"job {job}" in line and "line 2" in line
    )
    assert "a row is longer than" in failure
    assert "max_file_bytes" in failure
    assert not result.records("elasticpath_export_rows")
