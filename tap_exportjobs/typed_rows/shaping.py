"""Turning a file's row into a typed record: values into their columns, converted; what does
not fit into `row`, never dropped.

Drift between the schema and a file is expected (reports gain columns, values change
shape), so it is logged, bounded, and never fails the file: a key with no column stays in
`row`; a column the file lacks is null; a value that does not parse as its column's type
stays in `row` as written, under the file's name for it, and the column is null.
"""

from __future__ import annotations

import logging
import operator
import typing as t
from collections import Counter

from tap_exportjobs.typed_rows.values import MISMATCH, converter

if t.TYPE_CHECKING:
    from collections.abc import Callable

    from tap_exportjobs.typed_rows.columns import Column, TypedColumns

#: At most this many drifting names are listed in one log line.
NAMES_LOGGED = 20


def _as_is_if_text(value: t.Any) -> t.Any:
    return value if value is None or type(value) is str else MISMATCH


class RowShaper:
    """Shapes the rows of one file. `text_values`: every value is a string (CSV)."""

    def __init__(
        self,
        columns: TypedColumns,
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
        self._empty = {column.name: None for column in columns.columns}
        #: file key -> (column name, converter or None for "as is"), or None: stays in `row`
        self._plan: dict[str, tuple[str, Callable[[t.Any], t.Any] | None] | None] = {}
        self._claimed: dict[str, str] = {}
        self._unparsed: Counter[str] = Counter()
        self._first_unparsed: dict[str, int] = {}
        self._extra: list[str] = []
        self._checked_missing = False
        #: Columns were inferred, so a key without one is drift worth a warning (with only
        #: declared columns, the other keys are meant to stay in `row`).
        self._extra_level = logging.WARNING if every_key_expected else logging.DEBUG
        #: For CSV, after the first row: the plan by position (see `_fix_positions`).
        self._width = -1

    def shape(self, row: t.Any, row_number: int) -> tuple[dict, t.Any]:
        """The row's column values, and what stays in `row` (None if nothing)."""
        if self._width >= 0 and len(row) == self._width:  # CSV: the header's keys, in order
            return self._shape_by_position(tuple(row.values()), row_number)
        typed, rest = self._shape_by_key(row, row_number)
        if self._text_values and self._width < 0 and isinstance(row, dict):
            self._fix_positions(list(row))
        return typed, rest

    def _fix_positions(self, keys: list[str]) -> None:
        """A CSV reader gives every row the header's keys in the header's order, so after
        the first row each value's fate is known by its position: strings are copied in one
        C-level step, only typed values are converted one by one."""
        plan = self._plan
        strings = [(i, plan[key][0]) for i, key in enumerate(keys) if _copied(plan[key])]
        self._string_names = [name for _, name in strings]
        self._string_values = _getter([i for i, _ in strings])
        self._converted = [
            (i, step[0], step[1], key)
            for i, key in enumerate(keys)
            if (step := plan[key]) is not None and step[1] is not None
        ]
        self._rest_keys = [(i, key) for i, key in enumerate(keys) if plan[key] is None]
        found = {step[0] for step in plan.values() if step is not None}
        self._absent = {name: None for name in self._empty if name not in found}
        self._width = len(keys)

    def _shape_by_position(self, values: tuple, row_number: int) -> tuple[dict, t.Any]:
        typed = dict(zip(self._string_names, self._string_values(values), strict=True))
        if self._absent:
            typed.update(self._absent)
        rest = None
        for index, name, convert, key in self._converted:
            value = values[index]
            converted = convert(value)
            if converted is MISMATCH:
                if rest is None:
                    rest = {}
                rest[key] = value
                typed[name] = None
                self._unparsed_value(key, row_number)
            else:
                typed[name] = converted
        for index, key in self._rest_keys:
            if rest is None:
                rest = {}
            rest[key] = values[index]
        return typed, rest

    def _shape_by_key(self, row: t.Any, row_number: int) -> tuple[dict, t.Any]:
        typed = self._empty.copy()
        if not isinstance(row, dict):
            return typed, row  # a file of bare values: nothing to put in columns
        if not self._checked_missing:
            self._check_missing(row)
        plan = self._plan
        rest = None
        for key, value in row.items():
            try:
                step = plan[key]
            except KeyError:
                step = plan[key] = self._plan_key(key, row_number)
            if step is None:
                if rest is None:
                    rest = {}
                rest[key] = value
                continue
            name, convert = step
            if convert is None:
                typed[name] = value
                continue
            converted = convert(value)
            if converted is MISMATCH:
                if rest is None:
                    rest = {}
                rest[key] = value
                self._unparsed_value(key, row_number)
            else:
                typed[name] = converted
        return typed, rest

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

    def _plan_key(self, key: str, row_number: int) -> tuple[str, t.Any] | None:
        column = self._columns.find(key)
        if column is None or column.name in self._claimed:
            self._extra.append(key)
            if len(self._extra) <= NAMES_LOGGED:
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
        return column.name, self._converter(column)

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

    def _unparsed_value(self, key: str, row_number: int) -> None:
        if key not in self._unparsed:
            self._first_unparsed[key] = row_number
        self._unparsed[key] += 1


def _copied(step: tuple[str, t.Any] | None) -> bool:
    """A value copied as is into its column (a CSV string column)."""
    return step is not None and step[1] is None


def _getter(indexes: list[int]) -> t.Callable[[tuple], tuple]:
    """The values at `indexes`, as a tuple (itemgetter alone gives a bare value for one)."""
    if len(indexes) >= 2:
        return operator.itemgetter(*indexes)
    if indexes:
        only = indexes[0]
        return lambda values: (values[only],)
    return lambda values: ()
