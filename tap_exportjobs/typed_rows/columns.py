"""The typed columns of one rows stream: which file keys become which warehouse columns.

Columns come from two places, strongest first: the user's `typed_rows.<stream>.columns`,
then what the API declares or a sample of the stream's latest files showed (`sampling`),
merged over time: columns are only added and keep the type they were first given. A file
key matches a column by its exact name, else by its warehouse name, so a declared
`saleOrderCode` takes a file's `Sale Order Code` caption.
"""

from __future__ import annotations

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
        self.by_base: dict[str, Column] = {}
        for column in self.columns:
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

    def __bool__(self) -> bool:
        return bool(self.columns)

    def __len__(self) -> int:
        return len(self.columns)
