"""m3ter: lookup-table revision data jobs, data export destinations and data export jobs.

See shared/api-notes/m3ter.md. Every list pages with `pageSize`/`nextToken`; tokens come
from a Basic-authenticated client-credentials call and an expired one may answer 403 as
well as 401; download links are presigned and expire (`downloadUrlExpiry` on lookup-table
jobs, 15 minutes from `getdownloadurl` for data exports, which answers for a day after the
export completes). One module per concern: settings, the shared API client, entities,
lookup-table data jobs, data exports.
"""

from __future__ import annotations

from tap_exportjobs.providers.m3ter.data_exports import DataExportJobsStream, DataExportRowsStream
from tap_exportjobs.providers.m3ter.entities import (
    ExportDestinationsStream,
    LookupTableRevisionsStream,
    LookupTablesStream,
)
from tap_exportjobs.providers.m3ter.lookup_jobs import (
    LookupTableDataJobsStream,
    LookupTableDataRowsStream,
)
from tap_exportjobs.providers.m3ter.settings import NAME, SETTINGS, validate

STREAMS = (
    ExportDestinationsStream,
    LookupTablesStream,
    LookupTableRevisionsStream,
    LookupTableDataJobsStream,
    LookupTableDataRowsStream,
    DataExportJobsStream,
    DataExportRowsStream,
)

__all__ = [
    "NAME",
    "SETTINGS",
    "STREAMS",
    "DataExportJobsStream",
    "DataExportRowsStream",
    "ExportDestinationsStream",
    "LookupTableDataJobsStream",
    "LookupTableDataRowsStream",
    "LookupTableRevisionsStream",
    "LookupTablesStream",
    "validate",
]
