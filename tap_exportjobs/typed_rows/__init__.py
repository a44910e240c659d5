"""Typed report rows: a file's columns as real warehouse columns (the `typed_rows` setting).

`settings` reads the setting, `sampling` infers columns from a bounded sample of the latest
files, `columns` decides each column's name and type, `shaping` puts each row's values in
them, and `values` and `names` hold the conversion and naming rules.
"""

from __future__ import annotations

import typing as t

from tap_exportjobs.local_cache import cache_dir
from tap_exportjobs.typed_rows.columns import TypedColumns
from tap_exportjobs.typed_rows.sampling import inferred_columns
from tap_exportjobs.typed_rows.settings import stream_typing
from tap_exportjobs.typed_rows.shaping import RowShaper

if t.TYPE_CHECKING:
    from tap_exportjobs.jobs import JobStream

__all__ = ["RowShaper", "TypedColumns", "typed_columns"]


def typed_columns(
    rows_stream: str,
    job_stream: JobStream,
    config: t.Mapping,
    *,
    reserved: t.Iterable[str],
    catalog_schema: dict | None = None,
) -> TypedColumns | None:
    """The stream's typed columns, or None when `typed_rows` does not cover it. With a
    catalog (a sync), its schema's columns: the SCHEMA the target gets is the catalog's, so
    the records must have exactly those columns (Meltano may reuse a catalog discovered
    long ago); without one (discovery), the declared and inferred ones."""
    typing = stream_typing(config, rows_stream)
    if typing is None:
        return None
    if catalog_schema is not None:
        return TypedColumns.from_schema(
            catalog_schema, reserved, inferring=bool(typing.get("infer"))
        )
    inferred = (
        inferred_columns(job_stream, rows_stream, cache_dir(config)) if typing.get("infer") else {}
    )
    return TypedColumns.build(
        typing.get("columns") or {},
        inferred,
        reserved=list(reserved),
        inferring=bool(typing.get("infer")),
    )
