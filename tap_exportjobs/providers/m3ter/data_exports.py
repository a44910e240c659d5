"""m3ter data export jobs (usage and operational), the ad-hoc exports the tap triggers,
and their files through `getdownloadurl`.
"""

from __future__ import annotations

import typing as t
from datetime import datetime, timedelta
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.download import DownloadError, DownloadLink
from tap_exportjobs.jobs import (
    SUCCEEDED,
    ExportSpec,
    ExportWindow,
    JobStream,
    day_start,
    fingerprint,
    parse_timestamp,
    utc_now,
    zone,
)
from tap_exportjobs.jobs.files import FileGoneError
from tap_exportjobs.jobs.windows import latest_window
from tap_exportjobs.providers.m3ter.api import (
    JOB_STATUSES,
    LINK_REFUSED_STATUSES,
    M3terAPI,
    m3ter_time,
)
from tap_exportjobs.providers.m3ter.settings import (
    EXPORT_DOWNLOAD_WINDOW,
    EXPORT_FILE_FORMATS,
    PAGE_SIZE,
    REFUSED_FOR_GOOD,
    USAGE_FILTERS,
    WINDOW_KEYS,
)
from tap_exportjobs.reports import ReportRowsStream

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


class DataExportJobsStream(M3terAPI, JobStream):
    """Export jobs (usage and operational), listed from the bookmark on."""

    name = "m3ter_data_export_jobs"
    path = "/dataexports/jobs"
    status_map = JOB_STATUSES
    link_expired_statuses = LINK_REFUSED_STATUSES
    #: An export still unfinished after the day its file would be kept is not coming back.
    job_lifetime = EXPORT_DOWNLOAD_WINDOW
    #: The API's fields that arrive under a normalized name (one column each, no twins).
    normalized_fields: t.ClassVar[dict[str, str]] = {
        "sourceType": "job_type",
        "status": "status_raw",
        "dateCreated": "created_at",
        "startedAt": "updated_at",
    }
    provider_properties = th.PropertiesList(
        th.Property("version", th.IntegerType),
        th.Property("scheduleId", th.StringType),
    )

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        params = super().get_url_params(context, next_page_token)
        params["dateCreatedStart"] = m3ter_time(self.listing_since)
        return params

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        return {
            **{k: v for k, v in raw.items() if k not in self.normalized_fields},
            **{core: raw.get(field) for field, core in self.normalized_fields.items()},
            # Export jobs carry no failure field (api-notes §4.4): say so rather than nothing.
            "error": (
                "m3ter reports this export FAILED and gives no reason (its export jobs carry "
                "no failure field); see the export's schedule or m3ter's Console"
                if str(raw.get("status") or "").upper() == "FAILED"
                else None
            ),
        }

    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        body = self.request_json("GET", f"/dataexports/jobs/{job_id}", context, missing_ok=True)
        return body if isinstance(body, dict) else None

    # -- ad-hoc exports the tap triggers (data_exports) -------------------------------

    def export_specs(self, context: Context | None) -> list[ExportSpec]:
        specs = []
        for export in self.settings.get("data_exports") or []:
            days = int(export.get("window_days") or 1)
            usage = export["source_type"] == "USAGE"
            timezone = export.get("timezone") or "UTC"
            lag_hours = float(export.get("lag_hours") or 0)
            tz = zone(timezone)
            specs.append(
                ExportSpec(
                    key=export["name"],
                    window_days=days,
                    fingerprint=fingerprint(
                        sorted(
                            ((k, v) for k, v in export.items() if k not in WINDOW_KEYS),
                            key=lambda kv: kv[0],
                        )
                    ),
                    # Usage is a time range: every window from start_date. Operational data is
                    # a snapshot of now: only the latest window.
                    first_start=(
                        day_start(self.start_date(), tz)
                        if usage
                        else latest_window(utc_now(), days, tz, timedelta(hours=lag_hours)).start
                    ),
                    catch_up=usage,
                    timezone=timezone,
                    lag_hours=lag_hours,
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
            body.update(startDate=m3ter_time(window.start), endDate=m3ter_time(window.end))
            for key, api_key in USAGE_FILTERS.items():
                body[api_key] = export.get(key) or []
        else:
            body["operationalDataTypes"] = export["operational_data_types"]
        # A 429 here means "no more jobs now": the export pipeline lowers its budget.
        job_id = self.request_create("/dataexports/adhoc", json=body, retry_rate_limits=False)[
            "jobId"
        ]
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
            "dateCreatedStart": m3ter_time(since),
            "dateCreatedEnd": m3ter_time(until + timedelta(seconds=1)),
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
            windows = (exports.get(export["name"]) or {}).get("in_flight") or []
            if any(window.get("id") == job_id for window in windows):
                return EXPORT_FILE_FORMATS[export.get("export_file_format", "CSV")]
        return None

    def _completed_ago(self, job_id: str) -> str:
        """When the job completed, as far as anyone here knows (the notes count the file's
        24 hours from completion, which the API does not report)."""
        seen = (self.ledger(None).get(job_id) or {}).get("finished_at")
        if seen:
            return f"this tap first saw it finished at {seen}"
        started = (self._in_hand.get(job_id) or {}).get("updated_at")
        return f"it started at {started}" if started else "its completion time is not known"


class DataExportRowsStream(ReportRowsStream):
    name = "m3ter_data_export_rows"
    parent_stream_type = DataExportJobsStream
