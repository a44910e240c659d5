"""The value and naming rules of typed report rows: a value converts only when nothing is lost
or guessed (else MISMATCH, and it stays in `row`), inference picks the narrowest type every
sampled value fits, and column names are unique lower snake_case identifiers."""

from __future__ import annotations

import decimal
import re

import pytest

from tap_exportjobs.typed_rows.names import assign_names, warehouse_name
from tap_exportjobs.typed_rows.values import (
    COLUMN_TYPES,
    INT64_MAX,
    INT64_MIN,
    MISMATCH,
    column_schema,
    converter,
    infer_type,
    widen,
)

#: CSV texts that look like a number, boolean or null to a lenient reader, and are none.
TRICKY_TEXTS = [
    "",
    "NA",
    "N/A",
    "null",
    "007",
    "0012.5",
    " 5",
    "5 ",
    "+5",
    "1,000",
    "1_000",
    "\u0661\u0662\u0663",  # Arabic-Indic digits 123
    "NaN",
    "Infinity",
    "TRUE ",
]
NARROW_TYPES = [kind for kind in COLUMN_TYPES if kind != "string"]


@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_a_tricky_csv_text_keeps_its_column_a_string(text):
    assert infer_type([text], from_text=True) == "string"
    assert infer_type(["1", text, "2"], from_text=True) == "string"


@pytest.mark.parametrize("column_type", NARROW_TYPES)
@pytest.mark.parametrize("text", TRICKY_TEXTS)
def test_a_tricky_text_is_a_mismatch_for_every_type_but_string_never_a_null(text, column_type):
    assert converter(column_type)(text) is MISMATCH
    assert converter("string")(text) == text


@pytest.mark.parametrize("column_type", COLUMN_TYPES)
def test_none_converts_to_none_for_every_type(column_type):
    assert converter(column_type)(None) is None


def test_an_unknown_column_type_is_an_error_naming_it():
    with pytest.raises(ValueError, match="money"):
        converter("money")
    with pytest.raises(ValueError, match="money"):
        column_schema("money", "")


def test_mismatch_is_one_distinct_object():
    assert MISMATCH is not None
    assert repr(MISMATCH) == "MISMATCH"
    assert all(value != MISMATCH for value in ("", 0, False, None))


# --- string --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 1.5, True, decimal.Decimal("2"), {"a": 1}, [1]])
def test_a_string_column_takes_only_text(value):
    assert converter("string")(value) is MISMATCH


# --- integer -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0", 0), ("-0", 0), ("42", 42), ("-17", -17), (str(INT64_MAX), INT64_MAX)],
)
def test_an_integer_text_converts_to_an_int(text, expected):
    converted = converter("integer")(text)
    assert converted == expected
    assert type(converted) is int


def test_integer_texts_and_ints_are_bounded_by_int64():
    to_integer = converter("integer")
    assert to_integer(str(INT64_MIN)) == INT64_MIN
    assert to_integer(str(INT64_MAX)) == INT64_MAX
    assert to_integer(str(INT64_MIN - 1)) is MISMATCH
    assert to_integer(str(INT64_MAX + 1)) is MISMATCH
    assert to_integer(INT64_MIN) == INT64_MIN
    assert to_integer(INT64_MAX + 1) is MISMATCH
    assert to_integer("9" * 5000) is MISMATCH  # beyond int()'s digit limit too


@pytest.mark.parametrize(
    "value", ["-", "-007", "00", "1.0", "1e3", "--1", "-+1", "0x1F", "²", True, False, 3.0, 2.5]
)
def test_an_integer_column_takes_no_bool_float_or_other_spelling(value):
    assert converter("integer")(value) is MISMATCH


def test_an_integer_column_takes_a_json_int_as_is():
    assert converter("integer")(12) == 12


def test_an_integer_column_takes_no_decimal_even_an_integral_one():
    assert converter("integer")(decimal.Decimal("3")) is MISMATCH


# --- number --------------------------------------------------------------------------------


def test_a_number_text_converts_to_the_exact_decimal():
    converted = converter("number")("12345678901234567890.123456789")
    assert converted == decimal.Decimal("12345678901234567890.123456789")
    assert str(converted) == "12345678901234567890.123456789"


@pytest.mark.parametrize("text", ["0", "-0", "5", "-2.50", "0.001", "1e3", "1.5E-7", "2e+10"])
def test_number_texts_in_json_number_syntax_convert(text):
    assert converter("number")(text) == decimal.Decimal(text)


@pytest.mark.parametrize(
    "text", ["007", ".5", "5.", "1,5", "NaN", "inf", "-inf", "", "1e", "1.2.3", "0x10", "1e99999"]
)
def test_a_text_outside_json_number_syntax_or_range_is_no_number(text):
    assert converter("number")(text) is MISMATCH


