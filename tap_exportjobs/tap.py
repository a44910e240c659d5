"""tap-exportjobs: settings and stream discovery."""

from __future__ import annotations

import difflib
import ipaddress
import typing as t
from urllib.parse import urlsplit

from singer_sdk import Tap
from singer_sdk import typing as th
from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.exceptions import ConfigValidationError

from tap_exportjobs.accounts import start_fresh_for_other_accounts
from tap_exportjobs.auth import ClientCredentialsAuthenticator
from tap_exportjobs.batch_files import DEFAULT_COMPRESSION_LEVEL, batch_config_problems
from tap_exportjobs.jobs import JobStream, parse_timestamp
from tap_exportjobs.jobs.files import DEFAULT_MAX_FILE_ATTEMPTS
from tap_exportjobs.providers import PROVIDERS
from tap_exportjobs.reports import ReportRowsStream
from tap_exportjobs.typed_rows.settings import TYPED_ROWS_SETTINGS, typed_rows_problems

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
        description="Refuse files larger than this, downloaded or decompressed; one row (a "
        "CSV record or JSON value) may be at most this or 64 MiB, whichever is smaller",
    ),
    th.Property(
        "batch_compression_level",
        th.IntegerType,
        default=DEFAULT_COMPRESSION_LEVEL,
        description="With batch_config and gzip compression: the gzip level of report-row "
        "batch files, 1 (fastest) to 9 (smallest)",
    ),
    *TYPED_ROWS_SETTINGS.wrapped.values(),
)


