"""A corpus of tricky files round-trips row for row: values exactly as written."""

from __future__ import annotations

import gzip
import io
import json
import tracemalloc
from decimal import Decimal

import pytest

from tap_exportjobs.formats import FileTooLargeError, MalformedFileError, open_rows
from tests.conftest import days_ago, ep_config, m3ter_config
from tests.tap_runner import run_tap

BIG_FIELD = "x" * (5 * 1024 * 1024)

CORPUS = {
    "bom_and_crlf": (
        b"\xef\xbb\xbfid,name\r\n1,Ada\r\n2,Grace\r\n",
        None,
        [{"id": "1", "name": "Ada"}, {"id": "2", "name": "Grace"}],
    ),
    "embedded_newlines_and_quotes": (
        b'id,note\n1,"line one\nline two"\n2,"she said ""hi"", twice"\n3,"a\r\nb"\n',
        None,
        [
            {"id": "1", "note": "line one\nline two"},
            {"id": "2", "note": 'she said "hi", twice'},
            {"id": "3", "note": "a\r\nb"},
        ],
    ),
    "empty_na_and_null_stay_strings": (
        b"a,b,c,d\n,NA,null,None\n",
        None,
        [{"a": "", "b": "NA", "c": "null", "d": "None"}],
    ),
    "nul_bytes": (b"a,b\nx\x00y,z\n", None, [{"a": "x\x00y", "b": "z"}]),
    "unicode": (
        "name,city\nZoë,Zürich\n李小龍,香港\n".encode(),
        None,
        [{"name": "Zoë", "city": "Zürich"}, {"name": "李小龍", "city": "香港"}],
    ),
    "no_trailing_newline": (b"a\n1\n2", None, [{"a": "1"}, {"a": "2"}]),
    "bare_carriage_returns": (
        b'a,b\r1,"x\ry"\r2,3\r',
        None,
        [{"a": "1", "b": "x\ry"}, {"a": "2", "b": "3"}],
    ),
    "blank_lines_skipped": (b"a,b\n\n1,2\n\n", None, [{"a": "1", "b": "2"}]),
    "duplicate_headers_kept": (b"id,id,x\n1,2,3\n", None, [{"id": "1", "id__2": "2", "x": "3"}]),
    "duplicate_header_beside_its_would_be_name": (
        b"a__2,a,a\n1,2,3\n",
        None,
        [{"a__2": "1", "a": "2", "a__3": "3"}],
    ),
    "header_only": (b"a,b\n", None, []),
    "empty_file": (b"", None, []),
    "large_field": (
        b"id,blob\n1," + BIG_FIELD.encode() + b"\n",
        None,
        [{"id": "1", "blob": BIG_FIELD}],
    ),
    "json_array_exact_decimals": (
        b'[{"a": 0.10, "n": {"deep": [1, 2.50]}}, {"b": null}, 7]',
        None,
        [{"a": Decimal("0.10"), "n": {"deep": [1, Decimal("2.50")]}}, {"b": None}, {"value": 7}],
    ),
    "declared_json_object_wrapping_array": (
        b'{"meta": {"page": 1}, "data": [{"a": 1}, {"a": 2}]}',
        "application/json",
        [{"a": 1}, {"a": 2}],
    ),
    "declared_json_object_without_an_array_is_the_row": (
        b'{"a": 1, "b": {"c": 2}}',
        "json",
        [{"a": 1, "b": {"c": 2}}],
    ),
    "undeclared_pretty_printed_objects_one_row_each": (
        b'{\n  "a": 1,\n  "l": [1, 2]\n}\n{\n  "a": 2\n}\n',
        None,
        [{"a": 1, "l": [1, 2]}, {"a": 2}],
    ),
    "ndjson": (
        b'{"a": 1}\n\n{"a": "x", "b": 1.0}\n',
        None,
        [{"a": 1}, {"a": "x", "b": Decimal("1.0")}],
    ),
    "declared_jsonl_single_line": (b'{"a": 1}\n', "application/jsonl", [{"a": 1}]),
    "declared_csv_that_starts_with_a_brace": (
        b"{a},b\n1,2\n",
        "text/csv",
        [{"{a}": "1", "b": "2"}],
    ),
    "gzip_csv": (gzip.compress(b"a,b\n1,2\n"), "csv", [{"a": "1", "b": "2"}]),
    "gzip_json_array": (gzip.compress(b'[{"a": 1}]'), None, [{"a": 1}]),
    "gzip_ndjson": (gzip.compress(b'{"a": 1}\n{"a": 2}\n'), "json_bulk", [{"a": 1}, {"a": 2}]),
    "gzip_wrapped_array": (gzip.compress(b'{"rows": [{"a": 1}]}'), "json", [{"a": 1}]),
    "ndjson_values_beyond_strict_json_read_as_python_reads_them": (
        b'{"inf": Infinity, "lone": "\\ud800", "big": 1' + b"0" * 40 + b"}\n"
        b" \xc2\xa0 \n"  # a line of nothing but (Unicode) whitespace is blank
        b'{"a": 1, "b": 2, "a": 3}\r\n',
        "ndjson",
        [{"inf": float("inf"), "lone": "\ud800", "big": 10**40}, {"a": 3, "b": 2}],
    ),
    "csv_rows_over_many_chunks": (
        b"id,note\r\n" + b"".join(b'%d,"a, ""b""\nc"\r\n' % i for i in range(30_000)),
        None,
        [{"id": str(i), "note": 'a, "b"\nc'} for i in range(30_000)],
    ),
}