def test_a_number_beyond_what_any_warehouse_column_holds_is_a_mismatch():
    to_number = converter("number")
    assert to_number("1e999999999999999999999") is MISMATCH  # beyond Decimal itself
    assert to_number("1e400") is MISMATCH
    assert to_number("1e-400") is MISMATCH
    assert to_number("1" * 400) is MISMATCH
    assert to_number(decimal.Decimal("1e400")) is MISMATCH
    assert to_number(10**400) is MISMATCH
    assert to_number("1e307") == decimal.Decimal("1e307")
    assert to_number("0e-400") == 0


@pytest.mark.parametrize(
    "value", [0, -3, 2**70, 1.5, decimal.Decimal("1.10"), decimal.Decimal("-0.000")]
)
def test_a_number_column_takes_json_numbers_as_is(value):
    converted = converter("number")(value)
    assert converted == value
    assert type(converted) is type(value)


@pytest.mark.parametrize(
    "value",
    [True, float("nan"), float("inf"), decimal.Decimal("NaN"), decimal.Decimal("-Infinity")],
)
def test_a_number_column_takes_no_bool_or_non_finite_value(value):
    assert converter("number")(value) is MISMATCH


# --- boolean -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("FALSE", False), ("True", True), ("fAlSe", False), (True, True)],
)
def test_true_and_false_in_any_case_convert_to_a_bool(value, expected):
    assert converter("boolean")(value) is expected


FULLWIDTH_TRUE = "\uff54\uff52\uff55\uff45"


@pytest.mark.parametrize("value", ["1", "0", "yes", "no", "t", "f", "truee", 1, 0, FULLWIDTH_TRUE])
def test_a_boolean_column_takes_no_number_or_other_word(value):
    assert converter("boolean")(value) is MISMATCH


# --- date ----------------------------------------------------------------------------------


@pytest.mark.parametrize("text", ["2024-02-29", "1999-12-31", "0001-01-01"])
def test_a_real_calendar_date_stays_as_written(text):
    assert converter("date")(text) == text


@pytest.mark.parametrize(
    "text",
    [
        "2024-02-30",
        "2023-02-29",
        "2024-13-01",
        "2024-00-10",
        "0000-01-01",
        "2024-1-01",
        "2024/01/01",
        "2024-01-01T00:00:00",
        "2024-01-01 ",
        "\u0662\u0660\u0662\u0664-\u0660\u0661-\u0660\u0661",  # in Arabic-Indic digits
    ],
)
def test_an_impossible_or_other_date_spelling_is_a_mismatch(text):
    assert converter("date")(text) is MISMATCH


# --- date-time -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "normalized"),
    [
        ("2024-03-01T12:30:45Z", "2024-03-01T12:30:45+00:00"),
        ("2024-03-01 12:30:45", "2024-03-01T12:30:45"),
        ("2024-03-01T12:30", "2024-03-01T12:30:00"),
        ("2024-03-01T12:30+0530", "2024-03-01T07:00:00+00:00"),
        ("2024-03-01T12:30:45-08:00", "2024-03-01T20:30:45+00:00"),
        ("2024-03-01T12:30:45.5Z", "2024-03-01T12:30:45.5+00:00"),
        ("2024-03-01T12:30:45.123456789+01:00", "2024-03-01T11:30:45.123456789+00:00"),
        ("2024-03-01T00:30:00+01:00", "2024-02-29T23:30:00+00:00"),
        ("2024-12-31T20:00:00-05:00", "2025-01-01T01:00:00+00:00"),
        ("2024-03-01T12:30:45-00:00", "2024-03-01T12:30:45+00:00"),
        ("2024-03-01T12:30:45+00:00", "2024-03-01T12:30:45+00:00"),
        ("0001-01-01T00:30:00+00:00", "0001-01-01T00:30:00+00:00"),
        ("2024-02-29 23:59:59.000", "2024-02-29T23:59:59.000"),
    ],
)
def test_a_date_time_with_an_offset_is_written_in_utc_keeping_its_fraction_as_written(
    text, normalized
):
    assert converter("date-time")(text) == normalized


@pytest.mark.parametrize(
    "text",
    [
        "2024-03-01",
        "2024-02-30T00:00:00",
        "2024-03-01T24:00:00",
        "2024-03-01T12:60",
        "2024-03-01T12:30:61",
        "2024-03-01T12",
        "2024-03-01T12:30:45.",
        "2024-03-01T12:30:45.1234567890",
        "2024-03-01T12:30:45+24:00",
        "2024-03-01T12:30:45+05:60",
        "2024-03-01T12:30:45+5",
        "0001-01-01T00:30:00+01:00",  # before year 1 in UTC
        "2024-03-01T12:30.5",
        "2024-03-01T12:30:45 Z",
        "2024-03-01T12:30:45Z ",
        "1709296245",
    ],
)
def test_a_bare_date_or_impossible_date_time_is_a_mismatch(text):
    assert converter("date-time")(text) is MISMATCH


