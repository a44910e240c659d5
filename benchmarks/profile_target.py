"""Where target-postgres spends its time on report rows, RECORD against BATCH.

    .venv/bin/python -m benchmarks.profile_target [--rows 200000] [--repeat 3]
        [--configs meltano.yml,use_copy,...] [--batches gzip-10000,none-10000] [--no-profile]

1. The tap's output is recorded once per path (a 7-column CSV of `--rows` orders served as an
   Elastic Path export, only its rows stream selected, as in `bench_file_rows --e2e`): the
   RECORD messages, and per `--batches` entry (`<gzip|none>-<batch_size>`) the BATCH messages
   with their jsonl files, kept under a temp root.
2. Each recording is fed to target-postgres, Meltano's install of it
   (.meltano/loaders/target-postgres/venv), as its own process (benchmarks/target_runner.py),
   into a throwaway PostgreSQL (tests/postgres_server.py) with pg_stat_statements loaded, a
   fresh schema per run, once per target configuration of `--configs` (CONFIGS below: all of
   them unless named) and `--repeat` times; rows/s is rows over the target process's wall
   time (startup included), the median of the repeats. The tap is not running meanwhile.
3. Printed: one JSON line per run; per configuration RECORD rows/s, BATCH rows/s (each
   recording), BATCH / RECORD; per kind of SQL statement the client-side seconds and
   PostgreSQL's own execution seconds (pg_stat_statements) and the server processes' CPU
   seconds; then, unless `--no-profile`, one more run of each recording per configuration
   with timers on the target's stages (target_runner.STAGES: parsing, validation, batch
   building, INSERT or COPY, the merge...), each stage's own seconds and share, and how much
   of the SQL was PostgreSQL executing it.

`--configs` takes names of CONFIGS joined by commas (e.g. `meltano.yml,use_copy`). With the
defaults a run takes about 40 minutes on 2 cores; `--configs meltano.yml,use_copy --batches
gzip-10000 --repeat 1` about 3. Other work on the machine moves single runs by 10-20 %:
compare medians of a few repeats, and ratios within one run of this script.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.row_files import DEFAULT_CACHE, prepare
from benchmarks.row_providers import batch_config, serving
from benchmarks.row_runs import ROOT
from benchmarks.target_runner import statement_kind
from tests.postgres_server import SUPERUSER, _as_service_account, running_postgres

TARGET_PYTHON = ROOT / ".meltano" / "loaders" / "target-postgres" / "venv" / "bin" / "python"
RUNNER = Path(__file__).resolve().parent / "target_runner.py"
ROWS_STREAM = "elasticpath_export_rows"
#: What meltano.yml gives target-postgres today (besides the connection).
MELTANO_YML = {"use_copy": False, "add_record_metadata": False, "activate_version": False}
#: Target settings a user can set, each a change from meltano.yml's.
CONFIGS = {
    "meltano.yml": {},
    "use_copy": {"use_copy": True},
    "validate_records=false": {"validate_records": False},
    "use_copy+validate_records=false": {"use_copy": True, "validate_records": False},
    "use_copy+batch_size_rows=100000": {"use_copy": True, "batch_size_rows": 100_000},
    "use_copy+load_method=upsert": {"use_copy": True, "load_method": "upsert"},
    "add_record_metadata": {"add_record_metadata": True},
    # No key: plain INSERT..SELECT, no merge; rows a resumed file repeats land twice.
    "use_copy+no_key_stream_map": {
        "use_copy": True,
        "stream_maps": {ROWS_STREAM: {"__key_properties__": []}},
    },
}


def record(rows: int, batches: list[str], work: Path) -> dict[str, Path]:
    """The tap's stdout for the RECORD path and each batch variant, by name."""
    csv = prepare(DEFAULT_CACHE, rows, 7, ["csv"])["csv"]
    variants: dict[str, dict] = {"RECORD": {}}
    for variant in batches:
        compression, size = variant.split("-")
        extra = batch_config(work / f"files-{variant}")
        extra["batch_config"]["encoding"]["compression"] = compression
        extra["batch_config"]["batch_size"] = int(size)
        variants[f"BATCH {variant}"] = extra
    recordings = {}
    with serving(csv, "csv") as job:
        for name, extra in variants.items():
            recordings[name] = work / f"{name.replace(' ', '-')}.singer"
            began = time.perf_counter()
            with open(recordings[name], "wb") as out:
                subprocess.run(
                    job.tap_command(work, extra=extra),
                    stdout=out,
                    stderr=subprocess.DEVNULL,
                    cwd=ROOT,
                    check=True,
                )
            seconds = time.perf_counter() - began
            print(f"recorded {name}: tap {rows / seconds:,.0f} rows/s", file=sys.stderr)
    return recordings


