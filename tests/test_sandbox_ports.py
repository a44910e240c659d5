"""The demo sandbox on ports of one's choosing, and a clear word when a port is taken."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from tests.tap_runner import ROOT

#: option -> environment variable choosing the same port
OPTIONS = {
    "--ep-port": "SANDBOX_ELASTICPATH_PORT",
    "--m3ter-port": "SANDBOX_M3TER_PORT",
    "--talkdesk-port": "SANDBOX_TALKDESK_PORT",
    "--uniware-port": "SANDBOX_UNIWARE_PORT",
    "--files-port": "SANDBOX_FILES_PORT",
}


def _sandbox(ready: Path, *args: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fakes.sandbox", "--ready-file", str(ready), *args],
        cwd=ROOT,
        env={**os.environ, **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _listening(host: str) -> socket.socket:
    sock = socket.socket()
    sock.bind((host, 0))
    sock.listen()
    return sock


def _files_host() -> str:
    """Where the sandbox's storage host listens: 127.0.0.2, or localhost where that is absent."""
    try:
        _listening("127.0.0.2").close()
        return "127.0.0.2"
    except OSError:
        return "127.0.0.1"


@pytest.mark.parametrize("option", OPTIONS)
def test_a_taken_port_stops_the_sandbox_with_one_line_naming_it_and_the_way_out(tmp_path, option):
    host = _files_host() if option == "--files-port" else "127.0.0.1"
    with _listening(host) as taken:
        port = taken.getsockname()[1]
        others = [arg for other in OPTIONS if other != option for arg in (other, "0")]
        sandbox = _sandbox(tmp_path / "ready", option, str(port), *others)
        _, stderr = sandbox.communicate(timeout=60)
    assert sandbox.returncode != 0
    assert "Traceback" not in stderr
    [line] = stderr.strip().splitlines()
    assert f":{port} " in line and option in line and OPTIONS[option] in line
    assert not (tmp_path / "ready").exists()


def test_the_port_variables_move_the_sandbox_and_its_ready_file_says_where(tmp_path):
    free = []
    for _ in OPTIONS:
        with _listening("127.0.0.1") as probe:
            free.append(probe.getsockname()[1])
    ports = dict(zip(OPTIONS.values(), free, strict=True))
    ready = tmp_path / "ready"
    sandbox = _sandbox(ready, env={name: str(port) for name, port in ports.items()})
    try:
        deadline = time.monotonic() + 60
        while not ready.exists() and sandbox.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        urls = json.loads(ready.read_text())
        assert urls["elasticpath"].endswith(f":{ports['SANDBOX_ELASTICPATH_PORT']}")
        assert urls["m3ter"].endswith(f":{ports['SANDBOX_M3TER_PORT']}")
        assert urls["talkdesk"].endswith(f":{ports['SANDBOX_TALKDESK_PORT']}")
        assert urls["uniware"].endswith(f":{ports['SANDBOX_UNIWARE_PORT']}")
        assert urls["files"].endswith(f":{ports['SANDBOX_FILES_PORT']}")
        token = requests.post(
            f"{urls['elasticpath']}/oauth/access_token",
            data={
                "grant_type": "client_credentials",
                "client_id": "sandbox-client",
                "client_secret": "sandbox-secret",
            },
            timeout=10,
        )
        assert token.status_code == 200
    finally:
        sandbox.terminate()
        sandbox.communicate(timeout=30)