# --- inference -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (["1", "-2", None, "30"], "integer"),
        (["1", "2.5"], "number"),
        (["1", "1e3"], "number"),
        (["true", "False"], "boolean"),
        (["2024-01-01", None], "date"),
        (["2024-01-01T00:00:00Z", "2024-01-02 03:04"], "date-time"),
        (["2024-01-01", "2024-01-02T00:00:00"], "string"),
        (["1", "true"], "string"),
        (["1", "x"], "string"),
        ([str(INT64_MAX + 1)], "number"),
        ([None, None], "string"),
        ([], "string"),
    ],
)
def test_csv_texts_infer_the_narrowest_type_every_value_fits(values, expected):
    assert infer_type(values, from_text=True) == expected


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        ([1, 2, None], "integer"),
        ([1, decimal.Decimal("2.5")], "number"),
        ([1, 2.5], "number"),
        ([True, False], "boolean"),
        (["123", "456"], "string"),  # the file said string
        (["true"], "string"),
        (["2024-01-01"], "date"),
        (["2024-01-01T00:00:00Z"], "date-time"),
        ([None], "string"),
    ],
)
def test_json_values_infer_numbers_from_numbers_and_only_dates_from_strings(values, expected):
    assert infer_type(values, from_text=False) == expected


@pytest.mark.parametrize(
    "values",
    [["a", 1], [1, True], [{"a": 1}], [[1, 2]], ["2024-01-01", 5], [1, float("nan")]],
)
def test_nested_or_mixed_json_values_get_no_column(values):
    assert infer_type(values, from_text=False) is None


def test_inference_reads_any_iterable_once():
    assert infer_type(iter(["1", "2"]), from_text=True) == "integer"


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        ("integer", "integer", "integer"),
        ("integer", "number", "number"),
        ("number", "integer", "number"),
        ("date", "date-time", "string"),
        ("boolean", "integer", "string"),
        ("date", "string", "string"),
        ("string", "string", "string"),
    ],
)
def test_widening_gives_the_type_that_holds_both(a, b, expected):
    assert widen(a, b) == expected


@pytest.mark.parametrize(
    ("column_type", "schema"),
    [
        ("string", {"type": ["string", "null"]}),
        ("integer", {"type": ["integer", "null"]}),
        ("number", {"type": ["number", "null"]}),
        ("boolean", {"type": ["boolean", "null"]}),
        ("date-time", {"type": ["string", "null"], "format": "date-time"}),
        ("date", {"type": ["string", "null"], "format": "date"}),
    ],
)
def test_every_column_schema_is_nullable_and_described(column_type, schema):
    assert column_schema(column_type, "Amount") == {**schema, "description": "Amount"}


def test_a_column_schema_is_a_fresh_dict_each_time():
    column_schema("integer", "a")["type"].append("array")
    assert column_schema("integer", "b")["type"] == ["integer", "null"]


# --- names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("original", "name"),
    [
        ("saleOrderCode", "sale_order_code"),
        ("Sale Order Code", "sale_order_code"),
        ("HTTPStatus", "http_status"),
        ("userID", "user_id"),
        ("Amount (INR)", "amount_inr"),
        ("  --Total--  ", "total"),
        ("Café Größe", "cafe_groe"),
        ("2024 Revenue", "c_2024_revenue"),
    ],
)
def test_a_warehouse_name_is_lower_snake_case_ascii(original, name):
    assert warehouse_name(original) == name


def test_a_name_with_nothing_ascii_gets_a_stable_name_of_its_own():
    names = [warehouse_name(original) for original in ("日本", "Имя", "Город", "", "___")]
    assert all(re.fullmatch(r"column_[0-9a-f]{8}", name) for name in names)
    assert len(set(names)) == len(names)
    assert warehouse_name("Имя") == warehouse_name("Имя")


def test_a_warehouse_name_is_at_most_60_characters_and_ends_in_no_underscore():
    assert warehouse_name("a" * 100) == "a" * 60
    assert warehouse_name("a" * 59 + " b") == "a" * 59


def test_a_name_clashing_with_the_envelope_or_an_earlier_column_gets_the_first_free_suffix():
    names = assign_names(
        ["job_id", "A b", "a_b", "aB", "row"], reserved=["row", "job_id", "provider"]
    )
    assert names == {
        "job_id": "job_id_2",
        "A b": "a_b",
        "a_b": "a_b_2",
        "aB": "a_b_3",
        "row": "row_2",
    }


def test_assigned_names_are_unique_deterministic_and_within_60_characters():
    # Five long originals that all cut to the same 60 characters.
    originals = ["x" * 80 + "0", "x" * 80 + "1", "x" * 80 + "2", "X" * 70, "x" * 61]
    names = assign_names(originals, reserved=[])
    assert names == assign_names(originals, reserved=[])
    assert list(names.values()) == ["x" * 60] + ["x" * 58 + f"_{n}" for n in range(2, 6)]


def test_a_repeated_original_keeps_its_one_name():
    assert assign_names(["a", "a", "A"], reserved=[]) == {"a": "a", "A": "a_2"}
