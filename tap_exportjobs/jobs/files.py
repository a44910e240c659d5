"""What a job stream does about its jobs' files: which it wants, and what became of each.

One unreadable file must not stop the others: its failure is counted in the ledger, the
run goes on, and the tap fails at the end naming it (so a scheduler alerts); after
`max_file_attempts` runs the job is recorded as failed with the reason and the file is no
longer tried. An API that answers "this file is gone" (or "there is no file here") is not a
failure: the job is settled without rows, saying why.
"""

from __future__ import annotations

import typing as t

from tap_exportjobs.download import DownloadError
from tap_exportjobs.jobs.ledger import FILE_FAILED, FILE_GONE, FILE_NONE, FILE_OWED, Ledger
from tap_exportjobs.jobs.record import EXPIRED, FAILED, SUCCEEDED

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

DEFAULT_MAX_FILE_ATTEMPTS = 3


class FileGoneError(DownloadError):
    """The API answered that it no longer has the job's file (e.g. past its retention)."""


class NoFileError(DownloadError):
    """The API answered that the job has no file it serves (e.g. sent to the user's bucket)."""


class FollowsFiles:
    """Mixed into JobStream: which jobs' files are wanted, and the outcome of reading them."""

    def wants_file(self, record: dict) -> bool:
        return self.follows_files() and self.has_file(record)  # type: ignore[attr-defined]

    def follows_files(self) -> bool:
        """Whether this run reads files at all (setting on, a rows stream selected)."""
        return bool(self.config.get("follow_downloads", True)) and any(  # type: ignore[attr-defined]
            child.selected
            for child in self.child_streams  # type: ignore[attr-defined]
        )

    def worth_waiting_for(self, record: dict) -> bool:
        """An unfinished job is polled only when its file will be wanted once it succeeds;
        others are emitted as seen and looked at again next run."""
        return self.wants_file({**record, "status": SUCCEEDED})

    @property
    def max_file_attempts(self) -> int:
        return int(self.config.get("max_file_attempts") or DEFAULT_MAX_FILE_ATTEMPTS)  # type: ignore[attr-defined]

    def with_file_outcome(self, record: dict, entry: dict | None) -> dict:
        """The job as it is emitted once its file was given up or is gone."""
        outcome = (entry or {}).get("file")
        reason = (entry or {}).get("file_error")
        if outcome == FILE_FAILED:
            return {
                **record,
                "status": FAILED,
                "is_terminal": True,
                "error": f"The file could not be read: {reason}",
            }
        if outcome == FILE_GONE:
            return {**record, "status": EXPIRED, "is_terminal": True, "error": reason}
        if outcome == FILE_NONE:
            return {**record, "error": record.get("error") or reason}
        return record

    def file_read(self, rows: int) -> None:
        """Called by the rows stream when a file's rows are all emitted (for the summary)."""
        if self._run is not None:  # type: ignore[attr-defined]
            self._run.tally.file_read(rows)  # type: ignore[attr-defined]

    def file_failed(self, job_id: str, context: Context | None, error: str) -> None:
        """Called by the rows stream when this run could not read the job's file."""
        ledger = self.ledger(context)  # type: ignore[attr-defined]
        gave_up = ledger.file_failed(job_id, error, max_attempts=self.max_file_attempts)
        attempts = ledger.jobs[job_id]["file_attempts"]
        if gave_up:
            self.logger.error(  # type: ignore[attr-defined]
                "%s: the file of job %s could not be read in %d runs (max_file_attempts); the "
                "job is recorded as failed and the file is not tried again. Last error: %s",
                self.name,  # type: ignore[attr-defined]
                job_id,
                attempts,
                error,
            )
        else:
            self.logger.error(  # type: ignore[attr-defined]
                "%s: the file of job %s could not be read (attempt %d of %d; tried again "
                "next run): %s",
                self.name,  # type: ignore[attr-defined]
                job_id,
                attempts,
                self.max_file_attempts,
                error,
            )
            self._tap.unreadable_files.append(f"{self.name} job {job_id}: {error}")  # type: ignore[attr-defined]
        self._settle_in_hand(job_id, ledger)

    def file_unavailable(
        self, job_id: str, context: Context | None, error: FileGoneError | NoFileError
    ) -> None:
        """Called by the rows stream when the API says the file is gone or never was."""
        ledger: Ledger = self.ledger(context)  # type: ignore[attr-defined]
        outcome = FILE_GONE if isinstance(error, FileGoneError) else FILE_NONE
        ledger.file_settled_without_rows(job_id, outcome, str(error))
        log = self.logger.warning if outcome == FILE_GONE else self.logger.info  # type: ignore[attr-defined]
        log("%s: job %s: %s", self.name, job_id, error)  # type: ignore[attr-defined]
        self._settle_in_hand(job_id, ledger)

    def _settle_in_hand(self, job_id: str, ledger: Ledger) -> None:
        """Update the job record being emitted. The SDK syncs a record's children before it
        writes the record itself, so the row it writes already says what became of the file
        (test_after_max_file_attempts_runs_the_job_says_why_and_the_run_succeeds fails if
        the SDK changes that order)."""
        record = self._in_hand.get(job_id)  # type: ignore[attr-defined]
        entry = ledger.get(job_id)
        if record is not None and entry and entry.get("file") != FILE_OWED:
            record.update(self.with_file_outcome(record, entry))
