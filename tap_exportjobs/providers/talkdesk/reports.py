"""Talkdesk Explore report jobs, the windows the tap creates them for, and their files.

See shared/api-notes/talkdesk.md. A done job's status call answers a redirect (300, 302 or
303, by source) to `files/{id}`, which redirects to a short-lived storage link: both are
requested here without following redirects, so a status call never fetches the file and
the token never leaves the API host. Jobs carry no documented creation time: see
`facts.py`.
"""

from __future__ import annotations

import typing as t
from datetime import datetime
from urllib.parse import urljoin, urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import PageNumberPaginator

from tap_exportjobs.download import DownloadError, DownloadLink
from tap_exportjobs.jobs import (
    CANCELED,
    DELETED,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    ExportSpec,
    ExportWindow,
    JobStream,
    day_start,
    fingerprint,
    parse_timestamp,
    zone,
)
from tap_exportjobs.jobs.files import FileGoneError
from tap_exportjobs.links import expiry_from_url
from tap_exportjobs.providers.talkdesk.api import TalkdeskAPI, job_name, local_time
from tap_exportjobs.providers.talkdesk.facts import RemembersReportJobs
from tap_exportjobs.providers.talkdesk.settings import DEFAULT_JOBS_IN_FLIGHT, WINDOW_KEYS
from tap_exportjobs.reports import ReportRowsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

PER_PAGE = 100
#: Pages of the job list read when looking for a job a failed create may have made.
MAX_FIND_PAGES = 20
#: The json format's rows are the `entries` array (api-notes §6).
JSON_ROWS_KEY = "entries"
#: Declared to the reader: a json file may also be a bare array or one object per line.
READ_AS = {"csv": "csv", "json": "json", "json_bulk": "json"}
#: Statuses that end a job without a file; their jobs are never another create's.
ENDED_WITHOUT_FILE = {"failed", "canceled", "cancelled", "deleted"}


class JobsPaginator(PageNumberPaginator):
    """`page`/`per_page` paging while the answer links a next page."""

    def has_more(self, response: requests.Response) -> bool:
        links = (response.json() or {}).get("_links") or {}
        return bool((links.get("next") or {}).get("href"))


