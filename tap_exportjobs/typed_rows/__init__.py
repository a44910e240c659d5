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
    rows_stream: str, job_stream: JobStream, config: t.Mapping, *, reserved: t.Iterable[str]
) -> TypedColumns | None:
    """The stream's typed columns, or None when `typed_rows` does not cover it."""
    typing = stream_typing(config, rows_stream)
    if typing is None:
        return None
    inferred = (
        inferred_columns(job_stream, rows_stream, cache_dir(config)) if typing.get("infer") else {}
    )
    return TypedColumns.build(
        typing.get("columns") or {},
        inferred,
        reserved=list(reserved),
        inferring=bool(typing.get("infer")),
    )
