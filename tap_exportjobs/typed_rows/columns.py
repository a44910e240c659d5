"""The typed columns of one rows stream: which file keys become which warehouse columns.

Columns come from two places, strongest first: the user's `typed_rows.<stream>.columns`,
then what the API declares or a sample of the stream's latest files showed (`sampling`),
merged over time: columns are only added and keep the type they were first given. A file
key matches a column by its exact name, else by its warehouse name, so a declared
`saleOrderCode` takes a file's `Sale Order Code` caption.
"""

from __future__ import annotations

import re
import typing as t
from dataclasses import dataclass

from tap_exportjobs.typed_rows.names import assign_names, warehouse_name
from tap_exportjobs.typed_rows.values import column_schema

#: More columns than this stay in `row` (PostgreSQL allows 1,600 a table; a hostile header
#: could name millions).
MAX_COLUMNS = 1_000


@dataclass(frozen=True)
class Column:
    #: The property's name in the stream's schema.
    name: str
    #: The name as the file (or the user's setting) has it.
    original: str
    type: str
    #: Whether the user declared it (else it was inferred).
    declared: bool = False


class TypedColumns:
    """The ordered columns of a rows stream, and how file keys find them."""

    def __init__(self, columns: t.Iterable[Column], *, inferring: bool = False) -> None:
        self.columns = tuple(columns)
        #: Columns are inferred too: every key of a file is expected to have one.
        self.inferring = inferring
        self.by_original = {column.original: column for column in self.columns}
        # Only a declared column takes a key by its warehouse name (a declared `saleOrderCode`
        # takes the `Sale Order Code` caption); an inferred one is its file's own name.
        self.by_base: dict[str, Column] = {}
        for column in self.columns:
            if column.declared:
                self.by_base.setdefault(warehouse_name(column.original), column)

    @classmethod
    def build(
        cls,
        declared: t.Mapping[str, str],
        inferred: t.Mapping[str, str],
        reserved: t.Iterable[str],
        *,
        inferring: bool,
    ) -> TypedColumns:
        """Declared columns (in the setting's order), then inferred ones not declared under
        the same or an equivalent name, at most MAX_COLUMNS in all."""
        declared_bases = {warehouse_name(name) for name in declared}
        originals = {name: (kind, True) for name, kind in declared.items()}
        for name, kind in inferred.items():
            if name not in originals and warehouse_name(name) not in declared_bases:
                originals[name] = (kind, False)
        kept = dict(list(originals.items())[:MAX_COLUMNS])
        names = assign_names(kept, reserved)
        return cls(
            (
                Column(names[original], original, kind, declared)
                for original, (kind, declared) in kept.items()
            ),
            inferring=inferring,
        )

    @classmethod
    def from_schema(
        cls, schema: dict, reserved: t.Iterable[str], *, inferring: bool
    ) -> TypedColumns:
        """The columns a catalog's schema declares (what the target was told at discovery),
        so a sync's records match it exactly whatever a new sample would say."""
        skip = set(reserved)
        columns = []
        for name, prop in (schema.get("properties") or {}).items():
            if name in skip or not isinstance(prop, dict):
                continue
            described = _DESCRIBED.match(prop.get("description") or "")
            original = described.group(1) if described else name
            declared = bool(described and described.group(2) == "declared")
            columns.append(Column(name, original, _schema_type(prop), declared))
        return cls(columns[:MAX_COLUMNS], inferring=inferring)

    def find(self, key: str) -> Column | None:
        """The column a file key goes to, or None (it stays in `row`)."""
        column = self.by_original.get(key)
        if column is None:
            column = self.by_base.get(warehouse_name(key))
        return column

    def schema_properties(self) -> dict[str, dict]:
        return {
            column.name: column_schema(
                column.type,
                f'Column "{column.original}" of the file'
                + (" (declared)" if column.declared else " (inferred from a sample)"),
            )
            for column in self.columns
        }


#: How `schema_properties` describes a column, read back from a catalog.
_DESCRIBED = re.compile(r'Column "(.*)" of the file \((declared|inferred from a sample)\)$', re.S)


def _schema_type(prop: dict) -> str:
    """The column type of a catalog property (string unless it says otherwise)."""
    types = prop.get("type") or []
    types = [types] if isinstance(types, str) else list(types)
    for kind in ("integer", "number", "boolean"):
        if kind in types:
            return kind
    if prop.get("format") in ("date-time", "date"):
        return prop["format"]
    return "string"
