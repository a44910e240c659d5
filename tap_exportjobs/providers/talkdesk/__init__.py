"""Talkdesk Explore: report jobs the tap creates window by window (and, optionally, those
others created), and the rows of their csv, json and json_bulk files.

See shared/api-notes/talkdesk.md. One module per concern: settings, the shared API client,
the report streams.
"""

from __future__ import annotations

from tap_exportjobs.providers.talkdesk.reports import (
    TalkdeskReportJobsStream,
    TalkdeskReportRowsStream,
)
from tap_exportjobs.providers.talkdesk.settings import NAME, SETTINGS, validate

STREAMS = (TalkdeskReportJobsStream, TalkdeskReportRowsStream)

__all__ = [
    "NAME",
    "SETTINGS",
    "STREAMS",
    "TalkdeskReportJobsStream",
    "TalkdeskReportRowsStream",
    "validate",
]