class ServerStats:
    """pg_stat_statements and the CPU time of the throwaway server's processes."""

    def __init__(self, server) -> None:
        self.server = server
        self.postmaster, argv = _postmaster(server.port)
        self.data, self.sockets = argv[argv.index("-D") + 1], argv[argv.index("-k") + 1]
        self.sql("alter system set shared_preload_libraries = 'pg_stat_statements'")
        log = str(Path(self.data).parent / "server.log")
        pg_ctl = [str(server.bindir / "pg_ctl"), "-D", self.data, "-l", log, "-w"]
        subprocess.run(_as_service_account([*pg_ctl, "restart"]), capture_output=True, check=True)
        self.postmaster, _ = _postmaster(server.port)
        self.sql("create extension if not exists pg_stat_statements")

    def sql(self, sql: str) -> str:
        psql = [str(self.server.bindir / "psql"), "-XAtq", "-v", "ON_ERROR_STOP=1"]
        where = [f"--host={self.sockets}", f"--port={self.server.port}", f"-U{SUPERUSER}"]
        argv = [*psql, *where, f"--dbname={self.server.database}", "-c", sql]
        return subprocess.run(
            _as_service_account(argv), capture_output=True, text=True, check=True
        ).stdout

    def reset(self) -> float:
        self.sql("select pg_stat_statements_reset()")
        return self.cpu_seconds()

    def statements(self) -> dict[str, float]:
        """Execution seconds per kind of statement since the reset."""
        rows = json.loads(
            self.sql(
                "select coalesce(json_agg(json_build_array(query, total_exec_time)), '[]') "
                "from pg_stat_statements where query not like '%pg_stat_statements%'"
            )
        )
        seconds: dict[str, float] = {}
        for query, milliseconds in rows:
            kind = statement_kind(query)
            seconds[kind] = seconds.get(kind, 0.0) + milliseconds / 1000
        return seconds

    def cpu_seconds(self) -> float:
        """User and system CPU of the postmaster, its live children and those it reaped."""
        ticks = _cpu_ticks(self.postmaster)[1]
        for pid in Path("/proc").iterdir():
            if pid.name.isdigit():
                parent, _, own = _cpu_ticks(pid.name)
                ticks += own if parent == self.postmaster else 0
        return ticks / os.sysconf("SC_CLK_TCK")


def _cpu_ticks(pid: str) -> tuple[str, int, int]:
    """A process's parent, its CPU ticks with its reaped children's, and its own alone."""
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        own = int(fields[11]) + int(fields[12])
        return fields[1], own + int(fields[13]) + int(fields[14]), own
    return "", 0, 0


def _postmaster(port: int) -> tuple[str, list[str]]:
    for pid in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            argv = (pid / "cmdline").read_bytes().decode().split("\0")
            if argv[0].endswith("/postgres") and "-p" in argv and str(port) in argv:
                return pid.name, argv
    raise RuntimeError(f"no postmaster listening on {port}")


