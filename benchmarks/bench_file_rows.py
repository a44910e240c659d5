"""Throughput and memory of a report file through the tap, as Meltano runs it.

    .venv/bin/python -m benchmarks.bench_file_rows [--rows 1000000] [--format csv|csv.gz]

Serves one finished job whose file has `--rows` rows from the fake Elastic Path API and
its storage host, runs the tap as a subprocess writing Singer messages to a pipe that is
drained and counted, and reports rows per second and the tap's peak resident memory. Peak
memory should not grow with the file: compare --rows 200000 with --rows 2000000.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.fakes import FakeElasticPath, FakeFileHost

ROOT = Path(__file__).resolve().parent.parent


def write_file(path: Path, rows: int, kind: str) -> None:
    opener = gzip.open if kind.endswith(".gz") else open
    with opener(path, "wt", encoding="utf-8", newline="") as out:
        out.write("id,customer_email,status,with_tax,currency,created_at,notes\r\n")
        for i in range(rows):
            out.write(
                f"{i},c{i % 5000}@example.com,complete,{i % 99999},USD,"
                f'2024-05-01T10:{i % 60:02d}:00Z,"note, with ""quotes"" {i}"\r\n'
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    # Elastic Path declares its files CSV, so the served file is CSV, plain or gzip.
    parser.add_argument("--format", default="csv", choices=["csv", "csv.gz"])
    args = parser.parse_args()

    with (
        tempfile.TemporaryDirectory() as tmp,
        FakeFileHost() as files,
        FakeElasticPath(files, client_id="bench", client_secret="bench") as ep,
    ):
        data = Path(tmp) / f"report.{args.format}"
        write_file(data, args.rows, args.format)
        job = ep.add_job(created_at=datetime.now(timezone.utc) - timedelta(hours=1), csv_bytes=b"")
        files.publish_file(f"exports/{job}.csv", data)
        config = Path(tmp) / "config.json"
        config.write_text(
            json.dumps(
                {
                    "allow_http_downloads": True,
                    "elasticpath": {
                        "api_url": ep.url,
                        "client_id": "bench",
                        "client_secret": "bench",
                    },
                }
            )
        )
        started = time.perf_counter()
        process = subprocess.Popen(
            [sys.executable, "-m", "tap_exportjobs.tap", "--config", str(config)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            cwd=ROOT,
        )
        records = 0
        for line in process.stdout:
            if line.startswith(b'{"type":"RECORD","stream":"elasticpath_export_rows"'):
                records += 1
        process.wait()
        elapsed = time.perf_counter() - started
        peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        size_mib = data.stat().st_size / 2**20
    print(
        json.dumps(
            {
                "format": args.format,
                "rows": args.rows,
                "rows_emitted": records,
                "file_mib": round(size_mib, 1),
                "seconds": round(elapsed, 2),
                "rows_per_second": round(records / elapsed),
                "tap_peak_rss_mib": round(peak_kib / 1024, 1),
                "exit_code": process.returncode,
                "python": sys.version.split()[0],
                "cpus": os.cpu_count(),
            }
        )
    )


if __name__ == "__main__":
    main()
