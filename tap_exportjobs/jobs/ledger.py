"""The ledger: the jobs after a job stream's bookmark, kept in its state."""

from __future__ import annotations

import typing as t

from tap_exportjobs.jobs.record import TERMINAL
from tap_exportjobs.jobs.timestamps import sort_key

if t.TYPE_CHECKING:
    from collections.abc import Iterable


class Ledger:
    """The jobs after the bookmark, kept in the stream partition's state.

    Entry per job id: created_at, job_type, status (normalized, as last emitted),
    status_raw, file ("pending" | "done" | absent when no file is expected) and
    rows_emitted (the checkpoint inside a file being emitted).
    """

    def __init__(self, state: dict) -> None:
        self.state = state
        self.jobs: dict[str, dict] = state.setdefault("jobs", {})

    def get(self, job_id: str) -> dict | None:
        return self.jobs.get(job_id)

    def settled(self, entry: dict) -> bool:
        return entry.get("status") in TERMINAL and entry.get("file") != "pending"

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
        if wants_file and entry.get("file") != "done":
            entry["file"] = "pending"
        elif not wants_file and entry.get("file") == "pending":
            del entry["file"]

    def rows_checkpoint(self, job_id: str, rows_emitted: int) -> None:
        self.jobs.setdefault(job_id, {})["rows_emitted"] = rows_emitted

    def file_done(self, job_id: str, rows_emitted: int) -> None:
        entry = self.jobs.setdefault(job_id, {})
        entry["file"] = "done"
        entry["rows_emitted"] = rows_emitted

    def advance_bookmark(self, current: str | None, seen_created_at: Iterable[str]) -> str | None:
        """Move the bookmark as far as it may go and drop ledger entries behind it.

        The bookmark stops at the oldest job that is not settled; with none, it goes to the
        newest job seen. Entries at or after it stay, so settled jobs sharing the bookmark's
        timestamp (or after an unsettled one) are not emitted again.
        """
        unsettled = [
            e["created_at"]
            for e in self.jobs.values()
            if not self.settled(e) and e.get("created_at")
        ]
        if unsettled:
            bookmark = min(unsettled, key=sort_key)
        else:
            candidates = [
                c
                for c in (
                    current,
                    *seen_created_at,
                    *(e.get("created_at") for e in self.jobs.values()),
                )
                if c
            ]
            bookmark = max(candidates, key=sort_key) if candidates else current
        if bookmark:
            floor = sort_key(bookmark)
            for job_id in [
                j
                for j, e in self.jobs.items()
                if e.get("created_at") and sort_key(e["created_at"]) < floor
            ]:
                del self.jobs[job_id]
        return bookmark
