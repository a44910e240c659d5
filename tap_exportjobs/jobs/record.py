"""The normalized job record: statuses and the core schema every job stream shares."""

from __future__ import annotations

from datetime import timedelta

from singer_sdk import typing as th

# Normalized statuses (DESIGN.md, "Normalized job record").
PENDING = "pending"
RUNNING = "running"
SUCCEEDED = "succeeded"
EMPTY = "empty"
FAILED = "failed"
CANCELED = "canceled"
DELETED = "deleted"
EXPIRED = "expired"
UNKNOWN = "unknown"
STATUSES = (PENDING, RUNNING, SUCCEEDED, EMPTY, FAILED, CANCELED, DELETED, EXPIRED, UNKNOWN)
#: No further change expected. `unknown` is not terminal: it is looked at again next run.
TERMINAL = frozenset({SUCCEEDED, EMPTY, FAILED, CANCELED, DELETED, EXPIRED})

DEFAULT_LOOKBACK = timedelta(days=30)

JOB_CORE_PROPERTIES = th.PropertiesList(
    th.Property("provider", th.StringType, required=True, description="The API the job is from"),
    th.Property("id", th.StringType, required=True, description="The job's id in its API"),
    th.Property("job_type", th.StringType, description="The API's own job or report type"),
    th.Property(
        "status",
        th.StringType(allowed_values=list(STATUSES)),
        required=True,
        description="Normalized status",
    ),
    th.Property("status_raw", th.StringType, description="The API's own status string"),
    th.Property(
        "is_terminal", th.BooleanType, required=True, description="No further change expected"
    ),
    th.Property(
        "created_at", th.DateTimeType, required=True, description="When the job was created"
    ),
    th.Property("updated_at", th.DateTimeType, description="Last change the API reports"),
    th.Property("file_format", th.StringType, description="csv, json, json_bulk, ndjson, ..."),
    th.Property(
        "download_url",
        th.StringType,
        description="Where the file is (signatures redacted unless configured otherwise)",
    ),
    th.Property("download_url_expires_at", th.DateTimeType, description="When the link expires"),
    th.Property("error", th.StringType, description="The API's failure reason"),
    th.Property(
        "observed_at",
        th.DateTimeType,
        required=True,
        description="When this tap saw the job in this state",
    ),
)
