"""Creating a job once: a create request is the one call that is not safe to repeat.

After a 5xx, a read timeout or a connection dropped once the request was sent, the job may
exist. So creates are never retried blindly (`http.RetryPolicyMixin.send_create` retries
only failures the server surely did not act on: 429 (except for export windows, where it
lowers the budget of jobs in flight, see `pipeline.py`), a refused connection). After such a
failure the tap asks the API for jobs matching what it asked for, made while the request
was in flight (a provider's `find` callback), leaving out jobs it already knew:
- exactly one: that is the job; it is adopted;
- none: the request made nothing; it is sent again (at most MAX_CREATE_ATTEMPTS per run);
- several, or the API cannot be searched: the caller records the uncertainty in state, a
  warning names it, and nothing more is created for it in this run. A later run looks
  again over the same moments: it adopts the one job the API then shows, creates only if
  the API shows none, and otherwise stays uncertain (and warns) again.
"""

from __future__ import annotations

import typing as t
from dataclasses import dataclass
from datetime import datetime, timedelta

from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.http import TRANSIENT_ERRORS, request_not_acted_on
from tap_exportjobs.jobs.timestamps import iso, parse_timestamp, utc_now

if t.TYPE_CHECKING:
    from collections.abc import Callable

#: How far the API's clock (and its rounding of creation times to the second) may be from
#: ours when a job is matched to the create request that may have made it.
CREATE_MATCH_MARGIN = timedelta(seconds=30)
#: Creates per window and run while each failed one left no job the API shows.
MAX_CREATE_ATTEMPTS = 3


@dataclass
class Created:
    """What creating a job once came to: the API's answer to the create request, or the
    job found after an ambiguous failure, or (neither) an uncertainty to record in state."""

    answer: t.Any = None
    found: dict | None = None
    uncertain: dict | None = None


class CreatesOnce:
    """Mixed into a JobStream whose provider creates jobs."""

    def request_create(self, path: str, *, json: t.Any, retry_rate_limits: bool = True) -> t.Any:
        """POST a request that makes a job, never retried blindly (see the module doc).
        Without `retry_rate_limits` a 429 is raised for the caller (an export pipeline
        takes it as "no more jobs now")."""
        prepared = self.build_prepared_request(  # type: ignore[attr-defined]
            method="POST",
            url=f"{self.url_base}{path}",  # type: ignore[attr-defined]
            json=json,
            headers=self.http_headers,  # type: ignore[attr-defined]
        )
        response = self.send_create(prepared, retry_rate_limits=retry_rate_limits)  # type: ignore[attr-defined]
        return response.json() if response.content else {}

    def create_once(
        self,
        what: str,
        create: Callable[[], t.Any],
        find: Callable[[datetime, datetime], list[dict] | None],
        known: dict[str, str | None],
        uncertain: dict | None = None,
    ) -> Created:
        """Create a job unless an earlier attempt may have made it (see the module doc).

        `what` names the window in the log. `known`: the jobs the tap had before creating
        (id -> created_at), never taken for the new one. `uncertain`: what an earlier run
        recorded when it could not tell whether its create made a job; looked at first.
        """
        if uncertain:
            result = self._look_for_created(
                what, find, uncertain, dict.fromkeys(uncertain["known"])
            )
            if result.found is not None or result.uncertain is not None:
                return result
            self.logger.info(  # type: ignore[attr-defined]
                "%s: the API shows no job from the earlier uncertain create request; "
                "creating it now",
                what,
            )
        failure: BaseException | None = None
        for _ in range(MAX_CREATE_ATTEMPTS):
            began = utc_now()
            try:
                return Created(answer=create())
            except TRANSIENT_ERRORS as error:
                if request_not_acted_on(error):
                    raise
                failure = error
            self.logger.warning(  # type: ignore[attr-defined]
                "%s: the create request failed after it may have reached the API (%s); "
                "looking for the job it may have made before creating again",
                what,
                failure,
            )
            span = {
                "since": iso(began - CREATE_MATCH_MARGIN),
                "until": iso(utc_now() + CREATE_MATCH_MARGIN),
            }
            result = self._look_for_created(what, find, span, known)
            if result.found is not None or result.uncertain is not None:
                return result
        # Every attempt failed and the API shows that none of them made a job.
        raise failure  # type: ignore[misc]

    def _look_for_created(
        self,
        what: str,
        find: Callable[[datetime, datetime], list[dict] | None],
        span: dict,
        known: dict[str, str | None],
    ) -> Created:
        since, until = parse_timestamp(span["since"]), parse_timestamp(span["until"])
        assert since is not None and until is not None
        try:
            jobs = find(since, until)
        except (*TRANSIENT_ERRORS, FatalAPIError) as error:
            jobs, reason = None, f"the API could not be searched ({error})"
        else:
            reason = "the API cannot be searched for the job"
        if jobs is not None:
            by_id = {str(self.normalize_job(job, None)["id"]): job for job in jobs}  # type: ignore[attr-defined]
            candidates = sorted(job_id for job_id in by_id if job_id not in known)
            if len(candidates) == 1:
                self.logger.warning(  # type: ignore[attr-defined]
                    "%s: found job %s, made by the create request that failed; adopted",
                    what,
                    candidates[0],
                )
                return Created(found=by_id[candidates[0]])
            if not candidates:
                return Created()
            reason = f"{len(candidates)} jobs could be it ({', '.join(candidates)})"
        self.logger.warning(  # type: ignore[attr-defined]
            "%s: cannot tell whether the failed create request made a job: %s. Recorded as "
            "uncertain in state; no job is created for it in this run. A later run looks "
            "again and creates one only if the API then shows none",
            what,
            reason,
        )
        # Jobs the tap already had that a later look would otherwise count (bounded: only
        # those made within the span).
        known_in_span = sorted(
            job_id
            for job_id, created in known.items()
            if created is None or since <= (parse_timestamp(created) or since) <= until
        )
        return Created(
            uncertain={"since": span["since"], "until": span["until"], "known": known_in_span}
        )