class TalkdeskReportJobsStream(RemembersReportJobs, TalkdeskAPI, JobStream):
    name = "talkdesk_report_jobs"
    path = "/data/reports/{report_type}/jobs"
    records_jsonpath = "$._embedded.jobs[*]"
    status_map: t.ClassVar[dict[str, str]] = {
        "created": PENDING,
        "processing": RUNNING,
        "uploading": RUNNING,
        "sending": RUNNING,  # the legacy API's e-mail step
        "done": SUCCEEDED,
        "failed": FAILED,
        "canceled": CANCELED,
        "cancelled": CANCELED,
        "deleted": DELETED,
    }
    partition_properties = th.PropertiesList(th.Property("report_type", th.StringType))
    provider_properties = th.PropertiesList(
        th.Property("name", th.StringType),
        th.Property("timespan_from", th.StringType),
        th.Property("timespan_to", th.StringType),
        th.Property("timezone", th.StringType),
        th.Property("format", th.StringType),
    )

    @property
    def partitions(self) -> list[dict]:
        return [{"report_type": report["type"]} for report in self.settings.get("reports") or []]

    def max_jobs_in_flight(self) -> int:
        return int(self.settings.get("max_jobs_in_flight") or DEFAULT_JOBS_IN_FLIGHT)

    def get_new_paginator(self) -> JobsPaginator:
        return JobsPaginator(start_value=1)

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        return {"page": next_page_token or 1, "per_page": PER_PAGE}

    def request_records(self, context: Context | None) -> t.Iterator[dict]:
        """Jobs others created are listed only with follow_existing_jobs; the tap's own
        are followed from state either way."""
        if not self.settings.get("follow_existing_jobs"):
            return
        for raw in super().request_records(context):
            self._listed.add(str(raw.get("id")))
            yield raw

    def sample_contexts(self) -> list[dict]:
        return self.partitions

    def jobs_to_sample(self, context: Context | None) -> t.Iterator[dict]:
        """Every listed job, whoever made it (a sample only reads the start of a file)."""
        return super().request_records(context)

    # -- the API's shapes -----------------------------------------------------------

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        job = raw["job"] if isinstance(raw.get("job"), dict) else raw
        job_id = str(job["id"])
        facts = self._facts(job_id, job)
        span = facts.get("timespan") or {}
        status = str(job.get("status") or "")
        ended = status.lower() in ENDED_WITHOUT_FILE
        return {
            "id": job_id,
            "job_type": (context or {}).get("report_type"),
            "status_raw": job.get("status"),
            "created_at": facts["created_at"],
            "updated_at": job.get("updated_at"),
            "file_format": facts.get("format"),
            "download_url": ((raw.get("_links") or {}).get("files") or {}).get("href"),
            # The API gives no reason for an ended job: say what it did say.
            "error": job.get("error") or (f"Talkdesk reports the job {status}" if ended else None),
            "name": facts.get("name"),
            "timespan_from": span.get("from"),
            "timespan_to": span.get("to"),
            "timezone": facts.get("timezone"),
            "format": facts.get("format"),
        }

    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        report_type = self._report_type(job_id, context)
        response = self.get_no_redirect(f"/data/reports/{report_type}/jobs/{job_id}")
        if response is None:
            return None
        with response:
            body = _json(response)
        body = body if isinstance(body, dict) else {}
        job = body["job"] if isinstance(body.get("job"), dict) else body
        job = {**job, "id": job.get("id") or job_id, "_links": body.get("_links")}
        # Any redirect with a Location means done (api-notes §3.2), whatever the body says.
        if _redirects(response) and str(job.get("status") or "").lower() != "done":
            job["status"] = "done"
        return job

    def _report_type(self, job_id: str, context: Context | None) -> str:
        report_type = (context or {}).get("report_type")
        if not report_type:
            report_type = (self.ledger(None).get(job_id) or {}).get("job_type")
        if not report_type:
            raise FatalAPIError(f"talkdesk: the report type of job {job_id} is not known")
        return report_type

    def download_link(self, job_id: str, context: Context | None) -> DownloadLink:
        """`files/{id}`'s redirect to storage, asked for again each time a link expires
        (with a token refreshed if it expired meanwhile)."""
        report_type = self._report_type(job_id, context)
        fmt = (self._facts(job_id, {}).get("format") or "").lower() or None
        declared = {"file_format": READ_AS.get(fmt or ""), "rows_key": JSON_ROWS_KEY}
        files_url = f"{self.url_base}/data/reports/{report_type}/files/{job_id}"
        try:
            response = self.get_no_redirect(files_url, stream=True)
        except FatalAPIError as error:
            raise DownloadError(f"talkdesk job {job_id}: {error}") from None
        if response is None:
            raise FileGoneError(f"Talkdesk no longer has the file of report job {job_id}")
        with response:
            if _redirects(response):
                url = urljoin(files_url, response.headers["Location"])
                return DownloadLink(url=url, expires_at=expiry_from_url(url), **declared)
        # The API served the file itself: the downloader fetches it with the token, which it
        # sends to the API host only (never after a redirect elsewhere).
        return DownloadLink(
            url=files_url,
            auth_headers={"Authorization": self.bearer(files_url)},
            auth_host=urlsplit(files_url).netloc,
            **declared,
        )

    # -- windows the tap creates --------------------------------------------------------

    def _reports(self, context: Context | None) -> list[dict]:
        wanted = (context or {}).get("report_type")
        return [r for r in self.settings.get("reports") or [] if r["type"] == wanted]

    def export_specs(self, context: Context | None) -> list[ExportSpec]:
        specs = []
        for report in self._reports(context):
            timezone = report.get("timezone") or "UTC"
            asks = {"format": "json", **report}
            specs.append(
                ExportSpec(
                    key=report["type"],
                    window_days=int(report.get("window_days") or 1),
                    fingerprint=fingerprint(
                        sorted((k, v) for k, v in asks.items() if k not in WINDOW_KEYS)
                    ),
                    first_start=day_start(self.start_date(), zone(timezone)),
                    timezone=timezone,
                    lag_hours=float(report.get("lag_hours") or 0),
                )
            )
        return specs

    def create_export_job(
        self, spec: ExportSpec, window: ExportWindow, context: Context | None
    ) -> dict:
        report = next(r for r in self._reports(context) if r["type"] == spec.key)
        tz = report.get("timezone") or "UTC"
        body = {
            "name": job_name(spec.key, window, tz),
            "timezone": tz,
            "format": report.get("format") or "json",
            # Local times without an offset: the API applies `timezone` to them.
            "timespan": {"from": local_time(window.start, tz), "to": local_time(window.end, tz)},
        }
        # A 429 here means "no more jobs now": the export pipeline lowers its budget.
        answer = self.request_create(
            f"/data/reports/{spec.key}/jobs", json=body, retry_rate_limits=False
        )
        job = answer.get("job", answer) if isinstance(answer, dict) else {}
        # What the job was asked for, in case the answer leaves some of it out.
        return {**{k: v for k, v in body.items() if k != "name"}, "name": body["name"], **job}

    def find_created_jobs(
        self,
        spec: ExportSpec,
        window: ExportWindow,
        context: Context | None,
        since: datetime,
        until: datetime,
    ) -> list[dict]:
        """Jobs named for this window (and, where jobs show it, made in the span) that did
        not end without a file."""
        report = next(r for r in self._reports(context) if r["type"] == spec.key)
        name = job_name(spec.key, window, report.get("timezone") or "UTC")
        found = []
        for page in range(1, MAX_FIND_PAGES + 1):
            body = self.request_json(
                "GET",
                f"/data/reports/{spec.key}/jobs",
                context,
                params={"page": page, "per_page": PER_PAGE},
            )
            for job in ((body or {}).get("_embedded") or {}).get("jobs") or []:
                created = parse_timestamp(job.get("created_at"))
                in_span = created is None or since <= created <= until
                alive = str(job.get("status") or "").lower() not in ENDED_WITHOUT_FILE
                if job.get("name") == name and in_span and alive:
                    found.append(job)
            if not (((body or {}).get("_links") or {}).get("next") or {}).get("href"):
                break
        return found


def _json(response: requests.Response) -> t.Any:
    try:
        return response.json() if response.content else None
    except ValueError:
        return None


def _redirects(response: requests.Response) -> bool:
    return 300 <= response.status_code < 400 and bool(response.headers.get("Location"))


class TalkdeskReportRowsStream(ReportRowsStream):
    name = "talkdesk_report_rows"
    parent_stream_type = TalkdeskReportJobsStream
