"""Row readers for downloaded report files: CSV, JSON array, JSON object wrapping an array,
NDJSON, and gzip of any of them — declared by the API or sniffed from the bytes.

Sniffing never splits one object into several rows: an undeclared file of JSON objects is
one row per object. Only a file declared `json` may be an object whose array holds the rows.

Everything streams from disk: files may be many gigabytes. Memory stays bounded for any
input: see `bounded` for the file cap and the row limit every reader keeps to. Values stay
exactly as written: CSV cells are strings ("" and "NA" included), JSON numbers are Decimals.
CSV and NDJSON, the bulk of what reports hold, are read by `readers`; JSON documents here.
"""

from __future__ import annotations

import codecs
import contextlib
import gzip
import io
import json
import os
import typing as t
import zipfile
from dataclasses import dataclass, field

import ijson

from tap_exportjobs.bounded import (
    JSON_READ_BYTES,
    Budget,
    CappedReader,
    FileTooLargeError,
    MalformedFileError,
    RowTooLargeError,
    RowWindow,
    row_limit,
)
from tap_exportjobs.readers import csv_rows, ndjson_rows

if t.TYPE_CHECKING:
    from collections.abc import Iterator

GZIP_MAGIC = b"\x1f\x8b"
ZIP_MAGIC = b"PK\x03\x04"
SNIFF_BYTES = 64 * 1024
_JSON_LINES = {
    "ndjson",
    "jsonl",
    "json_bulk",
    "application/jsonl",
    "application/x-ndjson",
    "application/x-jsonlines",
    "application/jsonlines",
}
_JSON = {"json", "application/json"}
_CSV = {"csv", "text/csv", "application/csv"}

__all__ = ["DecodedFile", "FileTooLargeError", "MalformedFileError", "open_rows"]


@dataclass
class DecodedFile:
    """A file opened for reading rows lazily, in file order."""

    file_format: str  # "csv", "json" or "ndjson"
    compression: str | None  # "gzip", "zip" or None
    rows: Iterator[dict]
    _handles: list[t.IO] = field(default_factory=list, repr=False)
    #: For an archive, the member whose rows are being read; otherwise None.
    source_file: str | None = None

    def close(self) -> None:
        for handle in reversed(self._handles):
            handle.close()

    def __enter__(self) -> DecodedFile:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


Opener = t.Callable[[], t.BinaryIO]


def open_rows(
    path: str | os.PathLike,
    declared_format: str | None = None,
    *,
    max_decompressed_bytes: int | None = None,
    rows_key: str | None = None,
) -> DecodedFile:
    """Open `path` and decode its rows as the declared format, or as sniffed.

    A zip archive's members are read one after another (`source_file` names the one in
    hand); gzip, plain or inside an archive, is undone by its magic bytes. `rows_key`: for a
    JSON object, the key whose array holds the rows (where the API names it), rather than
    the first array found.
    """
    budget = Budget(max_decompressed_bytes)
    with open(path, "rb") as probe:
        is_zip = probe.read(4) == ZIP_MAGIC
    if not is_zip:
        return _decode(lambda: open(path, "rb"), declared_format, budget, rows_key)

    try:
        archive = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, EOFError) as error:
        raise MalformedFileError(
            f"the file starts like a zip archive but is not one ({error})"
        ) from None
    members = [info for info in archive.infolist() if not info.is_dir()]
    decoded = DecodedFile("csv", "zip", iter(()), [archive])

    def rows() -> Iterator[dict]:
        for info in members:
            # A member's own name outranks what was declared for the archive as a whole.
            named = _format_from_name(info.filename)
            hint = named if _declared_kind(named) else declared_format
            with _decode(lambda info=info: archive.open(info), hint, budget, rows_key) as member:
                decoded.file_format, decoded.source_file = member.file_format, info.filename
                yield from member.rows

    decoded.rows = rows()
    return decoded


def _format_from_name(name: str) -> str | None:
    suffixes = [s.lower() for s in os.path.basename(name).split(".")[1:] if s.lower() != "gz"]
    return suffixes[-1] if suffixes else None


def _unpacked(opener: Opener) -> tuple[t.BinaryIO, str | None, list[t.IO]]:
    """The content behind `opener`, gunzipped when it starts with gzip's magic bytes."""
    raw = opener()
    buffered = raw if isinstance(raw, io.BufferedReader) else io.BufferedReader(raw)
    if buffered.peek(2)[:2] == GZIP_MAGIC:
        inner = gzip.GzipFile(fileobj=buffered, mode="rb")
        return inner, "gzip", [raw, buffered, inner]
    return buffered, None, [raw, buffered]


@contextlib.contextmanager
def _content_again(
    opener: Opener, budget: Budget, spent_before: int
) -> Iterator[io.BufferedReader]:
    """The content behind `opener` again from its start, for a second pass: the bytes read
    twice count once against the cap. `spent_before`: the budget spent before its first byte."""
    budget.used = spent_before
    inner, _, handles = _unpacked(opener)
    stream = io.BufferedReader(CappedReader(inner, budget), SNIFF_BYTES)
    try:
        yield stream
    finally:
        for handle in reversed([*handles, stream]):
            handle.close()


