"""tap-exportjobs: settings and stream discovery."""

from __future__ import annotations

import ipaddress
import typing as t
from urllib.parse import urlsplit

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError

from tap_exportjobs.http import ClientCredentialsAuthenticator
from tap_exportjobs.jobs import parse_timestamp
from tap_exportjobs.jobs.files import DEFAULT_MAX_FILE_ATTEMPTS
from tap_exportjobs.providers import PROVIDERS

if t.TYPE_CHECKING:
    from singer_sdk import Stream

GLOBAL_SETTINGS = th.PropertiesList(
    th.Property(
        "start_date",
        th.DateTimeType,
        description="Earliest job creation time to sync, and the first window of "
        "exports the tap creates (default: 30 days before the run)",
    ),
    th.Property(
        "poll_interval_seconds",
        th.NumberType,
        default=5,
        description="First wait between polls of an unfinished job",
    ),
    th.Property(
        "poll_interval_max_seconds",
        th.NumberType,
        default=60,
        description="The wait between polls grows up to this",
    ),
    th.Property(
        "max_wait_seconds",
        th.NumberType,
        default=600,
        description="How long one run waits for unfinished jobs before leaving them, "
        "recorded in state, to the next run",
    ),
    th.Property(
        "follow_downloads",
        th.BooleanType,
        default=True,
        description="Download finished jobs' files and emit their rows",
    ),
    th.Property(
        "allow_http_downloads",
        th.BooleanType,
        default=False,
        description="Also follow plain-http download links (only https by default)",
    ),
    th.Property(
        "redact_download_urls",
        th.BooleanType,
        default=True,
        description="Replace presigned-URL query values in records with REDACTED",
    ),
    th.Property(
        "max_file_attempts",
        th.IntegerType,
        default=DEFAULT_MAX_FILE_ATTEMPTS,
        description="Runs that try to read a file that cannot be fetched or decoded; each "
        "such run goes on with the other files and fails at the end naming it, and after "
        "this many the job is recorded as failed with the reason and the file is not tried "
        "again",
    ),
    th.Property(
        "max_file_bytes",
        th.IntegerType,
        default=20 * 1024**3,
        description="Refuse files larger than this, downloaded or decompressed",
    ),
)


class TapExportJobs(Tap):
    """Asynchronous export and report jobs, and the rows of the files they produce."""

    name = "tap-exportjobs"
    message_writer_class = MsgSpecWriter
    config_jsonschema = th.PropertiesList(
        *GLOBAL_SETTINGS.wrapped.values(),
        *(provider.SETTINGS for provider in PROVIDERS.values()),
    ).to_dict()

    def __init__(self, *args: t.Any, **kwargs: t.Any) -> None:
        self._authenticators: dict[str, ClientCredentialsAuthenticator] = {}
        #: Files this run could not read (and will try again next run), for the final error.
        self.unreadable_files: list[str] = []
        super().__init__(*args, **kwargs)

    def sync_all(self) -> None:
        """Sync everything; then, if a file could not be read, fail naming each one (its job
        is in state as owed, every other file as done) so that a scheduler alerts."""
        super().sync_all()
        if self.unreadable_files:
            raise UnreadableFilesError(
                f"{len(self.unreadable_files)} file(s) could not be read and will be tried "
                "again next run (every other file was emitted and recorded in state):\n  "
                + "\n  ".join(self.unreadable_files)
            )

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        warnings = super()._validate_config(raise_errors=raise_errors)
        problems = self.config_problems()
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems)
        return warnings

    def config_problems(self) -> list[str]:
        """Checks beyond the JSON schema, each naming the setting it is about."""
        problems = []
        if self.config.get("start_date") and parse_timestamp(self.config["start_date"]) is None:
            problems.append(f"start_date: {self.config['start_date']!r} is not a date-time")
        for key in (
            "poll_interval_seconds",
            "poll_interval_max_seconds",
            "max_wait_seconds",
            "max_file_bytes",
        ):
            if key in self.config and self.config[key] is not None and self.config[key] < 0:
                problems.append(f"{key} must not be negative")
        attempts = self.config.get("max_file_attempts")
        if attempts is not None and attempts < 1:
            problems.append("max_file_attempts must be at least 1")
        for name, provider in PROVIDERS.items():
            block = self.config.get(name)
            if block is None:
                continue
            for key in ("api_url", "token_url"):
                if block.get(key):
                    problems.extend(_url_problems(f"{name}.{key}", block[key]))
            problems.extend(provider.validate(block))
        return problems

    def client_credentials(
        self, provider: str, authenticator: type[ClientCredentialsAuthenticator], token_url: str
    ) -> ClientCredentialsAuthenticator:
        """One authenticator (one token) per provider, shared by its streams, from the
        provider block's client_id and client_secret."""
        if provider not in self._authenticators:
            block = self.config[provider]
            self._authenticators[provider] = authenticator(
                token_url=token_url,
                client_id=block["client_id"],
                client_secret=block["client_secret"],
            )
        return self._authenticators[provider]

    def discover_streams(self) -> list[Stream]:
        return [
            stream_class(self)
            for name, provider in PROVIDERS.items()
            if self.config.get(name) is not None
            for stream_class in provider.STREAMS
        ]


class UnreadableFilesError(Exception):
    """Raised at the end of a sync in which some files could not be read."""


def _url_problems(setting: str, url: str) -> list[str]:
    """API URLs carry credentials: https only, except to this machine (sandbox, tests)."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        return [f"{setting}: {url!r} is not an http(s) URL"]
    if parts.scheme == "http" and not _is_loopback(parts.hostname):
        return [f"{setting}: credentials are only sent over https ({url!r} is http)"]
    return []


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


if __name__ == "__main__":
    TapExportJobs.cli()
