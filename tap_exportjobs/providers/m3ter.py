"""m3ter: lookup-table revision data jobs, data export destinations and data export jobs.

See shared/api-notes/m3ter.md. Every list pages with `pageSize`/`nextToken`; tokens come
from a Basic-authenticated client-credentials call and an expired one may answer 403 as
well as 401; download links are presigned and expire (`downloadUrlExpiry` on lookup-table
jobs, 15 minutes from `getdownloadurl` for data exports, which only works for a day).
"""

from __future__ import annotations

import base64
import typing as t
from datetime import datetime, timedelta
from functools import cached_property

from singer_sdk import RESTStream
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import JSONPathPaginator

from tap_exportjobs.download import DownloadError, DownloadLink, expiry_from_url
from tap_exportjobs.entities import ModifiedEntities
from tap_exportjobs.http import ClientCredentialsAuthenticator, RetryPolicyMixin
from tap_exportjobs.jobs import (
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    TERMINAL,
    ExportSpec,
    ExportWindow,
    FinishesJobRuns,
    JobStream,
    fingerprint,
    parse_timestamp,
    utc_now,
)
from tap_exportjobs.jobs.files import FileGoneError
from tap_exportjobs.jobs.ledger import FILE_DONE, FILE_OWED
from tap_exportjobs.jobs.record import free_form_object
from tap_exportjobs.reports import ReportRowsStream

if t.TYPE_CHECKING:
    from collections.abc import Iterable, Iterator

    from singer_sdk.helpers.types import Context

NAME = "m3ter"
DEFAULT_API_URL = "https://api.m3ter.com"
PAGE_SIZE = 100
#: getdownloadurl only answers for exports that ran in the last 24 hours.
EXPORT_DOWNLOAD_WINDOW = timedelta(hours=24)
#: getdownloadurl's answers for a job whose file m3ter no longer has (or never had).
REFUSED_FOR_GOOD = ("HTTP 400", "HTTP 404", "HTTP 410")
DOWNLOAD_CONTENT_TYPES = {"csv": "text/csv", "jsonl": "application/jsonl"}
EXPORT_FILE_FORMATS = {"CSV": "csv", "JSONL": "ndjson"}
SOURCE_TYPES = ["USAGE", "OPERATIONAL"]
#: data_exports keys -> the ad-hoc request's own names
USAGE_FILTERS = {
    "meter_ids": "meterIds",
    "account_ids": "accountIds",
    "aggregations": "aggregations",
    "dimension_filters": "dimensionFilters",
    "groups": "groups",
}

SETTINGS = th.Property(
    NAME,
    th.ObjectType(
        th.Property("org_id", th.StringType, required=True, description="Organization id"),
        th.Property(
            "client_id", th.StringType, required=True, description="Service user Access Key id"
        ),
        th.Property(
            "client_secret",
            th.StringType,
            required=True,
            secret=True,
            description="Service user API secret",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            description="Config API base URL; token at {api_url}/oauth/token",
        ),
        th.Property(
            "lookup_table_ids",
            th.ArrayType(th.StringType),
            description="Only these lookup tables (default: all)",
        ),
        th.Property(
            "download_lookup_tables",
            th.BooleanType,
            default=False,
            description="Trigger a DOWNLOAD job for each selected table's current "
            "revision when none was taken since the last run, so table "
            "contents arrive as rows",
        ),
        th.Property(
            "download_format",
            th.StringType(allowed_values=["csv", "jsonl"]),
            default="csv",
            description="File format of the DOWNLOAD jobs the tap triggers",
        ),
        th.Property(
            "data_exports",
            th.ArrayType(
                th.ObjectType(
                    th.Property(
                        "name",
                        th.StringType,
                        required=True,
                        description="Stable name of this export (its state key)",
                    ),
                    th.Property(
                        "source_type",
                        th.StringType(allowed_values=SOURCE_TYPES),
                        required=True,
                        description="USAGE (window by window) or OPERATIONAL (a "
                        "snapshot per window)",
                    ),
                    th.Property(
                        "window_days",
                        th.IntegerType,
                        default=1,
                        description="Days per USAGE window, or between OPERATIONAL snapshots",
                    ),
                    th.Property(
                        "operational_data_types",
                        th.ArrayType(th.StringType),
                        description="OPERATIONAL: e.g. BILLS, ACCOUNTS, PLANS",
                    ),
                    th.Property(
                        "export_file_format",
                        th.StringType(allowed_values=["CSV", "JSONL"]),
                        default="CSV",
                    ),
                    th.Property("meter_ids", th.ArrayType(th.StringType)),
                    th.Property("account_ids", th.ArrayType(th.StringType)),
                    th.Property(
                        "aggregations", th.ArrayType(th.ObjectType(additional_properties=True))
                    ),
                    th.Property(
                        "dimension_filters", th.ArrayType(th.ObjectType(additional_properties=True))
                    ),
                    th.Property("groups", th.ArrayType(th.ObjectType(additional_properties=True))),
                )
            ),
            description="Ad-hoc exports the tap triggers through /dataexports/adhoc",
        ),
    ),
    description="m3ter. Present = enabled.",
)


