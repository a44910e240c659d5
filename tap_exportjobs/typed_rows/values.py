"""The value rules of typed report rows: which values fit a column's type, converted how.

Strict on purpose: a value converts only when the conversion loses and guesses nothing, so
"007", " 5", "1,000", "NA" or "" do not fit a number column (they stay in `row` as written)
and `MISMATCH`, never None, says so. The converters run once per cell on files of millions
of rows, so each is a plain function with the cheapest checks first.
"""

from __future__ import annotations

import datetime
import decimal
import functools
import math
import re
import typing as t

import msgspec

if t.TYPE_CHECKING:
    from collections.abc import Callable, Iterable

COLUMN_TYPES = ("string", "integer", "number", "boolean", "date-time", "date")


class _Mismatch:
    __slots__ = ()

    def __repr__(self) -> str:
        return "MISMATCH"


#: A value that does not fit its column's type.
MISMATCH: t.Any = _Mismatch()

INT64_MIN = -(2**63)
INT64_MAX = 2**63 - 1
#: Beyond this many digits a text cannot be an int64 (also keeps int() off huge texts).
_INT64_DIGITS = 19

#: A number column holds only magnitudes a double holds too (10**-307 .. <10**308, or 0):
#: beyond them a float-typed warehouse column overflows or rounds to 0, and PostgreSQL's
#: numeric refuses exponents in the millions, failing the load. Such values stay in `row`.
_NUMBER_MIN_EXPONENT = -307
_NUMBER_MAX_EXPONENT = 307
_NUMBER_MAX_INT = 10**308
#: A number text no longer than this, with no exponent, is always within the range above.
_NUMBER_SHORT_TEXT = 300

_NUMBER_TEXT = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?([eE][+-]?[0-9]+)?")
_DATE_TEXT = re.compile(r"([0-9]{4})-([0-9]{2})-([0-9]{2})")
_DATE_TIME_TEXT = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[T ]([0-9]{2}):([0-9]{2})"
    r"(?::([0-9]{2})(?:\.([0-9]{1,9}))?)?"
    r"(Z|[+-][0-9]{2}:?[0-9]{2})?"
)
_BOOLEAN_WORDS = {"true": True, "false": False}


def _to_string(value: t.Any) -> t.Any:
    if type(value) is str or value is None:
        return value
    return MISMATCH


def _to_integer(value: t.Any) -> t.Any:
    kind = type(value)
    if kind is str:
        digits = value[1:] if value[:1] == "-" else value
        if (
            digits.isascii()
            and digits.isdigit()
            and len(digits) <= _INT64_DIGITS
            and (digits[0] != "0" or len(digits) == 1)
        ):
            number = int(value)
            if INT64_MIN <= number <= INT64_MAX:
                return number
        return MISMATCH
    if kind is int:  # not bool: type() is exact
        return value if INT64_MIN <= value <= INT64_MAX else MISMATCH
    return None if value is None else MISMATCH


def _decimal_in_range(number: decimal.Decimal) -> bool:
    if not number.is_finite():
        return False
    return not number or _NUMBER_MIN_EXPONENT <= number.adjusted() <= _NUMBER_MAX_EXPONENT


def _to_number(value: t.Any) -> t.Any:
    kind = type(value)
    if kind is str:
        match = _NUMBER_TEXT.fullmatch(value)
        if match is None:
            return MISMATCH
        try:
            number = decimal.Decimal(value)
        except decimal.InvalidOperation:  # an exponent beyond what Decimal holds
            return MISMATCH
        if match.group(1) is None and len(value) <= _NUMBER_SHORT_TEXT:
            return number
        return number if _decimal_in_range(number) else MISMATCH
    if kind is decimal.Decimal:
        return value if _decimal_in_range(value) else MISMATCH
    if kind is int:
        return value if -_NUMBER_MAX_INT < value < _NUMBER_MAX_INT else MISMATCH
    if kind is float:
        return value if math.isfinite(value) else MISMATCH
    return None if value is None else MISMATCH


def _to_boolean(value: t.Any) -> t.Any:
    if type(value) is str:
        if len(value) > 5 or not value.isascii():
            return MISMATCH
        return _BOOLEAN_WORDS.get(value.lower(), MISMATCH)
    if type(value) is bool or value is None:
        return value
    return MISMATCH


# Cached: a report's dates repeat across its rows, and the calendar check is the costly part.
@functools.lru_cache(maxsize=4096)
def _is_calendar_date(year: str, month: str, day: str) -> bool:
    try:
        datetime.date(int(year), int(month), int(day))
    except ValueError:
        return False
    return True


def _to_date(value: t.Any) -> t.Any:
    if type(value) is not str:
        return None if value is None else MISMATCH
    match = _DATE_TEXT.fullmatch(value)
    if match is None or not _is_calendar_date(*match.groups()):
        return MISMATCH
    return value


