"""The Uniware config block: settings and their checks."""

from __future__ import annotations

from singer_sdk import typing as th

NAME = "uniware"
CLIENT_ID = "my-trusted-client"
DEFAULT_API_URL = "https://{tenant}.unicommerce.com"
#: Production clients fetch a handful of facilities at once without being throttled.
DEFAULT_JOBS_IN_FLIGHT = 2

SETTINGS = th.Property(
    NAME,
    th.ObjectType(
        th.Property(
            "tenant",
            th.StringType,
            required=True,
            description="The Uniware account's sub-domain ({tenant}.unicommerce.com)",
        ),
        th.Property(
            "username",
            th.StringType,
            required=True,
            description="Login of an admin API user with access to the facilities",
        ),
        th.Property(
            "password",
            th.StringType,
            required=True,
            secret=True,
            description="That user's password (sent URL-encoded in the token request's query)",
        ),
        th.Property(
            "client_id",
            th.StringType,
            default=CLIENT_ID,
            description="OAuth client id of the password grant (Uniware's is always "
            "my-trusted-client)",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="Tenant base URL, default https://{tenant}.unicommerce.com; token at "
            "{api_url}/oauth/token",
        ),
        th.Property(
            "facilities",
            th.ArrayType(th.StringType),
            description="Facility codes (not the UI's names) the exports run for, one job per "
            "window and facility, each sent in the Facility header",
        ),
        th.Property(
            "job_codes",
            th.ArrayType(th.StringType),
            description="Codes of existing export jobs to follow to completion and read",
        ),
        th.Property(
            "exports",
            th.ArrayType(
                th.ObjectType(
                    th.Property(
                        "name",
                        th.StringType,
                        required=True,
                        description="Your name for the export (unique; keys its state)",
                    ),
                    th.Property(
                        "export_job_type_name",
                        th.StringType,
                        required=True,
                        description="The report's config name, e.g. Sale Orders (not the "
                        "UI's display name)",
                    ),
                    th.Property(
                        "columns",
                        th.ArrayType(th.StringType),
                        required=True,
                        description="Internal column ids (sent as exportColums); the file's "
                        "headers are their captions",
                    ),
                    th.Property(
                        "date_filter_id",
                        th.StringType,
                        description="The report's date filter (addedOn, updatedOn, updatedIn, "
                        "dateRange...), given each window's bounds; without it every job "
                        "exports the whole table, so only the latest window is created",
                    ),
                    th.Property(
                        "window_days",
                        th.IntegerType,
                        default=1,
                        description="Days (UTC) per export job",
                    ),
                )
            ),
            description="Export jobs the tap creates window by window, per facility",
        ),
        th.Property(
            "max_jobs_in_flight",
            th.IntegerType,
            default=DEFAULT_JOBS_IN_FLIGHT,
            description="Export jobs (over every export and facility) created and waited for "
            "at once",
        ),
    ),
    description="Unicommerce Uniware (export jobs). Present = enabled.",
)


def validate(block: dict) -> list[str]:
    """Problems the JSON schema cannot express, each naming its setting."""
    problems = []
    exports = block.get("exports") or []
    if exports and not block.get("facilities"):
        problems.append("uniware.facilities is required with uniware.exports (facility codes)")
    if block.get("max_jobs_in_flight", DEFAULT_JOBS_IN_FLIGHT) < 1:
        problems.append("uniware.max_jobs_in_flight must be at least 1")
    names = [export.get("name") for export in exports]
    if len(names) != len(set(names)):
        problems.append("uniware.exports: each name may be listed once")
    for export in exports:
        where = f"uniware.exports[{export.get('name')}]"
        if (export.get("window_days") or 1) < 1:
            problems.append(f"{where}.window_days must be at least 1")
        if not export.get("columns"):
            problems.append(f"{where}.columns must list at least one column id")
    return problems