def validate(block: dict) -> list[str]:
    problems = []
    ids = block.get("lookup_table_ids")
    if ids is not None and not all(isinstance(i, str) and i for i in ids):
        problems.append("m3ter.lookup_table_ids must be a list of lookup table ids")
    names = [export.get("name") for export in block.get("data_exports") or []]
    if len(names) != len(set(names)):
        problems.append("m3ter.data_exports: each export needs its own name")
    for export in block.get("data_exports") or []:
        where = f"m3ter.data_exports[{export.get('name')}]"
        if (export.get("window_days") or 1) < 1:
            problems.append(f"{where}.window_days must be at least 1")
        if export.get("source_type") == "OPERATIONAL" and not export.get("operational_data_types"):
            problems.append(f"{where}.operational_data_types is required for OPERATIONAL")
    return problems


class M3terAuthenticator(ClientCredentialsAuthenticator):
    """Client credentials in a Basic header, grant_type in the form body (5-hour tokens)."""

    def token_request_kwargs(self) -> dict[str, t.Any]:
        pair = f"{self.client_id}:{self.client_secret}".encode()
        return {
            "data": {"grant_type": "client_credentials"},
            "headers": {"Authorization": f"Basic {base64.b64encode(pair).decode()}"},
        }


class M3terAPI:
    """What every m3ter stream shares: base URL, token, cursor paging, 401/403 refresh."""

    #: An expired token is documented under 403 as well as 401: refresh once, retry once.
    auth_failure_statuses: t.ClassVar[tuple[int, ...]] = (401, 403)
    records_jsonpath = "$.data[*]"
    provider = NAME

    @property
    def settings(self) -> dict:
        return self.config[NAME]  # type: ignore[attr-defined]

    @property
    def url_base(self) -> str:
        api = (self.settings.get("api_url") or DEFAULT_API_URL).rstrip("/")
        return f"{api}/organizations/{self.settings['org_id']}"

    @property
    def authenticator(self) -> M3terAuthenticator:
        api = (self.settings.get("api_url") or DEFAULT_API_URL).rstrip("/")
        return self._tap.client_credentials(  # type: ignore[attr-defined]
            NAME, M3terAuthenticator, f"{api}/oauth/token"
        )

    def get_new_paginator(self) -> JSONPathPaginator:
        return JSONPathPaginator("$.nextToken")

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        return {"pageSize": PAGE_SIZE, "nextToken": next_page_token or None}


AUDIT_PROPERTIES = (
    th.Property("version", th.IntegerType),
    th.Property("dtCreated", th.DateTimeType),
    th.Property("dtLastModified", th.DateTimeType),
    th.Property("createdBy", th.StringType),
    th.Property("lastModifiedBy", th.StringType),
)


