"""The demo sandbox: every fake API with realistic data, until stopped.

    python -m tests.fakes.sandbox [--ready-file PATH]
        [--ep-port N --m3ter-port N --talkdesk-port N --uniware-port N --files-port N]

Elastic Path on 127.0.0.1:8711 (client "sandbox-client" / "sandbox-secret"), m3ter on
127.0.0.1:8712 (org "sandbox-org", key "sandbox-m3ter-key" / "sandbox-m3ter-secret"),
Talkdesk on 127.0.0.1:8713 (client "sandbox-talkdesk-client" / "sandbox-talkdesk-secret",
tokens at /oauth/token on the same host), Uniware on 127.0.0.1:8714 (tenant "sandbox",
user "sandbox-uniware-user" / "sandbox-uniware-password", facilities WH_DEL and WH_BLR),
and the storage host for download links on 127.0.0.2:8719. Other ports come from the
options or from SANDBOX_ELASTICPATH_PORT, SANDBOX_M3TER_PORT, SANDBOX_TALKDESK_PORT,
SANDBOX_UNIWARE_PORT and SANDBOX_FILES_PORT (0: any free port); the ready file then names
the URLs, which the tap is pointed at with
TAP_EXPORTJOBS_ELASTICPATH_API_URL, TAP_EXPORTJOBS_M3TER_API_URL,
TAP_EXPORTJOBS_TALKDESK_API_URL, TAP_EXPORTJOBS_TALKDESK_TOKEN_URL and
TAP_EXPORTJOBS_UNIWARE_API_URL (scripts/demo.sh does).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.fakes.elasticpath import FakeElasticPath
from tests.fakes.files import FakeFileHost
from tests.fakes.m3ter import FakeM3ter, usage_rows
from tests.fakes.server import FakeHost
from tests.fakes.talkdesk import FakeTalkdesk
from tests.fakes.uniware import FakeUniware

CLIENT_ID = "sandbox-client"
CLIENT_SECRET = "sandbox-secret"


def build(
    host: str = "127.0.0.1",
    ep_port: int = 8711,
    files_host: str = "127.0.0.2",
    files_port: int = 8719,
) -> tuple[FakeFileHost, FakeElasticPath]:
    files = FakeFileHost(files_host, files_port)
    elasticpath = FakeElasticPath(
        files,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        host=host,
        port=ep_port,
        finish_after_seconds=1.0,
        status_style="spec",
    )
    now = datetime.now(timezone.utc)
    elasticpath.generate_orders(1500, now - timedelta(days=45), now, seed=2024)
    # Jobs someone already ran in the store: one done, one that matched nothing, one that
    # finishes shortly after the sandbox starts.
    elasticpath.add_job(
        created_at=now - timedelta(days=2),
        state="success",
        filter=f"ge(created_at,{now - timedelta(days=40):%Y-%m-%d}):eq(payment,refunded)",
    )
    elasticpath.add_job(
        created_at=now - timedelta(days=1),
        state="failed",
        filter="eq(currency,JPY)",
        error="No results matched the supplied filter",
    )
    elasticpath.add_job(
        created_at=now - timedelta(hours=1), state="pending", filter="eq(status,cancelled)"
    )
    return files, elasticpath


def build_m3ter(files: FakeFileHost, host: str = "127.0.0.1", port: int = 8712) -> FakeM3ter:
    m3ter = FakeM3ter(
        files,
        org_id="sandbox-org",
        client_id="sandbox-m3ter-key",
        client_secret="sandbox-m3ter-secret",
        host=host,
        port=port,
        seed=2024,
    )
    m3ter.add_destination("S3")
    m3ter.add_destination("GCS", name="Finance GCS bucket")
    rates, (archived, current) = m3ter.add_table(
        "api_rates",
        [("region", "STRING"), ("tier", "STRING"), ("rate", "NUMBER")],
        revisions=2,
        rows=120,
    )
    m3ter.add_lookup_job(rates, archived, type="ARCHIVE")
    m3ter.add_lookup_job(rates, current, type="UPLOAD")
    m3ter.add_lookup_job(rates, current, type="COPY")
    fx, (fx_current,) = m3ter.add_table(
        "fx_rates", [("currency", "STRING"), ("rate", "NUMBER")], rows=40
    )
    m3ter.add_lookup_job(fx, fx_current, type="DOWNLOAD")
    m3ter.add_export_job(rows=usage_rows(500))
    m3ter.add_export_job(
        source_type="OPERATIONAL", rows=usage_rows(80, seed=5), file_format="JSONL"
    )
    m3ter.add_export_job(status="FAILED")
    return m3ter


def build_talkdesk(files: FakeFileHost, host: str = "127.0.0.1", port: int = 8713) -> FakeTalkdesk:
    talkdesk = FakeTalkdesk(
        files,
        client_id="sandbox-talkdesk-client",
        client_secret="sandbox-talkdesk-secret",
        host=host,
        port=port,
        redirect_status=300,
        status_case="lower",
        create_style="wrapped",
        json_style="entries",
        show_created_at=False,
    )
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    talkdesk.add_rows("calls", 2000, today - timedelta(days=45), today + timedelta(days=1))
    talkdesk.add_rows("user_status", 600, today - timedelta(days=45), today + timedelta(days=1))
    # A report someone ran in the Talkdesk UI, and one they deleted.
    talkdesk.add_job("calls", fmt="csv", start=today - timedelta(days=3), end=today)
    talkdesk.add_job("calls", status="deleted")
    return talkdesk


def build_uniware(files: FakeFileHost, host: str = "127.0.0.1", port: int = 8714) -> FakeUniware:
    uniware = FakeUniware(
        files,
        username="sandbox-uniware-user",
        password="sandbox-uniware-password",
        host=host,
        port=port,
        done_status="COMPLETE",
        file_paths="absolute",
        code_key="jobCode",
        bom=True,
    )
    today = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    for facility in ("WH_DEL", "WH_BLR"):
        uniware.add_rows(facility, 900, today - timedelta(days=45), today + timedelta(days=1))
    # An export someone ran in the Uniware UI, whose code the sandbox config follows.
    uniware.add_job(
        "WH_DEL", today - timedelta(days=10), today - timedelta(days=9), code="EXPSANDBOX1"
    )
    return uniware


#: option -> (environment variable for its default, default port, what listens there)
PORTS = {
    "--ep-port": ("SANDBOX_ELASTICPATH_PORT", 8711, "Elastic Path"),
    "--m3ter-port": ("SANDBOX_M3TER_PORT", 8712, "m3ter"),
    "--talkdesk-port": ("SANDBOX_TALKDESK_PORT", 8713, "Talkdesk"),
    "--uniware-port": ("SANDBOX_UNIWARE_PORT", 8714, "Uniware"),
    "--files-port": ("SANDBOX_FILES_PORT", 8719, "the download links' storage host"),
}


def _start(host: FakeHost, option: str) -> None:
    """Listen, or exit with one line naming the port and how to choose another."""
    env, _, what = PORTS[option]
    try:
        host.start()
    except OSError as error:
        sys.exit(
            f"sandbox: cannot listen on {host.host}:{host.port} for {what} "
            f"({error.strerror or error}); choose another port with {option} N or {env}=N "
            "(0 = any free port), e.g. `"
            f"{env}=0 bash scripts/demo.sh`, which points the tap at the sandbox's new URLs"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--files-host", default="127.0.0.2")
    for option, (env, default, what) in PORTS.items():
        # argparse converts a string default (from the environment) with `type`.
        parser.add_argument(
            option,
            type=int,
            default=os.environ.get(env, default),
            help=f"port of {what} (default: ${env} or {default}; 0 = any free port)",
        )
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    files, elasticpath = build(args.host, args.ep_port, args.files_host, args.files_port)
    m3ter = build_m3ter(files, args.host, args.m3ter_port)
    talkdesk = build_talkdesk(files, args.host, args.talkdesk_port)
    uniware = build_uniware(files, args.host, args.uniware_port)
    _start(files, "--files-port")
    _start(elasticpath, "--ep-port")
    _start(m3ter, "--m3ter-port")
    _start(talkdesk, "--talkdesk-port")
    _start(uniware, "--uniware-port")
    urls = {
        "elasticpath": elasticpath.url,
        "m3ter": m3ter.url,
        "talkdesk": talkdesk.url,
        "uniware": uniware.url,
        "files": files.url,
    }
    print(
        f"sandbox: Elastic Path at {elasticpath.url}, m3ter at {m3ter.url}, Talkdesk at "
        f"{talkdesk.url}, Uniware at {uniware.url}, files at {files.url}",
        flush=True,
    )
    if args.ready_file:
        # Whole or absent: whoever waits for the file reads it as soon as it is there.
        partial = args.ready_file.with_name(args.ready_file.name + ".partial")
        partial.write_text(json.dumps(urls))
        partial.replace(args.ready_file)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    uniware.stop()
    talkdesk.stop()
    m3ter.stop()
    elasticpath.stop()
    files.stop()


if __name__ == "__main__":
    main()