class TapExportJobs(Tap):
    """Asynchronous export and report jobs, and the rows of the files they produce."""

    name = "tap-exportjobs"
    message_writer_class = MsgSpecWriter
    #: The catalog depends on the config (a provider's streams exist when its block is
    #: present), and so --discover validates the config as a sync does.
    dynamic_catalog = True
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
        """Sync everything (state written for another account dropped first, see
        `accounts`); then wait for the jobs that job streams under a parent set
        aside (all partitions as one set), move each job stream's bookmark (once, after all
        its partitions) and write the state; then, if a file could not be read, fail naming each
        one (its job is in state as owed, every other file as done) so a scheduler alerts."""
        start_fresh_for_other_accounts(self.streams.values())
        super().sync_all()
        for stream in self.streams.values():
            if not isinstance(stream, JobStream):
                continue
            if stream.has_jobs_to_drain():
                stream.drain_jobs()
            if stream.finish_run():
                stream.checkpoint()
        if self.unreadable_files:
            raise UnreadableFilesError(
                f"{len(self.unreadable_files)} file(s) could not be read and will be tried "
                "again next run (every other file was emitted and recorded in state):\n  "
                + "\n  ".join(self.unreadable_files)
            )

    def _validate_config(self, *, raise_errors: bool = True) -> list[str]:
        """The SDK's JSON-schema check and ours, every problem at once (on --discover too,
        see `dynamic_catalog`), each naming its setting."""
        schema = self.config_jsonschema
        try:
            schema_problems = super()._validate_config(raise_errors=True)
        except ConfigValidationError as error:
            schema_problems, schema = list(error.errors), error.schema
        problems = [
            *self.unknown_settings(),
            *schema_problems,
            *self.config_problems(check_providers=not schema_problems),
        ]
        if problems and raise_errors:
            raise ConfigValidationError("Config validation failed", errors=problems, schema=schema)
        for problem in problems:
            self.logger.warning("Config problem: %s", problem)
        return problems

    def unknown_settings(self) -> list[str]:
        """Names the tap does not know, each with the nearest known one; and a config that
        turns no provider on. Either would otherwise sync nothing, silently.

        At the top level the tap's settings and those the SDK adds (stream maps, flattening,
        batch, ...) are known; any other key is an error, as a typo of a provider block would
        be. Inside a provider block every key, at every depth, must be one of its settings.
        """
        schema = self.config_jsonschema
        self.append_builtin_config(schema)
        known = schema["properties"]
        problems = [
            _unknown(key, key, known, f"`{self.name} --about` lists the settings")
            for key in self.config
            if key not in known
        ]
        for name in PROVIDERS:
            problems.extend(_unknown_keys(self.config.get(name), known[name], name))
        if all(self.config.get(name) is None for name in PROVIDERS):
            problems.append(
                f"no provider is configured: add a block for {' or '.join(PROVIDERS)} "
                "(a provider is on when its block is present)"
            )
        return problems

    def config_problems(self, *, check_providers: bool = True) -> list[str]:
        """Checks beyond the JSON schema, each naming the setting it is about. A provider's
        own checks read values of the types the schema guarantees: they run once it passes."""
        problems = []
        start_date = self.config.get("start_date")
        if start_date and (not isinstance(start_date, str) or parse_timestamp(start_date) is None):
            problems.append(f"start_date: {start_date!r} is not a date-time")
        for key in (
            "poll_interval_seconds",
            "poll_interval_max_seconds",
            "max_wait_seconds",
            "max_file_bytes",
        ):
            value = self.config.get(key)
            if isinstance(value, (int, float)) and value < 0:
                problems.append(f"{key} must not be negative")
        attempts = self.config.get("max_file_attempts")
        if isinstance(attempts, int) and attempts < 1:
            problems.append("max_file_attempts must be at least 1")
        level = self.config.get("batch_compression_level")
        if isinstance(level, int) and not 1 <= level <= 9:
            problems.append(f"batch_compression_level: {level} is not a gzip level from 1 to 9")
        problems.extend(batch_config_problems(self.config))
        problems.extend(typed_rows_problems(self.config, _rows_stream_names()))
        for name, provider in PROVIDERS.items():
            block = self.config.get(name)
            if not isinstance(block, dict):
                continue
            for key in ("api_url", "token_url"):
                if isinstance(block.get(key), str) and block[key]:
                    problems.extend(_url_problems(f"{name}.{key}", block[key]))
            if check_providers:
                problems.extend(provider.validate(block))
        return problems

    def client_credentials(
        self,
        provider: str,
        authenticator: type[ClientCredentialsAuthenticator],
        token_url: str,
        *,
        api_url: str | None = None,
    ) -> ClientCredentialsAuthenticator:
        """One authenticator (one token) per provider, shared by its streams, from the
        provider block's client_id and client_secret. The token goes only to `api_url`'s
        scheme, host and port and the token URL's (`api_url` defaults to the token URL)."""
        if provider not in self._authenticators:
            block = self.config[provider]
            self._authenticators[provider] = authenticator(
                token_url=token_url,
                client_id=block["client_id"],
                client_secret=block["client_secret"],
                api_url=api_url,
            )
        return self._authenticators[provider]

    def discover_streams(self) -> list[Stream]:
        """Each configured provider's streams; a rows stream gets its job stream, which
        finds the files its typed columns may be inferred from."""
        streams: dict[str, Stream] = {}
        for name, provider in PROVIDERS.items():
            if self.config.get(name) is None:
                continue
            for stream_class in provider.STREAMS:
                if issubclass(stream_class, ReportRowsStream):
                    job_stream = streams[stream_class.parent_stream_type.name]
                    stream = stream_class(self, job_stream=job_stream)
                else:
                    stream = stream_class(self)
                streams[stream.name] = stream
        return list(streams.values())


def _rows_stream_names() -> list[str]:
    return [
        stream_class.name
        for provider in PROVIDERS.values()
        for stream_class in provider.STREAMS
        if issubclass(stream_class, ReportRowsStream)
    ]


class UnreadableFilesError(Exception):
    """Raised at the end of a sync in which some files could not be read."""


def _unknown_keys(value: t.Any, schema: dict, where: str) -> list[str]:
    """Keys of `value` that `schema` does not declare, at every depth it declares keys."""
    properties = schema.get("properties") or {}
    if isinstance(value, dict) and properties:
        problems = []
        for key, item in value.items():
            if key in properties:
                problems.extend(_unknown_keys(item, properties[key], f"{where}.{key}"))
            else:
                listing = f"{where} takes {', '.join(properties)}"
                problems.append(_unknown(f"{where}.{key}", key, properties, listing))
        return problems
    if isinstance(value, list) and isinstance(schema.get("items"), dict):
        return [
            problem
            for index, item in enumerate(value)
            for problem in _unknown_keys(item, schema["items"], f"{where}[{index}]")
        ]
    return []


def _unknown(where: str, key: str, known: t.Iterable[str], listing: str) -> str:
    nearest = difflib.get_close_matches(key, list(known), n=1)
    hint = f", did you mean {nearest[0]!r}?" if nearest else ""
    return f"{where}: unknown setting{hint} ({listing})"


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
