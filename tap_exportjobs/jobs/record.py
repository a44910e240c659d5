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


def free_form_object() -> th.CustomType:
    """An object whose keys are the API's or the file's own, unknown until a record has them.

    Declared without `properties`: with schema flattening on, the SDK then keeps it as one
    column holding the object as JSON in the SCHEMA and the RECORD alike. With `properties: {}`
    (what `th.ObjectType()` writes) the flattened SCHEMA has no column for it at all while each
    record spreads its keys into columns no target was told of, so the values never land.
    A new dict each call: `th.Property` writes its description into the type's dict.
    """
    return th.CustomType({"type": "object", "additionalProperties": True})
