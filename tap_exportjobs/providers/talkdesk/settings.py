"""The Talkdesk config block: settings, their checks, regions and report limits."""

from __future__ import annotations

from singer_sdk import typing as th

from tap_exportjobs.jobs.windows import zone

NAME = "talkdesk"
#: Region -> (API base, token URL template); see api-notes/talkdesk.md §1.
REGIONS = {
    "us": ("https://api.talkdeskapp.com", "https://{account}.talkdeskid.com/oauth/token"),
    "eu": ("https://api.talkdeskapp.eu", "https://{account}.talkdeskid.eu/oauth/token"),
    "ca": ("https://api.talkdeskappca.com", "https://{account}.talkdeskidca.com/oauth/token"),
}
FORMATS = ["csv", "json", "json_bulk"]
#: The API takes about one month of data per report job; public clients split by 31 days.
MAX_WINDOW_DAYS = 31
#: Report jobs run side by side in Talkdesk; a few at once keeps a backfill short.
DEFAULT_JOBS_IN_FLIGHT = 4
#: Report keys that say when windows are exported, not what a job asks for (left out of
#: its fingerprint, so changing them keeps the jobs in flight).
WINDOW_KEYS = frozenset({"timezone", "lag_hours", "window_days"})

SETTINGS = th.Property(
    NAME,
    th.ObjectType(
        th.Property(
            "account",
            th.StringType,
            description="Talkdesk account name (the subdomain of {account}.talkdeskid.com); "
            "names the token host",
        ),
        th.Property(
            "client_id",
            th.StringType,
            required=True,
            description="Client ID of a client-credentials OAuth client with the "
            "data-reports:read and data-reports:write scopes",
        ),
        th.Property(
            "client_secret",
            th.StringType,
            required=True,
            secret=True,
            description="Client secret of that OAuth client",
        ),
        th.Property(
            "region",
            th.StringType(allowed_values=list(REGIONS)),
            default="us",
            description="Where the account lives: us (talkdeskapp.com), eu (talkdeskapp.eu) "
            "or ca (talkdeskappca.com)",
        ),
        th.Property(
            "api_url",
            th.StringType,
            description="API base URL, instead of the region's (e.g. from AppConnect's "
            "`root` link)",
        ),
        th.Property(
            "token_url",
            th.StringType,
            description="Token endpoint, instead of the region's "
            "https://{account}.talkdeskid.com/oauth/token",
        ),
        th.Property(
            "reports",
            th.ArrayType(
                th.ObjectType(
                    th.Property(
                        "type",
                        th.StringType,
                        required=True,
                        description="Report type, e.g. calls, explore_calls, user_status, "
                        "contacts, ring_attempts, studio_flow_execution",
                    ),
                    th.Property(
                        "format",
                        th.StringType(allowed_values=FORMATS),
                        default="json",
                        description="File format of the report jobs",
                    ),
                    th.Property(
                        "timezone",
                        th.StringType,
                        default="UTC",
                        description="IANA time zone whose days the windows are (DST-aware); "
                        "sent with each job",
                    ),
                    th.Property(
                        "window_days",
                        th.IntegerType,
                        default=1,
                        description=f"Days per report job (1 to {MAX_WINDOW_DAYS}: the API "
                        "takes about a month per job)",
                    ),
                    th.Property(
                        "lag_hours",
                        th.NumberType,
                        default=0,
                        description="Hours to wait after a day ended before exporting it, "
                        "for data that arrives late",
                    ),
                )
            ),
            description="Reports the tap creates report jobs for, window by window",
        ),
        th.Property(
            "follow_existing_jobs",
            th.BooleanType,
            default=False,
            description="Also list report jobs others created (of the reports' types) and "
            "emit them and their files",
        ),
        th.Property(
            "max_jobs_in_flight",
            th.IntegerType,
            default=DEFAULT_JOBS_IN_FLIGHT,
            description="Report jobs of one report type created and waited for at once",
        ),
    ),
    description="Talkdesk Explore (report jobs). Present = enabled.",
)


def validate(block: dict) -> list[str]:
    """Problems the JSON schema cannot express, each naming its setting."""
    problems = []
    if not block.get("account") and not block.get("token_url"):
        problems.append("talkdesk.account is required (or talkdesk.token_url)")
    if block.get("max_jobs_in_flight", DEFAULT_JOBS_IN_FLIGHT) < 1:
        problems.append("talkdesk.max_jobs_in_flight must be at least 1")
    types = [report.get("type") for report in block.get("reports") or []]
    if len(types) != len(set(types)):
        problems.append("talkdesk.reports: each report type may be listed once")
    for report in block.get("reports") or []:
        where = f"talkdesk.reports[{report.get('type')}]"
        if not 1 <= (report.get("window_days") or 1) <= MAX_WINDOW_DAYS:
            problems.append(f"{where}.window_days must be 1 to {MAX_WINDOW_DAYS}")
        try:
            zone(report.get("timezone"))
        except ValueError as error:
            problems.append(f"{where}.timezone: {error}")
        if (report.get("lag_hours") or 0) < 0:
            problems.append(f"{where}.lag_hours must not be negative")
    return problems
