"""Reading a downloaded file within bounds, so no input can make memory grow without limit.

Two bounds hold on every read, error paths included:

- the file cap: no more than `max_file_bytes` bytes come out of a file once decompressed
  (decompression bombs and archives of many members included);
- the row limit: no more than `row_limit()` bytes are held for one row (a CSV row, which may
  span lines; an NDJSON line; one JSON value). A row is read whole to be emitted, so this is
  what bounds memory. It is the file cap, at most `MAX_ROW_BYTES`: far above any real row
  (free-text fields of megabytes pass), far below what a machine can hold several copies of
  (the bytes, the decoded text, the csv module's buffer and the serialized record). A CSV
  row's every comma counts `FIELD_BYTES` more: a field takes that much memory however short,
  so a row of millions of tiny fields is bounded like one of a few long ones.
"""

from __future__ import annotations

import codecs
import gzip
import io
import re
import typing as t
import zipfile
import zlib

if t.TYPE_CHECKING:
    from collections.abc import Iterator

#: The most one row may take, whatever max_file_bytes allows (see the module docstring).
MAX_ROW_BYTES = 64 * 1024 * 1024
#: What a JSON parser reads at a time: the row limit allows for this much read-ahead.
JSON_READ_BYTES = 64 * 1024
#: What a fast reader takes from the file at a time.
CHUNK_BYTES = 64 * 1024
#: What Python holds for one CSV field at least (a short str, its slot in the row's list).
FIELD_BYTES = 64
_BARE_CR = re.compile(r"(?<=\r)(?!\n)")


class MalformedFileError(ValueError):
    """A file that cannot be decoded as its format. Carries where and what."""

    def __init__(self, problem: str, *, line: int | None = None) -> None:
        self.problem = problem
        self.line = line
        super().__init__(f"line {line}: {problem}" if line is not None else problem)


class FileTooLargeError(MalformedFileError):
    """More bytes than the configured cap came out of the file (decompression bombs too)."""


class RowTooLargeError(FileTooLargeError):
    """One row is longer than the row limit."""


def row_limit(cap: int | None) -> int:
    return min(cap, MAX_ROW_BYTES) if cap is not None else MAX_ROW_BYTES


def _row_too_large(
    limit: int, *, line: int | None = None, commas_weighed: bool = False
) -> RowTooLargeError:
    weighed = f" (a field counting at least {FIELD_BYTES} bytes)" if commas_weighed else ""
    return RowTooLargeError(
        f"a row is longer than {limit} bytes{weighed}, the most the tap holds for one row "
        f"(max_file_bytes, at most {MAX_ROW_BYTES // 1024**2} MiB)",
        line=line,
    )


class Budget:
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


class CappedReader(io.RawIOBase):
    """Counts bytes read through it against the budget."""

    def __init__(self, raw: io.BufferedIOBase, budget: Budget) -> None:
        self.raw = raw
        self.budget = budget

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        try:
            count = self.raw.readinto(buffer)
        except EOFError:
            raise MalformedFileError(
                "the compressed data ends before its end marker: the file is truncated"
            ) from None
        except (zlib.error, gzip.BadGzipFile, zipfile.BadZipFile) as error:
            raise MalformedFileError(f"the compressed data is corrupt ({error})") from None
        self.budget.spend(count)
        return count


