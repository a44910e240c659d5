"""Uniware export jobs: created per window and facility, followed by jobCode, read as CSV.

See shared/api-notes/uniware.md. Nothing lists export jobs and a create is not idempotent:
the tap keeps what it knows of each job (`job_facts` in state: when it was created or first
seen, its facility, export and window) and `find_created_jobs` stays None, so an ambiguous
create failure is recorded as uncertain and never repeated by the tap (see
`jobs/creating.py`). Every export and facility is one export spec of one sync, so they
share `max_jobs_in_flight`; each request carries its own job's facility in the Facility
header.
"""

from __future__ import annotations

import typing as t
from datetime import timedelta
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlsplit

import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError

from tap_exportjobs.auth import url_origin
from tap_exportjobs.download import Downloader, DownloadError, DownloadLink
from tap_exportjobs.jobs import (
    CANCELED,
    EMPTY,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    ExportSpec,
    ExportWindow,
    JobStream,
    fingerprint,
    iso,
    utc_now,
)
from tap_exportjobs.jobs.facts import RemembersJobs
from tap_exportjobs.providers.uniware.api import (
    RefusesHtmlPages,
    failed,
    failure_reason,
    instant,
    json_body,
    message,
)
from tap_exportjobs.providers.uniware.auth import UniwareAuthenticator
from tap_exportjobs.providers.uniware.settings import (
    CLIENT_ID,
    DEFAULT_API_URL,
    DEFAULT_JOBS_IN_FLIGHT,
    NAME,
)
from tap_exportjobs.reports import ReportRowsStream

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context


API = "/services/rest/v1"
#: Status strings that mean done (the docs say both COMPLETE and SUCCESSFUL; clients also
#: tolerate the others), and those seen while a job runs.
DONE = frozenset({"complete", "completed", "successful", "success"})
RUNNING_STATUSES = frozenset(
    {"queued", "scheduled", "pending", "created", "running", "in_progress", "processing"}
)


