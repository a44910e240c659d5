"""The job-stream base: normalized job records, incremental state and polling.

A provider module subclasses `JobStream` once per job endpoint and supplies what only it
knows: how to list, fetch (and, where supported, create) jobs, how its statuses map to the
normalized ones, and where a finished job's file is. Everything users trust us with —
never skipping an unfinished job, never emitting a file twice, never creating a duplicate
export — lives here, once, for every provider.
"""

from __future__ import annotations

import abc
import logging
import typing as t
from datetime import datetime, timedelta
from functools import cached_property

from singer_sdk import RESTStream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.batch_files import RecordMessagesOnly
from tap_exportjobs.download import Downloader, DownloadLink, redact_url
from tap_exportjobs.http import RetryPolicyMixin
from tap_exportjobs.jobs.exports import CreatesExports, ExportSpec, ExportWindow
from tap_exportjobs.jobs.files import FollowsFiles
from tap_exportjobs.jobs.ledger import FILE_SETTLED, Ledger
from tap_exportjobs.jobs.normalize import NormalizesJobs
from tap_exportjobs.jobs.polling import Polls
from tap_exportjobs.jobs.record import (
    DEFAULT_LOOKBACK,
    JOB_CORE_PROPERTIES,
    PENDING,
    SUCCEEDED,
)
from tap_exportjobs.jobs.run import RunsOnce
from tap_exportjobs.jobs.samples import OffersSamples
from tap_exportjobs.jobs.timestamps import (
    parse_timestamp,
    sort_key,
    utc_now,
)

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

logger = logging.getLogger(__name__)


class CheckpointMixin:
    """Write a STATE message now, mid-stream, with the SDK's own writer."""

    def checkpoint(self) -> None:
        self.state_manager.is_flushed = False  # type: ignore[attr-defined]
        self._write_state_message()  # type: ignore[attr-defined]


