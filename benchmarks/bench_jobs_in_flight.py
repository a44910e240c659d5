"""Wall time of an export backfill: one job at a time against several in flight.

    .venv/bin/python -m benchmarks.bench_jobs_in_flight [--windows 12] [--seconds 2]
        [--budget 4] [--poll 0.25]

The fake m3ter API runs each ad-hoc export for `--seconds` of wall time (whether or not
anyone looks); the tap backfills `--windows` daily USAGE windows, once with
`max_jobs_in_flight: 1` and once with `--budget`, each run in-process with its Singer
output discarded. Reported per run: wall time, the most jobs unfinished at once (counted by
the fake), and the ratio to the ideal `T * ceil(N / budget)` (1.0 would be no overhead at
all: polling granularity, creates, downloads and rows add to it).
"""

from __future__ import annotations

import argparse
import io
import math
import time
from contextlib import redirect_stdout
from datetime import datetime, timedelta, timezone

from tap_exportjobs.tap import TapExportJobs
from tests.fakes import FakeFileHost, FakeM3ter


def backfill(windows: int, seconds: float, budget: int, poll: float) -> tuple[float, int]:
    """Seconds one run takes to land every window, and the most jobs in flight at once."""
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    with (
        FakeFileHost() as files,
        FakeM3ter(files, client_id="bench", client_secret="bench") as m3,
    ):
        m3.adhoc_finish_after_seconds = seconds
        config = {
            "start_date": (today - timedelta(days=windows)).isoformat(),
            "allow_http_downloads": True,
            "poll_interval_seconds": poll,
            "poll_interval_max_seconds": poll,
            "max_wait_seconds": 3600,
            "m3ter": {
                "api_url": m3.url,
                "org_id": m3.org_id,
                "client_id": "bench",
                "client_secret": "bench",
                "max_jobs_in_flight": budget,
                "data_exports": [
                    {"name": "usage", "source_type": "USAGE", "meter_ids": ["meter-1"]}
                ],
            },
        }
        tap = TapExportJobs(config=config, validate_config=True)
        began = time.monotonic()
        # The SDK writes bytes to stdout's buffer: a text wrapper over a byte sink.
        with redirect_stdout(io.TextIOWrapper(io.BytesIO(), encoding="utf-8")):
            tap.sync_all()
        took = time.monotonic() - began
        made = len(m3.requests_to(r"/dataexports/adhoc$", "POST"))
        if made != windows:
            raise SystemExit(f"expected {windows} exports, the tap made {made}")
        return took, m3.max_adhoc_unfinished


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--budget", type=int, default=4)
    parser.add_argument("--poll", type=float, default=0.25)
    args = parser.parse_args()

    print(
        f"{args.windows} windows, jobs of {args.seconds:g}s, polling every {args.poll:g}s\n"
        f"{'budget':>6}  {'wall s':>7}  {'in flight':>9}  {'ideal s':>7}  {'ratio':>5}"
    )
    serial = None
    for budget in (1, args.budget):
        took, in_flight = backfill(args.windows, args.seconds, budget, args.poll)
        ideal = args.seconds * math.ceil(args.windows / budget)
        print(f"{budget:>6}  {took:>7.1f}  {in_flight:>9}  {ideal:>7.1f}  {took / ideal:>5.2f}")
        serial = serial or took
    print(f"in flight / serial wall time: {took / serial:.2f}")


if __name__ == "__main__":
    main()
