"""Row readers for line-based report files, CSV and NDJSON, at the speed of the file reader.

Each file is read by a fast reader, whose per-row work is the csv module's or msgspec's (C),
with its bounds checked per chunk read rather than per line (`bounded.RowChunks`,
`bounded.LineChunks`). Errors are rare, and naming them exactly (the line, the row's first
line, which bound) is per-line work: so when the fast reader meets any error, the exact
reader, line by line, reads the file again from its start (it is on disk), skips the rows
already emitted, emits the rest up to the error, and names it as it always has.

Values stay exactly as written: CSV cells are strings ("" and "NA" included), JSON numbers
that are not integers are Decimals, integers of any size are ints.
"""

from __future__ import annotations

import codecs
import csv
import decimal
import io
import itertools
import json
import sys
import typing as t

import msgspec

from tap_exportjobs.bounded import (
    CHUNK_BYTES,
    LineChunks,
    Lines,
    MalformedFileError,
    RowChunks,
)

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    #: Opens the file's content again from its start, as a stream within the same bounds.
    Reopener = Callable[[], t.ContextManager[io.BufferedReader]]

# Reports carry large free-text fields; the csv module's 128 KiB default is too small. A
# field is bounded by the row limit instead (`bounded`).
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))

#: msgspec as strict JSON; any line it refuses (NaN, a lone surrogate, an integer beyond its
#: range, a blank line, invalid JSON) is decoded again as the exact reader does.
_decode_json = msgspec.json.Decoder(float_hook=decimal.Decimal).decode
#: What the fast CSV reader meets when a file is not as it should be (the bounds raise
#: MalformedFileErrors).
_CSV_ERRORS = (MalformedFileError, UnicodeDecodeError, csv.Error)


def csv_rows(stream: io.BufferedReader, limit: int, again: Reopener) -> Iterator[dict]:
    """The rows of a CSV file, each a dict keyed by the header's names (`unique_keys`)."""
    chunks = RowChunks(stream, limit, already_read=_skip_bom(stream))
    # newline="": lines end at \n, \r\n or a lone \r, untranslated, as the csv module wants.
    reader = csv.reader(io.TextIOWrapper(chunks, encoding="utf-8", newline=""), strict=False)
    finished = chunks.finished_row
    emitted = 0
    try:
        header = _first_header(reader)
        if header is None:
            return
        finished[0] = header
        keys = unique_keys(header)
        width = len(keys)
        for values in reader:
            finished[0] = values  # a store, not a call: the bound looks at it per chunk
            if len(values) == width:
                yield dict(zip(keys, values))  # noqa: B905 - width checked; strict= is slower
                emitted += 1
            elif values:  # not a blank line: a row of the wrong width
                break
        else:
            return
    except _CSV_ERRORS:
        pass
    reader = chunks = finished = header = values = None  # drop what the fast reader holds
    yield from _exact_after(again, limit, exact_csv_rows, emitted)


def ndjson_rows(stream: io.BufferedReader, limit: int, again: Reopener) -> Iterator[dict]:
    """The rows of a JSON Lines file: one row per line, blank lines skipped."""
    lines = io.BufferedReader(
        LineChunks(stream, limit, already_read=_skip_bom(stream)), CHUNK_BYTES
    )
    decode = _decode_json
    emitted = 0
    try:
        for line in lines:
            try:
                value = decode(line)
            except Exception:
                text = line.decode("utf-8")
                if not text.strip():
                    continue
                value = json.loads(text, parse_float=decimal.Decimal)
            yield value if isinstance(value, dict) else {"value": value}
            emitted += 1
        return
    except ValueError:  # invalid UTF-8 or JSON, or a bound: all are ValueErrors
        pass
    lines = line = value = None  # drop what the fast reader holds
    yield from _exact_after(again, limit, exact_ndjson_rows, emitted)


def _exact_after(
    again: Reopener,
    limit: int,
    exact: Callable[[io.BufferedReader, int], Iterator[dict]],
    emitted: int,
) -> Iterator[dict]:
    """The exact reader takes over from the file's start: the rows after the `emitted`
    ones, then the error that stopped the fast reader, named exactly. The fast reader's
    bounds are never looser than the exact reader's, so a row it emitted is one the exact
    reader emits too; a bound the fast reader met early (its row bound counts up to two
    chunks of read-ahead) costs a second read, not a row. One difference: the exact reader
    decodes and bounds text up to each LF, the fast one up to each line end, so in a file
    whose lines end in a lone CR it may emit rows before an error that the exact reader
    would have refused with the text around them (the error is the same)."""
    with again() as stream:
        yield from itertools.islice(exact(stream, limit), emitted, None)


def exact_csv_rows(stream: io.BufferedReader, limit: int) -> Iterator[dict]:
    """The CSV reader that names every error exactly, line by line."""
    lines = Lines(stream, limit, weigh_commas=True)
    reader = csv.reader(lines.split_bare_cr(), strict=False)
    try:
        header = _first_header(reader)
        if header is None:
            return
        keys = unique_keys(header)
        width = len(keys)
        lines.mark()
        start = reader.line_num + 1
        for values in reader:
            lines.mark()
            if not values:
                start = reader.line_num + 1
                continue
            if len(values) != width:
                raise MalformedFileError(
                    f"CSV row has {len(values)} fields but the header has {width}", line=start
                )
            yield dict(zip(keys, values, strict=False))  # width checked above
            start = reader.line_num + 1
    except csv.Error as error:
        raise MalformedFileError(f"invalid CSV: {error}", line=reader.line_num) from None


def exact_ndjson_rows(stream: io.BufferedReader, limit: int) -> Iterator[dict]:
    """The JSON Lines reader that names every error exactly, line by line."""
    lines = Lines(stream, limit)
    for line in lines:
        lines.mark()
        if not line.strip():
            continue
        try:
            value = json.loads(line, parse_float=decimal.Decimal)
        except ValueError as error:
            raise MalformedFileError(f"invalid JSON: {error.args[0]}", line=lines.number) from None
        yield value if isinstance(value, dict) else {"value": value}


def unique_keys(header: list[str]) -> list[str]:
    """Later duplicates of a column name become name__2, name__3 (the first such name no
    other column has, whatever the header holds), so no value is lost."""
    taken = set(header)
    used: set[str] = set()
    keys = []
    for name in header:
        if name in used:
            number = 2
            while f"{name}__{number}" in taken or f"{name}__{number}" in used:
                number += 1
            name = f"{name}__{number}"
        used.add(name)
        keys.append(name)
    return keys


def _skip_bom(stream: io.BufferedReader) -> int:
    """Reads past a UTF-8 byte order mark: the bytes skipped (the exact reader counts them
    in the first row)."""
    return len(stream.read(3)) if stream.peek(3)[:3] == codecs.BOM_UTF8 else 0


def _first_header(reader: t.Iterator[list[str]]) -> list[str] | None:
    """The first non-blank CSV record (None for a file without one)."""
    header = next(reader, None)
    while header is not None and not header:
        header = next(reader, None)
    return header