@pytest.mark.parametrize("name", list(CORPUS))
def test_tricky_file_round_trips_row_for_row(tmp_path, name):
    data, declared, expected = CORPUS[name]
    path = tmp_path / name
    path.write_bytes(data)
    with open_rows(path, declared) as decoded:
        assert list(decoded.rows) == expected


ONE_LINE_JSONL = b'{"accountCode":"acme","meterIds":["m1","m2","m3"]}\n'


@pytest.mark.parametrize(
    "declared",
    [None, "ndjson", "application/jsonl", "application/x-ndjson", "application/octet-stream"],
)
@pytest.mark.parametrize("gzipped", [False, True])
def test_one_jsonl_line_holding_an_array_is_one_row_unless_declared_json(
    tmp_path, declared, gzipped
):
    """Sniffing never turns one object into several rows: whatever the object holds, an
    undeclared (or JSON Lines) file of one object is one row, its array intact."""
    path = tmp_path / "export"
    path.write_bytes(gzip.compress(ONE_LINE_JSONL) if gzipped else ONE_LINE_JSONL)
    with open_rows(path, declared) as decoded:
        assert list(decoded.rows) == [{"accountCode": "acme", "meterIds": ["m1", "m2", "m3"]}]
        assert decoded.file_format == "ndjson"


@pytest.mark.parametrize(
    ("data", "line", "problem"),
    [
        (b'a,b\n1,"two\nlines"\n1,2,3\n', 4, "3 fields but the header has 2"),
        (b"a,b\n1,2\n\xff\xfe,3\n", 3, "not valid UTF-8"),
        (b'{"a": 1}\n{"a": 2}\n{"a": \n', 3, "invalid JSON"),
    ],
)
def test_a_malformed_file_names_the_line_and_the_problem(tmp_path, data, line, problem):
    path = tmp_path / "bad"
    path.write_bytes(data)
    with pytest.raises(MalformedFileError, match=problem) as error, open_rows(path) as decoded:
        list(decoded.rows)
    assert error.value.line == line


GOOD_ROWS = 20_000  # several chunks of the fast readers