class JobStream(
    RecordMessagesOnly,
    RunsOnce,
    OffersSamples,
    NormalizesJobs,
    Polls,
    FollowsFiles,
    CreatesExports,
    CheckpointMixin,
    RetryPolicyMixin,
    RESTStream,
):
    """Base for every stream of normalized job records.

    Subclasses set `provider`, `status_map`, `provider_properties` and implement
    `normalize_job`, `fetch_job` and `download_link`; providers that create jobs also
    implement `export_specs` and `create_export_job`.
    """

    provider: t.ClassVar[str]
    #: lower-cased API status -> normalized status
    status_map: t.ClassVar[dict[str, str]] = {}
    #: How long the API keeps a job; an unfinished job older than this is `expired`.
    job_lifetime: t.ClassVar[timedelta | None] = None
    #: The provider's own fields, kept with their API names.
    provider_properties: t.ClassVar[th.PropertiesList] = th.PropertiesList()
    #: Context keys that partition this stream (and its state), typed for the schema.
    partition_properties: t.ClassVar[th.PropertiesList] = th.PropertiesList()
    #: Statuses the storage host answers for a link that has expired.
    link_expired_statuses: t.ClassVar[tuple[int, ...]] = (403, 410)

    replication_key = "created_at"
    is_sorted = False

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap, schema=self.build_schema())
        partition_keys = [p.name for p in self.partition_properties]
        self.primary_keys = ["provider", "id", *partition_keys]
        # One state for the whole stream however many partitions it runs for (a job stream
        # under a parent runs once per parent record): the ledger keys jobs by id and
        # remembers each one's partition, so state never grows with the partitions.
        self.state_partitioning_keys = []
        self._needs_file: set[str] = set()
        #: Job records being emitted whose file is being read (see FollowsFiles).
        self._in_hand: dict[str, dict] = {}
        #: Unfinished jobs of every partition, and creates waiting for a slot (see Polls).
        self._waiting_jobs: dict[str, dict] = {}
        self._queued_creates: list[tuple[dict, t.Callable[[], dict | None]]] = []
        self._draining = False
        self._warned_statuses: set[str] = set()

    @classmethod
    def build_schema(cls) -> dict:
        return th.PropertiesList(
            *JOB_CORE_PROPERTIES.wrapped.values(),
            *cls.provider_properties.wrapped.values(),
            *cls.partition_properties.wrapped.values(),
        ).to_dict()

    # -- provider hooks -----------------------------------------------------------------

    @abc.abstractmethod
    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        """The job's core fields (see JOB_CORE_PROPERTIES, except provider, status,
        is_terminal, observed_at) plus the provider's own fields."""

    @abc.abstractmethod
    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        """The job as the API shows it now, or None if the API no longer has it."""

    @abc.abstractmethod
    def download_link(self, job_id: str, context: Context | None) -> DownloadLink:
        """A fresh link to the file of a succeeded job (called again when it expires)."""

    def has_file(self, record: dict) -> bool:
        """Whether a succeeded job has a file to read (some job types produce none)."""
        return record["status"] == SUCCEEDED

    def export_specs(self, context: Context | None) -> list[ExportSpec]:
        """Exports this stream creates itself; none unless the provider supports it."""
        return []

    def create_export_job(
        self, spec: ExportSpec, window: ExportWindow, context: Context | None
    ) -> dict:
        raise NotImplementedError

    # -- settings -----------------------------------------------------------------------

    def start_date(self) -> datetime:
        configured = parse_timestamp(self.config.get("start_date"))
        return configured or (utc_now() - DEFAULT_LOOKBACK)

    def get_replication_key_signpost(self, context: Context | None) -> None:
        """No signpost: the bookmark is set by the ledger, never by the newest record."""
        return None

    def _increment_stream_state(
        self, latest_record: dict, *, context: Context | None = None
    ) -> None:
        """The SDK would move the bookmark to the newest record, past unfinished jobs;
        the ledger moves it instead (see `Ledger.advance_bookmark`)."""

    def ledger(self, context: Context | None) -> Ledger:
        return Ledger(self.get_context_state(context))

    @cached_property
    def downloader(self) -> Downloader:
        return Downloader(
            allow_http=bool(self.config.get("allow_http_downloads", False)),
            max_bytes=self.config.get("max_file_bytes"),
            expired_statuses=self.link_expired_statuses,
        )

    def redact(self, url: str | None) -> str | None:
        return redact_url(url) if self.config.get("redact_download_urls", True) else url

    # -- API helpers --------------------------------------------------------------------

    def request_json(
        self,
        method: str,
        path: str,
        context: Context | None,
        *,
        params: dict | None = None,
        json: t.Any = None,
        missing_ok: bool = False,
    ) -> dict | list | None:
        """One authenticated API call with the shared retry policy; None for a 404 when
        `missing_ok`."""
        url = path if path.startswith(("http://", "https://")) else f"{self.url_base}{path}"
        prepared = self.build_prepared_request(
            method=method,
            url=url,
            params=params or {},
            json=json,
            headers=self.http_headers,
        )
        try:
            response = self.request_decorator(self._request)(prepared, context)
        except FatalAPIError as error:
            if missing_ok and str(error).startswith("HTTP 404"):
                return None
            raise
        return response.json() if response.content else {}

    # -- the sync -----------------------------------------------------------------------

    def partition_of(self, context: Context | None) -> dict:
        return {p.name: (context or {}).get(p.name) for p in self.partition_properties}

    def context_of(self, record: dict) -> dict | None:
        """The partition a job record belongs to, as a context (None without partitions)."""
        partition = {k: v for k, v in self.partition_of(record).items() if v is not None}
        return partition or None

    def drain_jobs(self) -> None:
        """Sync the jobs set aside while the partitions were walked (see Polls.drain): the
        SDK's own sync writes their records and their rows, as for any other record."""
        self._draining = True
        try:
            self.sync()
        finally:
            self._draining = False

    def after_jobs_emitted(self) -> None:
        """Called once a partition's jobs (or the drained ones) are all emitted."""

    def get_records(self, context: Context | None) -> Iterator[dict]:
        if self._draining:
            yield from self.drain()
            self.after_jobs_emitted()
            return
        run = self.begin_run()
        ledger = self.ledger(context)
        partition = self.partition_of(context)

        found: dict[str, dict] = {}
        for raw in self.request_records(context):
            record = self.to_record(raw, context)
            created = parse_timestamp(record["created_at"])
            if record["id"] in ledger.jobs or (created and created >= run.since):
                found[record["id"]] = record
                if not run.newest_listed or sort_key(record["created_at"]) > sort_key(
                    run.newest_listed
                ):
                    run.newest_listed = record["created_at"]
        for job_id in ledger.unsettled_ids(partition):
            if job_id not in found:
                found[job_id] = self._refetch(job_id, ledger, context)

        # Jobs out for export windows are polled with the exports' pipeline, not here.
        held = self.jobs_out_for_windows(ledger)
        yield from self._settle(
            sorted(
                (r for r in found.values() if r["id"] not in held),
                key=lambda r: sort_key(r["created_at"]),
            ),
            ledger,
            context,
            run.deadline,
        )
        listed = {job_id: found[job_id] for job_id in held if job_id in found}
        yield from self._run_exports(
            self.export_specs(context), ledger, context, run.deadline, listed
        )
        self.after_jobs_emitted()

    def _emit(self, record: dict, ledger: Ledger) -> Iterator[dict]:
        """Yield the record if it is news: a new job, a changed status, or a file still owed.

        Code after the `yield` runs once the SDK has synced the file's rows (child stream)
        and written the record, so the ledger only ever describes what was emitted.
        """
        entry = ledger.get(record["id"])
        record = self.with_file_outcome(record, entry)
        wants_file = self.wants_file(record)
        owes_file = wants_file and (entry or {}).get("file") not in FILE_SETTLED
        changed = (
            entry is None
            or entry.get("status") != record["status"]
            or entry.get("status_raw") != record.get("status_raw")
        )
        if not changed and not owes_file:
            return
        if owes_file:
            self._needs_file.add(record["id"])
            self._in_hand[record["id"]] = record
            # Recorded before the rows start, so a run killed mid-file owes it next time.
            ledger.record_emitted(
                {
                    **record,
                    "status": (entry or {}).get("status", PENDING),
                    "status_raw": (entry or {}).get("status_raw"),
                },
                wants_file=True,
                partition=self.partition_of(record),
            )
        yield record
        self._needs_file.discard(record["id"])
        self._in_hand.pop(record["id"], None)
        if self._run is not None:
            self._run.tally.emitted[record["status"]] += 1
        ledger.record_emitted(record, wants_file=wants_file, partition=self.partition_of(record))

    def generate_child_contexts(self, record: dict, context: Context | None) -> Iterable[dict]:
        """Rows are synced only for jobs whose file is owed; the context carries ids only,
        the job's own partition's (a drained job is emitted outside its partition's sync)."""
        if record["id"] in self._needs_file:
            yield {**(self.context_of(record) or {}), "job_id": record["id"]}