class ExportDestinationsStream(ModifiedEntities, M3terAPI, RetryPolicyMixin, RESTStream):
    """S3 and GCS destinations: all on the first sync, then those changed (dtLastModified)."""

    name = "m3ter_export_destinations"
    path = "/dataexports/destinations"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("code", th.StringType),
        th.Property("destinationType", th.StringType),
        th.Property("bucketName", th.StringType),
        th.Property("prefix", th.StringType),
        th.Property("partitionOrder", th.StringType),
        th.Property("iamRoleArn", th.StringType),
        th.Property("projectNumber", th.StringType),
        th.Property("poolId", th.StringType),
        th.Property("providerId", th.StringType),
        th.Property("serviceAccountEmail", th.StringType),
        *AUDIT_PROPERTIES,
    ).to_dict()


class LookupTablesStream(FinishesJobRuns, ModifiedEntities, M3terAPI, RetryPolicyMixin, RESTStream):
    """Tables emitted when they or their active revision changed; every one is walked."""

    name = "m3ter_lookup_tables"
    path = "/lookuptables"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("code", th.StringType),
        th.Property("customFields", free_form_object()),
        th.Property("activeRevision", free_form_object()),
        *AUDIT_PROPERTIES,
    ).to_dict()

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap)
        self.state_partitioning_keys = []

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        # activeRevision is a non-default field: sent only when asked for (notes 4.1).
        return {**super().get_url_params(context, next_page_token), "additional": "activeRevision"}

    def request_records(self, context: Context | None) -> Iterator[dict]:
        wanted = self.settings.get("lookup_table_ids")
        for record in super().request_records(context):
            if not wanted or record["id"] in wanted:
                yield record

    def last_modified(self, record: dict) -> datetime | None:
        # Publishing a revision changes the table's activeRevision, not its dtLastModified.
        stamps = [
            parse_timestamp(record.get("dtLastModified")),
            parse_timestamp((record.get("activeRevision") or {}).get("dtLastModified")),
        ]
        return max((stamp for stamp in stamps if stamp), default=None)

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"lookupTableId": record["id"]}


class LookupTableRevisionsStream(ModifiedEntities, M3terAPI, RetryPolicyMixin, RESTStream):
    """Revisions emitted when changed; every one is walked for its data jobs."""

    name = "m3ter_lookup_table_revisions"
    path = "/lookuptables/{lookupTableId}/revisions"
    parent_stream_type = LookupTablesStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("lookupTableId", th.StringType),
        th.Property("name", th.StringType),
        th.Property("status", th.StringType),
        th.Property("startDate", th.DateTimeType),
        th.Property(
            "fields",
            th.ArrayType(
                th.ObjectType(
                    th.Property("name", th.StringType), th.Property("type", th.StringType)
                )
            ),
        ),
        th.Property("keys", th.ArrayType(th.StringType)),
        th.Property("itemCount", th.IntegerType),
        th.Property("customFields", free_form_object()),
        *AUDIT_PROPERTIES,
    ).to_dict()

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap)
        self.state_partitioning_keys = []  # revisions are walked in full; state stays small

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        # A revision does not name its table; the listing's path does.
        return {
            **row,
            "lookupTableId": row.get("lookupTableId") or (context or {}).get("lookupTableId"),
        }

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"lookupTableId": context["lookupTableId"], "revisionId": record["id"]}


