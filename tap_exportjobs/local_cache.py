"""What the tap keeps on the machine it runs on, beside Singer state, under `cache_dir`:
inferred report columns (`typed_rows.sampling`) and the jobs it created (`jobs.journal`).

Files are small JSON documents, each replaced whole (a temporary file renamed over it), so
concurrent runs never read half a file; losing one costs work (a sample taken again), never
data.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
import typing as t
from pathlib import Path

logger = logging.getLogger(__name__)


def cache_dir(config: t.Mapping) -> Path:
    configured = config.get("cache_dir")
    if configured:
        return Path(configured).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "tap-exportjobs"


def read_json(path: Path) -> t.Any:
    """The document at `path`, or None when there is none (or it is unreadable)."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def write_json(path: Path, document: t.Any) -> None:
    """Replace the document at `path` whole; a failure is a warning (a cache is optional)."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=path.name, suffix=".tmp")
        with os.fdopen(fd, "w") as out:
            json.dump(document, out, indent=1)
        os.replace(tmp, path)
    except OSError as error:
        logger.warning("could not write %s (%s)", path, error)