def _decode(
    opener: Opener, declared_format: str | None, budget: Budget, rows_key: str | None = None
) -> DecodedFile:
    inner, compression, handles = _unpacked(opener)
    stream = io.BufferedReader(CappedReader(inner, budget), SNIFF_BYTES)
    handles.append(stream)
    limit = row_limit(budget.cap)
    spent_before = budget.used

    def again() -> t.ContextManager[io.BufferedReader]:
        return _content_again(opener, budget, spent_before)

    head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    text_head = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    first = text_head.lstrip()[:1]
    declared = _declared_kind(declared_format)

    if not first:
        rows: Iterator[dict] = iter(())
        file_format = declared or "csv"
    elif declared == "csv" or (declared is None and first not in (b"[", b"{")):
        file_format, rows = "csv", csv_rows(stream, limit, again)
    elif declared == "ndjson":
        file_format, rows = "ndjson", ndjson_rows(stream, limit, again)
    elif first == b"[":
        file_format, rows = "json", _json_array_rows(stream, "item", limit)
    elif declared == "json" and first == b"{" and not _looks_like_json_lines(text_head):
        rows = _json_object_rows(stream, again, limit, rows_key=rows_key)
        file_format = "json"
    elif declared == "json" or _first_line_is_json(text_head):
        file_format, rows = "ndjson", ndjson_rows(stream, limit, again)
    else:
        # Undeclared objects spread over lines (pretty-printed, or a first line longer
        # than the sniffed head): each top-level value is one row.
        rows = _json_array_rows(stream, "", limit, multiple_values=True)
        file_format = "json"
    return DecodedFile(file_format, compression, rows, handles)


def _declared_kind(declared_format: str | None) -> str | None:
    """ "csv", "json" or "ndjson" for a format name or media type; None (sniff) for
    anything else, such as a compression type or a generic one."""
    declared = (declared_format or "").split(";")[0].strip().lower()
    if declared in _CSV:
        return "csv"
    if declared in _JSON_LINES:
        return "ndjson"
    if declared in _JSON:
        return "json"
    return None


def _first_line_is_json(head: bytes) -> bool:
    first = head.lstrip().partition(b"\n")[0]
    try:
        json.loads(first)
    except ValueError:
        return False
    return True


def _looks_like_json_lines(head: bytes) -> bool:
    """NDJSON if the first line is a complete JSON value and another value follows."""
    rest = head.lstrip().partition(b"\n")[2]
    return bool(rest.strip()) and _first_line_is_json(head)


def _as_row(value: t.Any) -> dict:
    return value if isinstance(value, dict) else {"value": value}


def _json_array_rows(
    stream: t.BinaryIO, prefix: str, limit: int, *, multiple_values: bool = False
) -> Iterator[dict]:
    index = 0
    window = RowWindow(_skip_bom(stream), limit)
    items = ijson.items(window, prefix, multiple_values=multiple_values, buf_size=JSON_READ_BYTES)
    try:
        for index, item in enumerate(items, start=1):  # noqa: B007
            window.mark()
            yield _as_row(item)
    except ijson.JSONError as error:
        raise MalformedFileError(f"invalid JSON after item {index}: {_reason(error)}") from None
    except UnicodeDecodeError as error:
        raise MalformedFileError(f"the file is not valid UTF-8 ({error.reason})") from None
    except RowTooLargeError as error:
        raise RowTooLargeError(f"{error.problem} (the one after item {index})") from None


def _json_object_rows(
    stream: t.BinaryIO,
    again: t.Callable[[], t.ContextManager[io.BufferedReader]],
    limit: int,
    *,
    rows_key: str | None = None,
) -> Iterator[dict]:
    """A JSON object: the rows are its top-level array `rows_key` (when named, else its
    first top-level array); without one, it is the row."""
    key = None
    window = RowWindow(_skip_bom(stream), limit)
    try:
        # Each event (a long string value, say) is held whole: bound it like a row.
        for prefix, event, value in ijson.parse(window, buf_size=JSON_READ_BYTES):
            window.mark()
            if prefix == "" and event == "map_key":
                key = value
            elif (
                prefix == key
                and event == "start_array"
                and key is not None
                and rows_key in (None, key)
            ):
                break
        else:
            key = None
    except ijson.JSONError as error:
        raise MalformedFileError(f"invalid JSON: {_reason(error)}") from None
    # The first pass consumed the stream; read again from the start (it is on disk).
    with again() as inner:
        if key is None:
            yield from _json_array_rows(inner, "", limit)
        else:
            yield from _json_array_rows(inner, f"{_escape(key)}.item", limit)


def _reason(error: Exception) -> str:
    """The parser's complaint without the excerpt of file content it quotes."""
    return str(error).splitlines()[0].strip() if str(error) else type(error).__name__


def _escape(key: str) -> str:
    return key.replace(".", r"\.")


def _skip_bom(stream: t.BinaryIO) -> t.BinaryIO:
    buffered = stream if isinstance(stream, io.BufferedReader) else io.BufferedReader(stream)
    if buffered.peek(3)[:3] == codecs.BOM_UTF8:
        buffered.read(3)
    return buffered
