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


class PollRounds:
    """One shared schedule of poll rounds: the first look after `poll_interval_seconds`,
    each later one 1.5 times as long after, up to `poll_interval_max_seconds`. Jobs may join
    the set between rounds (a pipeline of exports); each round costs one request per job."""

    def __init__(self, stream: t.Any, deadline: float) -> None:
        self.stream = stream
        self.deadline = deadline
        self.interval = float(stream.config.get("poll_interval_seconds", 5))
        self.ceiling = float(stream.config.get("poll_interval_max_seconds", 60))
        self.began = time.monotonic()
        self.rounds = 0

    def next_round(
        self, waiting: dict[str, dict], ledger: Ledger, context: Context | None
    ) -> list[dict] | None:
        """Wait for the next look and look at every job in `waiting`: those that finished
        (or vanished) are taken out of it and returned. None when the deadline came first."""
        stream = self.stream
        remaining = self.deadline - time.monotonic()
        if remaining <= 0:
            return None
        pause = min(self.interval, remaining)
        stream.logger.info(
            "%s: waiting for %s; %.0fs waited so far, next look in %.0fs",
            stream.name,
            describe_jobs(waiting.values()),
            time.monotonic() - self.began,
            pause,
        )
        time.sleep(pause)
        self.interval = min(self.interval * 1.5, self.ceiling)
        self.rounds += 1
        finished = []
        for job_id in list(waiting):
            # Jobs of several partitions may wait together: each is looked at in its own.
            job_context = stream.context_of(waiting[job_id]) or context
            raw = stream.fetch_job(job_id, job_context)
            record = stream.to_record(raw, job_context) if raw else None
            if record is None:
                del waiting[job_id]
                finished.append(stream._refetch(job_id, ledger, job_context))
            elif record["is_terminal"]:
                del waiting[job_id]
                stream.logger.info(
                    "%s: job %s is %s after %.0fs",
                    stream.name,
                    job_id,
                    record["status"],
                    time.monotonic() - self.began,
                )
                finished.append(record)
            else:
                waiting[job_id] = record
        return finished

    def left_running(self, records: t.Iterable[dict]) -> None:
        for record in records:
            self.stream.logger.info(
                "%s: job %s is still %s after max_wait_seconds; it is kept in "
                "state and looked at again next run",
                self.stream.name,
                record["id"],
                record["status"],
            )


class Polls:
    """Mixed into JobStream (which provides fetch_job, to_record, _refetch and _emit).

    A stream that runs once per parent record (a partition) does not wait partition after
    partition: its unfinished jobs are set aside (`_waiting_jobs`), and jobs it wants to
    create wait for a slot of the budget (`wait_for_slot`); once every partition is walked,
    the tap drains them as one set on one schedule (`drain`), creating queued jobs as slots
    free, and emits each job, with its rows, as soon as it finishes.
    """

    def _settle(
        self, records: list[dict], ledger: Ledger, context: Context | None, deadline: float
    ) -> Iterator[dict]:
        """Emit every job; wait (up to the deadline) only for those worth waiting for."""
        waiting = []
        for record in records:
            if record["is_terminal"] or not self.worth_waiting_for(record):
                yield from self._emit(record, ledger)
            elif self.parent_stream_type is not None:
                self._waiting_jobs[record["id"]] = record  # polled with the others, in drain
            else:
                waiting.append(record)
        for record in self._poll(waiting, ledger, context, deadline):
            yield from self._emit(record, ledger)

    def slots_free(self) -> int:
        """Jobs this stream may still have running server-side before the budget is spent."""
        return self.max_jobs_in_flight() - len(self._waiting_jobs)

    def wait_for_slot(self, context: Context, create: t.Callable[[], dict | None]) -> None:
        """Create a job once a slot is free, in the drain: `create` returns the API's job."""
        self._queued_creates.append((dict(context), create))

    def has_jobs_to_drain(self) -> bool:
        return bool(self._waiting_jobs or self._queued_creates)

    def drain(self) -> Iterator[dict]:
        """Poll every set-aside job as one set, creating queued jobs as slots free; emit each
        job as it finishes, and at the deadline every one still running as last seen."""
        run = self.begin_run()
        ledger = self.ledger(None)
        waiting, self._waiting_jobs = self._waiting_jobs, {}
        rounds = PollRounds(self, run.deadline)
        while True:
            while self._queued_creates and len(waiting) < self.max_jobs_in_flight():
                context, create = self._queued_creates.pop(0)
                raw = create()
                if raw is None:
                    continue
                record = self.to_record(raw, context)
                if record["is_terminal"]:
                    yield from self._emit(record, ledger)
                else:
                    waiting[record["id"]] = record
            if not waiting:
                break
            finished = rounds.next_round(waiting, ledger, None)
            if finished is None:
                break
            for record in finished:
                yield from self._emit(record, ledger)
        rounds.left_running(waiting.values())
        for record in waiting.values():
            yield from self._emit(record, ledger)
        if self._queued_creates:
            self.logger.info(
                "%s: %d job(s) not created in this run: no slot of max_jobs_in_flight (%d) "
                "freed before max_wait_seconds; created next run",
                self.name,
                len(self._queued_creates),
                self.max_jobs_in_flight(),
            )
            self._queued_creates = []

    def _poll(
        self, records: list[dict], ledger: Ledger, context: Context | None, deadline: float
    ) -> Iterator[dict]:
        """Yield each job once it is terminal, or as last seen when time runs out."""
        waiting = {r["id"]: r for r in records}
        rounds = PollRounds(self, deadline)
        while waiting:
            finished = rounds.next_round(waiting, ledger, context)
            if finished is None:
                break
            yield from finished
        rounds.left_running(waiting.values())
        yield from waiting.values()
