"""Elastic Path Commerce Cloud: Exporter Service `order_export` jobs at `/v2/jobs`.

See shared/api-notes/elasticpath.md. The sources disagree on several shapes (status
spelling, create response, file-link body, what `link.href` holds, pagination); every
shape they list is accepted here.
"""

from __future__ import annotations

import re
import typing as t
from datetime import datetime, timedelta
from urllib.parse import urlsplit

from singer_sdk import typing as th
from singer_sdk.exceptions import FatalAPIError
from singer_sdk.pagination import OffsetPaginator

from tap_exportjobs.auth import ClientCredentialsAuthenticator, url_origin
from tap_exportjobs.download import DownloadError, DownloadLink
from tap_exportjobs.jobs import (
    EMPTY,
    FAILED,
    PENDING,
    RUNNING,
    SUCCEEDED,
    ExportSpec,
    ExportWindow,
    JobStream,
    fingerprint,
    parse_timestamp,
)
from tap_exportjobs.links import expiry_from_url
from tap_exportjobs.reports import ReportRowsStream

if t.TYPE_CHECKING:
    import requests
    from singer_sdk.helpers.types import Context

NAME = "elasticpath"
DEFAULT_API_URL = "https://useast.api.elasticpath.com"
PAGE_LIMIT = 100
#: The API accepts at most 10 filter clauses and 8 KB of filter text per request.
MAX_FILTER_CLAUSES = 10
MAX_FILTER_BYTES = 8 * 1024
NO_RESULTS = "no results matched the supplied filter"

SETTINGS = th.Property(
    NAME,
    th.ObjectType(
        th.Property(
            "client_id",
            th.StringType,
            required=True,
            description="Client ID of a client_credentials application key",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            required=True,
            secret=True,
            description="Client secret of that application key",
        ),
        th.Property(
            "api_url",
            th.StringType,
            default=DEFAULT_API_URL,
            description="The store's API base URL (Commerce Manager → API keys), e.g. "
            "https://euwest.api.elasticpath.com; token at "
            "{api_url}/oauth/access_token",
        ),
        th.Property(
            "order_exports",
            th.ObjectType(
                th.Property(
                    "enabled",
                    th.BooleanType,
                    default=False,
                    description="Create order_export jobs window by window",
                ),
                th.Property(
                    "window_days",
                    th.IntegerType,
                    default=1,
                    description="Days of orders (by created_at) per export job",
                ),
                th.Property(
                    "filter",
                    th.StringType,
                    description="Extra order filter, e.g. eq(payment,paid), combined "
                    "with the window's created_at bounds",
                ),
                th.Property(
                    "lag_hours",
                    th.NumberType,
                    default=0,
                    description="Hours to wait after a day ended before exporting it, for "
                    "orders that arrive late",
                ),
            ),
            description="Order exports the tap creates itself",
        ),
        th.Property(
            "max_jobs_in_flight",
            th.IntegerType,
            default=1,
            description="Export jobs created and waited for at once. The API runs jobs one "
            "at a time, first in first out, so more only queue there",
        ),
    ),
    description="Elastic Path Commerce Cloud (Exporter Service). Present = enabled.",
)


def validate(block: dict) -> list[str]:
    """Problems the JSON schema cannot express, each naming its setting."""
    problems = []
    exports = block.get("order_exports") or {}
    if exports.get("window_days", 1) < 1:
        problems.append("elasticpath.order_exports.window_days must be at least 1")
    if (exports.get("lag_hours") or 0) < 0:
        problems.append("elasticpath.order_exports.lag_hours must not be negative")
    if block.get("max_jobs_in_flight", 1) < 1:
        problems.append("elasticpath.max_jobs_in_flight must be at least 1")
    extra = exports.get("filter") or ""
    clauses = [c for c in extra.split(":") if c.strip()]
    if len(clauses) > MAX_FILTER_CLAUSES - 2:
        problems.append(
            f"elasticpath.order_exports.filter has {len(clauses)} clauses; the API takes "
            f"{MAX_FILTER_CLAUSES} and the tap adds 2 for the created_at window"
        )
    if len(extra.encode()) > MAX_FILTER_BYTES - 100:
        problems.append("elasticpath.order_exports.filter is longer than the API's 8 KB limit")
    if any(not re.fullmatch(r"\s*\w+\(.+\)\s*", c) for c in clauses):
        problems.append(
            "elasticpath.order_exports.filter must be op(attribute,value) clauses "
            "joined by ':', e.g. eq(payment,paid):eq(status,complete)"
        )
    return problems


