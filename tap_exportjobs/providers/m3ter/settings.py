"""The m3ter config block: settings, their checks, and the API's constants."""

from __future__ import annotations

import typing as t
from datetime import timedelta

from singer_sdk import typing as th

from tap_exportjobs.jobs.windows import zone

if t.TYPE_CHECKING:
    pass


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
#: Ad-hoc exports run side by side in m3ter; a few at once keeps a backfill short.
DEFAULT_JOBS_IN_FLIGHT = 4
#: data_exports keys that say when windows are exported, not what a job asks for (left out
#: of its fingerprint, so setting them keeps the jobs in flight).
WINDOW_KEYS = frozenset({"timezone", "lag_hours"})
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
                        "timezone",
                        th.StringType,
                        default="UTC",
                        description="IANA time zone whose days the windows are (DST-aware); "
                        "a day is exported once it has ended there",
                    ),
                    th.Property(
                        "lag_hours",
                        th.NumberType,
                        default=0,
                        description="Hours to wait after a day ended before exporting it, "
                        "for usage that arrives late",
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
        th.Property(
            "max_jobs_in_flight",
            th.IntegerType,
            default=DEFAULT_JOBS_IN_FLIGHT,
            description="Ad-hoc export jobs (data_exports windows, shared fairly between "
            "the exports) and lookup-table DOWNLOAD jobs each stream creates and waits for "
            "at once",
        ),
    ),
    description="m3ter. Present = enabled.",
)


def validate(block: dict) -> list[str]:
    problems = []
    if block.get("max_jobs_in_flight", DEFAULT_JOBS_IN_FLIGHT) < 1:
        problems.append("m3ter.max_jobs_in_flight must be at least 1")
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
        try:
            zone(export.get("timezone"))
        except ValueError as error:
            problems.append(f"{where}.timezone: {error}")
        if (export.get("lag_hours") or 0) < 0:
            problems.append(f"{where}.lag_hours must not be negative")
        if export.get("source_type") == "OPERATIONAL" and not export.get("operational_data_types"):
            problems.append(f"{where}.operational_data_types is required for OPERATIONAL")
    return problems
