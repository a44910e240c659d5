"""The baseline of the row benchmark: the work itself, done the plain way.

    python -m benchmarks.row_baseline FILE FORMAT STREAM ENVELOPE_JSON

Reads FILE (gzip undone when its name ends in .gz) as FORMAT (csv: `csv.reader` and
`dict(zip(header, row))`; ndjson: `json.loads` per line, decimals kept as the tap keeps them;
json: `ijson.items` of the `entries` array) and writes, for each row, the Singer RECORD
message the tap writes for it, encoded with the SDK's msgspec encoder into one buffer that
goes to stdout every 64 KiB. ENVELOPE_JSON holds the record's fields before `row_number`
(partition keys, provider, job_id). `time_extracted` is taken once for the file.
"""

from __future__ import annotations

import csv
import decimal
import gzip
import json
import sys
import typing as t
from datetime import datetime, timezone

import ijson
from singer_sdk.contrib.msgspec import encoder

FLUSH_BYTES = 64 * 1024


def rows(path: str, file_format: str) -> t.Iterator[dict]:
    opener = gzip.open if path.endswith(".gz") else open
    if file_format == "json":
        with opener(path, "rb") as source:
            yield from ijson.items(source, "entries.item")
        return
    with opener(path, "rt", encoding="utf-8", newline="") as source:
        if file_format == "csv":
            reader = csv.reader(source)
            header = next(reader)
            for values in reader:
                yield dict(zip(header, values, strict=False))
        else:
            for line in source:
                yield json.loads(line, parse_float=decimal.Decimal)


def main() -> None:
    path, file_format, stream, envelope_json = sys.argv[1:5]
    envelope = json.loads(envelope_json)
    extracted = datetime.now(timezone.utc).isoformat().replace("+00:00", "Z")
    out = sys.stdout.buffer
    buffer = bytearray()
    for row_number, row in enumerate(rows(path, file_format), start=1):
        message = {
            "type": "RECORD",
            "stream": stream,
            "record": {
                **envelope,
                "row_number": row_number,
                "row": row,
                "file_format": file_format,
                "source_file": None,
            },
            "time_extracted": extracted,
        }
        encoder.encode_into(message, buffer, -1)
        buffer += b"\n"
        if len(buffer) >= FLUSH_BYTES:
            out.write(buffer)
            buffer.clear()
    out.write(buffer)
    out.flush()


if __name__ == "__main__":
    main()