@pytest.mark.parametrize(
    ("header", "good_row", "bad_row", "declared", "problem"),
    [
        (b"id,v\n", b"%d,x\n", b"\xff,x\n", None, "not valid UTF-8"),
        (b"id,v\n", b"%d,x\n", b"1,x,3\n", None, "3 fields but the header has 2"),
        (b"", b'{"id": %d}\n', b'{"id": \xff}\n', "ndjson", "not valid UTF-8"),
        (b"", b'{"id": %d}\n', b'{"id": }\n', "ndjson", "invalid JSON"),
    ],
)
def test_every_row_before_a_malformed_line_is_read_once_then_the_line_is_named(
    tmp_path, header, good_row, bad_row, declared, problem
):
    """The error sits mid-file, mid-chunk: every row before it comes out, in order and once,
    then the error names its line."""
    path = tmp_path / "bad"
    good = b"".join(good_row % i for i in range(GOOD_ROWS))
    path.write_bytes(header + good + bad_row + good)
    rows = []
    with pytest.raises(MalformedFileError, match=problem) as error, open_rows(path, declared) as d:
        rows.extend(d.rows)
    assert [int(row["id"]) for row in rows] == list(range(GOOD_ROWS))
    assert error.value.line == GOOD_ROWS + 1 + (1 if header else 0)


def test_a_truncated_json_array_is_an_error_not_a_short_file(tmp_path):
    path = tmp_path / "cut.json"
    path.write_bytes(b'[{"a": 1}, {"a": 2}, {"a"')
    with pytest.raises(MalformedFileError, match="after item 2"), open_rows(path) as decoded:
        list(decoded.rows)


def test_a_decompression_bomb_stops_at_the_cap(tmp_path):
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(b"0" * (50 * 1024 * 1024)))
    with (
        pytest.raises(FileTooLargeError, match="max_file_bytes"),
        open_rows(path, max_decompressed_bytes=1024 * 1024) as decoded,
    ):
        list(decoded.rows)


def _one_line_file(path, container: str, first: bytes, size: int):
    """`first` then filler to `size` bytes, no newline: plain, gzipped or as a zip member."""
    content = first + b"a" * (size - len(first))
    if container == "gzip":
        content = gzip.compress(content, compresslevel=1)
    elif container == "zip":
        content = _zip({"report.csv": content})
    path.write_bytes(content)
    return path


def _peak_while(read) -> int:
    tracemalloc.start()
    try:
        read()
    finally:
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    return peak


MB = 1024 * 1024


@pytest.mark.parametrize("container", ["plain", "gzip", "zip"])
@pytest.mark.parametrize("declared", [None, "csv", "ndjson"])
def test_a_line_with_no_end_and_invalid_utf8_stops_at_the_cap(tmp_path, container, declared):
    """The invalid byte comes first, the line goes on far past the cap: the error names
    max_file_bytes and line 1, and memory stays within a few times the cap (the error path
    once read the whole line again, uncapped, to find its number)."""
    path = _one_line_file(tmp_path / "one-line", container, b"\xff", 24 * MB)
    decoded = open_rows(path, declared, max_decompressed_bytes=MB)

    def read() -> None:
        with pytest.raises(FileTooLargeError, match="max_file_bytes") as error, decoded:
            list(decoded.rows)
        assert error.value.line == 1

    assert _peak_while(read) < 4 * MB


ROW_LIMIT = MB
LONG = b"x" * (3 * MB)
OVERLONG_ROWS = {
    "csv_line": (b"id,note\n1,ok\n2," + LONG + b"\n", None, 3),
    "csv_row_over_many_lines": (b'id,note\n1,"' + b"line\n" * (600 * 1024) + b'"\n', "csv", 2),
    "ndjson_line": (b'{"a": 1}\n{"a": "' + LONG + b'"}\n', "ndjson", 2),
    "csv_row_of_many_tiny_fields_over_many_lines": (
        b'id,note\n1,"' + b'a\nb","' * (600 * 1024) + b'"\n',
        "csv",
        2,
    ),
    "json_array_item": (b'[{"a": 1}, {"a": "' + LONG + b'"}]', None, None),
    "json_values_spread_over_lines": (b'{\n  "a": "' + LONG + b'"\n}\n', None, None),
    "json_object_before_its_array": (
        b'{"meta": "' + LONG + b'", "data": [{"a": 1}]}',
        "json",
        None,
    ),
    "json_object_that_is_the_row": (b'{"a": 1, "b": "' + LONG + b'"}', "json", None),
}


