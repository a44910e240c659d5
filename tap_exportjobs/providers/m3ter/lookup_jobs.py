"""m3ter lookup-table revision data jobs (COPY, UPLOAD, DOWNLOAD, ARCHIVE) and their files.

With `download_lookup_tables`, the tap triggers one DOWNLOAD job per table version and
counts the version as taken only once that job's rows have all landed.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta

from singer_sdk import typing as th

from tap_exportjobs.download import DownloadError, DownloadLink
from tap_exportjobs.jobs import (
    SUCCEEDED,
    TERMINAL,
    JobStream,
    parse_timestamp,
)
from tap_exportjobs.jobs.ledger import FILE_DONE, FILE_OWED
from tap_exportjobs.links import expiry_from_url
from tap_exportjobs.providers.m3ter.api import (
    JOB_STATUSES,
    LINK_REFUSED_STATUSES,
    M3terAPI,
    format_of,
)
from tap_exportjobs.providers.m3ter.entities import LookupTableRevisionsStream
from tap_exportjobs.providers.m3ter.settings import DOWNLOAD_CONTENT_TYPES
from tap_exportjobs.reports import ReportRowsStream
from tap_exportjobs.typed_rows.values import widen

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context


#: A revision's field types -> typed-row column types.
FIELD_TYPES = {"STRING": "string", "NUMBER": "number"}


class LookupTableDataJobsStream(M3terAPI, JobStream):
    """COPY, UPLOAD, DOWNLOAD and ARCHIVE jobs of each revision."""

    name = "m3ter_lookup_table_data_jobs"
    path = "/lookuptables/{lookupTableId}/revisions/{revisionId}/data/jobs"
    parent_stream_type = LookupTableRevisionsStream
    status_map = JOB_STATUSES
    link_expired_statuses = LINK_REFUSED_STATUSES
    #: Undocumented; a data job still PENDING after a week is treated as never finishing.
    job_lifetime = timedelta(days=7)
    _sample_revisions: list[dict] | None = None
    partition_properties = th.PropertiesList(
        th.Property("lookupTableId", th.StringType),
        th.Property("revisionId", th.StringType),
    )
    #: The API's fields that arrive under a normalized name (one column each, no twins).
    normalized_fields: t.ClassVar[dict[str, str]] = {
        "type": "job_type",
        "status": "status_raw",
        "jobDate": "created_at",
        "downloadUrl": "download_url",
        "downloadUrlExpiry": "download_url_expires_at",
        "failureReason": "error",
    }
    provider_properties = th.PropertiesList(
        th.Property("version", th.IntegerType),
        th.Property("fileName", th.StringType),
        th.Property("lookupTableRevisionId", th.StringType),
        th.Property("destinationLookupTableRevisionId", th.StringType),
    )

    def sample_contexts(self) -> list[dict]:
        """The revisions of the wanted tables; each table's latest DOWNLOAD is sampled (see
        `sample_kind`)."""
        return [
            {"lookupTableId": revision["lookupTableId"], "revisionId": revision["id"]}
            for revision in self._revisions_to_sample()
        ]

    def columns_from_api(self) -> dict[str, str]:
        """A revision names its fields and their types (STRING or NUMBER): the files' columns."""
        columns: dict[str, str] = {}
        for revision in self._revisions_to_sample():
            for field in revision.get("fields") or []:
                if isinstance(field, dict) and isinstance(field.get("name"), str):
                    kind = FIELD_TYPES.get(str(field.get("type") or "").upper(), "string")
                    columns[field["name"]] = widen(columns.get(field["name"], kind), kind)
        return columns

    def _revisions_to_sample(self) -> list[dict]:
        """The first page of each wanted table's revisions (enough for a sample), once."""
        if self._sample_revisions is None:
            wanted = self.settings.get("lookup_table_ids")
            revisions = []
            tables = (self.request_json("GET", "/lookuptables", None) or {}).get("data") or []
            for table in tables:
                if wanted and table.get("id") not in wanted:
                    continue
                path = f"/lookuptables/{table['id']}/revisions"
                for revision in (self.request_json("GET", path, None) or {}).get("data") or []:
                    revisions.append({**revision, "lookupTableId": table["id"]})
            self._sample_revisions = revisions
        return self._sample_revisions

    def sample_kind(self, record: dict) -> str:
        return str(record.get("lookupTableId") or "")

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        return {
            **{k: v for k, v in raw.items() if k not in self.normalized_fields},
            **{core: raw.get(field) for field, core in self.normalized_fields.items()},
            "file_format": format_of(raw.get("fileName")),
        }

    def has_file(self, record: dict) -> bool:
        return record["status"] == SUCCEEDED and record.get("job_type") == "DOWNLOAD"

    def _job_path(self, job_id: str, context: Context | None) -> str:
        ctx = context or {}
        return (
            f"/lookuptables/{ctx['lookupTableId']}/revisions/{ctx['revisionId']}/data/jobs/{job_id}"
        )

    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        body = self.request_json("GET", self._job_path(job_id, context), context, missing_ok=True)
        return body if isinstance(body, dict) else None

    def download_link(self, job_id: str, context: Context | None) -> DownloadLink:
        job = self.fetch_job(job_id, context) or {}
        url = job.get("downloadUrl")
        if not url:
            raise DownloadError(f"m3ter lookup table data job {job_id} has no downloadUrl")
        return DownloadLink(
            url=url,
            expires_at=parse_timestamp(job.get("downloadUrlExpiry")) or expiry_from_url(url),
            file_format=format_of(job.get("fileName")) or self._requested_format(job_id, context),
        )

    def _requested_format(self, job_id: str, context: Context | None) -> str | None:
        """The contentType the tap asked for, if it triggered this DOWNLOAD job."""
        downloads = self.get_context_state(None).get("downloads", {})
        if (downloads.get((context or {}).get("lookupTableId")) or {}).get("job_id") != job_id:
            return None
        return DOWNLOAD_CONTENT_TYPES[self.settings.get("download_format", "csv")]

    # -- DOWNLOAD jobs the tap triggers (download_lookup_tables) ----------------------

    def get_records(self, context: Context | None) -> Iterator[dict]:
        if self.settings.get("download_lookup_tables") and context:
            self._ensure_download_job(context)
        yield from super().get_records(context)

    def after_jobs_emitted(self) -> None:
        if self.settings.get("download_lookup_tables"):
            self._note_downloads_delivered()

    def _ensure_download_job(self, context: Context) -> None:
        """One DOWNLOAD job per table revision version whose rows all land.

        The version counts as downloaded only once its job's file is done. A job still
        running (or whose rows are still owed) is resumed, never triggered again; one that
        failed, expired or vanished makes this run trigger one new job for the table (so at
        most one per table per run, each with its reason in the log). Recorded in state
        before anything waits on it, so a run that stops resumes the job.
        """
        table = context["lookupTableId"]
        revision = (
            self.request_json(
                "GET",
                f"/lookuptables/{table}/revisions/{context['revisionId']}",
                context,
                missing_ok=True,
            )
            or {}
        )
        if revision.get("status") != "PUBLISHED":
            return  # only the table's current revision is downloaded
        downloads = self.get_context_state(None).setdefault("downloads", {})
        version = f"{context['revisionId']}@{revision.get('version', '')}"
        taken = downloads.get(table) or {}
        if taken.get("version") != version:
            taken = {}
        if taken.get("done"):
            return  # taken since it last changed
        if taken.get("job_id"):
            reason = self._download_lost(taken["job_id"], context)
            if reason is None:
                return  # running, or its rows are owed: the ledger resumes it
            self.logger.warning(
                "m3ter: DOWNLOAD job %s of lookup table %s %s; triggering a new one",
                taken["job_id"],
                table,
                reason,
            )
        pending = [
            job
            for job in self.request_records(context)
            if job.get("type") == "DOWNLOAD" and job.get("status") == "PENDING"
        ]
        if pending:
            job_id = pending[0]["id"]
        elif self.slots_free() <= 0:
            self.logger.info(
                "m3ter: the DOWNLOAD of lookup table %s waits for one of the %d jobs in flight "
                "(max_jobs_in_flight) to finish",
                table,
                self.max_jobs_in_flight(),
            )
            self.wait_for_slot(context, lambda: self._download_in_slot(context, version, taken))
            return
        else:
            job_id = self._trigger_recorded(context, version, taken)
            if job_id is None:
                return
        downloads[table] = {"version": version, "job_id": job_id}
        self.checkpoint()

    def _download_in_slot(self, context: Context, version: str, taken: dict) -> dict | None:
        """Trigger a table's DOWNLOAD once a slot is free; the job as the API shows it."""
        job_id = self._trigger_recorded(context, version, taken)
        return self.fetch_job(job_id, context) if job_id else None

    def _trigger_recorded(self, context: Context, version: str, taken: dict) -> str | None:
        """Trigger (or adopt) the table's DOWNLOAD job, recorded in state before anything
        waits on it; None when whether the trigger made a job is uncertain."""
        table = context["lookupTableId"]
        downloads = self.get_context_state(None).setdefault("downloads", {})
        what = f"m3ter: DOWNLOAD of lookup table {table} revision {context['revisionId']}"
        # Remembered beside state too (see jobs/journal.py): a run whose predecessor's
        # state was lost adopts that DOWNLOAD rather than trigger another.
        journal, key = (
            self.creates_journal("downloads"),
            f"{table}|{context['revisionId']}|{version}",
        )
        earlier = None if taken.get("uncertain") else journal.recall(key)
        if earlier and self.adopt_from_journal(earlier, what, context) is not None:
            downloads[table] = {"version": version, "job_id": earlier["id"]}
            self.checkpoint()
            return earlier["id"]
        result = self.create_once(
            what,
            lambda: self._trigger_download(context)["jobId"],
            lambda since, until: self._downloads_created(context, since, until),
            {i: e.get("created_at") for i, e in self.ledger(None).jobs.items()},
            taken.get("uncertain"),
        )
        if result.uncertain is not None:
            downloads[table] = {"version": version, "uncertain": result.uncertain}
            self.checkpoint()
            return None
        job_id = result.found["id"] if result.found else result.answer
        journal.remember(key, job_id, None)
        self.logger.info(
            "m3ter: %s DOWNLOAD job %s for lookup table %s revision %s",
            "adopted" if result.found else "triggered",
            job_id,
            table,
            context["revisionId"],
        )
        downloads[table] = {"version": version, "job_id": job_id}
        self.checkpoint()
        return job_id

    def _trigger_download(self, context: Context) -> dict:
        content_type = DOWNLOAD_CONTENT_TYPES[self.settings.get("download_format", "csv")]
        return self.request_create(
            f"/lookuptables/{context['lookupTableId']}/revisions/{context['revisionId']}"
            "/data/jobs/download",
            json={"contentType": content_type},
        )

    def _downloads_created(self, context: Context, since: datetime, until: datetime) -> list:
        """The revision's DOWNLOAD jobs dated within the span (jobs carry no request echo)."""
        return [
            job
            for job in self.request_records(context)
            if job.get("type") == "DOWNLOAD"
            and (created := parse_timestamp(job.get("jobDate")))
            and since <= created <= until
        ]

    def _download_lost(self, job_id: str, context: Context) -> str | None:
        """Why a triggered DOWNLOAD job will never deliver its rows, or None while it may."""
        entry = self.ledger(None).get(job_id) or {}
        if entry.get("status") not in TERMINAL:
            # Still running, not emitted yet (the run that triggered it stopped first), or
            # settled and dropped behind the bookmark: the API says which.
            raw = self.fetch_job(job_id, context)
            if raw is None:
                return "is gone from the API"
            entry = {**entry, "status": self.to_record(raw, context)["status"]}
        status = entry["status"]
        if status == SUCCEEDED:
            if entry.get("file") in (None, FILE_OWED, FILE_DONE):
                return None
            return f"succeeded but its file could not be read ({entry.get('file_error')})"
        if status in TERMINAL:
            return f"ended {status}"
        return None

    def _note_downloads_delivered(self) -> None:
        """Mark a table's version downloaded once its job's rows have all been emitted."""
        ledger = self.ledger(None)
        for taken in self.get_context_state(None).get("downloads", {}).values():
            if taken.get("done") or not taken.get("job_id"):
                continue
            entry = ledger.get(taken["job_id"]) or {}
            # A succeeded job whose file nobody selected has nothing more to deliver.
            if entry.get("file") == FILE_DONE or (
                entry.get("status") == SUCCEEDED and "file" not in entry
            ):
                taken["done"] = True
                self.checkpoint()


class LookupTableDataRowsStream(ReportRowsStream):
    name = "m3ter_lookup_table_data_rows"
    parent_stream_type = LookupTableDataJobsStream
