"""The demo sandbox: every fake API with realistic data, until stopped.

    python -m tests.fakes.sandbox [--ready-file PATH]

Elastic Path on 127.0.0.1:8711 (client "sandbox-client" / "sandbox-secret"), m3ter on
127.0.0.1:8712 (org "sandbox-org", key "sandbox-m3ter-key" / "sandbox-m3ter-secret"), and the
storage host for download links on 127.0.0.2:8719.
"""

from __future__ import annotations

import argparse
import json
import signal
import threading
from datetime import datetime, timedelta, timezone
from pathlib import Path

from tests.fakes.elasticpath import FakeElasticPath
from tests.fakes.files import FakeFileHost
from tests.fakes.m3ter import FakeM3ter, usage_rows

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ep-port", type=int, default=8711)
    parser.add_argument("--m3ter-port", type=int, default=8712)
    parser.add_argument("--files-host", default="127.0.0.2")
    parser.add_argument("--files-port", type=int, default=8719)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    files, elasticpath = build(args.host, args.ep_port, args.files_host, args.files_port)
    m3ter = build_m3ter(files, args.host, args.m3ter_port)
    files.start()
    elasticpath.start()
    m3ter.start()
    urls = {"elasticpath": elasticpath.url, "m3ter": m3ter.url, "files": files.url}
    print(
        f"sandbox: Elastic Path at {elasticpath.url}, m3ter at {m3ter.url}, files at {files.url}",
        flush=True,
    )
    if args.ready_file:
        args.ready_file.write_text(json.dumps(urls))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    m3ter.stop()
    elasticpath.stop()
    files.stop()


if __name__ == "__main__":
    main()
