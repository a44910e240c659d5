"""Which files a rows stream's columns may be inferred from: the latest finished job with a
file of each kind, found by listing jobs without syncing them (see `typed_rows.sampling`)."""

from __future__ import annotations

import itertools
import typing as t

from tap_exportjobs.jobs.record import SUCCEEDED
from tap_exportjobs.jobs.timestamps import sort_key

if t.TYPE_CHECKING:
    from collections.abc import Iterable

    from singer_sdk.helpers.types import Context

#: At most this many listed jobs are looked at for one sample.
SAMPLE_SCAN_JOBS = 500


class OffersSamples:
    """Mixed into JobStream (which provides request_records, to_record, has_file)."""

    def sample_contexts(self) -> list[Context | None]:
        """The partitions to list jobs in (None: the stream lists all its jobs at once)."""
        return [None]

    def sample_kind(self, record: dict) -> str:
        """Files of one kind share columns: the latest of each kind is sampled."""
        return str(record.get("job_type") or "")

    def jobs_to_sample(self, context: Context | None) -> Iterable[dict]:
        """The API's jobs, newest or not, as the listing gives them."""
        return self.request_records(context)  # type: ignore[attr-defined]

    def latest_files(self) -> dict[str, tuple[str, Context | None]]:
        """Kind of job (its `job_type`) -> the newest succeeded job with a file, and its
        context."""
        newest: dict[str, tuple[tuple, str, Context | None]] = {}
        for context in self.sample_contexts():
            for raw in itertools.islice(self.jobs_to_sample(context), SAMPLE_SCAN_JOBS):
                record = self.to_record(raw, context)  # type: ignore[attr-defined]
                if record["status"] != SUCCEEDED or not self.has_file(record):  # type: ignore[attr-defined]
                    continue
                kind = self.sample_kind(record)
                # Ties (an API that shows no creation time: every job is "first seen now")
                # go to the greatest id, so every discovery picks the same file.
                key = (sort_key(record["created_at"]), str(record["id"]))
                if kind not in newest or key > newest[kind][0]:
                    newest[kind] = (key, record["id"], self.context_of(record) or context)  # type: ignore[attr-defined]
        return {kind: (job_id, context) for kind, (_, job_id, context) in newest.items()}

    def columns_from_api(self) -> dict[str, str]:
        """Columns (name -> typed-row type) the API itself declares for the files, if any."""
        return {}

    def forget_run(self) -> None:
        """A listing for a sample began a run (`RunsOnce`): the sync begins its own."""
        self._run = None