@pytest.mark.parametrize("name", list(OVERLONG_ROWS))
def test_a_row_longer_than_the_row_limit_fails_naming_it_whatever_the_reader(
    tmp_path, monkeypatch, name
):
    """No reader holds more than the row limit for one row, even with no file cap: the
    error names it and where, and memory stays within a few times the limit."""
    monkeypatch.setattr("tap_exportjobs.bounded.MAX_ROW_BYTES", ROW_LIMIT)
    data, declared, line = OVERLONG_ROWS[name]
    path = tmp_path / name
    path.write_bytes(data)
    decoded = open_rows(path, declared)

    def read() -> None:
        limit_named = "max_file_bytes, at most 1 MiB"
        with pytest.raises(FileTooLargeError, match=limit_named) as error, decoded:
            list(decoded.rows)
        assert error.value.line == line

    assert _peak_while(read) < 6 * ROW_LIMIT


#: A CSV row's cost against the row limit: its bytes, and 64 more for each comma.
COMMA_COST = 64
SMALL_CSV_ROWS = b"".join(b"%d,small\n" % i for i in range(10_000))
SMALL_NDJSON_ROWS = b"".join(b'{"id": "%d"}\n' % i for i in range(10_000))


def _csv_line(cost: int) -> bytes:
    return b"x," + b"x" * (cost - 3 - COMMA_COST) + b"\n"