class UniwareExportJobsStream(RemembersJobs, JobStream):
    name = "uniware_export_jobs"
    provider = NAME
    #: Which account the state describes (with the API's address; see `accounts`).
    account_settings: t.ClassVar[tuple[str, ...]] = ("tenant",)
    path = f"{API}/export/job/status"
    # How long Uniware keeps jobs is not documented: a job unfinished after a week is
    # taken for lost, so it cannot hold the bookmark forever.
    job_lifetime = timedelta(days=7)
    provider_properties = th.PropertiesList(
        th.Property("facility", th.StringType, description="The facility the job ran for"),
        th.Property("export_name", th.StringType, description="The configured export"),
        th.Property("window_start", th.DateTimeType, description="The window's first instant"),
        th.Property("window_end", th.DateTimeType, description="The window's end (exclusive)"),
    )

    @property
    def settings(self) -> dict:
        return self.config[NAME]

    @property
    def url_base(self) -> str:
        url = self.settings.get("api_url") or DEFAULT_API_URL.format(tenant=self.settings["tenant"])
        return url.rstrip("/")

    @cached_property
    def authenticator(self) -> UniwareAuthenticator:
        return UniwareAuthenticator(
            token_url=f"{self.url_base}/oauth/token",
            client_id=self.settings.get("client_id") or CLIENT_ID,
            username=self.settings["username"],
            password=self.settings["password"],
            api_url=self.url_base,
        )

    @cached_property
    def downloader(self) -> Downloader:
        return RefusesHtmlPages(
            allow_http=bool(self.config.get("allow_http_downloads", False)),
            max_bytes=self.config.get("max_file_bytes"),
            expired_statuses=self.link_expired_statuses,
        )

    def max_jobs_in_flight(self) -> int:
        return int(self.settings.get("max_jobs_in_flight") or DEFAULT_JOBS_IN_FLIGHT)

    # -- the API's envelope ---------------------------------------------------------

    def validate_response(self, response: requests.Response) -> None:
        if response.status_code == HTTPStatus.FORBIDDEN:
            facility = response.request.headers.get("Facility") if response.request else None
            raise FatalAPIError(
                f"uniware: HTTP 403 from {response.request.path_url.split('?')[0]}: "
                f"{message(response)}. Uniware answers this for a missing or unknown facility "
                f"(sent: {facility or 'none'}): check that uniware.facilities holds facility "
                "codes, not the names the UI shows, and that the API user may access them"
            )
        super().validate_response(response)
        body = json_body(response)
        # Business failures come back as HTTP 200 with successful: false.
        if isinstance(body, dict) and body.get("successful") is False:
            raise FatalAPIError(f"uniware: {response.request.path_url} failed: {message(response)}")

    def call(self, path: str, body: dict, facility: str | None) -> dict:
        """POST `body` with the shared retry policy and the job's own Facility header."""
        headers = {**self.http_headers, **({"Facility": facility} if facility else {})}
        prepared = self.build_prepared_request(
            method="POST", url=f"{self.url_base}{path}", json=body, headers=headers
        )
        response = self.request_decorator(self._request)(prepared, None)
        return json_body(response) or {}

    # -- what the tap keeps of each job ---------------------------------------------

    def facts_to_keep(self) -> set[str]:
        """The configured job codes: nothing else tells when they were first seen."""
        return set(self.settings.get("job_codes") or [])

    # -- jobs -----------------------------------------------------------------------

    def request_records(self, context: Context | None) -> Iterator[dict]:
        """Nothing lists jobs: the configured job codes are looked up one by one."""
        for code in self.settings.get("job_codes") or []:
            raw = self.fetch_job(code, context)
            if raw is not None:
                yield raw

    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        facility = self.job_facts(job_id).get("facility")
        try:
            body = self.call(f"{API}/export/job/status", {"jobCode": job_id}, facility)
        except FatalAPIError as error:
            raise FatalAPIError(f"uniware job {job_id}: {error}") from None
        return {**body, "jobCode": job_id}

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        code = str(raw["jobCode"])
        facts = self.job_facts(code)
        return {
            "id": code,
            "job_type": facts.get("job_type"),
            "status_raw": raw.get("status"),
            "created_at": facts["created_at"],
            "file_format": "csv",
            "download_url": raw.get("filePath") or None,
            "error": failure_reason(raw) if failed(raw.get("status")) else None,
            "facility": facts.get("facility"),
            "export_name": facts.get("export_name"),
            "window_start": facts.get("window_start"),
            "window_end": facts.get("window_end"),
        }

    def job_status(self, status_raw: str | None, raw: dict) -> str:
        key = (status_raw or "").strip().lower()
        if not key:
            return PENDING  # a create's answer carries no status yet
        if "cancel" in key:
            return CANCELED
        if failed(key):
            return FAILED
        if key in DONE or raw.get("filePath"):
            # A successful job with nothing to export may carry no file.
            return SUCCEEDED if raw.get("filePath") else EMPTY
        if key in RUNNING_STATUSES:
            return RUNNING
        return super().job_status(status_raw, raw)  # unknown: a warning, looked at again

    def download_link(self, job_id: str, context: Context | None) -> DownloadLink:
        """`filePath` as the status call gives it now: an absolute link is fetched without
        credentials unless it is on the tenant; a path is the tenant's, with the token."""
        try:
            path = (self.fetch_job(job_id, context) or {}).get("filePath")
        except FatalAPIError as error:
            raise DownloadError(str(error)) from None
        if not path:
            raise DownloadError(f"uniware job {job_id} finished but the API gives no filePath")
        url = path if "://" in path else f"{self.url_base}/{path.lstrip('/')}"
        if url_origin(url) != url_origin(self.url_base):
            return DownloadLink(url=url, file_format="csv")
        signed = self.authenticator(requests.Request("GET", url).prepare())
        return DownloadLink(
            url=url,
            file_format="csv",
            auth_headers={"Authorization": signed.headers["Authorization"]},
            auth_host=urlsplit(url).netloc,
        )

    # -- exports the tap creates ----------------------------------------------------

    @cached_property
    def _specs(self) -> dict[str, tuple[dict, str]]:
        """Spec key -> (the export, the facility)."""
        return {
            f"{export['name']}@{facility}": (export, facility)
            for export in self.settings.get("exports") or []
            for facility in self.settings.get("facilities") or []
        }

    def export_specs(self, context: Context | None) -> list[ExportSpec]:
        first = self.start_date().replace(hour=0, minute=0, second=0, microsecond=0)
        return [
            ExportSpec(
                key=key,
                window_days=int(export.get("window_days") or 1),
                fingerprint=fingerprint(
                    export["export_job_type_name"],
                    list(export["columns"]),
                    export.get("date_filter_id"),
                ),
                first_start=first,
                # Without a date filter every job exports the whole table: only the latest.
                catch_up=bool(export.get("date_filter_id")),
            )
            for key, (export, _facility) in self._specs.items()
        ]

    def create_export_job(
        self, spec: ExportSpec, window: ExportWindow, context: Context | None
    ) -> dict:
        export, facility = self._specs[spec.key]
        body: dict[str, t.Any] = {
            "exportJobTypeName": export["export_job_type_name"],
            "exportColums": list(export["columns"]),  # sic: the API's only accepted key
            "frequency": "ONETIME",
        }
        if export.get("date_filter_id"):
            body["exportFilters"] = [
                {
                    "id": export["date_filter_id"],
                    "dateRange": {"start": instant(window.start), "end": instant(window.end)},
                }
            ]
        headers = {**self.http_headers, "Facility": facility}
        prepared = self.build_prepared_request(
            method="POST", url=f"{self.url_base}{API}/export/job/create", json=body, headers=headers
        )
        # Never retried once it may have reached the API; a 429 lowers the jobs in flight.
        try:
            answer = json_body(self.send_create(prepared, retry_rate_limits=False)) or {}
        except FatalAPIError as error:
            raise FatalAPIError(
                f"{error} (creating {spec.key} for {iso(window.start)} .. {iso(window.end)})"
            ) from None
        code = answer.get("jobCode") or answer.get("exportJobCode") or answer.get("code")
        if not code:
            raise FatalAPIError(
                f"uniware: the create answer for {spec.key} carries no jobCode "
                f"(fields {sorted(answer)})"
            )
        self.job_facts(str(code)).update(
            created_at=iso(utc_now()),
            job_type=export["export_job_type_name"],
            facility=facility,
            export_name=export["name"],
            window_start=iso(window.start),
            window_end=iso(window.end),
        )
        return {"jobCode": str(code)}


class UniwareExportRowsStream(ReportRowsStream):
    name = "uniware_export_rows"
    parent_stream_type = UniwareExportJobsStream
