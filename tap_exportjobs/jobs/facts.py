"""What the tap remembers of jobs whose API does not show them in full (`job_facts` in state).

Some APIs list no jobs, or show no creation time: the tap keeps, per job, what it learned
(its first sighting stands in for its creation time; the partition, window or fields an
answer may leave out). Facts live only as long as the ledger, an export window or the
provider (`facts_to_keep`) holds the job, so state stays bounded.
"""

from __future__ import annotations

from tap_exportjobs.jobs.timestamps import iso, utc_now


class RemembersJobs:
    """Mixed into a JobStream (before it, so its `finish_run` prunes the facts)."""

    def job_facts(self, job_id: str) -> dict:
        """The facts kept of a job; a job seen for the first time is taken as created now."""
        store = self.get_context_state(None).setdefault("job_facts", {})  # type: ignore[attr-defined]
        return store.setdefault(job_id, {"created_at": iso(utc_now())})

    def facts_to_journal(self, job_id: str) -> dict | None:
        return dict(self.job_facts(job_id))

    def facts_from_journal(self, job_id: str, facts: dict | None) -> None:
        """A job adopted from the journal after its state was lost gets its facts back."""
        if facts:
            store = self.get_context_state(None).setdefault("job_facts", {})  # type: ignore[attr-defined]
            store.setdefault(job_id, dict(facts))

    def facts_to_keep(self) -> set[str]:
        """Jobs whose facts stay although no ledger entry or window holds them."""
        return set()

    def finish_run(self) -> bool:
        ran = super().finish_run()  # type: ignore[misc]
        if ran:
            state = self.get_context_state(None)  # type: ignore[attr-defined]
            ledger = self.ledger(None)  # type: ignore[attr-defined]
            held = set(ledger.jobs) | self.jobs_out_for_windows(ledger) | self.facts_to_keep()  # type: ignore[attr-defined]
            facts = state.get("job_facts") or {}
            state["job_facts"] = {k: v for k, v in facts.items() if k in held}
        return ran
