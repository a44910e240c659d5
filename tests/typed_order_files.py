"""The Elastic Path order files of the typed-rows end-to-end tests (test_meltano_typed_rows)
and what their rows land as in PostgreSQL."""

from __future__ import annotations

import csv
import io
from datetime import datetime, timezone

HEADER = ["Order Number", "Sale Order Code", "Total", "Paid", "Created At", "Ship Date", "Zip"]

#: Typed columns as text where PostgreSQL's own text is the exact value (numeric, dates).
ORDER_COLUMNS = (
    "provider, order_number, sale_order_code, total::text as total, paid, "
    "created_at::text as created_at, ship_date::text as ship_date, zip, row"
)


def order(n: int) -> list[str]:
    """One file row; Created At in the three spellings files use (Z, none, an offset)."""
    day, minute = 1 + n % 28, n % 60
    created = [
        f"2024-03-{day:02d}T10:{minute:02d}:00Z",
        f"2024-03-{day:02d} 11:{minute:02d}:00",
        f"2024-03-{day:02d}T12:{minute:02d}:00.123+05:30",
    ][n % 3]
    total = "12345678901234567890.123456789" if n == 7 else f"{n * 7}.{n * 13 % 100:02d}"
    paid = "true" if n % 2 else "false"
    return [str(n), f"SO-{n:05d}", total, paid, created, f"2024-04-{day:02d}", str(10000 + n)]


def orders_csv(rows: list[list[str]], header: list[str] = HEADER) -> bytes:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows([header, *rows])
    return out.getvalue().encode()


def file_rows(content: bytes) -> list[dict]:
    return list(csv.DictReader(io.StringIO(content.decode(), newline="")))


def utc_wall_clock(written: str) -> str:
    """A file's date-time as a `timestamp without time zone` prints it: with an offset, the
    instant in UTC (the session's time zone); without one, as written."""
    instant = datetime.fromisoformat(written)
    if instant.tzinfo:
        instant = instant.astimezone(timezone.utc).replace(tzinfo=None)
    text = instant.isoformat(" ")
    return text.rstrip("0") if instant.microsecond else text


def expected_order(row: dict) -> dict:
    """What a typed file row lands as in PostgreSQL, text for numeric/timestamp/date."""
    return {
        "order_number": int(row["Order Number"]),
        "sale_order_code": row["Sale Order Code"],
        "total": row["Total"],
        "paid": row["Paid"] == "true",
        "created_at": utc_wall_clock(row["Created At"]),
        "ship_date": row["Ship Date"],
        "zip": row["Zip"],
    }
