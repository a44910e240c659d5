"""The demo sandbox: every fake API with realistic data, until stopped.

    python -m tests.fakes.sandbox [--ready-file PATH]

Elastic Path on 127.0.0.1:8711, the storage host for download links on 127.0.0.2:8719.
Credentials: client_id "sandbox-client", client_secret "sandbox-secret".
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--ep-port", type=int, default=8711)
    parser.add_argument("--files-host", default="127.0.0.2")
    parser.add_argument("--files-port", type=int, default=8719)
    parser.add_argument("--ready-file", type=Path)
    args = parser.parse_args()
    files, elasticpath = build(args.host, args.ep_port, args.files_host, args.files_port)
    files.start()
    elasticpath.start()
    urls = {
        "elasticpath": elasticpath.url,
        "files": files.url,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
    }
    print(f"sandbox: Elastic Path at {elasticpath.url}, files at {files.url}", flush=True)
    if args.ready_file:
        args.ready_file.write_text(json.dumps(urls))
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    stop.wait()
    elasticpath.stop()
    files.stop()


if __name__ == "__main__":
    main()