class LookupTableDataJobsStream(M3terAPI, JobStream):
    """COPY, UPLOAD, DOWNLOAD and ARCHIVE jobs of each revision."""

    name = "m3ter_lookup_table_data_jobs"
    path = "/lookuptables/{lookupTableId}/revisions/{revisionId}/data/jobs"
    parent_stream_type = LookupTableRevisionsStream
    status_map: t.ClassVar[dict[str, str]] = {
        "pending": PENDING,
        "running": RUNNING,
        "succeeded": SUCCEEDED,
        "failed": FAILED,
    }
    #: Statuses S3 answers for a presigned link that expired or was refused.
    link_expired_statuses: t.ClassVar[tuple[int, ...]] = (400, 403, 410)
    #: Undocumented; a data job still PENDING after a week is treated as never finishing.
    job_lifetime = timedelta(days=7)
    partition_properties = th.PropertiesList(
        th.Property("lookupTableId", th.StringType),
        th.Property("revisionId", th.StringType),
    )
    provider_properties = th.PropertiesList(
        th.Property("version", th.IntegerType),
        th.Property("fileName", th.StringType),
        th.Property("lookupTableRevisionId", th.StringType),
        th.Property("destinationLookupTableRevisionId", th.StringType),
        th.Property("jobDate", th.StringType),
        th.Property("type", th.StringType),
        th.Property("failureReason", th.StringType),
        th.Property("downloadUrl", th.StringType),
        th.Property("downloadUrlExpiry", th.StringType),
    )

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        return {
            **raw,
            "job_type": raw.get("type"),
            "status_raw": raw.get("status"),
            "created_at": raw.get("jobDate"),
            "file_format": _format_of(raw.get("fileName")),
            "download_url": raw.get("downloadUrl"),
            "download_url_expires_at": raw.get("downloadUrlExpiry"),
            "downloadUrl": self.redact(raw.get("downloadUrl")),
            "error": raw.get("failureReason"),
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
            file_format=_format_of(job.get("fileName")) or self._requested_format(job_id, context),
        )

    def _requested_format(self, job_id: str, context: Context | None) -> str | None:
        """The contentType the tap asked for, if it triggered this DOWNLOAD job."""
        downloads = self.get_context_state(None).get("downloads", {})
        if (downloads.get((context or {}).get("lookupTableId")) or {}).get("job_id") != job_id:
            return None
        return DOWNLOAD_CONTENT_TYPES[self.settings.get("download_format", "csv")]

    # -- DOWNLOAD jobs the tap triggers (download_lookup_tables) ----------------------

    def get_records(self, context: Context | None) -> Iterator[dict]:
        triggers = bool(self.settings.get("download_lookup_tables") and context)
        if triggers:
            self._ensure_download_job(context)  # type: ignore[arg-type]
        yield from super().get_records(context)
        if triggers:
            # Here every job of the revision is emitted, with its rows.
            self._note_download_delivered(context)  # type: ignore[arg-type]

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
        else:
            result = self.create_once(
                f"m3ter: DOWNLOAD of lookup table {table} revision {context['revisionId']}",
                lambda: self._trigger_download(context)["jobId"],
                lambda since, until: self._downloads_created(context, since, until),
                {i: e.get("created_at") for i, e in self.ledger(None).jobs.items()},
                taken.get("uncertain"),
            )
            if result.uncertain is not None:
                downloads[table] = {"version": version, "uncertain": result.uncertain}
                self.checkpoint()
                return
            job_id = result.found["id"] if result.found else result.answer
            self.logger.info(
                "m3ter: %s DOWNLOAD job %s for lookup table %s revision %s",
                "adopted" if result.found else "triggered",
                job_id,
                table,
                context["revisionId"],
            )
        downloads[table] = {"version": version, "job_id": job_id}
        self.checkpoint()

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

    def _note_download_delivered(self, context: Context) -> None:
        """Mark the table's version downloaded once its job's rows have all been emitted."""
        taken = self.get_context_state(None).get("downloads", {}).get(context["lookupTableId"])
        if not taken or taken.get("done") or not taken.get("job_id"):
            return
        entry = self.ledger(None).get(taken["job_id"]) or {}
        # A succeeded job whose file nobody selected has nothing more to deliver.
        if entry.get("file") == FILE_DONE or (
            entry.get("status") == SUCCEEDED and "file" not in entry
        ):
            taken["done"] = True
            self.checkpoint()


