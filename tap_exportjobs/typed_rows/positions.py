"""A CSV file's typed rows by plan: every row has the header's keys, so after the first row
each value's fate is known by its key, and one compiled function makes each record.

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
#: A decode pays for itself from this many number cells on.
BATCH_AT_LEAST = 4
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
    """How to make a record of a CSV row, decided once for the file's header and compiled
    into one straight-line function (a loop over cells costs as much as converting them).

    The function's text holds only indexes into tuples of this plan's own: no name from the
    file (which may hold anything) is ever part of the code.
    """

    def __init__(
        self, keys: list[str], plan: t.Mapping[str, Step | None], template: dict, unfit: OnMismatch
    ) -> None:
        self.width = len(keys)
        fields = list(template)
        converted = [(key, s) for key in keys if (s := plan[key]) and s.convert]
        batched = [cell for cell in converted if cell[1].type in _BATCH_TYPES]
        if len(batched) < BATCH_AT_LEAST:
            batched = []  # cell by cell is cheaper for a few
        kinds = tuple(_BATCH_TYPES[step.type] for _, step in batched)
        self._decoder = msgspec.json.Decoder(tuple.__class_getitem__(kinds)) if kinds else None
        self._batched_cells = _getter([key for key, _ in batched])
        copied = {s.name: key for key in keys if (s := plan[key]) and not s.convert}
        at = {key: i for i, key in enumerate(keys)}
        items = []
        for i, name in enumerate(fields):
            if name == "row_number":
                items.append(f"F[{i}]: n")
            elif name in copied:
                items.append(f"F[{i}]: row[K[{at[copied[name]]}]]")
            else:
                items.append(f"F[{i}]: V[{i}]")
        lines = ["def record(row, n):", "    rest = None", f"    rec = {{{', '.join(items)}}}"]
        field = {name: i for i, name in enumerate(fields)}
        if batched:
            lines += ["    decoded = batch(row)", "    if decoded is not None:"]
            lines += [
                f"        rec[F[{field[step.name]}]] = decoded[{j}]"
                for j, (_, step) in enumerate(batched)
            ]
            lines += ["    else:"]
            lines += _convert_lines([(at[k], field[s.name]) for k, s in batched], "        ")
        one_by_one = [(at[k], field[s.name]) for k, s in converted if (k, s) not in batched]
        lines += _convert_lines(one_by_one, "    ")
        for key in keys:
            if plan[key] is None:
                lines += ["    if rest is None:", "        rest = {}"]
                lines += [f"    rest[K[{at[key]}]] = row[K[{at[key]}]]"]
        lines += [f"    rec[F[{field['row']}]] = rest", "    return rec"]
        # The code's constants: F field names, V template values, K file keys, C converters.
        scope = {
            "F": tuple(fields),
            "V": tuple(template.values()),
            "K": tuple(keys),
            "C": tuple(step.convert if step else None for step in map(plan.get, keys)),
            "MISMATCH": MISMATCH,
            "unfit": unfit,
            "batch": self._batch,
        }
        exec("\n".join(lines), scope)  # indexes only, see the docstring
        #: The record of a row with the header's keys: (row, row_number) -> dict.
        self.record: Callable[[dict, int], dict] = scope["record"]

    def _batch(self, row: dict) -> tuple | None:
        joined = ",".join(self._batched_cells(row))
        if len(joined) > _BATCHABLE_CHARS or _BATCHABLE.fullmatch(joined) is None:
            return None
        try:
            return self._decoder.decode(f"[{joined}]")  # type: ignore[union-attr]
        except (msgspec.DecodeError, msgspec.ValidationError):
            return None


def _convert_lines(cells: list[tuple[int, int]], indent: str) -> list[str]:
    """Code converting each (file key index, field index) cell: its column, or `rest`."""
    lines = []
    for key, field in cells:
        lines += [
            f"{indent}value = row[K[{key}]]",
            f"{indent}converted = C[{key}](value)",
            f"{indent}if converted is MISMATCH:",
            f"{indent}    if rest is None:",
            f"{indent}        rest = {{}}",
            f"{indent}    rest[K[{key}]] = value",
            f"{indent}    unfit(K[{key}], value, n)",
            f"{indent}else:",
            f"{indent}    rec[F[{field}]] = converted",
        ]
    return lines


def _getter(keys: list[str]) -> Callable[[dict], tuple]:
    """The values of `keys`, as a tuple (itemgetter alone gives a bare value for one)."""
    if len(keys) >= 2:
        return operator.itemgetter(*keys)
    if keys:
        only = keys[0]
        return lambda row: (row[only],)
    return lambda row: ()
