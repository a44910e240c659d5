"""A throwaway PostgreSQL server for tests and benchmarks.

`running_postgres()` makes a cluster in a temporary directory (initdb), starts it on
127.0.0.1 on a free port, creates a user who logs in with a password and a database it
owns, and stops and deletes it all on exit, also when the body raised. PostgreSQL refuses to
run as root, so as root the server runs as the Debian package's `postgres` user (`runuser`);
as anyone else it runs as that user. The binaries come from `pg_config --bindir`, else the
newest /usr/lib/postgresql/*/bin (`.ci/run` installs the Debian package).
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SUPERUSER = "postgres"
SERVICE_ACCOUNT = "postgres"  # the OS user Debian's package creates
#: Durability is worth nothing in a cluster deleted after the run.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


@dataclass(frozen=True)
class PostgresServer:
    host: str
    port: int
    user: str
    password: str
    database: str
    bindir: Path

    @property
    def dsn(self) -> str:
        return f"postgresql://{self.user}:{self.password}@{self.host}:{self.port}/{self.database}"

    def env(self, prefix: str = "TARGET_POSTGRES_") -> dict[str, str]:
        """The connection as settings variables, e.g. TARGET_POSTGRES_HOST for Meltano."""
        values = {
            "HOST": self.host,
            "PORT": str(self.port),
            "USER": self.user,
            "PASSWORD": self.password,
            "DATABASE": self.database,
        }
        return {prefix + name: value for name, value in values.items()}

    def psql(self, sql: str) -> str:
        """Run SQL as the password user over TCP; its output unaligned, without headers."""
        completed = subprocess.run(
            [
                str(self.bindir / "psql"),
                "--no-psqlrc",
                "--quiet",
                "--tuples-only",
                "--no-align",
                "--set=ON_ERROR_STOP=1",
                f"--host={self.host}",
                f"--port={self.port}",
                f"--username={self.user}",
                f"--dbname={self.database}",
                "--command",
                sql,
            ],
            env={**os.environ, "PGPASSWORD": self.password, "PGCONNECT_TIMEOUT": "10"},
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if completed.returncode:
            raise RuntimeError(f"psql failed: {completed.stderr.strip()}\nSQL: {sql}")
        return completed.stdout

    def query_json(self, sql: str) -> Any:
        """The rows of a query as a list of JSON objects, one per row, columns by name."""
        text = self.psql(f"select coalesce(json_agg(q), '[]') from ({sql}) q")
        return json.loads(text)


def postgres_bindir() -> Path:
    """Where initdb, postgres and psql are."""
    candidates = []
    if shutil.which("pg_config"):
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True)
        candidates.append(Path(out.stdout.strip()))
    versions = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versions, key=lambda p: int(p.parent.name), reverse=True)
    for bindir in candidates:
        if (bindir / "initdb").exists() and (bindir / "pg_ctl").exists():
            return bindir
    raise RuntimeError(
        "No PostgreSQL server binaries (initdb, pg_ctl): "
        "apt-get install postgresql (.ci/run does this)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _service_account() -> pwd.struct_passwd | None:
    """The unprivileged user to run PostgreSQL as when we are root (it refuses root); None
    when we are not root and run it ourselves."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(SERVICE_ACCOUNT)
    except KeyError:
        raise RuntimeError(
            f"Running as root and there is no {SERVICE_ACCOUNT!r} user to run PostgreSQL as "
            "(Debian's postgresql package creates it)"
        ) from None


def _as_service_account(argv: list[str]) -> list[str]:
    if _service_account() is None:
        return argv
    return ["runuser", "-u", SERVICE_ACCOUNT, "--", *argv]


def _run(argv: list[str], what: str) -> None:
    completed = subprocess.run(argv, capture_output=True, text=True, timeout=120, check=False)
    if completed.returncode:
        raise RuntimeError(f"{what} failed ({completed.returncode}): {completed.stderr.strip()}")


@contextmanager
def running_postgres(
    *, user: str = "exportjobs", password: str = "exportjobs-pw", database: str = "exportjobs"
) -> Iterator[PostgresServer]:
    bindir = postgres_bindir()
    workdir = Path(tempfile.mkdtemp(prefix="tap-exportjobs-pg-"))
    data, sockets, log = workdir / "data", workdir / "sockets", workdir / "server.log"
    sockets.mkdir()
    account = _service_account()
    if account is not None:  # initdb and the server write here as that user
        for path in (workdir, sockets):
            os.chown(path, account.pw_uid, account.pw_gid)
    pg_ctl = [str(bindir / "pg_ctl"), "-D", str(data)]
    started = False
    try:
        _run(
            _as_service_account(
                [
                    str(bindir / "initdb"),
                    "-D",
                    str(data),
                    f"--username={SUPERUSER}",
                    "--auth-local=trust",  # the superuser, on the private socket only
                    "--auth-host=scram-sha-256",
                    "--encoding=UTF8",
                    "--locale=C.UTF-8",
                    "--no-sync",
                ]
            ),
            "initdb",
        )
        # A port picked here can be taken before the server binds it: try a few.
        for attempt in range(3):
            port = _free_port()
            options = " ".join(
                [
                    "-c listen_addresses=127.0.0.1",
                    f"-p {port}",
                    f"-k {sockets}",
                    *(f"-c {setting}" for setting in FAST_SETTINGS),
                ]
            )
            try:
                _run(
                    _as_service_account([*pg_ctl, "-o", options, "-l", str(log), "-w", "start"]),
                    "pg_ctl start",
                )
                started = True
                break
            except RuntimeError:
                if attempt == 2:
                    raise RuntimeError(f"PostgreSQL did not start: {_tail(log)}") from None
        superuser = [
            str(bindir / "psql"),
            "--no-psqlrc",
            "--quiet",
            "--set=ON_ERROR_STOP=1",
            f"--host={sockets}",
            f"--port={port}",
            f"--username={SUPERUSER}",
            "--dbname=postgres",
        ]
        _run(
            [*superuser, "--command", f"create role {user} login password '{password}'"],
            "create role",
        )
        _run([*superuser, "--command", f"create database {database} owner {user}"], "createdb")
        yield PostgresServer("127.0.0.1", port, user, password, database, bindir)
    finally:
        if started:  # not checked: a failure here must not hide the one that got us here
            subprocess.run(
                _as_service_account([*pg_ctl, "-m", "immediate", "-w", "stop"]),
                capture_output=True,
                timeout=120,
                check=False,
            )
        shutil.rmtree(workdir, ignore_errors=True)


def _tail(log: Path, lines: int = 20) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no server log)"
