"""Row readers for downloaded report files: CSV, JSON array, JSON object wrapping an array,
NDJSON, and gzip of any of them — declared by the API or sniffed from the bytes.

Sniffing never splits one object into several rows: an undeclared file of JSON objects is
one row per object. Only a file declared `json` may be an object whose array holds the rows.

Everything streams from disk: files may be many gigabytes. Values stay exactly as written:
CSV cells are strings ("" and "NA" included), JSON numbers are Decimals.
"""

from __future__ import annotations

import codecs
import csv
import decimal
import gzip
import io
import json
import os
import sys
import typing as t
import zipfile
from dataclasses import dataclass, field

import ijson

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

# Reports carry large free-text fields; the csv module's 128 KiB default is too small.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


class MalformedFileError(ValueError):
    """A file that cannot be decoded as its format. Carries where and what."""

    def __init__(self, problem: str, *, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line is not None else problem)


class FileTooLargeError(MalformedFileError):
    """More bytes than the configured cap came out of the file (decompression bombs too)."""


class _Budget:
    """Decompressed bytes still allowed, shared by every member of an archive."""

    def __init__(self, cap: int | None) -> None:
        self.cap = cap
        self.used = 0

    def spend(self, count: int) -> None:
        self.used += count
        if self.cap is not None and self.used > self.cap:
            raise FileTooLargeError(
                f"the file holds more than max_file_bytes ({self.cap} bytes) once decompressed"
            )


class _CappedReader(io.RawIOBase):
    """Counts bytes read through it against the budget."""

    def __init__(self, raw: t.BinaryIO, budget: _Budget) -> None:
        self.raw = raw
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self.raw.read(len(buffer))
        self.budget.spend(len(data))
        buffer[: len(data)] = data
        return len(data)


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
) -> DecodedFile:
    """Open `path` and decode its rows as the declared format, or as sniffed.

    A zip archive's members are read one after another (`source_file` names the one in
    hand); gzip, plain or inside an archive, is undone by its magic bytes.
    """
    budget = _Budget(max_decompressed_bytes)
    with open(path, "rb") as probe:
        is_zip = probe.read(4) == ZIP_MAGIC
    if not is_zip:
        return _decode(lambda: open(path, "rb"), declared_format, budget)

    archive = zipfile.ZipFile(path)
    members = [info for info in archive.infolist() if not info.is_dir()]
    decoded = DecodedFile("csv", "zip", iter(()), [archive])

    def rows() -> Iterator[dict]:
        for info in members:
            # A member's own name outranks what was declared for the archive as a whole.
            named = _format_from_name(info.filename)
            hint = named if _declared_kind(named) else declared_format
            with _decode(lambda info=info: archive.open(info), hint, budget) as member:
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


def _reopener(opener: Opener) -> Opener:
    """Opens the decompressed content again from its start (for a second pass)."""

    def reopen() -> t.BinaryIO:
        inner, _, _ = _unpacked(opener)
        return inner

    return reopen


def _decode(opener: Opener, declared_format: str | None, budget: _Budget) -> DecodedFile:
    inner, compression, handles = _unpacked(opener)
    stream = io.BufferedReader(_CappedReader(inner, budget), SNIFF_BYTES)
    handles.append(stream)
    again = _reopener(opener)

    head = stream.peek(SNIFF_BYTES)[:SNIFF_BYTES]
    text_head = head[3:] if head.startswith(codecs.BOM_UTF8) else head
    first = text_head.lstrip()[:1]
    declared = _declared_kind(declared_format)

    if not first:
        rows: Iterator[dict] = iter(())
        file_format = declared or "csv"
    elif declared == "csv" or (declared is None and first not in (b"[", b"{")):
        file_format, rows = "csv", _csv_rows(stream, again)
    elif declared == "ndjson":
        file_format, rows = "ndjson", _ndjson_rows(stream, again)
    elif first == b"[":
        file_format, rows = "json", _json_array_rows(stream, "item")
    elif declared == "json" and first == b"{" and not _looks_like_json_lines(text_head):
        file_format, rows = "json", _json_object_rows(stream, again, budget)
    elif declared == "json" or _first_line_is_json(text_head):
        file_format, rows = "ndjson", _ndjson_rows(stream, again)
    else:
        # Undeclared objects spread over lines (pretty-printed, or a first line longer
        # than the sniffed head): each top-level value is one row.
        file_format, rows = "json", _json_array_rows(stream, "", multiple_values=True)
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