class Lines:
    """A text file's physical lines, decoded as UTF-8 one at a time, so an invalid byte is
    reported with its line and no line is read whole without a limit: the lines since the
    last `mark()` (one row, which in CSV may span lines) stay within `limit` bytes."""

    def __init__(
        self, stream: io.BufferedReader, limit: int, *, weigh_commas: bool = False
    ) -> None:
        self.stream = stream
        self.limit = limit
        #: CSV: each comma counts FIELD_BYTES more (see the module docstring).
        self.weigh_commas = weigh_commas
        self.number = 0
        self._read = 0
        self._row_start = (0, 1)  # byte offset and line number where the current row began

    def mark(self) -> None:
        """The current row ended here."""
        self._row_start = (self._read, self.number + 1)

    def __iter__(self) -> Iterator[str]:
        readline = self.stream.readline
        if self.number == 0 and self.stream.peek(3)[:3] == codecs.BOM_UTF8:
            self._read += len(self.stream.read(3))
        while True:
            room = self.limit - (self._read - self._row_start[0])
            try:
                raw = readline(room + 1)
            except FileTooLargeError as error:
                raise FileTooLargeError(error.problem, line=self.number + 1) from None
            if not raw:
                return
            self.number += 1
            cost = len(raw) + (FIELD_BYTES * raw.count(b",") if self.weigh_commas else 0)
            self._read += cost
            if cost > room:
                raise _row_too_large(
                    self.limit, line=self._row_start[1], commas_weighed=self.weigh_commas
                )
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError as error:
                raise MalformedFileError(
                    f"the file is not valid UTF-8 ({error.reason})", line=self.number
                ) from None
            yield text

    def split_bare_cr(self) -> Iterator[str]:
        """The lines, also split after a lone carriage return (old Mac line ends), as the csv
        module wants them."""
        for line in self:
            cr = line.find("\r")
            if cr == -1 or (cr == len(line) - 2 and line.endswith("\n")):
                yield line
            else:
                yield from (piece for piece in _BARE_CR.split(line) if piece)


class RowChunks(io.BufferedIOBase):
    """Bytes for a text reader whose rows may span lines (CSV), bounding the row in hand per
    chunk read rather than per line, so the reader's per-row work stays in C.

    The row reader stores each record it finishes in `finished_row[0]`. A read that finds
    a new one there knows a row ended after the read before last began (a reader reads on
    only when the lines it holds are used up), so the row in hand began after that point.
    The bytes read since then (each comma weighing FIELD_BYTES more, as in `Lines`) are
    never fewer than the row's, so the bound trips for every row the exact reader refuses,
    and for a few it takes (those within two chunks of the limit: that point is at most a
    chunk before the row's start, the last read at most a chunk past its end), which the
    exact reader then reads.
    """

    def __init__(self, stream: t.BinaryIO, limit: int, *, already_read: int = 0) -> None:
        self.stream = stream
        self.limit = limit
        self.finished_row: list[object] = [None]
        self._seen: object = None
        self._read = already_read
        self._before_last_read = 0
        self._row_floor = 0  # at or before where the row in hand began

    def readable(self) -> bool:
        return True

    def read1(self, size: int = -1) -> bytes:
        finished = self.finished_row[0]
        if finished is not self._seen:
            self._seen = finished
            self._row_floor = self._before_last_read
        self._before_last_read = self._read
        data = self.stream.read(CHUNK_BYTES if size < 0 else min(size, CHUNK_BYTES))
        self._read += len(data) + FIELD_BYTES * data.count(b",")
        if self._read - self._row_floor > self.limit:
            raise _row_too_large(self.limit)
        return data

    read = read1


class LineChunks(io.RawIOBase):
    """Bytes for a line reader whose rows are lines (NDJSON), bounding every line per chunk
    read as the exact reader (`Lines`) does: a line within one chunk is no longer than a
    chunk, which is no longer than the limit; one across chunks is counted."""

    def __init__(self, stream: t.BinaryIO, limit: int, *, already_read: int = 0) -> None:
        self.stream = stream
        self.limit = limit
        self._chunk = max(1, min(CHUNK_BYTES, limit))
        self._open_line = already_read  # bytes read since the last newline

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: t.Any) -> int:
        data = self.stream.read(min(len(buffer), self._chunk))
        first = data.find(b"\n")
        if first < 0:
            self._open_line += len(data)
        elif self._open_line + first + 1 > self.limit:
            raise _row_too_large(self.limit)
        else:
            self._open_line = len(data) - data.rfind(b"\n") - 1
        if self._open_line > self.limit:
            raise _row_too_large(self.limit)
        buffer[: len(data)] = data
        return len(data)


class RowWindow:
    """A byte stream for a JSON parser: the bytes read since the last `mark()` (one row, or
    one parser event) stay within `limit`, allowing for the parser's read-ahead."""

    def __init__(self, stream: t.BinaryIO, limit: int) -> None:
        self.stream = stream
        self.limit = limit
        self._since_mark = 0

    def mark(self) -> None:
        self._since_mark = 0

    def read(self, size: int) -> bytes:
        data = self.stream.read(size)
        self._since_mark += len(data)
        if self._since_mark > self.limit + JSON_READ_BYTES:
            raise _row_too_large(self.limit)
        return data
