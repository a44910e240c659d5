"""Report files for the row benchmark: N rows of orders at 7 or 30 columns, as CSV, NDJSON
and a JSON `{"entries": [...]}` document, each also gzipped, cached on disk.

Values are what real exports carry: ids, e-mails, amounts with decimals, ISO timestamps,
free text with commas, quotes, newlines and non-ASCII letters, empty cells and nulls, booleans.
JSON keeps numbers, booleans and nulls typed; CSV writes them as text ("" for null). Rows are
a pure function of their index, so a cached file is the file a fresh run would write.
"""

from __future__ import annotations

import csv
import gzip
import io
import math
import os
import shutil
import tempfile
import typing as t
from datetime import datetime, timezone
from pathlib import Path

import msgspec

#: Bump when the rows change, so caches of the old rows are not reused.
GENERATOR_VERSION = 1
FORMATS = ("csv", "ndjson", "json")
DEFAULT_CACHE = Path(tempfile.gettempdir()) / "tap-exportjobs-bench"

_BASE_EPOCH = 1_714_521_600  # 2024-05-01T00:00:00Z
_NOTES = (
    "",
    "gift, wrap it",
    'leave at the "back" door',
    "call before delivery; ring twice",
    "Ärger mit dem Paket, bitte prüfen",
    "line one\nline two",
    "1,2,3",
    "NA",
    "null",
    "返品希望",
)
_STATUSES = ("complete", "pending", "refunded", "cancelled", "authorized")
_CURRENCIES = ("USD", "EUR", "GBP", "JPY")
_NAMES = ("Ada Lovelace", "O'Brien, Pat", "José Álvarez", 'Sam "Sammy" Lee', "Li Wei", "Zoë Kent")
_CITIES = ("London", "São Paulo", "New York, NY", "München", "Tōkyō", "Austin")
_COUNTRIES = ("GB", "BR", "US", "DE", "JP", "US")
_PRODUCTS = ('Widget 12" Pro', "Gadget, large", "Cable (2 m)", "Mug — blue", "Sticker pack")
_CHANNELS = ("web", "ios", "android", "pos", "marketplace")
_REGIONS = ("emea", "amer", "apac")
_TAGS = ("", "vip", "vip,repeat", "b2b,net30,priority", "first-order")


def _stamp(epoch: int) -> str:
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def _money(i: int, salt: int) -> float:
    return ((i * 7919 + salt) % 100_000) / 100


#: Column name -> value of row `i`. The first 7 are the narrow file.
COLUMNS: dict[str, t.Callable[[int], t.Any]] = {
    "order_id": lambda i: 100_000 + i,
    "customer_email": lambda i: f"customer{(i * 7919) % 40_000}@example.com",
    "status": lambda i: _STATUSES[i % 5],
    "total": lambda i: _money(i, 17),
    "currency": lambda i: _CURRENCIES[i % 4],
    "created_at": lambda i: _stamp(_BASE_EPOCH + i * 13),
    "notes": lambda i: _NOTES[(i * 31) % len(_NOTES)],
    "updated_at": lambda i: _stamp(_BASE_EPOCH + i * 13 + (i % 7200)),
    "customer_name": lambda i: _NAMES[(i * 17) % len(_NAMES)],
    "phone": lambda i: f"+1-555-{(i * 37) % 10_000:04d}",
    "shipping_address": lambda i: f"{i % 999 + 1} Main St, Apt {i % 50}",
    "city": lambda i: _CITIES[(i * 3) % 6],
    "country": lambda i: _COUNTRIES[(i * 3) % 6],
    "postal_code": lambda i: f"{(i * 97) % 100_000:05d}",
    "sku": lambda i: f"SKU-{(i * 31) % 50_000:05d}",
    "product_name": lambda i: _PRODUCTS[(i * 7) % 5],
    "quantity": lambda i: i % 12 + 1,
    "unit_price": lambda i: _money(i, 3),
    "discount": lambda i: None if i % 3 else _money(i, 5) / 10,
    "tax": lambda i: _money(i, 11) / 5,
    "shipping": lambda i: (i % 20) * 1.5,
    "paid": lambda i: i % 4 != 0,
    "channel": lambda i: _CHANNELS[(i * 11) % 5],
    "coupon_code": lambda i: f"SPRING{i % 30}" if i % 9 == 0 else "",
    "agent_id": lambda i: None if i % 5 else (i * 13) % 400,
    "region": lambda i: _REGIONS[i % 3],
    "tags": lambda i: _TAGS[(i * 5) % 5],
    "weight_kg": lambda i: ((i * 131) % 25_000) / 1000,
    "session_id": lambda i: f"{(i * 2654435761) & 0xFFFFFFFFFFFFFFFF:016x}{i:016x}",
    "description": lambda i: (
        f'Order {i} for {_PRODUCTS[i % 5]} x{i % 12 + 1}, shipped "express" via hub {i % 40}'
    ),
}
WIDTHS = (7, 30)


