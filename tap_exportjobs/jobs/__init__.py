"""Shared job machinery: the normalized job record, the ledger state, polling, and the
exports the tap creates. Provider modules import what they need from here."""

from tap_exportjobs.download import DownloadLink
from tap_exportjobs.jobs.exports import ExportSpec, ExportWindow, fingerprint
from tap_exportjobs.jobs.ledger import Ledger
from tap_exportjobs.jobs.record import (
    CANCELED,
    DELETED,
    EMPTY,
    EXPIRED,
    FAILED,
    PENDING,
    RUNNING,
    STATUSES,
    SUCCEEDED,
    TERMINAL,
    UNKNOWN,
)
from tap_exportjobs.jobs.stream import CheckpointMixin, JobStream
from tap_exportjobs.jobs.timestamps import iso, parse_timestamp, utc_now
from tap_exportjobs.jobs.windows import day_start, zone

__all__ = [
    "CANCELED",
    "DELETED",
    "EMPTY",
    "EXPIRED",
    "FAILED",
    "PENDING",
    "RUNNING",
    "STATUSES",
    "SUCCEEDED",
    "TERMINAL",
    "UNKNOWN",
    "CheckpointMixin",
    "DownloadLink",
    "ExportSpec",
    "ExportWindow",
    "JobStream",
    "Ledger",
    "day_start",
    "fingerprint",
    "iso",
    "parse_timestamp",
    "utc_now",
    "zone",
]