class LookupTableDataRowsStream(ReportRowsStream):
    name = "m3ter_lookup_table_data_rows"
    parent_stream_type = LookupTableDataJobsStream


class DataExportJobsStream(M3terAPI, JobStream):
    """Export jobs (usage and operational), listed from the bookmark on."""

    name = "m3ter_data_export_jobs"
    path = "/dataexports/jobs"
    status_map: t.ClassVar[dict[str, str]] = {
        "pending": PENDING,
        "running": RUNNING,
        "succeeded": SUCCEEDED,
        "failed": FAILED,
    }
    link_expired_statuses: t.ClassVar[tuple[int, ...]] = (400, 403, 410)
    #: An export still unfinished after the day its file would be kept is not coming back.
    job_lifetime = EXPORT_DOWNLOAD_WINDOW
    provider_properties = th.PropertiesList(
        th.Property("version", th.IntegerType),
        th.Property("scheduleId", th.StringType),
        th.Property("sourceType", th.StringType),
        th.Property("dateCreated", th.DateTimeType),
        th.Property("startedAt", th.DateTimeType),
    )

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        params = super().get_url_params(context, next_page_token)
        params["dateCreatedStart"] = _m3ter_time(self._begin_run().since)
        return params

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        return {
            **raw,
            "job_type": raw.get("sourceType"),
            "status_raw": raw.get("status"),
            "created_at": raw.get("dateCreated"),
            "updated_at": raw.get("startedAt"),
        }

    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        body = self.request_json("GET", f"/dataexports/jobs/{job_id}", context, missing_ok=True)
        return body if isinstance(body, dict) else None

    # -- ad-hoc exports the tap triggers (data_exports) -------------------------------

    def export_specs(self, context: Context | None) -> list[ExportSpec]:
        today = utc_now().replace(hour=0, minute=0, second=0, microsecond=0)
        specs = []
        for export in self.settings.get("data_exports") or []:
            days = int(export.get("window_days") or 1)
            usage = export["source_type"] == "USAGE"
            specs.append(
                ExportSpec(
                    key=export["name"],
                    window_days=days,
                    fingerprint=fingerprint(sorted(export.items(), key=lambda kv: kv[0])),
                    # Usage is a time range: every window from start_date. Operational data is
                    # a snapshot of now: only the latest window.
                    first_start=(
                        self.start_date().replace(hour=0, minute=0, second=0, microsecond=0)
                        if usage
                        else today - timedelta(days=days)
                    ),
                    catch_up=usage,
                )
            )
        return specs

    def create_export_job(
        self, spec: ExportSpec, window: ExportWindow, context: Context | None
    ) -> dict:
        export = next(e for e in self.settings["data_exports"] if e["name"] == spec.key)
        body: dict[str, t.Any] = {
            "sourceType": export["source_type"],
            "exportFileFormat": export.get("export_file_format", "CSV"),
        }
        if export["source_type"] == "USAGE":
            body.update(startDate=_m3ter_time(window.start), endDate=_m3ter_time(window.end))
            for key, api_key in USAGE_FILTERS.items():
                body[api_key] = export.get(key) or []
        else:
            body["operationalDataTypes"] = export["operational_data_types"]
        job_id = self.request_create("/dataexports/adhoc", json=body)["jobId"]
        job = self.fetch_job(job_id, context)
        if job is None:
            raise FatalAPIError(
                f"m3ter: ad-hoc export job {job_id} was created but cannot be read back"
            )
        return job

    def find_created_jobs(
        self,
        spec: ExportSpec,
        window: ExportWindow,
        context: Context | None,
        since: datetime,
        until: datetime,
    ) -> list[dict]:
        """Jobs of the export's sourceType created in the span: a job echoes nothing else of
        the request. Where some carry no scheduleId, those are the ad-hoc ones; whether an
        ad-hoc job always lacks one is not documented, so otherwise all of them count."""
        source_type = next(
            e["source_type"] for e in self.settings["data_exports"] if e["name"] == spec.key
        )
        params = {
            "pageSize": PAGE_SIZE,
            "dateCreatedStart": _m3ter_time(since),
            "dateCreatedEnd": _m3ter_time(until + timedelta(seconds=1)),
        }
        found, token = [], None
        while True:
            body = self.request_json(
                "GET", self.path, context, params={**params, "nextToken": token}
            )
            for job in (body or {}).get("data") or []:
                created = parse_timestamp(job.get("dateCreated"))
                if job.get("sourceType") == source_type and created and since <= created <= until:
                    found.append(job)
            token = (body or {}).get("nextToken")
            if not token:
                break
        return [job for job in found if not job.get("scheduleId")] or found

    def has_file(self, record: dict) -> bool:
        """Exports of a schedule with destinations went to the user's bucket: m3ter serves
        no file for them (getdownloadurl is for exports without destinations)."""
        return record["status"] == SUCCEEDED and not self._schedule_destinations(
            record.get("scheduleId")
        )

    def _schedule_destinations(self, schedule_id: str | None) -> list[str]:
        if not schedule_id:
            return []
        if schedule_id not in self._destinations_by_schedule:
            body = self.request_json(
                "GET", "/dataexports/schedules", None, params={"ids": schedule_id}
            )
            found = next(
                (s for s in (body or {}).get("data") or [] if s.get("id") == schedule_id), {}
            )
            self._destinations_by_schedule[schedule_id] = list(found.get("destinationIds") or [])
        return self._destinations_by_schedule[schedule_id]

    @cached_property
    def _destinations_by_schedule(self) -> dict[str, list[str]]:
        return {}

    def download_link(self, job_id: str, context: Context | None) -> DownloadLink:
        try:
            body = (
                self.request_json("GET", f"/dataexports/jobs/{job_id}/getdownloadurl", context)
                or {}
            )
        except FatalAPIError as error:
            if str(error).startswith(REFUSED_FOR_GOOD):
                # The documented refusal: the file is deleted 24 hours after the job
                # completes (or, for an ad-hoc export, it went to its destinations).
                raise FileGoneError(
                    f"m3ter no longer serves the file of data export job {job_id} ({error}); "
                    f"{self._completed_ago(job_id)}"
                ) from None
            raise DownloadError(f"m3ter data export job {job_id}: {error}") from None
        return DownloadLink(
            url=body["url"],
            expires_at=parse_timestamp(body.get("expirationTime")),
            file_format=self._requested_format(job_id, context),
        )

    def _requested_format(self, job_id: str, context: Context | None) -> str | None:
        """The exportFileFormat the tap asked for, if it created this job (jobs listed from
        the API do not say theirs)."""
        exports = self.get_context_state(context).get("exports", {})
        for export in self.settings.get("data_exports") or []:
            if ((exports.get(export["name"]) or {}).get("job") or {}).get("id") == job_id:
                return EXPORT_FILE_FORMATS[export.get("export_file_format", "CSV")]
        return None

    def _completed_ago(self, job_id: str) -> str:
        """When the job completed, as far as anyone here knows (the notes count the file's
        24 hours from completion, which the API does not report)."""
        seen = (self.ledger(None).get(job_id) or {}).get("finished_at")
        if seen:
            return f"this tap first saw it finished at {seen}"
        started = (self._in_hand.get(job_id) or {}).get("startedAt")
        return f"it started at {started}" if started else "its completion time is not known"


class DataExportRowsStream(ReportRowsStream):
    name = "m3ter_data_export_rows"
    parent_stream_type = DataExportJobsStream


def _m3ter_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def _format_of(file_name: str | None) -> str | None:
    name = (file_name or "").lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "ndjson"
    return None


STREAMS: Iterable[type] = (
    ExportDestinationsStream,
    LookupTablesStream,
    LookupTableRevisionsStream,
    LookupTableDataJobsStream,
    LookupTableDataRowsStream,
    DataExportJobsStream,
    DataExportRowsStream,
)