class ElasticPathAuthenticator(ClientCredentialsAuthenticator):
    """Form-encoded client credentials at {api_url}/oauth/access_token (1-hour tokens)."""


class JobsPaginator(OffsetPaginator):
    """`page[offset]` paging where the response says there is more (`meta.page`).

    The Exporter spec documents no paging for /v2/jobs; without `meta.page` the first
    response is all there is.
    """

    def has_more(self, response: requests.Response) -> bool:
        page = ((response.json().get("meta") or {}).get("page")) or {}
        current, total = page.get("current"), page.get("total")
        if isinstance(current, int) and isinstance(total, int):
            return current < total
        return False


class ElasticPathExportJobsStream(JobStream):
    name = "elasticpath_export_jobs"
    provider = NAME
    #: Which store the state describes (see `accounts`): nothing in the config names the
    #: store but its API address; not its key, so a rotated key keeps the state.
    account_settings: t.ClassVar[tuple[str, ...]] = ()
    path = "/v2/jobs"
    records_jsonpath = "$.data[*]"
    job_lifetime = timedelta(days=7)
    status_map: t.ClassVar[dict[str, str]] = {
        "pending": PENDING,
        "started": RUNNING,
        "processing": RUNNING,
        "success": SUCCEEDED,
        "complete": SUCCEEDED,
        "completed": SUCCEEDED,
        "failed": FAILED,
    }
    provider_properties = th.PropertiesList(
        # `link` and `timestamps` arrive as download_url, created_at and updated_at.
        th.Property("type", th.StringType),
        th.Property("links", th.ObjectType(th.Property("self", th.StringType))),
    )

    @property
    def settings(self) -> dict:
        return self.config[NAME]

    @property
    def url_base(self) -> str:
        return (self.settings.get("api_url") or DEFAULT_API_URL).rstrip("/")

    @property
    def authenticator(self) -> ElasticPathAuthenticator:
        return self._tap.client_credentials(
            NAME,
            ElasticPathAuthenticator,
            f"{self.url_base}/oauth/access_token",
            api_url=self.url_base,
        )

    def get_new_paginator(self) -> JobsPaginator:
        return JobsPaginator(start_value=0, page_size=PAGE_LIMIT)

    def get_url_params(self, context: Context | None, next_page_token: int | None) -> dict:
        return {"page[limit]": PAGE_LIMIT, "page[offset]": next_page_token or 0}

    # -- the API's shapes -----------------------------------------------------------

    def normalize_job(self, raw: dict, context: Context | None) -> dict:
        timestamps = raw.get("timestamps") or {}
        href = (raw.get("link") or {}).get("href") or None
        file_href = href if href and not self._is_api_file_endpoint(href) else None
        return {
            "id": raw["id"],
            "job_type": raw.get("job_type"),
            "status_raw": raw.get("status"),
            "created_at": timestamps.get("created_at"),
            "updated_at": timestamps.get("updated_at"),
            "file_format": "csv",
            "download_url": file_href,
            "error": raw.get("error"),
            "type": raw.get("type"),
            "links": raw.get("links"),
        }

    def job_status(self, status_raw: str | None, raw: dict) -> str:
        status = super().job_status(status_raw, raw)
        # "Nothing matched" is reported as a failure but is a finished, empty export.
        if status == FAILED and NO_RESULTS in str(raw.get("error") or "").lower():
            return EMPTY
        return status

    def fetch_job(self, job_id: str, context: Context | None) -> dict | None:
        body = self.request_json("GET", f"/v2/jobs/{job_id}", context, missing_ok=True)
        return _single(body) if body is not None else None

    def download_link(self, job_id: str, context: Context | None) -> DownloadLink:
        try:
            href = self._file_href(f"/v2/jobs/{job_id}/file", context)
            if href is None:
                # Older docs put the link on the job itself; use it when /file has none.
                job = self.fetch_job(job_id, context) or {}
                href = (job.get("link") or {}).get("href") or None
            # The old docs' link.href may itself be the /file endpoint: follow it once more.
            if href and self._is_api_file_endpoint(href):
                href = self._file_href(href, context)
        except FatalAPIError as error:
            # The API refused this job's file (e.g. 422 "Job has no file to download"): a
            # failure of this file, not of the run.
            raise DownloadError(f"elasticpath job {job_id}: {error}") from None
        if not href:
            raise DownloadError(
                f"elasticpath job {job_id} succeeded but the API gives no link to its file"
            )
        return DownloadLink(url=href, expires_at=expiry_from_url(href), file_format="csv")

    def _file_href(self, path: str, context: Context | None) -> str | None:
        body = self.request_json("GET", path, context, missing_ok=True)
        if not isinstance(body, dict):
            return None
        data = body.get("data", body)
        return (data or {}).get("href") or None if isinstance(data, dict) else None

    def _is_api_file_endpoint(self, href: str) -> bool:
        """Whether `href` is this API's own /file endpoint (called with the token). Only the
        configured scheme, host and port is the API: an href anywhere else, even another
        Elastic Path host, is a file, fetched without credentials."""
        on_api = url_origin(href) == url_origin(self.url_base)
        return on_api and bool(re.fullmatch(r".*/v2/jobs/[^/]+/file/?", urlsplit(href).path))

    # -- exports the tap creates ----------------------------------------------------

    def export_specs(self, context: Context | None) -> list[ExportSpec]:
        exports = self.settings.get("order_exports") or {}
        if not exports.get("enabled"):
            return []
        # Windows are UTC days: the filter takes created_at as YYYY-MM-DD only (and `:`
        # joins clauses, so no timestamp could be sent), so no other zone's day can be asked.
        return [
            ExportSpec(
                key="order_export",
                window_days=int(exports.get("window_days") or 1),
                fingerprint=fingerprint(exports.get("filter") or ""),
                first_start=self.start_date().replace(hour=0, minute=0, second=0, microsecond=0),
                lag_hours=float(exports.get("lag_hours") or 0),
            )
        ]

    def max_jobs_in_flight(self) -> int:
        return int(self.settings.get("max_jobs_in_flight") or 1)

    def create_export_job(
        self, spec: ExportSpec, window: ExportWindow, context: Context | None
    ) -> dict:
        clauses = [
            f"ge(created_at,{window.start:%Y-%m-%d})",
            f"lt(created_at,{window.end:%Y-%m-%d})",
        ]
        extra = (self.settings.get("order_exports") or {}).get("filter")
        if extra:
            clauses.append(extra.strip().strip(":"))
        body = {"data": {"type": "job", "job_type": "order_export", "filter": ":".join(clauses)}}
        # A 429 here means "no more jobs now": the export pipeline lowers its budget.
        return _single(self.request_create("/v2/jobs", json=body, retry_rate_limits=False))

    def find_created_jobs(
        self,
        spec: ExportSpec,
        window: ExportWindow,
        context: Context | None,
        since: datetime,
        until: datetime,
    ) -> list[dict]:
        """`order_export` jobs created in the span: a job does not echo its filter, so any
        such job could be the window's."""
        found = []
        for raw in self.request_records(context):
            created = parse_timestamp((raw.get("timestamps") or {}).get("created_at"))
            if raw.get("job_type") == "order_export" and created and since <= created <= until:
                found.append(raw)
        return found


def _single(body: t.Any) -> dict:
    """The job in a response: `{"data": Job}`, or `{"data": [Job]}` (the current spec's 202)."""
    data = body.get("data", body) if isinstance(body, dict) else body
    if isinstance(data, list):
        data = data[0] if data else {}
    return data


class ElasticPathExportRowsStream(ReportRowsStream):
    name = "elasticpath_export_rows"
    parent_stream_type = ElasticPathExportJobsStream


STREAMS = (ElasticPathExportJobsStream, ElasticPathExportRowsStream)
