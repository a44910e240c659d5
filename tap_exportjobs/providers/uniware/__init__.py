"""Unicommerce Uniware: export jobs the tap creates per window and facility (and existing
ones named by jobCode), and the rows of their CSV files.

See shared/api-notes/uniware.md. One module per concern: settings, the password-grant
authenticator, the export streams.
"""

from __future__ import annotations

from tap_exportjobs.providers.uniware.exports import (
    UniwareExportJobsStream,
    UniwareExportRowsStream,
)
from tap_exportjobs.providers.uniware.settings import NAME, SETTINGS, validate

STREAMS = (UniwareExportJobsStream, UniwareExportRowsStream)

__all__ = [
    "NAME",
    "SETTINGS",
    "STREAMS",
    "UniwareExportJobsStream",
    "UniwareExportRowsStream",
    "validate",
]
