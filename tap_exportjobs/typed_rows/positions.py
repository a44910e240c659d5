"""A CSV file's typed rows by plan: every row has the header's keys, so after the first row
each value's fate is known by its key, and values are fetched many at a time.

Strings are copied into their columns in one C-level step; the integer and number cells of
a row are checked and converted together by one msgspec decode of a JSON array (JSON's
number grammar is the column rules' own: no leading zeros, no "+", no "NaN"), guarded so
that no text the rules refuse (spaces, quotes, an exponent) can pass; a row whose numbers
the decode refuses, and every other typed cell, goes cell by cell.
"""

from __future__ import annotations

import decimal
import operator
import re
import typing as t

import msgspec

from tap_exportjobs.typed_rows.values import INT64_MAX, INT64_MIN, MISMATCH

if t.TYPE_CHECKING:
    from collections.abc import Callable

#: What a row's batched number cells may hold, joined by commas: anything else (a space or
#: a quote JSON would accept, an exponent beyond the rules' range) goes cell by cell.
_BATCHABLE = re.compile(r"[-0-9.,]*")
#: Longer joined texts go cell by cell (the rules bound a number's size by its text).
_BATCHABLE_CHARS = 290
_BATCH_TYPES = {
    "integer": t.Annotated[int, msgspec.Meta(ge=INT64_MIN, le=INT64_MAX)],
    "number": decimal.Decimal,
}


class Step(t.NamedTuple):
    """Where one file key's value goes: its column, and how it is converted (None: as is)."""

    name: str
    convert: Callable[[t.Any], t.Any] | None
    type: str


#: A cell that did not fit: (file key, value, row number) -> None.
OnMismatch = t.Callable[[str, t.Any, int], None]


class PositionalPlan:
    """How to fill a record from a CSV row, decided once for the file's header."""

    def __init__(self, keys: list[str], plan: t.Mapping[str, Step | None]) -> None:
        self.width = len(keys)
        copied = [(key, s.name) for key in keys if (s := plan[key]) and not s.convert]
        self._copied_names = [name for _, name in copied]
        self._copied_values = _getter([key for key, _ in copied])
        converted = [(key, s) for key in keys if (s := plan[key]) and s.convert]
        batched = [cell for cell in converted if cell[1].type in _BATCH_TYPES]
        self._one_by_one = [cell for cell in converted if cell[1].type not in _BATCH_TYPES]
        self._batched = batched
        self._batched_names = [step.name for _, step in batched]
        self._batched_cells = _getter([key for key, _ in batched])
        kinds = tuple(_BATCH_TYPES[step.type] for _, step in batched)
        self._decoder = msgspec.json.Decoder(tuple.__class_getitem__(kinds)) if kinds else None
        self._rest = [key for key in keys if plan[key] is None]

    def fill(self, record: dict, row: dict, row_number: int, mismatch: OnMismatch) -> t.Any:
        """Put the row's values in `record`'s columns; what stays in `row` (None if nothing).
        The row has the keys the plan was made for (a CSV row of the file's header)."""
        record.update(zip(self._copied_names, self._copied_values(row), strict=True))
        rest: dict | None = None
        cells = self._one_by_one
        if self._decoder is not None:
            decoded = self._decode(self._batched_cells(row))
            if decoded is None:
                cells = [*self._batched, *cells]
            else:
                record.update(zip(self._batched_names, decoded, strict=True))
        for key, step in cells:
            value = row[key]
            converted = step.convert(value)  # type: ignore[misc]
            if converted is MISMATCH:
                if rest is None:
                    rest = {}
                rest[key] = value
                mismatch(key, value, row_number)
            else:
                record[step.name] = converted
        for key in self._rest:
            if rest is None:
                rest = {}
            rest[key] = row[key]
        return rest

    def _decode(self, cells: tuple) -> tuple | None:
        joined = ",".join(cells)
        if len(joined) > _BATCHABLE_CHARS or _BATCHABLE.fullmatch(joined) is None:
            return None
        try:
            return self._decoder.decode(f"[{joined}]")  # type: ignore[union-attr]
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None


def _getter(keys: list[str]) -> Callable[[dict], tuple]:
    """The values of `keys`, as a tuple (itemgetter alone gives a bare value for one)."""
    if len(keys) >= 2:
        return operator.itemgetter(*keys)
    if keys:
        only = keys[0]
        return lambda row: (row[only],)
    return lambda row: ()
