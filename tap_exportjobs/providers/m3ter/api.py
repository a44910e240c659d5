"""What every m3ter stream shares: base URL, Basic-auth tokens, cursor paging, formats."""

from __future__ import annotations

import base64
import typing as t
from datetime import datetime

from singer_sdk import typing as th
from singer_sdk.pagination import JSONPathPaginator

from tap_exportjobs.auth import ClientCredentialsAuthenticator
from tap_exportjobs.jobs import FAILED, PENDING, RUNNING, SUCCEEDED
from tap_exportjobs.providers.m3ter.settings import (
    DEFAULT_API_URL,
    DEFAULT_JOBS_IN_FLIGHT,
    NAME,
    PAGE_SIZE,
)

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


#: Data jobs and export jobs alike (a lookup data job is never RUNNING, an export may be).
JOB_STATUSES = {"pending": PENDING, "running": RUNNING, "succeeded": SUCCEEDED, "failed": FAILED}
#: Statuses S3 answers for a presigned link that expired or was refused.
LINK_REFUSED_STATUSES = (400, 403, 410)


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
    #: Which account the state describes (with the API's address; see `accounts`).
    account_settings: t.ClassVar[tuple[str, ...]] = ("org_id",)

    @property
    def settings(self) -> dict:
        return self.config[NAME]  # type: ignore[attr-defined]

    def max_jobs_in_flight(self) -> int:
        """Ad-hoc exports and lookup-table downloads the tap runs at once (each stream)."""
        return int(self.settings.get("max_jobs_in_flight") or DEFAULT_JOBS_IN_FLIGHT)

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


def m3ter_time(value: datetime) -> str:
    return value.strftime("%Y-%m-%dT%H:%M:%SZ")


def format_of(file_name: str | None) -> str | None:
    name = (file_name or "").lower().removesuffix(".gz")
    if name.endswith(".csv"):
        return "csv"
    if name.endswith((".jsonl", ".ndjson")):
        return "ndjson"
    return None
