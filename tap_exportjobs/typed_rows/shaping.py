"""Turning a file's row into a typed record: values into their columns, converted; what does
not fit into `row`, never dropped.

Drift between the schema and a file is expected (reports gain columns, values change
shape), so it is logged, bounded, and never fails the file: a key with no column stays in
`row`; a column the file lacks is null; a value that does not parse as its column's type
stays in `row` as written, under the file's name for it, and the column is null.
"""

from __future__ import annotations

import logging
import typing as t
from collections import Counter

from tap_exportjobs.typed_rows.positions import PositionalPlan, Step
from tap_exportjobs.typed_rows.values import MISMATCH, converter

if t.TYPE_CHECKING:
    from tap_exportjobs.typed_rows.columns import Column, TypedColumns

#: At most this many drifting names are listed in one log line.
NAMES_LOGGED = 20
#: Keys whose place is remembered per file (JSON rows may bring new keys row after row).
MAX_PLANNED_KEYS = 10_000


def _as_is_if_text(value: t.Any) -> t.Any:
    return value if value is None or type(value) is str else MISMATCH


class RowShaper:
    """Makes the records of one file's rows: `envelope` (the record's own fields but
    `row_number` and `row`) with the columns. `text_values`: every value is a string (CSV)."""

    def __init__(
        self,
        columns: TypedColumns,
        envelope: dict,
        *,
        label: str,
        logger: logging.Logger,
        text_values: bool,
        every_key_expected: bool,
    ) -> None:
        self._columns = columns
        self._label = label
        self._logger = logger
        self._text_values = text_values
        # The schema's order: envelope, columns (all null until filled), `row` last but two.
        fields = dict(envelope)
        after = {k: fields.pop(k) for k in ("file_format", "source_file") if k in fields}
        self._template = {
            **fields,
            "row_number": None,
            **{column.name: None for column in columns.columns},
            "row": None,
            **after,
        }
        #: file key -> where its value goes, or None: it stays in `row`
        self._plan: dict[str, Step | None] = {}
        self._claimed: dict[str, str] = {}
        self._unparsed: Counter[str] = Counter()
        self._first_unparsed: dict[str, int] = {}
        self._extra = 0
        self._checked_missing = False
        #: Columns were inferred, so a key without one is drift worth a warning (with only
        #: declared columns, the other keys are meant to stay in `row`).
        self._extra_level = logging.WARNING if every_key_expected else logging.DEBUG
        #: For CSV, after the first row: the plan by position.
        self._positions: PositionalPlan | None = None

    def record(self, row: t.Any, row_number: int) -> dict:
        """The record of one row."""
        positions = self._positions
        if positions is not None and len(row) == positions.width:
            return positions.record(row, row_number)  # a CSV row: the header's keys
        record = self._template.copy()
        record["row_number"] = row_number
        record["row"] = self._fill_by_key(record, row, row_number)
        if self._text_values and positions is None and isinstance(row, dict):
            self._positions = PositionalPlan(list(row), self._plan, self._template, self._unfit)
        return record

    def finish(self) -> None:
        """Log how many values of each column did not parse in this file."""
        for key, count in self._unparsed.items():
            column = self._columns.find(key)
            self._logger.warning(
                "%s: %d value(s) of column %r are not %s (first at row %d): kept as written "
                "in `row`, the column left null",
                self._label,
                count,
                key,
                column.type if column else "of its type",
                self._first_unparsed[key],
            )

    def _fill_by_key(self, record: dict, row: t.Any, row_number: int) -> t.Any:
        if not isinstance(row, dict):
            return row  # a file of bare values: nothing to put in columns
        if not self._checked_missing:
            self._check_missing(row)
        plan = self._plan
        rest = None
        for key, value in row.items():
            try:
                step = plan[key]
            except KeyError:
                step = self._plan_key(key, row_number)
                if len(plan) < MAX_PLANNED_KEYS:  # rows of ever new keys: memory stays bounded
                    plan[key] = step
            if step is None:
                if rest is None:
                    rest = {}
                rest[key] = value
                continue
            converted = value if step.convert is None else step.convert(value)
            if converted is MISMATCH:
                if rest is None:
                    rest = {}
                rest[key] = value
                self._unfit(key, value, row_number)
            else:
                record[step.name] = converted
        return rest

    def _plan_key(self, key: str, row_number: int) -> Step | None:
        column = self._columns.find(key)
        if column is not None and self._claimed.get(column.name) == key:
            return Step(column.name, self._converter(column), column.type)  # planned before
        if column is None or column.name in self._claimed:
            self._extra += 1
            if self._extra <= NAMES_LOGGED:
                twin = (
                    f" (column {column.name!r} is taken by {self._claimed[column.name]!r})"
                    if column is not None
                    else ""
                )
                self._logger.log(
                    self._extra_level,
                    "%s, row %d: key %r is not a column of the schema%s: kept in `row`; "
                    "rediscover the catalog to get it as a column",
                    self._label,
                    row_number,
                    key,
                    twin,
                )
            return None
        self._claimed[column.name] = key
        return Step(column.name, self._converter(column), column.type)

    def _converter(self, column: Column) -> t.Callable[[t.Any], t.Any] | None:
        if column.type == "string":
            return None if self._text_values else _as_is_if_text
        return converter(column.type)

    def _check_missing(self, row: dict) -> None:
        """Columns the file's first row lacks (a CSV header without them): null all along."""
        self._checked_missing = True
        found = {column.name for key in row if (column := self._columns.find(key))}
        missing = [c.original for c in self._columns.columns if c.name not in found]
        if missing:
            self._logger.info(
                "%s: %d column(s) of the schema are not in this file, left null: %s",
                self._label,
                len(missing),
                ", ".join(repr(name) for name in missing[:NAMES_LOGGED]),
            )

    def _unfit(self, key: str, value: t.Any, row_number: int) -> None:
        if key not in self._unparsed:
            self._first_unparsed[key] = row_number
        self._unparsed[key] += 1