def _csv_row_over_many_lines(cost: int) -> bytes:
    body = cost - 5 - COMMA_COST
    return b'x,"' + b"line\n" * (body // 5) + b"x" * (body % 5) + b'"\n'


def _ndjson_line(cost: int) -> bytes:
    return b'{"id": "x", "n": "' + b"x" * (cost - 21) + b'"}\n'


#: header, rows before and after, a row of a given cost, format, the long row's line
LONG_ROW_FILES = {
    "csv_line": (b"id,note\n", SMALL_CSV_ROWS, _csv_line, "csv", 10_002),
    "csv_row_over_many_lines": (
        b"id,note\n",
        SMALL_CSV_ROWS,
        _csv_row_over_many_lines,
        "csv",
        10_002,
    ),
    "ndjson_line": (b"", SMALL_NDJSON_ROWS, _ndjson_line, "ndjson", 10_001),
}


@pytest.mark.parametrize("name", list(LONG_ROW_FILES))
def test_a_row_as_long_as_the_row_limit_is_read_with_every_row_around_it(
    tmp_path, monkeypatch, name
):
    """A row of exactly the row limit is a row like any other (the fast readers look ahead
    past it; that must not refuse it, lose a row or repeat one)."""
    monkeypatch.setattr("tap_exportjobs.bounded.MAX_ROW_BYTES", ROW_LIMIT)
    header, small_rows, row_costing, declared, _ = LONG_ROW_FILES[name]
    row = row_costing(ROW_LIMIT)
    assert len(row) + COMMA_COST * row.count(b",") * (declared == "csv") == ROW_LIMIT
    path = tmp_path / name
    path.write_bytes(header + small_rows + row + small_rows)
    with open_rows(path, declared) as decoded:
        ids = [row["id"] for row in decoded.rows]
    assert ids == [*map(str, range(10_000)), "x", *map(str, range(10_000))]


@pytest.mark.parametrize("name", list(LONG_ROW_FILES))
def test_a_row_one_byte_over_the_row_limit_fails_naming_its_line(tmp_path, monkeypatch, name):
    monkeypatch.setattr("tap_exportjobs.bounded.MAX_ROW_BYTES", ROW_LIMIT)
    header, small_rows, row_costing, declared, line = LONG_ROW_FILES[name]
    path = tmp_path / name
    path.write_bytes(header + small_rows + row_costing(ROW_LIMIT + 1) + small_rows)
    ids = []
    with (
        pytest.raises(FileTooLargeError, match="at most 1 MiB") as error,
        open_rows(path, declared) as decoded,
    ):
        ids.extend(row["id"] for row in decoded.rows)
    assert ids == [str(i) for i in range(10_000)]
    assert error.value.line == line


def test_a_json_object_read_in_two_passes_counts_once_against_the_cap(tmp_path):
    """A declared JSON object is read twice (to find its array, then its rows): the bytes
    read twice count once, so a file under the cap is read."""
    path = tmp_path / "object.json"
    path.write_bytes(b'{"a": "' + b"x" * (700 * 1024) + b'"}')
    with open_rows(path, "json", max_decompressed_bytes=MB) as decoded:
        assert [len(row["a"]) for row in decoded.rows] == [700 * 1024]


def test_decoding_a_large_file_does_not_hold_it_in_memory(tmp_path):
    path = tmp_path / "big.csv"
    with path.open("w") as handle:
        handle.write("id,name,amount\n")
        for i in range(400_000):
            handle.write(f'{i},"name {i}",{i}.50\n')
    assert path.stat().st_size > 8 * 1024 * 1024
    tracemalloc.start()
    with open_rows(path) as decoded:
        count = sum(1 for _ in decoded.rows)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert count == 400_000
    assert peak < 2 * 1024 * 1024


def test_tricky_files_arrive_row_for_row_through_the_tap(ep):
    """The corpus, served as job files by the fake API, lands exactly as decoded above."""
    jobs = {}
    for name in (
        "bom_and_crlf",
        "embedded_newlines_and_quotes",
        "empty_na_and_null_stay_strings",
        "nul_bytes",
        "unicode",
        "duplicate_headers_kept",
        "gzip_csv",
        "large_field",
    ):
        jobs[ep.add_job(created_at=days_ago(1), csv_bytes=CORPUS[name][0])] = CORPUS[name][2]
    result = run_tap(ep_config(ep))
    for job_id, expected in jobs.items():
        rows = [
            r["row"] for r in result.records("elasticpath_export_rows") if r["job_id"] == job_id
        ]
        assert rows == expected


def test_json_numbers_keep_their_written_form_in_singer_output(tmp_path):
    from singer_sdk.contrib.msgspec import serialize_jsonl

    path = tmp_path / "n.json"
    path.write_bytes(b'[{"price": 10.10, "big": 12345678901234567890.000001}]')
    with open_rows(path) as decoded:
        line = serialize_jsonl({"row": next(decoded.rows)})
    assert json.loads(line, parse_float=str)["row"] == {
        "price": "10.10",
        "big": "12345678901234567890.000001",
    }


def _zip(members: dict[str, bytes]) -> bytes:
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def test_a_zip_archive_is_read_member_by_member_naming_each(tmp_path):
    path = tmp_path / "export.zip"
    path.write_bytes(
        _zip(
            {
                "bills.csv": b"id,total\n1,10.00\n2,NA\n",
                "accounts.jsonl.gz": gzip.compress(
                    b'{"code": "a1", "balance": 1.50}\n{"code": "a2"}\n'
                ),
                "plans.json": b'{"data": [{"plan": "gold"}]}',
            }
        )
    )
    with open_rows(path) as decoded:
        seen = [(decoded.source_file, decoded.file_format, row) for row in decoded.rows]
    assert seen == [
        ("bills.csv", "csv", {"id": "1", "total": "10.00"}),
        ("bills.csv", "csv", {"id": "2", "total": "NA"}),
        ("accounts.jsonl.gz", "ndjson", {"code": "a1", "balance": Decimal("1.50")}),
        ("accounts.jsonl.gz", "ndjson", {"code": "a2"}),
        ("plans.json", "json", {"plan": "gold"}),
    ]


def test_the_size_cap_counts_every_member_of_an_archive(tmp_path):
    path = tmp_path / "bomb.zip"
    path.write_bytes(_zip({f"part{i}.csv": b"a\n" + b"0\n" * 300_000 for i in range(4)}))
    with (
        pytest.raises(FileTooLargeError),
        open_rows(path, max_decompressed_bytes=2_000_000) as decoded,
    ):
        list(decoded.rows)


ONE_ROW = {"accountCode": "acme", "meterIds": ["m1", "m2", "m3"]}


@pytest.mark.parametrize("content_type", ["application/gzip", "binary/octet-stream"])
def test_a_one_line_jsonl_export_lands_as_one_row_with_its_array_intact(m3, content_type):
    """m3ter lists data-export jobs without their format; the file is sniffed, and sniffing
    never turns one object into several rows."""
    job = m3.add_export_job(rows=[ONE_ROW], file_format="JSONL", gzipped=True)
    m3.files.publish(f"exports/{job}", m3.export_jobs[job].content, content_type=content_type)
    rows = run_tap(m3ter_config(m3)).records("m3ter_data_export_rows")
    assert [(r["job_id"], r["row"]) for r in rows] == [(job, ONE_ROW)]


def test_the_format_the_tap_asked_for_outranks_the_storage_hosts_content_type(m3):
    """An export the tap created is read as the exportFileFormat it asked for, even when the
    storage host labels the JSON Lines file application/json (which may wrap rows in an
    array)."""
    original = m3.add_export_job

    def one_line_labelled_json(*args, **kwargs):
        job = original(*args, **{**kwargs, "rows": [ONE_ROW], "gzipped": False})
        m3.files.content_types[f"exports/{job}"] = "application/json"
        return job

    m3.add_export_job = one_line_labelled_json
    export = {"name": "bills", "source_type": "OPERATIONAL", "export_file_format": "JSONL"}
    config = m3ter_config(
        m3, m3ter={"data_exports": [{**export, "operational_data_types": ["BILLS"]}]}
    )
    rows = run_tap(config).records("m3ter_data_export_rows")
    assert [(r["row"], r["file_format"]) for r in rows] == [(ONE_ROW, "ndjson")]


def test_without_a_declared_format_the_storage_hosts_content_type_is_followed(m3):
    """A listed export says nothing of its format; a specific Content-Type (here text/csv
    for a CSV whose first column name starts with a bracket) is followed, not sniffed."""
    content = b"[tag],value\n[a],1\n"
    job = m3.add_export_job(rows=[{"x": "1"}], gzipped=False)
    m3.files.publish(f"exports/{job}", content, content_type="text/csv; charset=utf-8")
    rows = run_tap(m3ter_config(m3)).records("m3ter_data_export_rows")
    assert [r["row"] for r in rows] == [{"[tag]": "[a]", "value": "1"}]


def test_a_download_the_tap_triggered_is_read_as_the_format_it_asked_for(m3):
    """Without a file name to go by and behind a generic Content-Type, a lookup-table
    DOWNLOAD the tap triggered is read as its download_format (CSV here, whose first
    column name starts with a bracket), not sniffed as JSON."""
    _, [revision] = m3.add_table("odd", [("[region]", "STRING"), ("rate", "NUMBER")], rows=2)
    listed, publish = m3._lookup_json, m3.files.publish
    m3._lookup_json = lambda job: {k: v for k, v in listed(job).items() if k != "fileName"}
    m3.files.publish = lambda key, content, **_: publish(
        key, content, content_type="binary/octet-stream"
    )
    config = m3ter_config(m3, m3ter={"download_lookup_tables": True, "download_format": "csv"})
    rows = run_tap(config).records("m3ter_lookup_table_data_rows")
    assert [r["row"] for r in rows] == m3.revision_rows[revision]


def test_a_zip_members_own_name_outranks_the_format_declared_for_the_archive(tmp_path):
    path = tmp_path / "export.zip"
    path.write_bytes(_zip({"accounts.jsonl": b'{"code": "a1", "tags": ["x", "y"]}\n'}))
    with open_rows(path, "text/csv") as decoded:
        assert list(decoded.rows) == [{"code": "a1", "tags": ["x", "y"]}]
