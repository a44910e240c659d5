"""The `typed_rows` and `cache_dir` settings, and the checks that name what is wrong."""

from __future__ import annotations

import difflib
import typing as t

from singer_sdk import typing as th

from tap_exportjobs.typed_rows.names import warehouse_name
from tap_exportjobs.typed_rows.values import COLUMN_TYPES

#: The key of `typed_rows` that applies to every rows stream not named on its own.
EVERY_STREAM = "*"

TYPED_ROWS_SETTINGS = th.PropertiesList(
    th.Property(
        "typed_rows",
        th.ObjectType(
            additional_properties=th.ObjectType(
                th.Property(
                    "infer",
                    th.BooleanType,
                    description="Infer columns from a sample of the latest finished files",
                ),
                th.Property(
                    "columns",
                    th.ObjectType(
                        additional_properties=th.StringType(allowed_values=list(COLUMN_TYPES))
                    ),
                    description="Column name (as the file has it) -> type; wins over inference",
                ),
            )
        ),
        description="Real warehouse columns for report rows: rows-stream name (or * for every "
        'rows stream) -> {"infer": true} and/or {"columns": {"<name>": "<type>"}}, a type being '
        "string, integer, number, boolean, date-time or date. Values that do not fit stay in "
        "`row`",
    ),
    th.Property(
        "cache_dir",
        th.StringType,
        description="Where the tap keeps, beside state, the report columns discovery inferred "
        "and the jobs it created for export windows (adopted by a run whose predecessor's "
        "state was lost), default $XDG_CACHE_HOME/tap-exportjobs (~/.cache/tap-exportjobs)",
    ),
)


def stream_typing(config: t.Mapping, stream_name: str) -> dict | None:
    """The `typed_rows` entry for a rows stream: its own, else `*`'s; None when untyped."""
    typed = config.get("typed_rows") or {}
    entry = typed.get(stream_name, typed.get(EVERY_STREAM))
    wanted = isinstance(entry, dict) and (entry.get("infer") or entry.get("columns"))
    return entry if wanted else None


def typed_rows_problems(config: t.Mapping, rows_streams: t.Iterable[str]) -> list[str]:
    """Each problem with `typed_rows`, naming the setting (the JSON schema catches types)."""
    typed = config.get("typed_rows")
    if not isinstance(typed, dict):
        return []
    known = [*rows_streams, EVERY_STREAM]
    problems = []
    for stream, entry in typed.items():
        where = f"typed_rows.{stream}"
        if stream not in known:
            nearest = difflib.get_close_matches(stream, known, n=1)
            hint = f", did you mean {nearest[0]!r}?" if nearest else ""
            problems.append(f"{where}: not a rows stream{hint} (rows streams: {', '.join(known)})")
        if not isinstance(entry, dict):
            continue
        for key in entry:
            if key not in ("infer", "columns"):
                problems.append(f"{where}.{key}: unknown setting (takes infer, columns)")
        columns = entry.get("columns")
        if not isinstance(columns, dict):
            continue
        seen: dict[str, str] = {}
        for name, kind in columns.items():
            if kind not in COLUMN_TYPES:
                problems.append(
                    f"{where}.columns.{name}: {kind!r} is not a column type "
                    f"({', '.join(COLUMN_TYPES)})"
                )
            base = warehouse_name(name)
            if base in seen:
                problems.append(
                    f"{where}.columns: {seen[base]!r} and {name!r} are the same column "
                    f"({base!r} in the warehouse)"
                )
            seen.setdefault(base, name)
    return problems
