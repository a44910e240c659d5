"""m3ter entities: export destinations, lookup tables and their revisions.

Incremental on `dtLastModified`; tables and revisions are walked every run for the
data jobs below them.
"""

from __future__ import annotations

import typing as t
from datetime import datetime

from singer_sdk import RESTStream
from singer_sdk import typing as th

from tap_exportjobs.entities import ModifiedEntities
from tap_exportjobs.http import RetryPolicyMixin
from tap_exportjobs.jobs import (
    parse_timestamp,
)
from tap_exportjobs.jobs.record import free_form_object
from tap_exportjobs.providers.m3ter.api import AUDIT_PROPERTIES, M3terAPI

if t.TYPE_CHECKING:
    from collections.abc import Iterator

    from singer_sdk.helpers.types import Context


class ExportDestinationsStream(ModifiedEntities, M3terAPI, RetryPolicyMixin, RESTStream):
    """S3 and GCS destinations: all on the first sync, then those changed (dtLastModified)."""

    name = "m3ter_export_destinations"
    path = "/dataexports/destinations"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("code", th.StringType),
        th.Property("destinationType", th.StringType),
        th.Property("bucketName", th.StringType),
        th.Property("prefix", th.StringType),
        th.Property("partitionOrder", th.StringType),
        th.Property("iamRoleArn", th.StringType),
        th.Property("projectNumber", th.StringType),
        th.Property("poolId", th.StringType),
        th.Property("providerId", th.StringType),
        th.Property("serviceAccountEmail", th.StringType),
        *AUDIT_PROPERTIES,
    ).to_dict()


class LookupTablesStream(ModifiedEntities, M3terAPI, RetryPolicyMixin, RESTStream):
    """Tables emitted when they or their active revision changed; every one is walked."""

    name = "m3ter_lookup_tables"
    path = "/lookuptables"
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("name", th.StringType),
        th.Property("code", th.StringType),
        th.Property("customFields", free_form_object()),
        th.Property("activeRevision", free_form_object()),
        *AUDIT_PROPERTIES,
    ).to_dict()

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap)
        self.state_partitioning_keys = []

    def get_url_params(self, context: Context | None, next_page_token: str | None) -> dict:
        # activeRevision is a non-default field: sent only when asked for (notes 4.1).
        return {**super().get_url_params(context, next_page_token), "additional": "activeRevision"}

    def request_records(self, context: Context | None) -> Iterator[dict]:
        wanted = self.settings.get("lookup_table_ids")
        for record in super().request_records(context):
            if not wanted or record["id"] in wanted:
                yield record

    def last_modified(self, record: dict) -> datetime | None:
        # Publishing a revision changes the table's activeRevision, not its dtLastModified.
        stamps = [
            parse_timestamp(record.get("dtLastModified")),
            parse_timestamp((record.get("activeRevision") or {}).get("dtLastModified")),
        ]
        return max((stamp for stamp in stamps if stamp), default=None)

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"lookupTableId": record["id"]}


class LookupTableRevisionsStream(ModifiedEntities, M3terAPI, RetryPolicyMixin, RESTStream):
    """Revisions emitted when changed; every one is walked for its data jobs."""

    name = "m3ter_lookup_table_revisions"
    path = "/lookuptables/{lookupTableId}/revisions"
    parent_stream_type = LookupTablesStream
    primary_keys: t.ClassVar[list[str]] = ["id"]
    schema = th.PropertiesList(
        th.Property("id", th.StringType, required=True),
        th.Property("lookupTableId", th.StringType),
        th.Property("name", th.StringType),
        th.Property("status", th.StringType),
        th.Property("startDate", th.DateTimeType),
        th.Property(
            "fields",
            th.ArrayType(
                th.ObjectType(
                    th.Property("name", th.StringType), th.Property("type", th.StringType)
                )
            ),
        ),
        th.Property("keys", th.ArrayType(th.StringType)),
        th.Property("itemCount", th.IntegerType),
        th.Property("customFields", free_form_object()),
        *AUDIT_PROPERTIES,
    ).to_dict()

    def __init__(self, tap: t.Any) -> None:
        super().__init__(tap)
        self.state_partitioning_keys = []  # revisions are walked in full; state stays small

    def post_process(self, row: dict, context: Context | None = None) -> dict | None:
        # A revision does not name its table; the listing's path does.
        return {
            **row,
            "lookupTableId": row.get("lookupTableId") or (context or {}).get("lookupTableId"),
        }

    def get_child_context(self, record: dict, context: Context | None) -> dict:
        return {"lookupTableId": context["lookupTableId"], "revisionId": record["id"]}