def run_target(
    server, stats: ServerStats, work: Path, settings: dict, recording: Path, stages: bool = False
) -> dict:
    """One target process on `recording` into a fresh schema; its figures."""
    run = len(list(work.glob("target-*.json")))
    schema = f"run_{run}"
    config = work / f"target-{run}.json"
    connection = {k.lower(): v for k, v in server.env(prefix="").items()}
    connection["port"] = server.port
    config.write_text(
        json.dumps({**connection, "default_target_schema": schema, **MELTANO_YML, **settings})
    )
    out = work / f"out-{run}.json"
    cpu_before = stats.reset()
    began = time.perf_counter()
    argv = [str(TARGET_PYTHON), str(RUNNER), str(config), str(recording), str(out)]
    completed = subprocess.run(
        argv + (["--stages"] if stages else []), capture_output=True, text=True, check=False
    )
    seconds = time.perf_counter() - began
    if completed.returncode:
        raise SystemExit(f"target-postgres failed on {recording.name}:\n{completed.stderr[-3000:]}")
    figures = {
        "seconds": seconds,
        "server_cpu": stats.cpu_seconds() - cpu_before,
        "server_statements": stats.statements(),
        **json.loads(out.read_text()),
    }
    figures["rows"] = int(server.psql(f"select count(*) from {schema}.{ROWS_STREAM}"))
    server.psql(f"drop schema {schema} cascade")
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--configs", default=",".join(CONFIGS))
    parser.add_argument("--batches", default="gzip-10000,none-10000,gzip-100000")
    parser.add_argument("--no-profile", action="store_true")
    args = parser.parse_args()
    configs = {name: CONFIGS[name] for name in args.configs.split(",")}
    with tempfile.TemporaryDirectory(prefix="profile-target-") as temp, running_postgres() as pg:
        work = Path(temp)
        recordings = record(args.rows, args.batches.split(","), work)
        stats = ServerStats(pg)
        results: dict[tuple[str, str], list[dict]] = {}
        for _ in range(args.repeat):  # repeats interleaved: load from elsewhere hits all alike
            for config, settings in configs.items():
                for path, recording in recordings.items():
                    run = run_target(pg, stats, work, settings, recording)
                    results.setdefault((config, path), []).append(run)
                    line = {"config": config, "path": path, **_brief(run, args.rows)}
                    print(json.dumps(line), flush=True)
        _print_rates(results, args.rows)
        _print_statements(results)
        if not args.no_profile:
            for config, settings in configs.items():
                for path, recording in recordings.items():
                    run = run_target(pg, stats, work, settings, recording, True)
                    _print_stages(config, path, run)


def _brief(run: dict, rows: int) -> dict:
    if run["rows"] != rows:
        raise SystemExit(f"{run['rows']} rows landed of {rows}")
    return {
        "rows_per_s": round(rows / run["seconds"]),
        "seconds": round(run["seconds"], 2),
        "server_cpu": round(run["server_cpu"], 2),
        "target_peak_rss_mib": round(run["peak_rss_mib"]),
    }


def _print_rates(results: dict, rows: int) -> None:
    rate = {
        key: rows / statistics.median(r["seconds"] for r in runs) for key, runs in results.items()
    }
    paths = list(dict.fromkeys(path for _, path in results))
    batches = [path for path in paths if path != "RECORD"]
    print(f"\nrows/s of target-postgres alone, {rows:,} rows (median), and BATCH / RECORD")
    print(f"{'config':36} {'RECORD':>8} " + " ".join(f"{p[6:]:>12} {'ratio':>5}" for p in batches))
    for config in dict.fromkeys(config for config, _ in results):
        record_rate = rate[(config, "RECORD")]
        cells = [
            f"{rate[(config, p)]:12,.0f} {rate[(config, p)] / record_rate:5.2f}" for p in batches
        ]
        print(f"{config:36} {record_rate:8,.0f} " + " ".join(cells))


def _print_statements(results: dict) -> None:
    print("\nseconds per run by SQL statement: client wall / PostgreSQL execution (median)")
    for (config, path), runs in results.items():
        kinds = sorted({k for r in runs for k in [*r["statements"], *r["server_statements"]]})
        cells = []
        for kind in kinds:
            client = statistics.median(
                r["statements"].get(kind, {}).get("seconds", 0) for r in runs
            )
            server = statistics.median(r["server_statements"].get(kind, 0) for r in runs)
            cells.append(f"{kind} {client:.2f}/{server:.2f}")
        cpu = statistics.median(r["server_cpu"] for r in runs)
        print(f"{config} | {path} | server CPU {cpu:.2f} s | " + "; ".join(cells))


def _print_stages(config: str, path: str, run: dict) -> None:
    stages = run["stages"]
    total = sum(stages.values())
    print(f"\nstages of the target (own seconds): {config} | {path} | {total:.2f} s")
    for stage, seconds in sorted(stages.items(), key=lambda item: -item[1]):
        print(f"  {seconds:7.2f} s {100 * seconds / total:5.1f} %  {stage}")
    server = run["server_statements"]
    executing = sum(server.values())
    print(f"  of which PostgreSQL executing statements: {executing:.2f} s", end="")
    print(f" ({100 * executing / total:.1f} %; server CPU {run['server_cpu']:.2f} s): ", end="")
    print("; ".join(f"{kind} {seconds:.2f}" for kind, seconds in sorted(server.items())))


if __name__ == "__main__":
    main()
