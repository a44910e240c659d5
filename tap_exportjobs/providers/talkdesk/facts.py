"""What the tap remembers of each Talkdesk job across runs (`job_facts` in state).

Jobs carry no documented creation time, so the tap's first sighting of a job (its create,
or the listing) stands in for it; a done job's redirect may come with an empty body, so the
job's name, timezone, format and timespan are kept from earlier answers. Facts are kept for
as long as the ledger, a window or the listing holds the job, so state stays bounded and a
listed job is never taken for a new one.
"""

from __future__ import annotations

import typing as t

from tap_exportjobs.jobs import iso, parse_timestamp
from tap_exportjobs.jobs.facts import RemembersJobs
from tap_exportjobs.jobs.timestamps import sort_key


class RemembersReportJobs(RemembersJobs):
    """Mixed into the Talkdesk job stream (a JobStream)."""

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap)  # type: ignore[call-arg]
        #: Ids the job listing showed in this run.
        self._listed: set[str] = set()

    def _facts(self, job_id: str, job: dict) -> dict:
        """What is known of the job, remembered across runs: a redirect's body may be empty,
        and jobs show no creation time (the first sighting stands in for it)."""
        facts = self.job_facts(job_id)
        for key in ("name", "timezone", "format", "timespan"):
            if job.get(key):
                facts[key] = job[key]
        created = parse_timestamp(job.get("created_at"))
        if created:
            facts["created_at"] = iso(created)
        return facts

    def facts_to_keep(self) -> set[str]:
        """Jobs the listing still shows keep their first sighting (never taken for new)."""
        return self._listed

    def finish_run(self) -> bool:
        if self._run is not None and not self.settings.get("follow_existing_jobs"):
            # Without a listing, the jobs the ledger holds are all there is: the bookmark may
            # move up to the newest of them (never past the run's start, less the margin),
            # so the ledger drains behind it.
            created = [
                e["created_at"] for e in self.ledger(None).jobs.values() if e.get("created_at")
            ]
            self._run.newest_listed = max(created, key=sort_key, default=None)
        ran = super().finish_run()
        self._listed = set()
        return ran