def _csv_cell(value: t.Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def prepare(cache: Path, rows: int, width: int, kinds: t.Iterable[str]) -> dict[str, Path]:
    """The files of `rows` rows at `width` columns for each of `kinds` (csv, ndjson, json,
    each optionally ".gz"), written where not cached yet: the plain ones in one pass over
    the rows, then the gzipped ones from them."""
    paths = {kind: _path(cache, rows, width, kind) for kind in kinds}
    missing = [kind for kind, path in paths.items() if not path.exists()]
    plain = sorted(
        {k.removesuffix(".gz") for k in missing}
        - {k for k in FORMATS if _path(cache, rows, width, k).exists()}
    )
    if plain:
        _write_plain(cache, rows, width, plain)
    for kind in missing:
        if kind.endswith(".gz"):
            _gzip(_path(cache, rows, width, kind.removesuffix(".gz")), paths[kind])
    return paths


def big_csv_rows(bytes_wanted: int, width: int = 30) -> int:
    """Rows that make a CSV of at least `bytes_wanted` bytes (from a sample's mean size)."""
    sample = io.StringIO(newline="")
    writer = csv.writer(sample, lineterminator="\r\n")
    names = list(COLUMNS)[:width]
    for i in range(20_000):
        writer.writerow([_csv_cell(COLUMNS[name](i)) for name in names])
    per_row = len(sample.getvalue().encode()) / 20_000
    return math.ceil(bytes_wanted * 1.01 / per_row)


def _path(cache: Path, rows: int, width: int, kind: str) -> Path:
    return cache / f"v{GENERATOR_VERSION}" / f"orders-{rows}x{width}.{kind}"


def _write_plain(cache: Path, rows: int, width: int, kinds: list[str]) -> None:
    """Writes the plain files of `kinds` in one pass over the rows; each appears only once
    complete (a run killed while writing leaves no half file in the cache)."""
    names = list(COLUMNS)[:width]
    makers = [COLUMNS[name] for name in names]
    targets = {kind: _path(cache, rows, width, kind) for kind in kinds}
    next(iter(targets.values())).parent.mkdir(parents=True, exist_ok=True)
    outs = {kind: open(f"{p}.part", "wb") for kind, p in targets.items()}  # noqa: SIM115
    encode = msgspec.json.Encoder().encode
    try:
        text = io.TextIOWrapper(outs["csv"], "utf-8", newline="") if "csv" in outs else None
        writer = csv.writer(text, lineterminator="\r\n") if text else None
        if writer:
            writer.writerow(names)
        if "json" in outs:
            outs["json"].write(b'{"type":"orders","version":"v1","entries":[\n')
        for i in range(rows):
            values = [make(i) for make in makers]
            if writer:
                writer.writerow([_csv_cell(v) for v in values])
            if "ndjson" in outs or "json" in outs:
                line = encode(dict(zip(names, values, strict=True)))
                if "ndjson" in outs:
                    outs["ndjson"].write(line + b"\n")
                if "json" in outs:
                    outs["json"].write((b",\n" if i else b"") + line)
        if "json" in outs:
            outs["json"].write(b'\n],"total":%d}\n' % rows)
        if text:
            text.flush()
            text.detach()  # the file is closed below, once
    finally:
        for out in outs.values():
            out.close()
    for path in targets.values():
        os.replace(f"{path}.part", path)


def _gzip(plain: Path, packed: Path) -> None:
    with open(plain, "rb") as source, gzip.open(f"{packed}.part", "wb", compresslevel=6) as out:
        shutil.copyfileobj(source, out, 1 << 20)
    os.replace(f"{packed}.part", packed)
