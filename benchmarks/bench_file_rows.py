"""Report rows through the tap against the plain work of the same rows, in the same run.

    .venv/bin/python -m benchmarks.bench_file_rows [--rows 1000000] [--cases csv-7,csv.gz-30]
        [--repeat 1] [--batch] [--typed] [--cache-dir DIR] [--tap-ref REV]
    .venv/bin/python -m benchmarks.bench_file_rows --big     # a >= 1 GiB CSV, and 10x fewer rows
    .venv/bin/python -m benchmarks.bench_file_rows --e2e     # meltano run into target-postgres

Default mode, per case (`<format>-<columns>`, formats csv, csv.gz, ndjson, ndjson.gz, json,
json.gz, at 7 or 30 columns; all 12 unless `--cases`):
- a file of `--rows` orders is written once and cached (`--cache-dir`, default
  $TMPDIR/tap-exportjobs-bench): ids, e-mails, amounts, timestamps, text with commas, quotes,
  newlines and non-ASCII, empty cells, nulls, booleans; NDJSON one object a line, JSON a
  `{"entries": [...]}` document (benchmarks/row_files.py);
- the fake file host serves it as one finished job's file: CSV as an Elastic Path export,
  JSON as a Talkdesk `json` report, NDJSON as a Talkdesk `json_bulk` one (row_providers.py);
- the tap runs as a subprocess (`python -m tap_exportjobs.tap`) with a catalog from its own
  `--discover` selecting only that rows stream, stdout to a pipe this process drains in 1 MiB
  reads, counting the stream's RECORD messages (row_runs.py);
- the baseline runs the same way (`python -m benchmarks.row_baseline`): stdlib `csv.reader`
  + `dict(zip(header, row))`, `json.loads` per NDJSON line, `ijson.items` of `entries`; each
  row's RECORD message, the very one the tap writes, encoded with the SDK's msgspec encoder
  into a buffer written every 64 KiB.

Printed per case, one JSON line as it finishes, then a table:
- `rows/s`: rate of the row phase, from the first to the last RECORD of the rows stream as
  the drain sees them (startup, listing jobs and the download excluded), tap and baseline;
  `ratio` is tap / baseline (the issue's goal: >= 0.8 at 7 columns, >= 0.7 at 30);
- `run/s`: rows over the whole run, process start to exit, and `run ratio` likewise;
- `RSS`: peak resident memory of the process itself, tap and baseline, MiB (`os.wait4` in
  a small launcher, benchmarks/peak_rss.py: a direct child would inherit this process's);
- `same`: the first RECORD messages of tap and baseline are byte for byte equal (apart
  from time_extracted): both did the same work.
With `--batch`, each case also runs the tap with `batch_config` (jsonl, gzip, under a temp
root; its rows counted in the files afterwards, untimed): `batch run/s`, and `batch/tap run`
against the RECORD path's run (the issue's goal: >= 1).
With `--typed`, each case also runs the tap with `typed_rows: {"*": {"infer": true}}` and a
`cache_dir` in the case's temp dir: its `--discover` infers the columns from the served file
(a Range read of its first MiB), so each file column is a top-level property of the catalog
and of each record, converted (integers, Decimals, booleans, date-times), and `row` keeps
only what did not fit (row_typed.py). `typed rows/s` is its row-phase rate, `typed ratio`
that over the baseline's (the baseline stays plain rows, the issue's yardstick; its goal:
>= 0.5), `RSS typed` its peak, `cols/in row` its first record's typed columns / keys left in
`row`. The run must emit every row; a case whose first record has no non-null typed column,
or as many keys left in `row` as the file has columns, is marked NOT TYPED, one whose rows
took the SDK's per-record path rather than the tap's own (its log says which) SDK PATH, and
the benchmark then exits 1 after the table.
With `--repeat N` each case runs N times, tap and baseline in turn; rates are medians, RSS
the largest. `--tap-ref REV` runs the tap_exportjobs of a git revision (exported with
`git archive`) instead of the working tree's: before and after a change, on one machine.

`--big`: a 30-column CSV of at least 1 GiB (about 3 M rows; cached, so re-runs skip the
writing) and one of a tenth of its rows, each as above, then the big file's peak RSS against
the small one's (goal: <= 120 MB, within 10 %). Needs ~4 GiB of disk (file, gzip-less
spool).

`--e2e`: `meltano run tap-exportjobs target-postgres` on a `--rows` 7-column CSV, once on
the RECORD path and once with `batch_config` (jsonl, gzip, files under a temp root), into a
PostgreSQL from tests/postgres_server.py; prints rows/s of each whole pipeline, rows landed
and a digest of the loaded table (equal on both paths), and BATCH / RECORD (row_e2e.py).
Meltano passes `batch_config` only once meltano.yml declares it a setting of tap-exportjobs;
until then only the RECORD pipeline runs, and the output says so. Meltano runs the tap its
plugin venv installed (the working tree, `-e .`): `--tap-ref` does not apply.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks.row_files import DEFAULT_CACHE, WIDTHS, big_csv_rows, prepare
from benchmarks.row_providers import ServedJob, batch_config, rows_in_batch_files, serving
from benchmarks.row_runs import ROOT, Run, first_records, run_drained
from benchmarks.row_table import table
from benchmarks.row_typed import rode_fast_path, typed_command, typed_run, typed_shape

KINDS = ("csv", "csv.gz", "ndjson", "ndjson.gz", "json", "json.gz")
CASES = tuple(f"{kind}-{width}" for width in WIDTHS for kind in KINDS)
BIG_BYTES = 1 << 30


def run_case(
    case: str,
    rows: int,
    cache: Path,
    repeat: int,
    source: Path = ROOT,
    batch: bool = False,
    typed: bool = False,
) -> dict:
    """The tap (its code from `source`) and the baseline on one file, `repeat` times each,
    with `batch` the tap writing batch files too, with `typed` the tap with typed rows; the
    figures as a dict."""
    kind, width = case.rsplit("-", 1)
    say(f"{case}: preparing {rows} rows")
    path = prepare(cache, rows, int(width), [kind])[kind]
    file_format = kind.removesuffix(".gz")
    taps: list[Run] = []
    baselines: list[Run] = []
    batches: list[Run] = []
    typed_runs: list[Run] = []
    typed_fast = True
    with serving(path, file_format) as job, tempfile.TemporaryDirectory() as work:
        workdir = Path(work)
        tap = job.tap_command(workdir, source)
        typed_tap = typed_command(job, workdir, source) if typed else []
        baseline = [
            sys.executable,
            "-m",
            "benchmarks.row_baseline",
            str(path),
            file_format,
            job.rows_stream,
            json.dumps(job.envelope),
        ]
        for attempt in range(1, repeat + 1):
            say(f"{case}: run {attempt}/{repeat}")
            tapped = run_drained(tap, job.rows_stream, workdir / "tap.err", cwd=source)
            taps.append(_checked(tapped, rows))
            baselines.append(
                _checked(run_drained(baseline, job.rows_stream, workdir / "base.err"), rows)
            )
            if batch:
                batches.append(_batch_run(job, workdir, source, rows))
            if typed:
                typed_runs.append(_checked(typed_run(typed_tap, job, workdir, source), rows))
                typed_fast = typed_fast and rode_fast_path(workdir)
        first = first_records(taps[0].head, job.rows_stream)
        same = bool(first) and first == first_records(baselines[0].head, job.rows_stream)
    tap_figures, base_figures = _figures(taps), _figures(baselines)
    batch_figures = {}
    if batches:
        batch_figures = {"batch": _figures(batches)}
        batch_figures["ratio_batch_to_record_run"] = _ratio(
            batch_figures["batch"], tap_figures, "run_rows_per_s"
        )
    typed_figures = {}
    if typed_runs:
        typed_figures = {
            "typed": _figures(typed_runs),
            "typed_first_record": typed_shape(typed_runs[0].head, job, int(width), typed_fast),
        }
        typed_figures["ratio_typed_row_phase"] = _ratio(
            typed_figures["typed"], base_figures, "row_phase_rows_per_s"
        )
    return {
        "case": case,
        "rows": rows,
        "file_mib": round(path.stat().st_size / 2**20, 1),
        "tap": tap_figures,
        "baseline": base_figures,
        "ratio_row_phase": _ratio(tap_figures, base_figures, "row_phase_rows_per_s"),
        "ratio_run": _ratio(tap_figures, base_figures, "run_rows_per_s"),
        "same_messages": same,
        **batch_figures,
        **typed_figures,
        "repeat": repeat,
    }


def _batch_run(job: ServedJob, workdir: Path, source: Path, rows: int) -> Run:
    """The tap with `batch_config`: every row in its batch files, none as a RECORD."""
    root = workdir / "batches"
    shutil.rmtree(root, ignore_errors=True)
    root.mkdir()
    command = job.tap_command(workdir, source, batch_config(root))
    run = run_drained(command, job.rows_stream, workdir / "batch.err", cwd=source)
    in_files = rows_in_batch_files(root)
    if run.returncode != 0 or run.records or in_files != rows:
        raise SystemExit(
            f"batch run: exit {run.returncode}, {run.records} RECORDs, {in_files} of {rows} "
            f"rows in batch files; stderr ends:\n{run.stderr_tail}"
        )
    return dataclasses.replace(run, records=in_files)  # its rows went to files instead


def _checked(run: Run, rows: int) -> Run:
    if run.returncode != 0 or run.records != rows:
        raise SystemExit(
            f"exit {run.returncode}, {run.records} of {rows} records; stderr ends:\n"
            f"{run.stderr_tail}"
        )
    return run


def _figures(runs: list[Run]) -> dict:
    return {
        "row_phase_rows_per_s": round(statistics.median(r.row_phase_rows_per_second for r in runs)),
        "run_rows_per_s": round(statistics.median(r.rows_per_second for r in runs)),
        "run_seconds": round(statistics.median(r.seconds for r in runs), 2),
        "peak_rss_mib": round(max(r.peak_rss_mib for r in runs), 1),
    }


def _ratio(tap: dict, baseline: dict, key: str) -> float:
    return round(tap[key] / baseline[key], 3) if baseline[key] else 0.0


@contextlib.contextmanager
def tap_source(ref: str | None):
    """Where the tap's code is imported from: the working tree, or `ref` exported from git
    (to measure a commit, such as the one before a change, in the same run)."""
    if ref is None:
        yield ROOT
        return
    with tempfile.TemporaryDirectory() as tree:
        archive = subprocess.run(
            ["git", "archive", ref, "tap_exportjobs"], cwd=ROOT, capture_output=True, check=True
        )
        subprocess.run(["tar", "-x", "-C", tree], input=archive.stdout, check=True)
        yield Path(tree)


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def _cases(text: str) -> list[str]:
    cases = [c.strip() for c in text.split(",") if c.strip()]
    unknown = sorted(set(cases) - set(CASES))
    if unknown:
        raise argparse.ArgumentTypeError(f"unknown cases {unknown}; known: {', '.join(CASES)}")
    return cases


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rows", type=int, default=1_000_000, help="rows per file")
    parser.add_argument("--cases", type=_cases, default=list(CASES), help=", ".join(CASES))
    parser.add_argument("--repeat", type=int, default=1, help="runs per case (medians)")
    parser.add_argument("--cache-dir", type=Path, default=DEFAULT_CACHE)
    parser.add_argument(
        "--batch", action="store_true", help="also run the tap with batch_config, per case"
    )
    parser.add_argument(
        "--typed", action="store_true", help="also run the tap with typed_rows inferred, per case"
    )
    parser.add_argument(
        "--tap-ref", help="run the tap_exportjobs of this git revision instead of the tree's"
    )
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--big", action="store_true", help="a >= 1 GiB CSV and 10x fewer rows")
    mode.add_argument("--e2e", action="store_true", help="meltano run into target-postgres")
    args = parser.parse_args()

    if args.e2e:
        from benchmarks.row_e2e import main as e2e

        e2e(args.rows, args.cache_dir)
        return
    if args.big:
        big = big_csv_rows(BIG_BYTES)
        runs = [("csv-30", big), ("csv-30", big // 10)]
    else:
        runs = [(case, args.rows) for case in args.cases]
    results = []
    with tap_source(args.tap_ref) as source:
        for case, rows in runs:
            result = run_case(
                case, rows, args.cache_dir, args.repeat, source, args.batch, args.typed
            )
            result["tap_code"] = args.tap_ref or "working tree"
            print(json.dumps(result), flush=True)
            results.append(result)
    print()
    print(table(results))
    untyped = [r["case"] for r in results if "typed" in r and not r["typed_first_record"]["typed"]]
    if untyped:
        print(f"\ntyped runs whose first record has no typed columns: {', '.join(untyped)}")
    slow = [r["case"] for r in results if "typed" in r and not r["typed_first_record"]["fast_path"]]
    if slow:
        print(f"\ntyped runs on the SDK's per-record path, not the tap's own: {', '.join(slow)}")
    if args.big:
        large, small = (r["tap"]["peak_rss_mib"] for r in results)
        print(
            f"\ntap peak RSS: {large:.0f} MiB on {results[0]['file_mib']:.0f} MiB, "
            f"{small:.0f} MiB at 10x fewer rows ({(large / small - 1) * 100:+.0f} %)"
        )
    if untyped or slow:
        sys.exit(1)


if __name__ == "__main__":
    main()
