"""The ledger: the jobs after a job stream's bookmark, kept in its state."""

from __future__ import annotations

import typing as t

from tap_exportjobs.jobs.record import TERMINAL
from tap_exportjobs.jobs.timestamps import iso, sort_key

if t.TYPE_CHECKING:
    from datetime import datetime


#: What became of a job's file. "pending": owed (holds the bookmark); "done": every row
#: emitted; "failed": unreadable after max_file_attempts runs; "gone": the API no longer has
#: it; "none": the API says the job has no file to read (e.g. it went to the user's bucket).
FILE_OWED = "pending"
FILE_DONE = "done"
FILE_FAILED = "failed"
FILE_GONE = "gone"
FILE_NONE = "none"
#: Outcomes after which a file is never tried again.
FILE_SETTLED = frozenset({FILE_DONE, FILE_FAILED, FILE_GONE, FILE_NONE})


class Ledger:
    """The jobs after the bookmark, kept in the stream's state.

    Entry per job id: created_at, job_type, status (normalized, as last emitted),
    status_raw, partition, finished_at (when this tap first saw it finished), file (see
    FILE_* above; absent when no file is expected), rows_emitted (the checkpoint inside a
    file being emitted), and for a file that was not read: file_attempts and file_error.
    """

    def __init__(self, state: dict) -> None:
        self.state = state
        self.jobs: dict[str, dict] = state.setdefault("jobs", {})

    def get(self, job_id: str) -> dict | None:
        return self.jobs.get(job_id)

    def settled(self, entry: dict) -> bool:
        return entry.get("status") in TERMINAL and entry.get("file") != FILE_OWED

    def unsettled_ids(self, partition: dict | None = None) -> list[str]:
        """Unsettled jobs, of one partition when given (entries keep theirs)."""
        return [
            job_id
            for job_id, e in self.jobs.items()
            if not self.settled(e) and (partition is None or e.get("partition", {}) == partition)
        ]

    def record_emitted(
        self, record: dict, *, wants_file: bool, partition: dict | None = None
    ) -> None:
        entry = self.jobs.setdefault(record["id"], {})
        entry.update(
            created_at=record["created_at"],
            job_type=record.get("job_type"),
            status=record["status"],
            status_raw=record.get("status_raw"),
        )
        if partition and any(partition.values()):
            entry["partition"] = partition
        if record["status"] in TERMINAL and record.get("observed_at"):
            entry.setdefault("finished_at", record["observed_at"])
        if wants_file and entry.get("file") not in FILE_SETTLED:
            entry["file"] = FILE_OWED
        elif not wants_file and entry.get("file") == FILE_OWED:
            del entry["file"]

    def rows_checkpoint(self, job_id: str, rows_emitted: int) -> None:
        self.jobs.setdefault(job_id, {})["rows_emitted"] = rows_emitted

    def file_done(self, job_id: str, rows_emitted: int) -> None:
        entry = self.jobs.setdefault(job_id, {})
        entry["file"] = FILE_DONE
        entry["rows_emitted"] = rows_emitted
        entry.pop("file_attempts", None)
        entry.pop("file_error", None)

    def file_failed(self, job_id: str, error: str, *, max_attempts: int) -> bool:
        """Count one more run that could not read the file; True once it is given up."""
        entry = self.jobs.setdefault(job_id, {})
        entry["file_attempts"] = int(entry.get("file_attempts") or 0) + 1
        entry["file_error"] = error
        if entry["file_attempts"] >= max_attempts:
            entry["file"] = FILE_FAILED
            return True
        return False

    def file_settled_without_rows(self, job_id: str, outcome: str, reason: str) -> None:
        """The API answered that the file is gone, or that there never was one to read."""
        entry = self.jobs.setdefault(job_id, {})
        entry["file"] = outcome
        entry["file_error"] = reason
        entry.pop("file_attempts", None)

    def advance_bookmark(
        self, current: str | None, newest_listed: str | None, ceiling: datetime | None
    ) -> str | None:
        """Move the bookmark as far as it may go and drop ledger entries behind it.

        The bookmark stops at the oldest job that is not settled; with none, it goes to the
        newest job the listing showed, but never past `ceiling` (when the run's listing
        began, less a clock-skew margin): a job someone else made while the run went on may
        carry an earlier time than the jobs listed or made after it, and the next run must
        still list it. Entries at or after the bookmark stay, so settled jobs it lists
        again are not emitted again.
        """
        unsettled = [
            e["created_at"]
            for e in self.jobs.values()
            if not self.settled(e) and e.get("created_at")
        ]
        if unsettled:
            bookmark = min(unsettled, key=sort_key)
        else:
            candidates = [c for c in (current, newest_listed) if c]
            bookmark = max(candidates, key=sort_key) if candidates else None
        if bookmark and ceiling and sort_key(bookmark) > ceiling:
            bookmark = iso(ceiling)
        if current and (not bookmark or sort_key(bookmark) < sort_key(current)) and not unsettled:
            bookmark = current  # never backwards for want of news (e.g. a clock behind)
        if bookmark:
            floor = sort_key(bookmark)
            for job_id in [
                j
                for j, e in self.jobs.items()
                if e.get("created_at") and sort_key(e["created_at"]) < floor
            ]:
                del self.jobs[job_id]
        return bookmark
