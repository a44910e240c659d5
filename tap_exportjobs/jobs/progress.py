"""What a person watching a run is told: jobs waited for, and one summary per job stream.

A real export takes minutes; between "created job X" and its rows the log says, each poll
round, which jobs are awaited, in which state, for how long, and when the next look is.
"""

from __future__ import annotations

import typing as t
from collections import Counter
from dataclasses import dataclass, field

from tap_exportjobs.jobs.record import TERMINAL

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from tap_exportjobs.jobs.ledger import Ledger

#: Jobs named one by one in a poll line; the rest are counted.
JOBS_NAMED = 5
#: A rows line every this many rows of one file (the file's first and last are logged too).
ROWS_LOGGED_EVERY = 100_000


def describe_jobs(records: Iterable[dict]) -> str:
    """'2 jobs: a1 (running), b2 (pending)', naming at most JOBS_NAMED of them."""
    records = list(records)
    named = ", ".join(f"{r['id']} ({r['status_raw'] or r['status']})" for r in records[:JOBS_NAMED])
    more = f" and {len(records) - JOBS_NAMED} more" if len(records) > JOBS_NAMED else ""
    return f"{len(records)} job{'s' if len(records) != 1 else ''}: {named}{more}"


@dataclass
class RunTally:
    """What one sync of a job stream did, for its summary line."""

    emitted: Counter = field(default_factory=Counter)
    files_read: int = 0
    rows: int = 0

    def file_read(self, rows: int) -> None:
        self.files_read += 1
        self.rows += rows

    def summary(self, ledger: Ledger) -> str:
        statuses = ", ".join(f"{n} {s}" for s, n in sorted(self.emitted.items())) or "none"
        left = Counter(
            _why_left(entry) for entry in ledger.jobs.values() if not ledger.settled(entry)
        )
        left_text = (
            "; left to the next run: " + ", ".join(f"{n} {why}" for why, n in sorted(left.items()))
            if left
            else "; nothing left to the next run"
        )
        return (
            f"jobs emitted: {statuses}; files read: {self.files_read}; rows emitted: "
            f"{self.rows}{left_text}"
        )


def _why_left(entry: dict) -> str:
    """Why an unsettled job is looked at again next run."""
    if entry.get("status") not in TERMINAL:
        return f"job(s) still {entry.get('status')}"
    if entry.get("file_error"):
        return "file(s) that could not be read"
    return "file(s) not read yet"
