"""Warehouse column names for a file's columns: lower snake_case, ASCII, unique.

Such a name needs no quoting in PostgreSQL, DuckDB or Snowflake, and captions that differ
only in spelling style ("Sale Order Code", "saleOrderCode") meet in one column.
"""

from __future__ import annotations

import functools
import hashlib
import re
import typing as t
import unicodedata

if t.TYPE_CHECKING:
    from collections.abc import Iterable

#: PostgreSQL cuts identifiers at 63 bytes; 60 leaves room and a suffix stays within it too.
MAX_NAME_LENGTH = 60
EMPTY_NAME = "column"
#: Prefixed to a name that would start with a digit (not a plain identifier).
DIGIT_PREFIX = "c_"

_LOWER_THEN_UPPER = re.compile(r"([a-z0-9])([A-Z])")
_ACRONYM_THEN_WORD = re.compile(r"([A-Z]+)([A-Z][a-z])")
_NOT_ALPHANUMERIC = re.compile(r"[^A-Za-z0-9]+")


# Cached: columns look up every key a file has by its warehouse name; bounded, as a hostile
# header can hold any number of distinct names.
@functools.lru_cache(maxsize=4096)
def warehouse_name(original: str) -> str:
    """The lower snake_case identifier for a column named `original` by a file or the user."""
    name = unicodedata.normalize("NFKD", original).encode("ascii", "ignore").decode("ascii")
    name = _ACRONYM_THEN_WORD.sub(r"\1_\2", name)
    name = _LOWER_THEN_UPPER.sub(r"\1_\2", name)
    name = _NOT_ALPHANUMERIC.sub("_", name).strip("_").lower()
    if not name:
        # Nothing ASCII to keep (e.g. a Cyrillic or Japanese header): a stable name of its
        # own, so two such columns never fold into one.
        return f"{EMPTY_NAME}_{hashlib.sha256(original.encode()).hexdigest()[:8]}"
    if name[0].isdigit():
        name = DIGIT_PREFIX + name
    return name[:MAX_NAME_LENGTH].rstrip("_")


def assign_names(originals: Iterable[str], reserved: Iterable[str]) -> dict[str, str]:
    """Original name -> unique column name, in the order given. A name that is reserved or
    already taken gets the first free suffix "_2", "_3", ..."""
    taken = set(reserved)
    #: warehouse name -> the suffix number to try next (so many clashes stay linear)
    next_number: dict[str, int] = {}
    names: dict[str, str] = {}
    for original in originals:
        if original in names:
            continue
        base = warehouse_name(original)
        name = base
        if name in taken:
            number = next_number.get(base, 2)
            while name in taken:
                suffix = f"_{number}"
                name = base[: MAX_NAME_LENGTH - len(suffix)].rstrip("_") + suffix
                number += 1
            next_number[base] = number
        taken.add(name)
        names[original] = name
    return names