def _text(stream: t.BinaryIO) -> io.TextIOWrapper:
    return io.TextIOWrapper(stream, encoding="utf-8-sig", newline="")


def _first_bad_utf8_line(again: Opener) -> int | None:
    """The physical line holding the first invalid UTF-8 (text is decoded in blocks, so the
    decoder cannot say); read again from the start, only on this error path."""
    with again() as source:
        for number, line in enumerate(source, start=1):
            try:
                line.decode("utf-8")
            except UnicodeDecodeError:
                return number
    return None


def _csv_rows(stream: t.BinaryIO, again: Opener) -> Iterator[dict]:
    reader = csv.reader(_text(stream), strict=False)
    try:
        header = next(reader, None)
        while header is not None and not header:
            header = next(reader, None)
        if header is None:
            return
        keys = _unique(header)
        width = len(keys)
        start = reader.line_num + 1
        for values in reader:
            if not values:
                start = reader.line_num + 1
                continue
            if len(values) != width:
                raise MalformedFileError(
                    f"CSV row has {len(values)} fields but the header has {width}", line=start
                )
            yield dict(zip(keys, values, strict=False))  # width checked above
            start = reader.line_num + 1
    except UnicodeDecodeError as error:
        raise MalformedFileError(
            f"the file is not valid UTF-8 ({error.reason})",
            line=_first_bad_utf8_line(again),
        ) from None
    except csv.Error as error:
        raise MalformedFileError(f"invalid CSV: {error}", line=reader.line_num) from None


def _unique(header: list[str]) -> list[str]:
    """Later duplicates of a column name become name__2, name__3, so no value is lost."""
    seen: dict[str, int] = {}
    keys = []
    for name in header:
        if name in seen:
            seen[name] += 1
            name = f"{name}__{seen[name]}"
        seen.setdefault(name, 1)
        keys.append(name)
    return keys


def _as_row(value: t.Any) -> dict:
    return value if isinstance(value, dict) else {"value": value}


def _json_array_rows(
    stream: t.BinaryIO, prefix: str, *, multiple_values: bool = False
) -> Iterator[dict]:
    index = 0
    items = ijson.items(_skip_bom(stream), prefix, multiple_values=multiple_values)
    try:
        for index, item in enumerate(items, start=1):  # noqa: B007
            yield _as_row(item)
    except ijson.JSONError as error:
        raise MalformedFileError(f"invalid JSON after item {index}: {_reason(error)}") from None
    except UnicodeDecodeError as error:
        raise MalformedFileError(f"the file is not valid UTF-8 ({error.reason})") from None


def _json_object_rows(stream: t.BinaryIO, again: Opener, budget: _Budget) -> Iterator[dict]:
    """A JSON object: the rows are its first top-level array; without one, it is the row."""
    key = None
    try:
        for prefix, event, value in ijson.parse(_skip_bom(stream)):
            if prefix == "" and event == "map_key":
                key = value
            elif prefix == key and event == "start_array" and key is not None:
                break
        else:
            key = None
    except ijson.JSONError as error:
        raise MalformedFileError(f"invalid JSON: {_reason(error)}") from None
    # The first pass consumed the stream; read again from the start (it is on disk).
    with again() as source:
        inner = io.BufferedReader(_CappedReader(source, budget), SNIFF_BYTES)
        if key is None:
            yield from (_as_row(item) for item in ijson.items(_skip_bom(inner), ""))
        else:
            yield from _json_array_rows(inner, f"{_escape(key)}.item")


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


def _ndjson_rows(stream: t.BinaryIO, again: Opener) -> Iterator[dict]:
    line_number = 0
    try:
        for line_number, line in enumerate(_text(stream), start=1):
            if not line.strip():
                continue
            try:
                value = json.loads(line, parse_float=decimal.Decimal)
            except ValueError as error:
                raise MalformedFileError(
                    f"invalid JSON: {error.args[0]}", line=line_number
                ) from None
            yield _as_row(value)
    except UnicodeDecodeError as error:
        raise MalformedFileError(
            f"the file is not valid UTF-8 ({error.reason})",
            line=_first_bad_utf8_line(again),
        ) from None
