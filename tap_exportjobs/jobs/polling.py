"""Polling: wait for unfinished jobs together, with a growing interval, up to a deadline.

A timeout is never "no data": a job still running when the run stops waiting is emitted as
last seen and stays unsettled in the ledger, so the next run looks at it again.
"""

from __future__ import annotations

import time
import typing as t

from tap_exportjobs.jobs.progress import describe_jobs

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context

    from tap_exportjobs.jobs.ledger import Ledger


class Polls:
    """Mixed into JobStream (which provides fetch_job, to_record, _refetch and _emit)."""

    def _settle(
        self, records: list[dict], ledger: Ledger, context: Context | None, deadline: float
    ) -> Iterator[dict]:
        """Emit every job; wait (up to the deadline) only for those worth waiting for."""
        waiting = []
        for record in records:
            if record["is_terminal"] or not self.worth_waiting_for(record):
                yield from self._emit(record, ledger)
            else:
                waiting.append(record)
        for record in self._poll(waiting, ledger, context, deadline):
            yield from self._emit(record, ledger)

    def _poll(
        self, records: list[dict], ledger: Ledger, context: Context | None, deadline: float
    ) -> Iterator[dict]:
        """Yield each job once it is terminal, or as last seen when time runs out."""
        waiting = {r["id"]: r for r in records}
        interval = float(self.config.get("poll_interval_seconds", 5))
        ceiling = float(self.config.get("poll_interval_max_seconds", 60))
        began = time.monotonic()
        while waiting:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            pause = min(interval, remaining)
            self.logger.info(
                "%s: waiting for %s; %.0fs waited so far, next look in %.0fs",
                self.name,
                describe_jobs(waiting.values()),
                time.monotonic() - began,
                pause,
            )
            time.sleep(pause)
            interval = min(interval * 1.5, ceiling)
            for job_id in list(waiting):
                raw = self.fetch_job(job_id, context)
                record = self.to_record(raw, context) if raw else None
                if record is None:
                    del waiting[job_id]
                    yield self._refetch(job_id, ledger, context)
                elif record["is_terminal"]:
                    del waiting[job_id]
                    self.logger.info(
                        "%s: job %s is %s after %.0fs",
                        self.name,
                        job_id,
                        record["status"],
                        time.monotonic() - began,
                    )
                    yield record
                else:
                    waiting[job_id] = record
        for record in waiting.values():
            self.logger.info(
                "%s: job %s is still %s after max_wait_seconds; it is kept in "
                "state and looked at again next run",
                self.name,
                record["id"],
                record["status"],
            )
            yield record
