"""A finished job whose file the benchmark chose, served by the fakes, and the tap's config
and catalog to read it with only the rows stream selected.

CSV comes from Elastic Path (its links declare `csv`); JSON and NDJSON from Talkdesk, whose
jobs declare `json` (rows in the `entries` array) or `json_bulk` (one object a line). The
file host serves the file from disk, as given: gzip or not, the tap finds out by its bytes.
"""

from __future__ import annotations

import contextlib
import gzip
import json
import subprocess
import sys
import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

from benchmarks.row_runs import ROOT
from tests.fakes import FakeElasticPath, FakeFileHost, FakeTalkdesk

if t.TYPE_CHECKING:
    from collections.abc import Iterator

SECRET = "bench-secret"
#: Talkdesk's name for each file format of the benchmark.
TALKDESK_FORMATS = {"json": "json", "ndjson": "json_bulk"}


@dataclass
class ServedJob:
    """One finished job whose file is being served, and how the tap reaches it."""

    config: dict
    rows_stream: str
    #: The record's fields before `row_number`, as the tap writes them.
    envelope: dict

    def tap_command(
        self, workdir: Path, source: Path = ROOT, extra: dict | None = None
    ) -> list[str]:
        """`python -m tap_exportjobs.tap` (run from `source`, whose tap_exportjobs it
        imports) with this config plus `extra` and a catalog selecting only the rows stream
        (the job stream still runs, unselected, to hand it the job). Each command has its own
        config and catalog (one discovered with `typed_rows` has more columns)."""
        number = len(list(workdir.glob("config-*")))
        config = workdir / f"config-{number}.json"
        config.write_text(json.dumps({**self.config, **(extra or {})}))
        catalog = workdir / f"catalog-{number}.json"
        catalog.write_text(json.dumps(select_only(discover(config, source), self.rows_stream)))
        return [
            sys.executable,
            "-m",
            "tap_exportjobs.tap",
            "--config",
            str(config),
            "--catalog",
            str(catalog),
        ]


def batch_config(root: Path) -> dict:
    """The SDK's `batch_config`: jsonl batch files, gzipped, under `root`."""
    return {
        "batch_config": {
            "encoding": {"format": "jsonl", "compression": "gzip"},
            "storage": {"root": f"file://{root}", "prefix": "rows-"},
        }
    }


def rows_in_batch_files(root: Path) -> int:
    """Lines in all the (gzipped) jsonl files under `root`."""
    total = 0
    for path in root.rglob("*"):
        if path.is_file():
            with gzip.open(path, "rb") as lines:
                total += sum(block.count(b"\n") for block in iter(lambda: lines.read(1 << 20), b""))
    return total


def discover(config: Path, source: Path = ROOT) -> dict:
    completed = subprocess.run(
        [sys.executable, "-m", "tap_exportjobs.tap", "--config", str(config), "--discover"],
        cwd=source,
        capture_output=True,
        check=True,
    )
    return json.loads(completed.stdout)


def select_only(catalog: dict, stream: str) -> dict:
    """`catalog` with `stream` and all its properties selected, and no other stream."""
    for entry in catalog["streams"]:
        chosen = entry["tap_stream_id"] == stream
        for metadata in entry["metadata"]:
            if chosen or not metadata["breadcrumb"]:
                metadata["metadata"]["selected"] = chosen
    return catalog


@contextlib.contextmanager
def serving(path: Path, file_format: str) -> Iterator[ServedJob]:
    """A fake API with one finished job whose file is `path`, read as `file_format` (csv,
    ndjson or json)."""
    with FakeFileHost() as files:
        if file_format == "csv":
            with FakeElasticPath(files, client_id="bench", client_secret=SECRET) as api:
                yield _elasticpath_job(api, files, path)
        else:
            with FakeTalkdesk(
                files, client_id="bench", client_secret=SECRET, json_style="entries"
            ) as api:
                yield _talkdesk_job(api, files, path, TALKDESK_FORMATS[file_format])


def _common() -> dict:
    return {
        "allow_http_downloads": True,
        "poll_interval_seconds": 0.05,
        "poll_interval_max_seconds": 0.05,
        "max_wait_seconds": 60,
    }


def _elasticpath_job(api: FakeElasticPath, files: FakeFileHost, path: Path) -> ServedJob:
    job = api.add_job(created_at=datetime.now(timezone.utc) - timedelta(hours=1), csv_bytes=b"")
    files.publish_file(f"exports/{job}.csv", path)
    return ServedJob(
        config={
            **_common(),
            "elasticpath": {"api_url": api.url, "client_id": "bench", "client_secret": SECRET},
        },
        rows_stream="elasticpath_export_rows",
        envelope={"provider": "elasticpath", "job_id": job},
    )


def _talkdesk_job(api: FakeTalkdesk, files: FakeFileHost, path: Path, fmt: str) -> ServedJob:
    # A job made in Talkdesk's UI, followed; starting today, the tap creates none itself.
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    job = api.add_job("calls", fmt=fmt)
    files.publish_file(f"reports/{job}.{fmt}", path)
    return ServedJob(
        config={
            **_common(),
            "start_date": today.isoformat(),
            "talkdesk": {
                "api_url": api.url,
                "token_url": f"{api.url}/oauth/token",
                "client_id": "bench",
                "client_secret": SECRET,
                "reports": [{"type": "calls", "format": fmt}],
                "follow_existing_jobs": True,
            },
        },
        rows_stream="talkdesk_report_rows",
        envelope={"report_type": "calls", "provider": "talkdesk", "job_id": job},
    )