def _to_date_time(value: t.Any) -> t.Any:
    if type(value) is not str:
        return None if value is None else MISMATCH
    # msgspec checks an RFC 3339 text in C (calendar and clock included), several times
    # faster than the regex; a text spelled as we write it (or with Z for +00:00) is kept.
    if len(value) == 20 and value[19] == "Z" and value[10] == "T":  # the commonest spelling
        try:
            msgspec.convert(value, datetime.datetime)
        except msgspec.ValidationError:
            return MISMATCH
        return f"{value[:19]}+00:00"
    if 19 <= len(value) <= 35 and value[10:11] == "T":
        zulu = value[-1] == "Z"
        if _canonical_tail(value[19:-1] if zulu else value[19:]):
            try:
                msgspec.convert(value, datetime.datetime)
            except msgspec.ValidationError:
                return MISMATCH
            return f"{value[:-1]}+00:00" if zulu else value
    return _to_date_time_by_regex(value)


def _canonical_tail(tail: str) -> bool:
    """After `YYYY-MM-DDTHH:MM:SS`: nothing, or `.digits`, then nothing or `+00:00`."""
    if tail.endswith("+00:00"):
        tail = tail[:-6]
    if not tail:
        return True
    digits = tail[1:]
    return tail[0] == "." and 1 <= len(digits) <= 9 and digits.isascii() and digits.isdigit()


def _to_date_time_by_regex(value: str) -> t.Any:
    """Any spelling the rules allow, as `YYYY-MM-DDTHH:MM:SS[.fraction]`, and with an offset,
    moved to UTC (`+00:00`): targets disagree on offsets (one drops them, another applies its
    session's zone), never on UTC. The fraction's digits are kept as written (truncating
    nanoseconds would lose part of the value)."""
    match = _DATE_TIME_TEXT.fullmatch(value)
    if match is None:
        return MISMATCH
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    second = second or "00"
    # Two ASCII digits each, so comparing the texts compares the numbers.
    if hour > "23" or minute > "59" or second > "59" or not _is_calendar_date(year, month, day):
        return MISMATCH
    fraction = f".{fraction}" if fraction else ""
    if offset is None:
        return f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}"
    offset_hours, offset_minutes = offset[1:3], offset[-2:]
    if offset != "Z" and (offset_hours > "23" or offset_minutes > "59"):
        return MISMATCH
    if offset == "Z" or offset_hours == offset_minutes == "00":
        return f"{year}-{month}-{day}T{hour}:{minute}:{second}{fraction}+00:00"
    shift = datetime.timedelta(hours=int(offset_hours), minutes=int(offset_minutes))
    local = datetime.datetime(int(year), int(month), int(day), int(hour), int(minute), int(second))
    try:
        utc = local - shift if offset[0] == "+" else local + shift
    except OverflowError:  # before year 1 or after 9999 in UTC
        return MISMATCH
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}{fraction}+00:00"


_CONVERTERS: dict[str, Callable[[t.Any], t.Any]] = {
    "string": _to_string,
    "integer": _to_integer,
    "number": _to_number,
    "boolean": _to_boolean,
    "date-time": _to_date_time,
    "date": _to_date,
}


def converter(column_type: str) -> Callable[[t.Any], t.Any]:
    """The function giving a value converted for a column of this type: None for None, the
    converted value, or MISMATCH."""
    try:
        return _CONVERTERS[column_type]
    except KeyError:
        raise ValueError(
            f"unknown column type {column_type!r}, expected one of {COLUMN_TYPES}"
        ) from None


#: Inference tries the narrowest types first.
_TEXT_INFERENCE_ORDER = ("integer", "number", "boolean", "date", "date-time")
#: A JSON string said it is a string: only a date or date-time is read into it.
_JSON_TEXT_INFERENCE_ORDER = ("date", "date-time")
_JSON_VALUE_INFERENCE_ORDER = ("integer", "number", "boolean")


def infer_type(values: Iterable[t.Any], *, from_text: bool) -> str | None:
    """The narrowest column type every non-None value fits; "string" when nothing narrower
    fits strings; None when no column type fits (nested or mixed JSON values stay in `row`).

    `from_text`: the values are a CSV's, all text, so numbers and booleans are read from text.
    """
    present = [value for value in values if value is not None]
    if not present:
        return "string"
    all_text = all(type(value) is str for value in present)
    if from_text:
        candidates = _TEXT_INFERENCE_ORDER
    elif all_text:
        candidates = _JSON_TEXT_INFERENCE_ORDER
    elif any(type(value) is str for value in present):
        return None  # a JSON column of strings and non-strings
    else:
        candidates = _JSON_VALUE_INFERENCE_ORDER
    for column_type in candidates:
        convert = _CONVERTERS[column_type]
        if all(convert(value) is not MISMATCH for value in present):
            return column_type
    return "string" if all_text else None


def widen(a: str, b: str) -> str:
    """The column type that holds values of both types."""
    if a == b:
        return a
    if {a, b} == {"integer", "number"}:
        return "number"
    return "string"


_JSON_SCHEMA_TYPES = {
    "string": {"type": ["string", "null"]},
    "integer": {"type": ["integer", "null"]},
    "number": {"type": ["number", "null"]},
    "boolean": {"type": ["boolean", "null"]},
    "date-time": {"type": ["string", "null"], "format": "date-time"},
    "date": {"type": ["string", "null"], "format": "date"},
}


def column_schema(column_type: str, description: str) -> dict:
    """The nullable JSON schema of a column of this type."""
    try:
        schema = _JSON_SCHEMA_TYPES[column_type]
    except KeyError:
        raise ValueError(
            f"unknown column type {column_type!r}, expected one of {COLUMN_TYPES}"
        ) from None
    return {**schema, "type": list(schema["type"]), "description": description}
